package tui

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/theme"
)

func TestStatusLineSaysFramesNotDrawn(t *testing.T) {
	s := statusLine{st: theme.NewStyles(theme.Mono()), w: 120}
	for _, tc := range []struct {
		snap cluster.Snapshot
		want string
	}{
		{cluster.Snapshot{Speed: 1, FramesOmitted: 37}, "+37 frames not drawn"},
		{cluster.Snapshot{Speed: 1, Frozen: true, FramesOmitted: 2}, "+2 frames not drawn  FROZEN"},
	} {
		var b strings.Builder
		r := newRow(&b, s.w)
		s.row(&r, &tc.snap)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("status line %q lacks %q", b.String(), tc.want)
		}
	}
	var b strings.Builder
	r := newRow(&b, s.w)
	s.row(&r, &cluster.Snapshot{Speed: 1})
	if strings.Contains(b.String(), "not drawn") {
		t.Errorf("status line mentions omitted frames when there are none: %q", b.String())
	}
}

func TestEventLogScrollsBack(t *testing.T) {
	e := eventLog{st: theme.NewStyles(theme.Mono())}
	e.SetSize(80, 4) // a title and 3 lines
	var evs []cluster.Event
	for i := 1; i <= 10; i++ {
		evs = append(evs, cluster.Event{Seq: uint64(i), World: time.Duration(i) * time.Second, Kind: cluster.EvInfo, Text: "event " + strconv.Itoa(i)})
	}
	e.add(evs)
	lines := func() string {
		var b strings.Builder
		for y := range e.h {
			r := newRow(&b, 80)
			e.row(&r, y)
			b.WriteString("\n")
		}
		return b.String()
	}
	if s := lines(); !strings.Contains(s, "event 10") || !strings.Contains(s, "event 8") || strings.Contains(s, "event 7") {
		t.Fatalf("following the newest:\n%s", s)
	}
	e.scroll(3)
	s := lines()
	if !strings.Contains(s, "event 7") || strings.Contains(s, "event 8") || !strings.Contains(s, "scrolled back 3") {
		t.Fatalf("scrolled back 3:\n%s", s)
	}
	// New events keep the scrolled view where it is.
	e.add([]cluster.Event{{Seq: 11, World: 11 * time.Second, Kind: cluster.EvInfo, Text: "event 11"}})
	if s2 := lines(); !strings.Contains(s2, "event 7") || strings.Contains(s2, "event 8") || strings.Contains(s2, "event 11") {
		t.Fatalf("a new event moved the scrolled view:\n%s", s2)
	}
	e.scroll(100) // clamped to the oldest
	if s := lines(); !strings.Contains(s, "event 3") || strings.Contains(s, "event 4") {
		t.Fatalf("scrolled to the oldest:\n%s", s)
	}
	e.scroll(-100)
	if s := lines(); !strings.Contains(s, "event 11") || strings.Contains(s, "scrolled back") {
		t.Fatalf("back to the newest:\n%s", s)
	}
}

// The entry shown whole is what just happened: a crash, not the
// disconnect it caused a moment later; identical news from several nodes
// is one line.
func TestEventLogShowsWhatHappened(t *testing.T) {
	e := eventLog{st: theme.NewStyles(theme.Mono())}
	e.SetSize(80, 8)
	e.add([]cluster.Event{
		{Seq: 1, Kind: cluster.EvRecovery, Text: "a new, empty WAL: nothing to recover"},
		{Seq: 2, Follower: "follower-1", Kind: cluster.EvRecovery, Text: "a new, empty WAL: nothing to recover"},
		{Seq: 3, Follower: "follower-2", Kind: cluster.EvRecovery, Text: "a new, empty WAL: nothing to recover"},
		{Seq: 4, World: 9 * time.Second, Follower: "follower-1", Kind: cluster.EvCommand, Text: "crash follower-1"},
		{Seq: 5, World: 9 * time.Second, Follower: "follower-1", Kind: cluster.EvCrash, Text: "crashed as in a power failure: " + strings.Repeat("and so on ", 12) + "the end"},
		{Seq: 6, World: 10 * time.Second, Follower: "follower-1", Kind: cluster.EvDisconnect, Text: "disconnected: connection closed"},
	})
	var b strings.Builder
	for y := range e.h {
		r := newRow(&b, 80)
		e.row(&r, y)
		b.WriteString("\n")
	}
	got := b.String()
	if n := strings.Count(got, "nothing to recover"); n != 1 || !strings.Contains(got, "leader +2") {
		t.Errorf("recovery said %d times, or not for 3 nodes:\n%s", n, got)
	}
	if !strings.Contains(got, "the end") || strings.Index(got, "crash follower-1") > strings.Index(got, "crashed as") ||
		strings.Index(got, "crashed as") > strings.Index(got, "disconnected") {
		t.Errorf("the crash is not whole, or not in causal order:\n%s", got)
	}
}
