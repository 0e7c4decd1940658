package cluster

import (
	"testing"
	"time"

	"walship/engine/ship"
	"walship/engine/wal"
)

func TestCommitTracker(t *testing.T) {
	var tr commitTracker
	if oldest, lat := tr.summary(); oldest != 0 || lat.Commits != 0 {
		t.Fatalf("empty: oldest %s, %+v", oldest, lat)
	}
	tr.begin(300)
	tr.begin(100)
	tr.begin(200)
	if oldest, _ := tr.summary(); oldest != 100 {
		t.Errorf("oldest waiting %s, want 0/64", oldest)
	}
	tr.end(100, 10*time.Millisecond, true)
	tr.end(300, 0, false) // given up: not a latency
	if oldest, lat := tr.summary(); oldest != 200 || lat.Commits != 1 || lat.P50 != 10*time.Millisecond {
		t.Errorf("after two ended: oldest %s, %+v", oldest, lat)
	}
	for i := range 100 {
		tr.end(0, time.Duration(i+1)*time.Millisecond, true)
	}
	_, lat := tr.summary()
	if lat.Commits != 101 || lat.P50 < 45*time.Millisecond || lat.P50 > 55*time.Millisecond || lat.P99 < 98*time.Millisecond {
		t.Errorf("percentiles of 1..100ms: %+v", lat)
	}
}

func TestSyncWatermarkAndState(t *testing.T) {
	peer := func(name string, streaming bool, w, f, r wal.LSN) ship.PeerStatus {
		return ship.PeerStatus{Name: name, Connected: true, CaughtUp: streaming, WriteLSN: w, FlushLSN: f, ReplayLSN: r}
	}
	peers := []ship.PeerStatus{
		peer("a", true, 900, 800, 700),
		peer("b", true, 600, 500, 400),
		peer("c", false, 999, 999, 999),                           // catching up: counts for nothing
		{Name: "d", WriteLSN: 999, FlushLSN: 999, ReplayLSN: 999}, // not connected
	}
	for _, c := range []struct {
		rule SyncRule
		want wal.LSN
	}{
		{SyncRule{Mode: SyncOff, N: 1}, 0},
		{SyncRule{Mode: SyncLocal, N: 1}, 0},
		{SyncRule{Mode: SyncRemoteWrite, N: 1}, 900},
		{SyncRule{Mode: SyncOn, N: 1}, 800},
		{SyncRule{Mode: SyncOn, N: 2}, 500},
		{SyncRule{Mode: SyncRemoteApply, N: 2}, 400},
		{SyncRule{Mode: SyncOn, N: 3}, 0}, // only two stream
	} {
		if got := syncWatermark(c.rule, peers); got != c.want {
			t.Errorf("%s: watermark %s, want %s", c.rule, got, c.want)
		}
	}
	on := SyncRule{Mode: SyncOn, N: 1}
	for i, want := range []string{"quorum", "quorum", "potential", ""} {
		if got := syncState(on, peers[i]); got != want {
			t.Errorf("%s under %s: sync_state %q, want %q", peers[i].Name, on, got, want)
		}
	}
	if got := syncState(SyncRule{Mode: SyncLocal, N: 1}, peers[0]); got != "async" {
		t.Errorf("under local: %q, want async", got)
	}
}

// TestCommitWaitShown: under remote_apply with the only follower's replay
// paused, the snapshot shows the oldest waiting commit past the rule's
// watermark; resumed, the commits are released and their latency measured.
func TestCommitWaitShown(t *testing.T) {
	c := newTest(t, Config{Followers: 1, Sync: SyncRule{Mode: SyncRemoteApply, N: 1}})
	do(t, c, "write 1")
	eventuallyC(t, c, "a follower streaming and the first commit released", func(s Snapshot) bool {
		return s.Leader.CommitLatency.Commits > 0 && s.Followers[0].SyncState == "quorum"
	})
	do(t, c, "pause follower-1")
	do(t, c, "write 1")
	s := eventuallyC(t, c, "a commit waiting", func(s Snapshot) bool { return s.Leader.WaitingCommits > 0 })
	if s.Leader.OldestWaitingLSN == 0 || s.Leader.OldestWaitingLSN <= s.Leader.SyncWatermark {
		t.Errorf("oldest waiting %s, watermark %s: the commit waits past the watermark", s.Leader.OldestWaitingLSN, s.Leader.SyncWatermark)
	}
	do(t, c, "resume follower-1")
	eventuallyC(t, c, "the commit released", func(s Snapshot) bool {
		return s.Leader.WaitingCommits == 0 && s.Leader.OldestWaitingLSN == 0 && s.Leader.CommitLatency.Commits >= 2
	})
}

// TestNoWALKeep: NoWALKeep is wal_keep_size = 0, not the default.
func TestNoWALKeep(t *testing.T) {
	for _, c := range []struct {
		keep, want int64
	}{{0, 64 << 20}, {NoWALKeep, 0}, {4096, 4096}} {
		cl := newTest(t, Config{Followers: 1, WALKeep: c.keep})
		if got := cl.Snapshot(0).Leader.WALKeep; got != c.want {
			t.Errorf("WALKeep %d: wal_keep_size %d, want %d", c.keep, got, c.want)
		}
		cl.Close()
	}
}
