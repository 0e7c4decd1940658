package cluster

import (
	"testing"
	"time"
)

func TestCommitLatency(t *testing.T) {
	var tr commitTracker
	if lat := tr.latency(); lat.Commits != 0 {
		t.Fatalf("empty: %+v", lat)
	}
	tr.released(10 * time.Millisecond)
	if lat := tr.latency(); lat.Commits != 1 || lat.P50 != 10*time.Millisecond {
		t.Errorf("after one: %+v", lat)
	}
	for i := range 100 {
		tr.released(time.Duration(i+1) * time.Millisecond)
	}
	lat := tr.latency()
	if lat.Commits != 101 || lat.P50 < 45*time.Millisecond || lat.P50 > 55*time.Millisecond || lat.P99 < 98*time.Millisecond {
		t.Errorf("percentiles of 1..100ms: %+v", lat)
	}
	for range latencyWindow {
		tr.released(time.Second)
	}
	if lat := tr.latency(); lat.Commits != latencyWindow || lat.P50 != time.Second {
		t.Errorf("a full window of 1s: %+v", lat)
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
