package cluster_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"

	"walship/engine/cluster"
)

// openFiles counts this process's open file descriptors.
func openFiles(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot count open files: %v", err)
	}
	return len(ents)
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
// and fails with the goroutines' stacks if they are not within 5 seconds.
func backTo(t *testing.T, what string, goroutines, files int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		g, f := runtime.NumGoroutine(), openFiles(t)
		if g <= goroutines && f <= files {
			t.Logf("%s: %d goroutines (baseline %d), %d open files (baseline %d)", what, g, goroutines, f, files)
			return
		}
		if time.Now().After(deadline) {
			var b bytes.Buffer
			pprof.Lookup("goroutine").WriteTo(&b, 1)
			t.Fatalf("%s: %d goroutines (baseline %d), %d open files (baseline %d): %q\n%s", what, g, goroutines, f, files, fdTargets(), b.String())
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
	before := runtime.NumGoroutine()
	beforeFiles := openFiles(t)
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
	// Both followers streaming, no frame in flight: the running baseline
	// (the event collector included).
	time.Sleep(100 * time.Millisecond)
	running, runningFiles := runtime.NumGoroutine(), openFiles(t)
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
	log.close()
	time.Sleep(100 * time.Millisecond)
	backTo(t, "running", running, runningFiles)

	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	backTo(t, "after Close", before, beforeFiles)
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
