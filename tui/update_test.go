package tui

import (
	"errors"
	"io"
	"math"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
)

// keyMsg builds the key press a terminal would send for s ("p", "space",
// "tab", "shift+tab", "ctrl+c", "enter", "esc", ...).
func keyMsg(s string) tea.KeyPressMsg {
	switch s {
	case "space":
		return tea.KeyPressMsg{Code: tea.KeySpace, Text: " "}
	case "tab":
		return tea.KeyPressMsg{Code: tea.KeyTab}
	case "shift+tab":
		return tea.KeyPressMsg{Code: tea.KeyTab, Mod: tea.ModShift}
	case "enter":
		return tea.KeyPressMsg{Code: tea.KeyEnter}
	case "esc":
		return tea.KeyPressMsg{Code: tea.KeyEscape}
	case "backspace":
		return tea.KeyPressMsg{Code: tea.KeyBackspace}
	case "up":
		return tea.KeyPressMsg{Code: tea.KeyUp}
	case "down":
		return tea.KeyPressMsg{Code: tea.KeyDown}
	case "ctrl+c":
		return tea.KeyPressMsg{Code: 'c', Mod: tea.ModCtrl}
	}
	r := []rune(s)
	return tea.KeyPressMsg{Code: r[0], Text: s}
}

// press sends keys to m and carries out the commands they return (as the
// Bubble Tea runtime would, but without timers): a command sent to the
// controller comes back as a doneMsg.
func press(t testing.TB, m *Model, keys ...string) tea.Cmd {
	t.Helper()
	var last tea.Cmd
	for _, k := range keys {
		_, cmd := m.Update(keyMsg(k))
		last = cmd
		run(m, cmd)
	}
	return last
}

// run executes cmd and feeds back a doneMsg; other messages (snapshots,
// ticks) are left to the tests that want them.
func run(m *Model, cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	if msg, ok := cmd().(doneMsg); ok {
		m.Update(msg)
	}
}

func TestKeysSendCommands(t *testing.T) {
	base := fixture()
	tests := []struct {
		name   string
		mutate func(s *cluster.Snapshot)
		keys   []string
		want   []string
	}{
		{"p pauses a running follower", nil, []string{"p"}, []string{"pause follower-1"}},
		{"p resumes a paused follower", nil, []string{"2", "p"}, []string{"resume follower-2"}},
		{"c cuts a link", nil, []string{"c"}, []string{"cut follower-1"}},
		{"c restores a cut link", nil, []string{"3", "c"}, []string{"restore follower-3"}},
		{"x corrupts the next frame", nil, []string{"tab", "x"}, []string{"corrupt follower-2"}},
		{"k crashes", nil, []string{"k"}, []string{"crash follower-1"}},
		{"k restarts a stopped follower", func(s *cluster.Snapshot) { s.Followers[0].State = cluster.StateStopped }, []string{"k"}, []string{"restart follower-1"}},
		{"b takes a base backup", nil, []string{"up", "b"}, []string{"backup follower-3"}},
		{"] raises latency", nil, []string{"]"}, []string{"latency follower-1 500ms"}},
		{"[ lowers latency", nil, []string{"["}, []string{"latency follower-1 200ms"}},
		{"[ keeps jitter", func(s *cluster.Snapshot) { s.Followers[0].Link.Jitter = 50 * time.Millisecond }, []string{"["}, []string{"latency follower-1 200ms 50ms"}},
		{"+ doubles the rate", nil, []string{"+"}, []string{"rate 8"}},
		{"- halves the rate", nil, []string{"-"}, []string{"rate 2"}},
		{"- from 1 stops writes", func(s *cluster.Snapshot) { s.Leader.TargetRate = 1 }, []string{"-"}, []string{"rate 0"}},
		{"w writes a burst", nil, []string{"w"}, []string{"write 20"}},
		{"s: off to local", nil, []string{"s"}, []string{"sync local"}},
		{"s: on to remote_apply, keeping ANY 2", func(s *cluster.Snapshot) {
			s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncOn, N: 2}
		}, []string{"s"}, []string{"sync remote_apply 2"}},
		{"s: remote_apply wraps to off", func(s *cluster.Snapshot) {
			s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncRemoteApply, N: 1}
		}, []string{"s"}, []string{"sync off"}},
		{"a adds", nil, []string{"a"}, []string{"add"}},
		{"d removes the selected", nil, []string{"shift+tab", "d"}, []string{"remove follower-3"}},
		{"space freezes", nil, []string{"space"}, []string{"freeze"}},
		{"space unfreezes", func(s *cluster.Snapshot) { s.Frozen = true }, []string{"space"}, []string{"unfreeze"}},
		{"< slows time", nil, []string{"<"}, []string{"speed 0.5"}},
		{"> speeds time", func(s *cluster.Snapshot) { s.Speed = 2 }, []string{">"}, []string{"speed 4"}},
		{"selecting a missing follower sends nothing", nil, []string{"7", "p"}, []string{"pause follower-1"}},
		// Keys pressed faster than the next snapshot step on from the last one.
		{"> > steps twice", nil, []string{">", ">"}, []string{"speed 2", "speed 4"}},
		{"] ] steps twice", nil, []string{"]", "]"}, []string{"latency follower-1 500ms", "latency follower-1 750ms"}},
		{"+ + steps twice", nil, []string{"+", "+"}, []string{"rate 8", "rate 16"}},
		{"p p toggles back", nil, []string{"p", "p"}, []string{"pause follower-1", "resume follower-1"}},
		{"k k crashes then restarts", nil, []string{"k", "k"}, []string{"crash follower-1", "restart follower-1"}},
		{"s s cycles on", nil, []string{"s", "s"}, []string{"sync local", "sync remote_write 1"}},
		{"S sets ANY 2", func(s *cluster.Snapshot) { s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncOn, N: 1} }, []string{"S"}, []string{"sync on 2"}},
		{"S wraps to ANY 1 past the followers", func(s *cluster.Snapshot) { s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncOn, N: 3} }, []string{"S"}, []string{"sync on 1"}},
		{"palette", nil, []string{":", "c", "u", "t", " ", "2", "enter"}, []string{"cut follower-2"}},
		{"palette completes the verb", nil, []string{":", "l", "a", "tab", "a", "l", "l", " ", "1", "s", "enter"}, []string{"latency all 1s"}},
		{"palette esc sends nothing", nil, []string{":", "f", "r", "esc", "space"}, []string{"freeze"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := base
			s.Followers = slices.Clone(base.Followers)
			if tc.mutate != nil {
				tc.mutate(&s)
			}
			m, rec := newTestModel(t, s, 120, 36, "dark")
			press(t, m, tc.keys...)
			if got := rec.Commands(); !slices.Equal(got, tc.want) {
				t.Errorf("commands = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestPaletteError(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, ":", "c", "u", "t", " ", "z", "enter")
	if len(rec.Commands()) != 0 {
		t.Fatalf("sent %q for a bad command", rec.Commands())
	}
	if !m.pal.active {
		t.Fatal("palette closed on a bad command")
	}
	if got := screen(m); !strings.Contains(got, "column 5: a follower") {
		t.Errorf("no parse error on screen:\n%s", got)
	}
	// Fixing it sends it.
	press(t, m, "backspace", "3", "enter")
	if got := rec.Commands(); !slices.Equal(got, []string{"cut follower-3"}) {
		t.Errorf("commands = %q", got)
	}
	// History: up brings it back.
	press(t, m, ":", "up")
	if m.pal.value() != "cut 3" {
		t.Errorf("history gave %q", m.pal.value())
	}
}

// A palette command that parses but fails keeps the palette open with
// the error and the line, so the text typed next edits the line instead
// of running as hotkeys (c would cut a link, k crash a follower).
func TestPaletteCommandFails(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	rec.FailWith(errors.New("no follower-9 (followers: follower-1, follower-2, follower-3)"))
	press(t, m, ":", "p", "a", "u", "s", "e", " ", "9", "enter")
	if !m.pal.active {
		t.Fatal("palette closed after a failed command")
	}
	if got := screen(m); !strings.Contains(got, "✖ no follower-9") || !strings.Contains(got, ":pause 9") {
		t.Errorf("failed command not shown in the palette:\n%s", got)
	}
	rec.FailWith(nil)
	press(t, m, "c", "k")
	if got := rec.Commands(); len(got) != 1 {
		t.Fatalf("keys typed after the failure ran as hotkeys: %q", got)
	}
	if m.pal.value() != "pause 9ck" {
		t.Errorf("palette line %q", m.pal.value())
	}
	// A command that works closes it.
	press(t, m, "backspace", "backspace", "backspace", "2", "enter")
	if m.pal.active {
		t.Error("palette still open after a command that worked")
	}
}

// A sync rule no set of followers can meet is said at once, and stays
// said in the status line while it holds.
func TestUnmeetableSyncRule(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, ":", "s", "y", "n", "c", " ", "o", "n", " ", "5", "enter")
	if got := rec.Commands(); len(got) != 1 || got[0] != "sync on 5" {
		t.Fatalf("commands %q", got)
	}
	if got := screen(m); !strings.Contains(got, "never met: 3 followers, every commit waits") {
		t.Errorf("no warning:\n%s", got)
	}
	s := fixture()
	s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncOn, N: 5}
	m.Update(snapMsg{gen: m.gen, snap: s})
	if got := screen(m); !strings.Contains(strings.SplitN(got, "\n", 2)[0], "never met: 3 followers") {
		t.Errorf("status line does not say the rule is never met:\n%s", got)
	}
}

func TestCommandErrorShown(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	rec.FailWith(errors.New("follower-1 is stopped"))
	press(t, m, "p")
	if got := screen(m); !strings.Contains(got, "pause follower-1: follower-1 is stopped") {
		t.Errorf("error not shown:\n%s", got)
	}
}

func TestQuit(t *testing.T) {
	for _, k := range []string{"q", "ctrl+c"} {
		m, _ := newTestModel(t, fixture(), 120, 36, "mono")
		_, cmd := m.Update(keyMsg(k))
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(tea.QuitMsg); !ok {
			t.Errorf("%s did not quit", k)
		}
	}
}

func TestTooSmall(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	m.Update(tea.WindowSizeMsg{Width: 79, Height: 24})
	if got := screen(m); !strings.Contains(got, "walship needs at least 80x24 (now 79x24)") {
		t.Errorf("too-small screen:\n%s", got)
	}
	press(t, m, "p", "c")
	if len(rec.Commands()) != 0 {
		t.Errorf("keys acted while too small: %q", rec.Commands())
	}
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 23})
	if got := screen(m); !strings.Contains(got, "(now 80x23)") {
		t.Errorf("height not checked:\n%s", got)
	}
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	if got := screen(m); !strings.Contains(got, "LEADER") {
		t.Errorf("did not come back at 80x24:\n%s", got)
	}
}

// Esc pressed while a shrinking window is too small still closes help, so
// the help is not back when the window grows again.
func TestHelpClosesWhileTooSmall(t *testing.T) {
	m, _ := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, "?")
	m.Update(tea.WindowSizeMsg{Width: 60, Height: 20})
	press(t, m, "esc")
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 36})
	if got := screen(m); strings.Contains(got, "command palette") || !strings.Contains(got, "LEADER") {
		t.Errorf("help still open after esc while too small:\n%s", got)
	}
}

func TestHelpToggles(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 80, 24, "mono")
	press(t, m, "?")
	got := screen(m)
	for _, want := range []string{"pause/resume replay", "cut/restore link", "command palette", "freeze/unfreeze world"} {
		if !strings.Contains(got, want) {
			t.Errorf("help lacks %q:\n%s", want, got)
		}
	}
	press(t, m, "p") // ignored while help is open
	press(t, m, "esc")
	if strings.Contains(screen(m), "command palette") {
		t.Error("help still shown after esc")
	}
	if len(rec.Commands()) != 0 {
		t.Errorf("keys acted under help: %q", rec.Commands())
	}
}

func TestMouse(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	l := m.lay
	// Click follower-2's title: selects it.
	m.Update(tea.MouseClickMsg{X: l.panelX + 5, Y: l.bodyY + l.blockH, Button: tea.MouseLeft})
	if m.selected != "follower-2" {
		t.Fatalf("selected %q after clicking follower-2", m.selected)
	}
	// Click the data frame at Pos 0.25 on follower-1's down lane.
	_, down, up := l.laneRows()
	f := cluster.Frame{Dir: cluster.ToFollower, Pos: 0.25}
	_, cmd := m.Update(tea.MouseClickMsg{X: l.laneX + laneCol(&f, l.laneW), Y: l.bodyY + down, Button: tea.MouseLeft})
	run(m, cmd)
	if got := rec.Commands(); !slices.Equal(got, []string{"corrupt follower-1 0/11A0"}) {
		t.Errorf("commands = %q", got)
	}
	if m.selected != "follower-1" {
		t.Errorf("clicking a lane did not select its follower")
	}
	// A moving frame is hard to hit: a click three columns behind it counts.
	f = cluster.Frame{Dir: cluster.ToFollower, Pos: 0.25}
	_, cmd = m.Update(tea.MouseClickMsg{X: l.laneX + laneCol(&f, l.laneW) - 3, Y: l.bodyY + down, Button: tea.MouseLeft})
	run(m, cmd)
	if got := rec.Commands(); len(got) != 2 || got[1] != "corrupt follower-1 0/11A0" {
		t.Fatalf("a near miss did not corrupt the frame: %q", got)
	}
	// A status frame cannot be corrupted: it says so.
	f = cluster.Frame{Dir: cluster.ToLeader, Pos: 0.5}
	m.Update(tea.MouseClickMsg{X: l.laneX + laneCol(&f, l.laneW), Y: l.bodyY + up, Button: tea.MouseLeft})
	if len(rec.Commands()) != 2 || !strings.Contains(screen(m), "status frame") {
		t.Errorf("status click: %q\n%s", rec.Commands(), screen(m))
	}
}

func TestCRCFlash(t *testing.T) {
	s := fixture()
	m, _ := newTestModel(t, s, 120, 36, "mono")
	if m.views[2].flash {
		t.Fatal("flash on the first snapshot")
	}
	s.Followers = slices.Clone(s.Followers)
	s.Followers[2].CRCFailures++
	m.Update(snapMsg{gen: m.gen, snap: s})
	if !m.views[2].flash {
		t.Fatal("no flash after the CRC count went up")
	}
	m.flashAt["follower-3"] = time.Now().Add(-2 * flashFor)
	m.Update(snapMsg{gen: m.gen, snap: s})
	if m.views[2].flash {
		t.Fatal("flash did not end")
	}
}

func TestTicksOnlyWhileMoving(t *testing.T) {
	s := fixture()
	m, _ := newTestModel(t, s, 120, 36, "mono")
	m.Update(snapMsg{gen: m.gen, snap: s}) // let the scale settle
	for m.ease() {
	}
	m.Update(snapMsg{gen: m.gen, snap: s})
	if !m.moving {
		t.Error("frames in flight but not animating")
	}
	s.Frozen = true
	m.Update(snapMsg{gen: m.gen, snap: s})
	if m.moving {
		t.Error("animating while frozen")
	}
	s.Frozen = false
	s.Frames = nil
	m.Update(snapMsg{gen: m.gen, snap: s})
	if !m.moving {
		t.Error("the snapshot changed but the next tick is slow")
	}
	m.Update(snapMsg{gen: m.gen, snap: s})
	if m.moving {
		t.Error("animating with nothing in flight and nothing changing")
	}
	// An unchanged snapshot does not redraw.
	m.View()
	m.Update(snapMsg{gen: m.gen, snap: s})
	if m.dirty {
		t.Error("an identical snapshot marked the view dirty")
	}
	// A stale chain's snapshot is dropped.
	s.Leader.FlushLSN += 100
	m.Update(snapMsg{gen: m.gen - 1, snap: s})
	if m.snap.Leader.FlushLSN == s.Leader.FlushLSN {
		t.Error("a stale snapshot was taken in")
	}
}

func TestEventsNotDuplicated(t *testing.T) {
	s := fixture()
	m, _ := newTestModel(t, s, 120, 36, "mono")
	m.Update(snapMsg{gen: m.gen, snap: s}) // the same events again
	if n := len(m.events.events); n != 3 {
		t.Errorf("%d events held, want 3", n)
	}
}

func TestPastedCommand(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, ":")
	m.Update(tea.PasteMsg{Content: "pause 2\nignored"})
	press(t, m, "enter")
	if got := rec.Commands(); !slices.Equal(got, []string{"pause follower-2"}) {
		t.Errorf("commands = %q", got)
	}
}

func TestHostileText(t *testing.T) {
	s := fixture()
	s.Events = append(s.Events, cluster.Event{Seq: 4, Kind: cluster.EvError, Text: "two\nlines\x1b[2J and a bell\a"})
	s.LastEvent = 4
	s.Followers[0].LastError = "oops\r\n"
	s.Frames = append(s.Frames, cluster.Frame{Index: 1, Follower: "follower-1", Kind: "data", Pos: math.NaN()},
		cluster.Frame{Index: 1, Follower: "follower-1", Kind: "data", Pos: 7})
	m, _ := newTestModel(t, s, 120, 36, "mono")
	got := screen(m)
	if n := strings.Count(got, "\n"); n != 36 {
		t.Errorf("%d lines, want 36:\n%s", n, got)
	}
	if strings.Contains(m.View().Content, "\x1b[2J") {
		t.Error("an escape in event text reached the screen")
	}
}

func TestTee(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "tty")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rec strings.Builder
	w := Tee(f, &rec)
	if _, ok := w.(interface{ Fd() uintptr }); !ok {
		t.Fatal("Tee does not keep the terminal's file descriptor")
	}
	if _, err := io.WriteString(w, "frame"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(f.Name()); string(b) != "frame" || rec.String() != "frame" {
		t.Errorf("tty got %q, recorder got %q", b, rec.String())
	}
}

func TestStatusLineKeepsWaitingCommits(t *testing.T) {
	s := fixture()
	s.Leader.Addr = "127.0.0.1:41505"
	s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncRemoteApply, N: 2}
	s.Leader.WaitingCommits = 4
	s.Leader.Rate, s.Leader.TargetRate = 2.4, 4
	s.Frozen = true
	for _, w := range []int{80, 120, 200} {
		m, _ := newTestModel(t, s, w, 36, "mono")
		top := strings.SplitN(screen(m), "\n", 2)[0]
		for _, want := range []string{"remote_apply ANY 2", "4 waiting", "FROZEN", "0/1200"} {
			if !strings.Contains(top, want) {
				t.Errorf("%d columns: status line %q lacks %q", w, top, want)
			}
		}
	}
}

// TestC1ControlsCleaned: C1 controls (U+0080..U+009F) in an event's text
// are blanked like C0 ones: U+009B is CSI to a terminal, so written raw it
// would start an escape sequence.
func TestC1ControlsCleaned(t *testing.T) {
	for _, s := range []string{"\u009b2J", "a\u0085b", "\u0080", "x\u009f"} {
		if !hasControl(s) {
			t.Errorf("hasControl(%q) = false", s)
		}
	}
	for _, s := range []string{"plain", "é ü ñ", "\u00a0nbsp", "─▶✖"} {
		if hasControl(s) {
			t.Errorf("hasControl(%q) = true", s)
		}
	}
	s := fixture()
	s.Events = append(s.Events, cluster.Event{Seq: 4, Kind: cluster.EvError, Text: "clear\u009b2Jscreen, next\u0085line"})
	s.LastEvent = 4
	m, _ := newTestModel(t, s, 120, 36, "mono")
	out := m.View().Content
	if strings.Contains(out, "\u009b") || strings.Contains(out, "\u0085") {
		t.Error("a C1 control in event text reached the screen")
	}
	if !strings.Contains(out, "clear 2Jscreen, next line") {
		t.Errorf("the event text is not shown with its controls blanked:\n%s", screen(m))
	}
}

// The mouse wheel scrolls the event log; a click on a line shows that
// event whole, with the engine's own words when the sentence differs.
func TestEventLogMouse(t *testing.T) {
	s := fixture()
	for i := 4; i <= 40; i++ {
		s.Events = append(s.Events, cluster.Event{Seq: uint64(i), World: time.Duration(i) * time.Second, Follower: "follower-1",
			Kind: cluster.EvDisconnect, Text: "disconnected: waiting for welcome: read tcp 127.0.0.1:37206->127.0.0.1:41533: read: connection reset by peer"})
		s.LastEvent = uint64(i)
	}
	m, _ := newTestModel(t, s, 120, 36, "mono")
	m.Update(tea.MouseWheelMsg{X: 10, Y: 30, Button: tea.MouseWheelUp})
	if m.events.back != wheelLines {
		t.Fatalf("wheel up scrolled back %d, want %d", m.events.back, wheelLines)
	}
	m.Update(tea.MouseWheelMsg{X: 10, Y: 30, Button: tea.MouseWheelDown})
	if m.events.back != 0 {
		t.Fatalf("wheel down left it %d back", m.events.back)
	}
	got := screen(m)
	if strings.Contains(got, "read tcp") || !strings.Contains(flat(got), "the other end dropped the connection (connection reset by peer) while it waited for the leader's welcome") {
		t.Errorf("raw error not said as a sentence:\n%s", got)
	}
	l := m.lay
	m.Update(tea.MouseClickMsg{X: 10, Y: l.eventsY + 1, Button: tea.MouseLeft})
	if m.events.sel == 0 {
		t.Fatal("click on an event line selected nothing")
	}
	if got := screen(m); !strings.Contains(flat(got), "in the engine's words: disconnected: waiting for welcome: read tcp 127.0.0.1:37206->127.0.0.1:41533: read: connection reset by peer") {
		t.Errorf("selected event's raw words not shown:\n%s", got)
	}
	press(t, m, "esc")
	if m.events.sel != 0 {
		t.Error("esc kept the selection")
	}
}

// flat is screen text with its runs of blanks and newlines made one blank:
// a wrapped sentence reads as one line.
func flat(s string) string { return strings.Join(strings.Fields(s), " ") }
