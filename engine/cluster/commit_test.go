package cluster

import (
	"strings"
	"testing"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// commitReleased writes a record and waits until the sync rule in force
// releases its commit (the deadline only guards against a hang).
func commitReleased(t *testing.T, c *Cluster, rule string) {
	t.Helper()
	end, err := c.Put([]byte("sync-key"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan bool, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() { done <- c.leader.WaitCommit(end, stop) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatalf("sync %s: commit at %s not released: %s", rule, end, c.leader.Commit(end).Reason)
	}
}

// commitHeld writes a record, waits until the follower reached the
// point where it stops (reached(f, end): its last report as the leader
// has it), and checks that the sync rule in force holds the commit, for
// the reason given. What the rule decides from the reports is the core's
// (testdata/leader/commit.txt); this checks the cluster feeds it.
func commitHeld(t *testing.T, c *Cluster, rule string, reached func(replica.Row, wal.LSN) bool, why string) {
	t.Helper()
	end, err := c.Put([]byte("sync-key"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		rows := c.leader.Followers()
		if c.leader.Flushed() >= end && len(rows) == 1 && reached(rows[0], end) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sync %s: the follower never got where it stops: %+v", rule, rows)
		}
		time.Sleep(time.Millisecond)
	}
	v := c.leader.Commit(end)
	if v.Released || !strings.Contains(v.Reason, why) {
		t.Errorf("sync %s: verdict %+v, want held: %q", rule, v, why)
	}
}

func TestSyncCommitWaitPoints(t *testing.T) {
	c := newTest(t, Config{Followers: 1})
	current = c
	put(t, c, 10, "a")
	converge(t, c)
	// Paused replay: remote_apply holds, the weaker modes do not.
	do(t, c, "pause follower-1")
	for _, mode := range []string{"off", "local", "remote_write 1", "on 1"} {
		do(t, c, "sync "+mode)
		commitReleased(t, c, mode)
	}
	do(t, c, "sync remote_apply 1")
	flushed := func(r replica.Row, end wal.LSN) bool { return r.Streaming && r.Flush >= end }
	commitHeld(t, c, "remote_apply 1", flushed, "waiting for replay of")
	// A waiting commit is visible, with the reason, and resume releases it.
	end, _ := c.Put([]byte("k"), []byte("v"))
	released := make(chan bool, 1)
	go func() { released <- c.leader.WaitCommit(end, nil) }()
	s := eventually(t, "a waiting commit", func(s Snapshot) bool {
		return s.Leader.WaitingCommits >= 1 && strings.Contains(s.Leader.CommitWait, "follower-1 at")
	})
	if !strings.HasPrefix(s.Leader.CommitWait, "waiting for replay of ") {
		t.Errorf("CommitWait %q", s.Leader.CommitWait)
	}
	do(t, c, "resume follower-1")
	select {
	case <-released:
	case <-time.After(30 * time.Second):
		t.Fatal("resume did not release the commit")
	}
	// A cut link holds every remote mode: its reports no longer count.
	do(t, c, "cut follower-1")
	gone := func(r replica.Row, end wal.LSN) bool { return !r.Connected }
	for _, mode := range []string{"remote_write 1", "on 1", "remote_apply 1"} {
		do(t, c, "sync "+mode)
		commitHeld(t, c, mode, gone, "follower-1 disconnected")
	}
	do(t, c, "sync local")
	commitReleased(t, c, "local")
	do(t, c, "restore follower-1")
	converge(t, c)
}

// "on" waits for the follower's fsync, remote_write does not: with an
// fsync that never ends (an hour of world time), a commit the follower
// has written is released under remote_write and held under on.
func TestSyncOnWaitsForFlush(t *testing.T) {
	c := newTest(t, Config{Followers: 1, FlushDelay: time.Hour})
	current = c
	do(t, c, "sync remote_write 1")
	commitReleased(t, c, "remote_write 1")
	do(t, c, "sync on 1")
	written := func(r replica.Row, end wal.LSN) bool { return r.Streaming && r.Write >= end }
	commitHeld(t, c, "on 1", written, "waiting for flush of")
}
