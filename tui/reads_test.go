package tui

import (
	"slices"

	tea "charm.land/bubbletea/v2"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"walship/engine/cluster"
	"walship/scenario"
	"walship/theme"
)

// someReads are reads of every kind: current, stale, not found, deleted
// on the leader, both anomalies, a waiting read and a failed one.
func someReads() []cluster.ReadResult {
	return []cluster.ReadResult{
		{Seq: 1, Node: cluster.LeaderName, Key: "balance", Value: "50", Found: true, VersionLSN: 0x21, ReplayLSN: 0xB6, PrimaryLSN: 0x21},
		{Seq: 2, Node: "follower-1", Key: "balance", Value: "100", Found: true, VersionLSN: 0x0, ReplayLSN: 0x21, PrimaryLSN: 0x21, Stale: true},
		{Seq: 3, Node: "follower-1", Key: "ryw-probe", ReplayLSN: 0x21, PrimaryLSN: 0x41, Stale: true, Anomaly: cluster.AnomalyRYW},
		{Seq: 4, Node: "follower-1", Key: "balance", Value: "100", Found: true, ReplayLSN: 0x21, PrimaryLSN: 0x21, Stale: true, Anomaly: cluster.AnomalyMonotonic},
		{Seq: 5, Node: "follower-2", Key: "gone", Value: "x", Found: true, VersionLSN: 0x10, ReplayLSN: 0x40, Stale: true},
		{Seq: 6, Node: "follower-1", Key: "balance", Value: "50", Found: true, VersionLSN: 0x21, ReplayLSN: 0xB6, PrimaryLSN: 0x21, WaitLSN: 0xB6, Waited: 1216 * time.Millisecond},
		{Seq: 7, Node: "follower-3", Key: "balance", Err: "follower-3 is stopped (restart it first)"},
		{Seq: 8, Node: "follower-2", Key: "long", Value: strings.Repeat("v", 40), Found: true, VersionLSN: 0x3A40, ReplayLSN: 0x3A80, PrimaryLSN: 0x3A40},
	}
}

// TestGoldenReadLine draws each kind of read at two widths.
func TestGoldenReadLine(t *testing.T) {
	var out strings.Builder
	for _, w := range []int{120, 78} {
		for _, rd := range someReads() {
			line := draw(w, func(r *row) { readLine(r, mono, &rd) })
			out.WriteString(strings.TrimRight(line, " \n") + "|\n")
		}
	}
	golden.RequireEqual(t, out.String())
}

// TestReadLineMarksStaleInEveryTheme: STALE and the anomalies are words,
// and in colour themes painted in the warn and error badges.
func TestReadLineMarksStaleInEveryTheme(t *testing.T) {
	reads := someReads()
	for _, name := range theme.Names() {
		th, err := theme.ByName(name)
		if err != nil {
			t.Fatal(err)
		}
		st := theme.NewStyles(th)
		var b strings.Builder
		r := newRow(&b, 120)
		readLine(&r, st, &reads[2])
		got := b.String()
		if !strings.Contains(plain(got), "STALE") || !strings.Contains(plain(got), "READ-YOUR-WRITES") {
			t.Errorf("%s: %q", name, plain(got))
		}
		if !strings.Contains(got, st.BadgeWarn.Render(" STALE ")) || !strings.Contains(got, st.BadgeError.Render(" READ-YOUR-WRITES ")) {
			t.Errorf("%s: STALE or the anomaly not in its badge: %q", name, got)
		}
	}
}

func TestReadsRowsFor(t *testing.T) {
	for _, c := range []struct{ h, n, want int }{
		{36, 0, 0}, {36, 1, 2}, {36, 3, 4}, {36, 8, 4}, {24, 0, 0}, {24, 5, 1}, {29, 2, 1}, {30, 2, 3},
	} {
		if got := readsRowsFor(c.h, c.n); got != c.want {
			t.Errorf("readsRowsFor(%d, %d) = %d, want %d", c.h, c.n, got, c.want)
		}
	}
}

// TestReadsPaneOnScreen: no pane before the first read; at 120x36 a title
// and the three newest reads, newest last, with the followers all shown;
// at 80x24 one row with the newest.
func TestReadsPaneOnScreen(t *testing.T) {
	s := fixture()
	m, rec := newTestModel(t, s, 120, 36, "dark")
	if strings.Contains(screen(m), "reads") {
		t.Fatal("a reads pane before any read")
	}
	s.Reads = someReads()
	rec.SetSnapshot(s)
	m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0)})
	scr := screen(m)
	lines := strings.Split(scr, "\n")
	at := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "── reads") })
	if at < 0 || at+3 >= len(lines) {
		t.Fatalf("no reads pane at 120x36:\n%s", scr)
	}
	for i, want := range []string{"follower-1 balance = \"50\" @0/21", "follower-3 balance ✖ follower-3 is stopped", "follower-2 long"} {
		if !strings.Contains(lines[at+1+i], want) {
			t.Errorf("reads row %d: %q, want %q", i, lines[at+1+i], want)
		}
	}
	if !strings.HasPrefix(lines[at+4], "── events") {
		t.Errorf("the events do not follow the reads:\n%s", scr)
	}
	for _, f := range []string{"follower-1", "follower-2", "follower-3"} {
		if !strings.Contains(scr, "  "+f[len(f)-1:]+" "+f) && !strings.Contains(scr, "▶ "+f[len(f)-1:]+" "+f) {
			t.Errorf("%s's block is not shown:\n%s", f, scr)
		}
	}
	if len(lines) != 37 { // 36 rows and the trailing newline
		t.Errorf("%d lines at 120x36", len(lines)-1)
	}

	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	scr = screen(m)
	lines = strings.Split(scr, "\n")
	at = slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, "reads ") })
	if at < 0 || !strings.Contains(lines[at], "follower-2 long") || !strings.HasPrefix(lines[at+1], "── events") {
		t.Fatalf("no one-row reads pane at 80x24:\n%s", scr)
	}
	if len(lines) != 25 {
		t.Errorf("%d lines at 80x24", len(lines)-1)
	}
}

// TestReadsPanePointed: a lesson step that points at the reads marks the
// pane's title.
func TestReadsPanePointed(t *testing.T) {
	s := fixture()
	s.Reads = someReads()
	m, _ := newTestModel(t, s, 120, 36, "mono")
	var ls scenario.LessonState
	ls.Title, ls.Caption, ls.Chapters, ls.Steps = "Stale reads", "look at the reads", 1, 1
	ls.Points[0] = scenario.Point{Subject: "reads"}
	m.lesson = &fakeLesson{state: ls}
	m.Update(snapMsg{gen: m.gen, snap: s, lesson: &ls})
	if scr := screen(m); !strings.Contains(scr, pointerGlyph+" reads ") {
		t.Fatalf("the pointed reads are not marked:\n%s", scr)
	}
}

// TestReadKeys: g reads the last key written on the selected follower, G
// does so waiting for the client's last commit.
func TestReadKeys(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "dark")
	press(t, m, "g", "2", "G")
	if got, want := rec.Commands(), []string{"read follower-1", "read follower-2 wait"}; !slices.Equal(got, want) {
		t.Errorf("commands = %q, want %q", got, want)
	}
	m, rec = newTestModel(t, fixture(), 120, 36, "dark")
	press(t, m, ":", "r", "e", "a", "d", " ", "l", "e", "a", "d", "e", "r", " ", "k", "enter")
	press(t, m, ":", "p", "r", "o", "b", "e", " ", "r", "y", "w", " ", "2", "enter")
	if got, want := rec.Commands(), []string{"read leader k", "probe ryw follower-2"}; !slices.Equal(got, want) {
		t.Errorf("palette commands = %q, want %q", got, want)
	}
}
