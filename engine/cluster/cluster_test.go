package cluster

import (
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"

	"walship/engine/wire"
)

// newTest starts a cluster for a test and closes it at the end.
func newTest(t *testing.T, cfg Config) *Cluster {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func do(t *testing.T, c *Cluster, line string) {
	t.Helper()
	if err := c.Exec(line); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
}

func put(t *testing.T, c *Cluster, n int, prefix string) {
	t.Helper()
	for i := range n {
		if _, err := c.Put(fmt.Appendf(nil, "%s-%06d", prefix, i), fmt.Appendf(nil, "v%d", i)); err != nil {
			t.Fatal(err)
		}
	}
}

func converge(t *testing.T, c *Cluster) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	return eventuallyC(t, nil, what, cond)
}

var current *Cluster

func eventuallyC(t *testing.T, c *Cluster, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	if c == nil {
		c = current
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := c.Snapshot(0)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			for _, e := range c.Snapshot(0).Events {
				t.Logf("event %v %s %s %s %s", e.World, e.Follower, e.Kind, e.LSN, e.Text)
			}
			t.Fatalf("timed out waiting for %s; state: %s", what, describe(s))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// leaderSees reports whether the leader has a connection from name.
func leaderSees(c *Cluster, name string) bool {
	for _, r := range c.leader.Followers() {
		if r.Name == name {
			return r.Connected
		}
	}
	return false
}

func describe(s Snapshot) string {
	var b strings.Builder
	fmt.Fprintf(&b, "leader insert %s flush %s oldest %s;", s.Leader.InsertLSN, s.Leader.FlushLSN, s.Leader.OldestLSN)
	for _, f := range s.Followers {
		fmt.Fprintf(&b, " %s %s TL%d w=%s f=%s r=%s err=%q;", f.Name, f.State, f.Timeline, f.WriteLSN, f.FlushLSN, f.ReplayLSN, f.LastError)
	}
	return b.String()
}

func verifyAll(t *testing.T, c *Cluster) {
	t.Helper()
	vs, err := c.Verify()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if !v.Match() {
			t.Errorf("%s differs: %+v", v.Name, v)
		}
	}
}

func follower(s Snapshot, name string) FollowerStatus {
	for _, f := range s.Followers {
		if f.Name == name {
			return f
		}
	}
	return FollowerStatus{}
}

func checkInvariant(t *testing.T, s Snapshot) {
	t.Helper()
	for _, f := range s.Followers {
		if f.ReplayLSN > f.FlushLSN || f.FlushLSN > f.WriteLSN || f.WriteLSN > s.Leader.FlushLSN {
			t.Fatalf("%s: invariant broken: replay %s flush %s write %s leader %s", f.Name, f.ReplayLSN, f.FlushLSN, f.WriteLSN, s.Leader.FlushLSN)
		}
	}
}

func TestShipsAndMatches(t *testing.T) {
	c := newTest(t, Config{Followers: 3, SegmentSize: 16 << 10})
	put(t, c, 3000, "k")
	converge(t, c)
	s := c.Snapshot(0)
	checkInvariant(t, s)
	for _, f := range s.Followers {
		if f.State != StateStreaming {
			t.Errorf("%s is %s, want streaming", f.Name, f.State)
		}
		if f.Keys != 3000 {
			t.Errorf("%s has %d keys", f.Name, f.Keys)
		}
	}
	verifyAll(t, c)
}

func TestCRCFailureResendConverges(t *testing.T) {
	c := newTest(t, Config{Followers: 1, BatchBytes: 1})
	current = c
	put(t, c, 10, "a")
	converge(t, c)
	do(t, c, "corrupt follower-1")
	put(t, c, 50, "b")
	eventually(t, "a CRC failure", func(s Snapshot) bool { return follower(s, "follower-1").CRCFailures >= 1 })
	converge(t, c)
	s := c.Snapshot(0)
	f := follower(s, "follower-1")
	if f.CRCFailures != 1 || f.Resends < 1 {
		t.Errorf("crc failures %d, resends %d; want 1 and >= 1", f.CRCFailures, f.Resends)
	}
	var sawCRC bool
	for _, e := range s.Events {
		sawCRC = sawCRC || e.Kind == EvCRC
	}
	if !sawCRC {
		t.Error("no crc-failure event")
	}
	verifyAll(t, c)
}

func TestPausedReplayReceivesAndFlushes(t *testing.T) {
	c := newTest(t, Config{Followers: 2})
	current = c
	put(t, c, 100, "a")
	converge(t, c)
	do(t, c, "pause follower-1")
	before := follower(c.Snapshot(0), "follower-1").ReplayLSN
	put(t, c, 500, "b")
	s := eventually(t, "follower-1 to receive and flush everything", func(s Snapshot) bool {
		f := follower(s, "follower-1")
		return f.FlushLSN == s.Leader.FlushLSN && s.Leader.FlushLSN == s.Leader.InsertLSN
	})
	f := follower(s, "follower-1")
	if f.ReplayLSN != before || !f.ReplayPaused {
		t.Fatalf("paused replay moved from %s to %s (paused %v)", before, f.ReplayLSN, f.ReplayPaused)
	}
	if !(f.ReplayLSN < f.FlushLSN) {
		t.Fatalf("replay %s should lag flush %s", f.ReplayLSN, f.FlushLSN)
	}
	if f.ReplayLag.Idle || !f.ReplayLag.Known {
		t.Errorf("replay lag of a paused follower shows %v: stuck must not look idle", f.ReplayLag)
	}
	if g := follower(s, "follower-2"); g.ReplayLSN != s.Leader.FlushLSN {
		// follower-2 is unaffected (it may still be catching up; converge below)
		_ = g
	}
	checkInvariant(t, s)
	do(t, c, "resume follower-1")
	converge(t, c)
	verifyAll(t, c)
}

func TestCutAndCatchUp(t *testing.T) {
	c := newTest(t, Config{Followers: 2})
	current = c
	put(t, c, 100, "a")
	converge(t, c)
	do(t, c, "cut follower-2")
	eventually(t, "cut state, the leader's connection to it gone", func(s Snapshot) bool {
		f := follower(s, "follower-2")
		return f.State == StateCut && !f.Link.Connected && !leaderSees(c, "follower-2")
	})
	put(t, c, 1000, "b")
	// Nothing can reach it now: the leader's flush moves on, its write
	// stays where the cut left it.
	s := eventually(t, "the leader to flush the writes", func(s Snapshot) bool { return s.Leader.FlushLSN == s.Leader.InsertLSN })
	if f := follower(s, "follower-2"); f.WriteLSN >= s.Leader.FlushLSN {
		t.Fatalf("cut follower received everything: %s", describe(s))
	}
	do(t, c, "restore follower-2")
	converge(t, c)
	verifyAll(t, c)
}

func TestFollowerCrashRestartRecovers(t *testing.T) {
	c := newTest(t, Config{Followers: 2, FlushDelay: 20 * time.Millisecond})
	current = c
	for round := range 5 {
		put(t, c, 200, fmt.Sprint("r", round))
		time.Sleep(time.Duration(round) * 5 * time.Millisecond)
		do(t, c, "crash follower-1")
		s := c.Snapshot(0)
		if f := follower(s, "follower-1"); f.State != StateStopped {
			t.Fatalf("crashed follower is %s", f.State)
		}
		put(t, c, 100, fmt.Sprint("s", round))
		do(t, c, "restart follower-1")
		converge(t, c)
	}
	verifyAll(t, c)
}

// cutAndOutrun cuts follower-1, then writes far more than 32 KiB of WAL in
// steps follower-2 keeps up with (a follower more than wal_keep_size behind
// loses its WAL too).
func cutAndOutrun(t *testing.T, c *Cluster) {
	t.Helper()
	do(t, c, "cut follower-1")
	for i := range 25 {
		put(t, c, 200, fmt.Sprint("b", i))
		eventually(t, "follower-2 to keep up", func(s Snapshot) bool {
			return follower(s, "follower-2").FlushLSN == s.Leader.InsertLSN
		})
	}
}

func TestFallOffRetentionThenBaseBackup(t *testing.T) {
	c := newTest(t, Config{Followers: 2, SegmentSize: 16 << 10, WALKeep: 32 << 10})
	current = c
	put(t, c, 100, "a")
	converge(t, c)
	cutAndOutrun(t, c)
	eventually(t, "old WAL removed", func(s Snapshot) bool {
		return s.Leader.OldestLSN > follower(s, "follower-1").WriteLSN
	})
	do(t, c, "restore follower-1")
	eventually(t, "needs base backup", func(s Snapshot) bool {
		return follower(s, "follower-1").State == StateNeedsBackup
	})
	do(t, c, "backup follower-1")
	eventually(t, "a base backup", func(s Snapshot) bool { return follower(s, "follower-1").Backup.Count == 1 })
	put(t, c, 100, "c")
	converge(t, c)
	s := c.Snapshot(0)
	if f := follower(s, "follower-1"); f.State != StateStreaming {
		t.Errorf("after backup: %s", f.State)
	}
	verifyAll(t, c)
}

func TestSlotPinsWAL(t *testing.T) {
	c := newTest(t, Config{Followers: 2, SegmentSize: 16 << 10, WALKeep: 32 << 10, Slots: true})
	current = c
	put(t, c, 100, "a")
	converge(t, c)
	do(t, c, "cut follower-1")
	put(t, c, 3000, "b")
	s := eventually(t, "leader flushed", func(s Snapshot) bool { return s.Leader.FlushLSN == s.Leader.InsertLSN })
	f := follower(s, "follower-1")
	if !f.Slot.Enabled || s.Leader.OldestLSN > f.Slot.RestartLSN {
		t.Fatalf("slot did not pin WAL: oldest %s, slot %+v", s.Leader.OldestLSN, f.Slot)
	}
	do(t, c, "restore follower-1")
	converge(t, c)
	if f := follower(c.Snapshot(0), "follower-1"); f.Backup.Count != 0 {
		t.Errorf("a slot should have avoided a base backup")
	}
	verifyAll(t, c)
}

func TestSlotLostBeyondCap(t *testing.T) {
	c := newTest(t, Config{Followers: 1, SegmentSize: 16 << 10, WALKeep: 16 << 10, Slots: true, MaxSlotWAL: 64 << 10, AutoBackup: true})
	current = c
	put(t, c, 10, "a")
	converge(t, c)
	do(t, c, "cut follower-1")
	put(t, c, 5000, "b")
	eventually(t, "slot lost", func(s Snapshot) bool { return follower(s, "follower-1").Slot.Lost })
	do(t, c, "restore follower-1")
	converge(t, c) // AutoBackup takes the base backup
	if f := follower(c.Snapshot(0), "follower-1"); f.Backup.Count != 1 {
		t.Errorf("backups %d, want 1", f.Backup.Count)
	}
}

func TestWorkloadAndCommands(t *testing.T) {
	c := newTest(t, Config{Followers: 2, Rate: 500, SegmentSize: 16 << 10, WALKeep: 64 << 10})
	current = c
	c.Start()
	for _, line := range []string{
		"latency all 5ms 2ms", "slice follower-2 on", "bandwidth follower-1 1MiB", "write 200",
		"set hello world", "del hello", "apply-delay follower-1 1ms", "flush-delay follower-2 1ms",
		"speed 2", "freeze", "unfreeze", "speed 1", "add", "slots on", "wal-keep 128KiB", "rate 0",
	} {
		do(t, c, line)
	}
	eventually(t, "three followers streaming", func(s Snapshot) bool {
		n := 0
		for _, f := range s.Followers {
			if f.State == StateStreaming {
				n++
			}
		}
		return n == 3
	})
	do(t, c, "remove follower-3")
	do(t, c, "slice follower-2 off")
	do(t, c, "latency all 0")
	converge(t, c)
	s := c.Snapshot(0)
	if len(s.Followers) != 2 {
		t.Fatalf("followers after remove: %d", len(s.Followers))
	}
	if s.Leader.Records < 200 {
		t.Fatalf("records %d", s.Leader.Records)
	}
	checkInvariant(t, s)
	for _, bad := range []string{"pause follower-7", "restart follower-1", "crash all"} {
		if err := c.Exec(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	verifyAll(t, c)
}

func TestFramesInFlightAndLags(t *testing.T) {
	c := newTest(t, Config{Followers: 1, Latency: 200 * time.Millisecond, BatchBytes: 1})
	current = c
	put(t, c, 5, "a")
	s := eventually(t, "data frames in flight", func(s Snapshot) bool {
		for _, f := range s.Frames {
			if f.Kind == "data" && f.Dir == ToFollower && f.Pos > 0 && f.Pos < 1 {
				return true
			}
		}
		return false
	})
	for _, f := range s.Frames {
		if f.Pos < 0 || f.Pos > 1 || f.Arrive < f.Sent {
			t.Errorf("frame %+v", f)
		}
	}
	converge(t, c)
	s = eventually(t, "lags measured and idle", func(s Snapshot) bool {
		f := s.Followers[0]
		return f.ReplayLag.Known && f.WriteLag.Known && f.WriteLag.Idle && f.ReplayLag.Idle
	})
	f := s.Followers[0]
	// Measured lag includes the round trip through 200ms links.
	if f.WriteLag.D < 200*time.Millisecond {
		t.Errorf("write lag %v is less than the one-way latency", f.WriteLag.D)
	}
}

func TestFreezeHoldsFrames(t *testing.T) {
	c := newTest(t, Config{Followers: 1, Latency: 50 * time.Millisecond})
	current = c
	eventually(t, "follower-1 streaming", func(s Snapshot) bool { return s.Followers[0].State == StateStreaming })
	do(t, c, "freeze")
	put(t, c, 5, "a")
	// The frames are on the wire, due after the world time that stands
	// still: they cannot arrive (that a frozen clock stands still, and
	// that a relay delivers a frame at its due time and not before, are
	// engine/clock's and engine/link's tests).
	s := eventually(t, "data frames in flight", func(s Snapshot) bool {
		for _, f := range s.Frames {
			if f.Kind == "data" && f.Dir == ToFollower {
				return true
			}
		}
		return false
	})
	if !s.Frozen {
		t.Fatal("snapshot not frozen")
	}
	for _, f := range s.Frames {
		if f.Arrive <= s.World {
			t.Errorf("frame %+v due at %v, before the frozen world time %v", f, f.Arrive, s.World)
		}
	}
	if f := s.Followers[0]; f.WriteLSN == s.Leader.FlushLSN {
		t.Fatalf("frames delivered while frozen: %s", describe(s))
	}
	do(t, c, "unfreeze")
	converge(t, c)
}

func TestEventsSince(t *testing.T) {
	c := newTest(t, Config{Followers: 1})
	for range EventRingSize + 10 {
		c.emit(Event{Kind: EvInfo, Text: "x"})
	}
	s := c.Snapshot(0)
	if len(s.Events) != EventRingSize {
		t.Fatalf("events %d", len(s.Events))
	}
	last := s.LastEvent
	c.emit(Event{Kind: EvInfo, Text: "y"})
	s = c.Snapshot(last)
	// The follower adds events of its own (its connect) whenever it gets
	// to them: what is asked for is every event after last, in order,
	// "y" among them.
	found := false
	for i, e := range s.Events {
		if e.Seq != last+1+uint64(i) {
			t.Fatalf("events since %d: %+v", last, s.Events)
		}
		found = found || e.Kind == EvInfo && e.Text == "y"
	}
	if !found {
		t.Fatalf("events since %d: %+v", last, s.Events)
	}
}

func TestNoGoroutinesLeftAfterClose(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := New(Config{Followers: 3, Rate: 200, Latency: 5 * time.Millisecond, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	c.Exec("write 100")
	c.Exec("pause follower-1")
	c.Exec("sync remote_apply 3") // leaves commits waiting
	eventuallyC(t, c, "commits waiting", func(s Snapshot) bool { return s.Leader.WaitingCommits > 0 })
	c.Exec("crash follower-2")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before)
}

// waitGoroutines waits until no more goroutines run than before (they
// may take a moment to return once stopped).
func waitGoroutines(t *testing.T, before int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			n := runtime.Stack(buf, true)
			t.Fatalf("%d goroutines before, %d after Close:\n%s", before, runtime.NumGoroutine(), buf[:n])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Followers: 10}, {Followers: -1}, {SegmentSize: 100}, {Rate: -1}, {Latency: -time.Second},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v): no error", cfg)
		}
	}
}

// TestRepeatedRefusalsReportedOnce: a cut link refuses every reconnect
// attempt, and a follower that fell off is refused at every attempt; the
// event log says each once, not once per attempt. The test makes the
// attempts itself, beside the follower's own, and waits for each answer.
func TestRepeatedRefusalsReportedOnce(t *testing.T) {
	c := newTest(t, Config{Followers: 2, SegmentSize: 16 << 10, WALKeep: 32 << 10, CheckpointInterval: 10 * time.Millisecond})
	current = c
	put(t, c, 10, "a")
	converge(t, c)
	cutAndOutrun(t, c)
	relay := follower(c.Snapshot(0), "follower-1").Link.Addr
	for range 3 { // attempts through the cut link: each is closed unanswered
		conn, err := net.Dial("tcp", relay)
		if err != nil {
			continue // refused before accept: as good
		}
		conn.Write(wire.AppendFrame(nil, wire.KindHello, wire.Hello{Magic: wire.Magic, Version: wire.Version, Name: "follower-1"}.Encode()))
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		io.Copy(io.Discard, conn) // until the relay closes it
		conn.Close()
	}
	do(t, c, "restore follower-1")
	eventually(t, "needs base backup", func(s Snapshot) bool {
		return follower(s, "follower-1").State == StateNeedsBackup
	})
	for range 3 { // attempts from its old position: each told "WAL removed"
		conn, err := net.Dial("tcp", c.leader.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conn.Write(wire.AppendFrame(nil, wire.KindHello, wire.Hello{Magic: wire.Magic, Version: wire.Version, Name: "follower-1"}.Encode()))
		conn.SetReadDeadline(time.Now().Add(30 * time.Second))
		f, err := wire.NewReader(conn, 0).Next()
		conn.Close()
		if r, _ := wire.DecodeRefuse(f.Payload); err != nil || r.Code != wire.RefuseWALRemoved {
			t.Fatalf("an attempt from 0/0 got %v %q (%v)", f.Kind, r.Reason, err)
		}
	}
	refused, removed := 0, 0
	for _, e := range c.Snapshot(0).Events {
		if e.Follower != "follower-1" {
			continue
		}
		switch {
		case e.Kind == EvRefused:
			refused++
		case e.Kind == EvWALRemoved && strings.HasPrefix(e.Text, "refused"):
			removed++
		}
	}
	if refused != 1 || removed != 1 {
		t.Errorf("%d refusals while cut and %d WAL-removed refusals reported; want 1 each", refused, removed)
	}
}

// TestBurstDoesNotDropStreamingFollowers: a burst of WAL several times
// wal_keep_size must not make followers that are streaming fall off
// (retention runs at checkpoints, not the instant the burst is flushed).
func TestBurstDoesNotDropStreamingFollowers(t *testing.T) {
	c := newTest(t, Config{Followers: 2, SegmentSize: 16 << 10, WALKeep: 64 << 10})
	current = c
	put(t, c, 10, "a")
	converge(t, c)
	put(t, c, 4000, "burst") // about 190 KiB of WAL at once
	converge(t, c)
	for _, f := range c.Snapshot(0).Followers {
		if f.Backup.Count != 0 || f.State != StateStreaming {
			t.Errorf("%s: %s after %d base backups", f.Name, f.State, f.Backup.Count)
		}
	}
}

// TestSnapshotWhileAdding: the UI polls snapshots while a follower is being
// added; it must never see a follower without its relay.
func TestSnapshotWhileAdding(t *testing.T) {
	c := newTest(t, Config{Followers: 1})
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
				c.Snapshot(0)
			}
		}
	}()
	for range 5 {
		do(t, c, "add")
		do(t, c, "remove follower-2")
	}
	close(stop)
	<-done
}

// TestPanicStopsTheCluster: a panic in one of the engine's goroutines
// (here the leader's, serving follower-2's connection, made to panic by
// a test hook) is the cluster's fatal error: an event, Snapshot.Fatal,
// Fatal with the stack; the cluster stops by itself, Close returns, and
// no goroutine is left.
func TestPanicStopsTheCluster(t *testing.T) {
	before := runtime.NumGoroutine()
	c, err := New(Config{
		Followers: 2, Rate: 100, Dir: t.TempDir(),
		eventHook: func(e Event) {
			if e.Kind == EvConnect && e.Follower == "follower-2" {
				panic("on purpose")
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	s := eventuallyC(t, c, "the fatal error in the snapshot", func(s Snapshot) bool { return s.Fatal != "" })
	if want := "panic in leader connection: on purpose"; s.Fatal != want {
		t.Errorf("Snapshot.Fatal %q, want %q", s.Fatal, want)
	}
	if p := c.Fatal(); p == nil || !strings.Contains(string(p.Stack), "TestPanicStopsTheCluster") {
		t.Errorf("Fatal() = %v, want the panic with its stack", p)
	}
	found := false
	for _, e := range s.Events {
		found = found || e.Kind == EvError && strings.HasPrefix(e.Text, "fatal: panic in leader connection: on purpose")
	}
	if !found {
		t.Error("no fatal event")
	}
	if err := c.WaitConverged(context.Background()); err == nil || !strings.Contains(err.Error(), "on purpose") {
		t.Errorf("WaitConverged after the panic: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitGoroutines(t, before)
}
