package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
)

// usage is what a leak would make grow: goroutines, and open file
// descriptors, WAL segment files apart from the rest.
type usage struct{ goroutines, files, walFiles int }

// current counts this process's goroutines and open file descriptors.
func current(t *testing.T) usage {
	t.Helper()
	if _, err := os.ReadDir("/proc/self/fd"); err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	u := usage{goroutines: runtime.NumGoroutine()}
	for _, target := range fdTargets() {
		if strings.HasSuffix(target, ".wal") {
			u.walFiles++
		} else {
			u.files++
		}
	}
	return u
}

// fdTargets lists what the open file descriptors point at.
func fdTargets() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, err := os.Readlink("/proc/self/fd/" + e.Name())
		if err == nil {
			out = append(out, l)
		}
	}
	return out
}

// backTo polls until goroutines and open files are at most the baseline,
// WAL segment files at most walSlack more, and fails with the goroutines'
// stacks if they are not within 5 seconds.
func backTo(t *testing.T, what string, base usage, walSlack int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		u := current(t)
		if u.goroutines <= base.goroutines && u.files <= base.files && u.walFiles <= base.walFiles+walSlack {
			t.Logf("%s: %+v (baseline %+v)", what, u, base)
			return
		}
		if time.Now().After(deadline) {
			var b bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%s: %+v (baseline %+v, WAL files may be %d more): %q\n%s", what, u, base, walSlack, fdTargets(), b.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestNoLeaksAfterCutsAndCrashes runs 1,000 cut/restore cycles and 100
// follower crash/restarts under a running workload, then checks that
// goroutines and open files are back to where they were before, both
// while the cluster runs and after Close.
func TestNoLeaksAfterCutsAndCrashes(t *testing.T) {
	cuts, crashes := 1000, 100
	if testing.Short() {
		cuts, crashes = 100, 10
	}
	before := current(t)
	c, err := cluster.New(cluster.Config{
		Dir: t.TempDir(), Followers: 2, Seed: 3, NoFsync: true, SegmentSize: 64 << 10,
		Rate: 300, Latency: time.Millisecond, StatusInterval: 20 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	converge := func(when string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Exec("rate 0"); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitConverged(ctx); err != nil {
			t.Fatalf("%s: %v", when, err)
		}
	}
	log := collectEvents(c)
	// Some WAL first, so that every log and reader has its segment open.
	for i := range 500 {
		if _, err := c.Put(fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	converge("at the start")
	// Both followers streaming and caught up: the running baseline (the
	// event collector included).
	connected(t, c, "follower-1")
	connected(t, c, "follower-2")
	running := current(t)
	if err := c.Exec("rate 300"); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	for i := range cuts {
		f := cluster.FollowerName(1 + i%2)
		if err := c.Exec("cut " + f); err != nil {
			t.Fatal(err)
		}
		if err := c.Exec("restore " + f); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			// Every tenth time let it reconnect, so that sessions
			// through the relay and on the leader come and go too.
			connected(t, c, f)
		}
	}
	for i := range crashes {
		f := cluster.FollowerName(1 + i%2)
		if err := c.Exec("crash " + f); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			time.Sleep(time.Millisecond)
		}
		if err := c.Exec("restart " + f); err != nil {
			t.Fatal(err)
		}
		if i%10 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
	}
	connects := 0
	for _, e := range log.list() {
		if e.Kind == cluster.EvConnect {
			connects++
		}
	}
	t.Logf("%d cut/restore cycles and %d crash/restarts in %v: %d connections made",
		cuts, crashes, time.Since(start).Round(time.Millisecond), connects)
	converge("after the cycles")
	log.close() // returns once its goroutine has
	// A Reader keeps its segment file open only once it has had to read
	// the file rather than its log's in-memory tail, so each sender and
	// each replay (two of each) may hold one more WAL file than at the
	// baseline, depending on how far behind it fell. A leak over a
	// thousand cycles would be far more.
	backTo(t, "running", running, 4)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	backTo(t, "after Close", before, 0)
}

// connected waits until follower is connected through its relay again.
func connected(t *testing.T, c *cluster.Cluster, follower string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, f := range c.Snapshot(^uint64(0)).Followers {
			if f.Name == follower && f.Link.Connected && f.State == cluster.StateStreaming {
				return
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("%s did not reconnect", follower)
}
