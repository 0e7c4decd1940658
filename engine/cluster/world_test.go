package cluster_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"walship/engine/cluster"
)

// TestWorldRewinds: a rewind restarts the whole cluster from a checkpoint
// of its data directory: the leader has the keys it had then (retention
// has removed WAL, so they come from its store checkpoint), the links,
// pauses and speed are as they were, stopped and cut followers run again,
// events and world time go on, and the followers converge and verify.
func TestWorldRewinds(t *testing.T) {
	w, err := cluster.NewWorld(restartConfig("", 2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() }) // a second Close is harmless
	dir := w.Dir()
	do := func(lines ...string) {
		t.Helper()
		for _, line := range lines {
			c, err := cluster.ParseCommand(line)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Do(c); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		}
	}
	streaming(t, w)
	putRange(t, w.Cluster(), 0, 2000)
	converge(t, w.Cluster())
	waitRetention(t, w.Cluster())
	want := storeMap(w.Cluster().Leader().Store())
	do("pause follower-2", "latency follower-1 50ms", "speed 2", "sync on 1")
	if err := w.Checkpoint("chapter-1"); err != nil {
		t.Fatal(err)
	}
	before := w.Snapshot(^uint64(0))
	if before.Frozen {
		t.Fatal("the checkpoint left the world frozen")
	}

	for round := range 2 {
		do("resume follower-2", "write 3000", "crash follower-1", "cut follower-2", "latency all 0", "speed 1", "sync off")
		if err := w.Rewind("chapter-1"); err != nil {
			t.Fatal(err)
		}
		s := w.Snapshot(^uint64(0))
		if got := storeMap(w.Cluster().Leader().Store()); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: the leader has %d keys after the rewind, had %d", round, len(got), len(want))
		}
		f1, f2 := &s.Followers[0], &s.Followers[1]
		if s.Leader.FlushLSN != before.Leader.FlushLSN || s.Speed != 2 || s.Leader.Sync != before.Leader.Sync ||
			f1.Link.Latency != 50*time.Millisecond || f1.State == cluster.StateStopped || !f2.ReplayPaused || f2.Link.Cut {
			t.Fatalf("round %d: after the rewind %+v, %+v %+v", round, s.Leader, f1, f2)
		}
		if s.LastEvent <= before.LastEvent || s.World < before.World {
			t.Fatalf("round %d: events %d and world time %s went back from %d and %s", round, s.LastEvent, s.World, before.LastEvent, before.World)
		}
		do("resume follower-2")
		converge(t, w.Cluster())
		do("pause follower-2")
	}
	verifyMatch(t, w.Cluster(), " after two rewinds") // (it stops the followers)

	if err := w.Checkpoint("../x"); err == nil {
		t.Error("a checkpoint name that leaves the directory was taken")
	}
	if err := w.Rewind("chapter-9"); err == nil {
		t.Error("a rewind to no checkpoint succeeded")
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the World's temporary directory is left: %v", err)
	}
}

// TestWorldKeepsItsDirectory: on a kept directory the World removes only
// its checkpoints, and the directory restarts as a cluster afterwards.
func TestWorldKeepsItsDirectory(t *testing.T) {
	dir := t.TempDir()
	w, err := cluster.NewWorld(restartConfig(dir, 1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	streaming(t, w)
	putRange(t, w.Cluster(), 0, 100)
	converge(t, w.Cluster())
	if err := w.Checkpoint("chapter-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints", "chapter-1", "leader")); err != nil {
		t.Fatalf("no checkpoint in the data directory: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "checkpoints")); !os.IsNotExist(err) {
		t.Errorf("checkpoints left behind: %v", err)
	}
	cfg := restartConfig(dir, 0)
	cfg.SegmentSize = 0
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if s := c.Snapshot(0); s.Leader.Keys == 0 || len(s.Followers) != 1 {
		t.Errorf("the kept directory restarted with %d keys, %d followers", s.Leader.Keys, len(s.Followers))
	}
}

// streaming waits until every follower of w streams, so that their slots
// hold the WAL they have yet to receive.
func streaming(t *testing.T, w *cluster.World) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second) // only against a hang
	for {
		s := w.Snapshot(^uint64(0))
		ok := len(s.Followers) > 0
		for _, f := range s.Followers {
			ok = ok && f.State == cluster.StateStreaming
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("followers not streaming: %+v", s.Followers)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestSettings: a snapshot's settings are one command for all followers
// where they agree, one each where they differ, the states a rewind must
// bring back, and the freeze last.
func TestSettings(t *testing.T) {
	s := cluster.Snapshot{
		Speed: 0.5, Frozen: true,
		Leader: cluster.LeaderStatus{TargetRate: 3.6, WALKeep: 64 << 10, Slots: true,
			Sync: cluster.SyncRule{Mode: cluster.SyncRemoteApply, N: 2}},
		Followers: []cluster.FollowerStatus{
			{Name: "follower-1", State: cluster.StateStreaming, ReplayPaused: true,
				Link: cluster.LinkStatus{Latency: 300 * time.Millisecond, Slice: true}, ApplyDelay: time.Second},
			{Name: "follower-2", State: cluster.StateStopped,
				Link: cluster.LinkStatus{Latency: 300 * time.Millisecond, Cut: true, Bandwidth: 64 << 10}, ApplyDelay: time.Second},
		},
	}
	var got []string
	for _, c := range s.Settings() {
		got = append(got, c.String())
	}
	want := []string{"rate 4", "sync remote_apply 2", "wal-keep 64KiB", "slots on", "speed 0.5",
		"latency all 300ms", "bandwidth follower-1 off", "bandwidth follower-2 64KiB",
		"slice follower-1 on", "slice follower-2 off", "apply-delay all 1s", "flush-delay all 0",
		"pause follower-1", "cut follower-2", "crash follower-2", "freeze"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("settings\n got %q\nwant %q", got, want)
	}
}

// TestWorldRewindsToAPrimaryDown: a checkpoint taken while the primary is
// down (a lesson's chapter that begins after crash leader) comes back
// with the primary down, so the failover the chapter plays can run
// again.
func TestWorldRewindsToAPrimaryDown(t *testing.T) {
	w, do := failoverWorld(t)
	do("crash leader")
	if err := w.Checkpoint("chapter-1"); err != nil {
		t.Fatal(err)
	}
	do("failover")
	if err := w.Rewind("chapter-1"); err != nil {
		t.Fatal(err)
	}
	if s := w.Snapshot(^uint64(0)); s.Leader.State != cluster.PrimaryDown || s.Leader.Name != cluster.LeaderName {
		t.Fatalf("after the rewind the primary is %s, %s; want %s, %s", s.Leader.Name, s.Leader.State, cluster.LeaderName, cluster.PrimaryDown)
	}
	do("failover")
	if s := w.Snapshot(^uint64(0)); s.Leader.State != cluster.PrimaryUp || s.Leader.Timeline != 2 {
		t.Fatalf("the failover after the rewind left %s %s on timeline %d", s.Leader.Name, s.Leader.State, s.Leader.Timeline)
	}
}

// TestWorldRewindsToAnOldLeaderDown goes back to a chapter that began
// after a failover and before the old leader came back: it is down again
// (not rejoined on its own), so restart leader can bring it back again.
func TestWorldRewindsToAnOldLeaderDown(t *testing.T) {
	w, do := failoverWorld(t)
	do("crash leader")
	do("failover")
	if err := w.Checkpoint("chapter-5"); err != nil {
		t.Fatal(err)
	}
	do("restart leader")
	if err := w.Rewind("chapter-5"); err != nil {
		t.Fatal(err)
	}
	s := w.Snapshot(^uint64(0))
	if s.Leader.Timeline != 2 || s.Leader.Name == cluster.LeaderName {
		t.Fatalf("after the rewind %s leads on timeline %d; want the promoted follower on timeline 2", s.Leader.Name, s.Leader.Timeline)
	}
	for _, f := range s.Followers {
		if f.Name == cluster.LeaderName {
			t.Fatalf("after the rewind the old leader is a follower again (%s); want it down", f.State)
		}
	}
	do("restart leader")
}

// failoverWorld starts a world of two followers streaming 200 keys, and
// a function that carries out a command on it or fails the test.
func failoverWorld(t *testing.T) (*cluster.World, func(string)) {
	t.Helper()
	w, err := cluster.NewWorld(restartConfig("", 2))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	do := func(line string) {
		t.Helper()
		c, err := cluster.ParseCommand(line)
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Do(c); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	streaming(t, w)
	putRange(t, w.Cluster(), 0, 200)
	converge(t, w.Cluster())
	return w, do
}
