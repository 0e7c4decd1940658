package tui

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/session"
	"walship/tui/internal/fake"
)

// scrubKey is ← or → (shift for a second's step).
func scrubKey(right, shift bool) tea.KeyPressMsg {
	k := tea.KeyPressMsg{Code: tea.KeyLeft}
	if right {
		k.Code = tea.KeyRight
	}
	if shift {
		k.Mod = tea.ModShift
	}
	return k
}

// moving is the fixture at world time t: the leader's flush LSN grows
// 0x10 a tenth of a second, and follower-1 has a CRC failure from 8 s on.
func moving(t time.Duration, seq uint64) cluster.Snapshot {
	s := fixture()
	s.World = t
	s.Leader.FlushLSN = wal.LSN(0x1000 + 0x10*int(t/(100*time.Millisecond)))
	s.Leader.InsertLSN = s.Leader.FlushLSN
	s.Events = []cluster.Event{{Seq: seq, World: t, Kind: cluster.EvInfo, Text: fmt.Sprintf("event at %v", t)}}
	s.LastEvent = seq
	if t >= 8*time.Second {
		s.Followers[0].CRCFailures = 1
	}
	return s
}

// newMovingModel is a model over a recorder, w x h, that has taken in
// ten seconds of world time, a snapshot every tenth of a second.
func newMovingModel(t *testing.T, w, h int) (*Model, *fake.Recorder) {
	t.Helper()
	rec := fake.NewRecorder(moving(0, 1))
	m, err := New(rec, Options{Theme: "mono"})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	for i := 0; i <= 100; i++ {
		s := moving(time.Duration(i)*100*time.Millisecond, uint64(i+1))
		m.now = m.now.Add(100 * time.Millisecond)
		m.Update(snapMsg{gen: m.gen, snap: s})
	}
	return m, rec
}

func TestScrubBackAndReturn(t *testing.T) {
	m, rec := newMovingModel(t, 120, 36)
	now := screen(m)
	if !strings.Contains(now, "flush 0/1640") {
		t.Fatalf("present not on screen:\n%s", now)
	}
	// ← from a running world freezes it and shows a tenth of a second back.
	_, cmd := m.Update(scrubKey(false, false))
	run(m, cmd)
	if got := rec.Commands(); !slices.Equal(got, []string{"freeze"}) {
		t.Fatalf("commands %v, want a freeze", got)
	}
	got := screen(m)
	for _, want := range []string{"PAST −0.1 s", "flush 0/1630", "nothing in it rewound", "esc now", "├"} {
		if !strings.Contains(got, want) {
			t.Errorf("past screen lacks %q:\n%s", want, got)
		}
	}
	// Two seconds back in all, with shift.
	for range 19 {
		m.Update(scrubKey(false, false))
	}
	m.Update(scrubKey(false, true))
	got = screen(m)
	if !strings.Contains(got, "PAST −3.0 s") || !strings.Contains(got, "flush 0/1460") || !strings.Contains(got, "event at 7s") || strings.Contains(got, "event at 8s") {
		t.Fatalf("3 s back: want flush 0/1460 and the events up to 7s:\n%s", got)
	}
	// The past's CRC badge: none yet at 7 s; at 8 s it flashes.
	if strings.Contains(got, "CRC FAILURE") {
		t.Errorf("CRC flash before the failure:\n%s", got)
	}
	m.Update(scrubKey(true, true))
	if got := screen(m); !strings.Contains(got, "CRC FAILURE 1") {
		t.Errorf("no CRC flash at the failure:\n%s", got)
	}
	// Cluster keys are refused in the past.
	press(t, m, "p")
	if got := rec.Commands(); len(got) != 1 || !strings.Contains(screen(m), "esc first: the past is only shown (pause follower-1)") {
		t.Fatalf("a key changed the world from the past: %v\n%s", got, screen(m))
	}
	// New snapshots keep the present aside.
	m.Update(snapMsg{gen: m.gen, snap: moving(10*time.Second+100*time.Millisecond, 200)})
	if !strings.Contains(screen(m), "PAST") {
		t.Fatal("a new snapshot ended the past view")
	}
	// esc: back to now, the world running again.
	_, cmd = m.Update(keyMsg("esc"))
	run(m, cmd)
	got = screen(m)
	if strings.Contains(got, "PAST") || !strings.Contains(got, "flush 0/1650") {
		t.Fatalf("not back to now:\n%s", got)
	}
	if cmds := rec.Commands(); !slices.Equal(cmds, []string{"freeze", "unfreeze"}) {
		t.Fatalf("commands %v, want freeze then unfreeze", cmds)
	}
}

// → past the newest snapshot comes back to now; a world frozen before ←
// stays frozen.
func TestScrubForwardPastNow(t *testing.T) {
	m, rec := newMovingModel(t, 80, 24)
	s := moving(10*time.Second, 101)
	s.Frozen = true
	m.Update(snapMsg{gen: m.gen, snap: s})
	m.Update(scrubKey(false, false))
	m.Update(scrubKey(false, false))
	if got := screen(m); !strings.Contains(got, "PAST −0.2 s") {
		t.Fatalf("no PAST banner at 80x24:\n%s", got)
	}
	m.Update(scrubKey(true, false))
	_, cmd := m.Update(scrubKey(true, false))
	run(m, cmd)
	if got := screen(m); strings.Contains(got, "PAST") {
		t.Fatalf("→ past now stayed in the past:\n%s", got)
	}
	if cmds := rec.Commands(); len(cmds) != 0 {
		t.Fatalf("commands %v: the world was frozen already and stays so", cmds)
	}
}

// A click on the time strip shows that moment.
func TestStripClick(t *testing.T) {
	m, _ := newMovingModel(t, 120, 36)
	m.Update(scrubKey(false, false))
	x0, w := m.stripX()
	m.Update(tea.MouseClickMsg{X: x0 + w/2, Y: m.lay.eventsY, Button: tea.MouseLeft})
	got := screen(m)
	if !strings.Contains(got, "PAST −5.0 s") {
		t.Fatalf("click on the strip's middle:\n%s", got)
	}
}

// X drops the next data frame, and a click with alt the frame clicked.
func TestDropKeyAndClick(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, "X")
	l := m.lay
	_, down, _ := l.laneRows()
	col := laneCol(&cluster.Frame{Pos: 0.25}, l.laneW)
	_, cmd := m.Update(tea.MouseClickMsg{X: l.laneX + col, Y: l.bodyY + down, Button: tea.MouseLeft, Mod: tea.ModAlt})
	run(m, cmd)
	if got := rec.Commands(); !slices.Equal(got, []string{"drop follower-1", "drop follower-1 0/11A0"}) {
		t.Fatalf("commands %v", got)
	}
}

// m toggles the diagram in place of the body, and so does the palette.
func TestDiagramToggles(t *testing.T) {
	m, _ := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, "m")
	got := screen(m)
	if !strings.Contains(got, "world") || !strings.Contains(got, "follower-3") || strings.Contains(got, "LEADER") {
		t.Fatalf("diagram not shown:\n%s", got)
	}
	press(t, m, ":", "d", "i", "a", "tab", "d", "a", "t", "a", "enter")
	if got := screen(m); !strings.Contains(got, "status and keepalives not drawn") {
		t.Fatalf("diagram data:\n%s", got)
	}
	press(t, m, ":", "d", "i", "a", "tab", "o", "f", "f", "enter")
	if got := screen(m); !strings.Contains(got, "LEADER") {
		t.Fatalf("palette's diagram off did not bring the body back:\n%s", got)
	}
}

func TestOneWayLaneLabel(t *testing.T) {
	s := fixture()
	s.Followers[0].Link.CutTo = true
	s.Frames[0].Lost = true
	m, _ := newTestModel(t, s, 120, 36, "mono")
	got := screen(m)
	if !strings.Contains(got, "leader's frames LOST") || !strings.Contains(got, lostGlyphs[0]) {
		t.Fatalf("one-way cut not drawn:\n%s", got)
	}
}

// recording is ten seconds of moving snapshots as a session file, read
// back.
func recording(t *testing.T) *session.Recording {
	t.Helper()
	var buf bytes.Buffer
	w, err := session.NewWriter(&buf, session.Meta{Title: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 100; i++ {
		s := moving(time.Duration(i)*100*time.Millisecond, uint64(i+1))
		w.Snapshot(time.Duration(i)*100*time.Millisecond, &s)
	}
	w.Close(10 * time.Second)
	rec, err := session.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

// Over a recording the scrub keys move the playhead, space pauses it, a
// click on the strip jumps, and commands are refused with a sentence.
func TestReplayKeys(t *testing.T) {
	r := session.NewReplay(recording(t))
	m, err := New(r, Options{Theme: "mono"})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 36})
	fetch := func() {
		m.Update(m.fetch()())
	}
	fetch()
	if got := screen(m); !strings.Contains(got, "REPLAY 0.0s / 10.0s ▶ 1×") || !strings.Contains(got, "a recording") {
		t.Fatalf("replay screen:\n%s", got)
	}
	press(t, m, "space")
	if r.Playing() {
		t.Fatal("space did not pause")
	}
	for range 5 {
		m.Update(scrubKey(true, true))
	}
	fetch()
	got := screen(m)
	if !strings.Contains(got, "REPLAY 5.0s / 10.0s ‖ paused") || !strings.Contains(got, "flush 0/1320") || !strings.Contains(got, "event at 5s") || strings.Contains(got, "event at 5.1s") {
		t.Fatalf("5s in:\n%s", got)
	}
	m.Update(scrubKey(false, false))
	fetch()
	if got := screen(m); !strings.Contains(got, "REPLAY 4.9s") || strings.Contains(got, "event at 5s") {
		t.Fatalf("back 0.1s: the log must go back too:\n%s", got)
	}
	x0, w := m.stripX()
	m.Update(tea.MouseClickMsg{X: x0 + w - 1, Y: m.lay.eventsY, Button: tea.MouseLeft})
	fetch()
	if got := screen(m); !strings.Contains(got, "REPLAY 10.0s") {
		t.Fatalf("click at the strip's end:\n%s", got)
	}
	press(t, m, "c")
	if got := screen(m); !strings.Contains(got, "cannot be changed") {
		t.Fatalf("a command over a recording:\n%s", got)
	}
	press(t, m, ">")
	if r.Pace() != 2 {
		t.Fatalf("> set the pace to %v", r.Pace())
	}
}
