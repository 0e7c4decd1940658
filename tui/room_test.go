package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"walship/engine/cluster"
)

// roomFixture is fixture() under a sync rule that waits (commits pending,
// a watermark, latency) with a crash's long sentence as the newest event.
func roomFixture() cluster.Snapshot {
	s := fixture()
	s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncOn, N: 1}
	s.Leader.WaitingCommits = 3
	s.Leader.OldestWaitingLSN = 0x11D0
	s.Leader.SyncWatermark = 0x1170
	s.Leader.CommitLatency = cluster.CommitLatency{P50: 640 * time.Millisecond, P99: 1300 * time.Millisecond, Commits: 90}
	for i := range s.Followers {
		s.Followers[i].SyncState = "quorum"
	}
	s.Followers[2].SyncState = ""
	s.Events = append(s.Events, cluster.Event{Seq: 4, World: 11 * time.Second, Follower: "follower-1", Kind: cluster.EvCrash, LSN: 0x1170,
		Text: crashSentence})
	s.LastEvent = 4
	return s
}

const crashSentence = "crashed as in a power failure: its WAL up to flush_lsn 0/1170 was fsynced and survives; of the 48 bytes written after it but not fsynced, only the first 7 reached the disk (a torn write); recovery will keep the whole records among them and cut the rest"

// TestGoldenRoom draws the presenter layout at the smallest size (a
// teacher's large font) and a large one: every badge and the whole
// sentence of the newest event must be on screen.
func TestGoldenRoom(t *testing.T) {
	for _, c := range []struct {
		name string
		w, h int
	}{{"80x24", 80, 24}, {"120x36", 120, 36}, {"200x50", 200, 50}} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newTestModel(t, roomFixture(), c.w, c.h, "mono")
			press(t, m, "z")
			got := screen(m)
			checkScreenSize(t, got, c.w, c.h)
			flat := flat(got)
			for _, want := range []string{"PAUSED", "CUT", "✖ CRC 2", "follower-1", "follower-2", "follower-3",
				strings.Join(strings.Fields(sentence(crashSentence)), " ")[len("crashed as in a power failure: its WAL"):]} {
				if !strings.Contains(flat, want) {
					t.Errorf("%q missing from the presenter layout:\n%s", want, got)
				}
			}
			golden.RequireEqual(t, got)
		})
	}
}

// checkScreenSize fails when the screen has another number of rows than
// h or a row wider than w.
func checkScreenSize(t *testing.T, got string, w, h int) {
	t.Helper()
	for i, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if lw := width(l); lw > w {
			t.Errorf("line %d is %d cells wide (> %d): %q", i, lw, w, l)
		}
	}
	if n := strings.Count(got, "\n"); n != h {
		t.Errorf("%d lines, want %d", n, h)
	}
}
