package cluster

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseReadRoundTrip(t *testing.T) {
	for _, line := range []string{
		"read leader", "read primary", "read follower-1", "read follower-1 key-00042", "read follower-2 k wait",
		"read follower-1 wait", `read follower-1 "wait"`, `read follower-1 "wait" wait`, `read leader "a key" wait`,
		"probe ryw follower-1", "probe ryw leader", "probe monotonic follower-1 follower-2",
		"probe monotonic follower-2 leader k", `probe monotonic follower-1 follower-2 "a key"`,
	} {
		c, err := ParseCommand(line)
		if err != nil {
			t.Errorf("ParseCommand(%q): %v", line, err)
			continue
		}
		if got := c.String(); got != line {
			t.Errorf("ParseCommand(%q).String() = %q", line, got)
		}
	}
	for in, want := range map[string]string{
		"read 1 k WAIT":            "read follower-1 k wait",
		"READ Leader":              "read leader",
		"probe read-your-writes 2": "probe ryw follower-2",
		"probe MONOTONIC 1 2":      "probe monotonic follower-1 follower-2",
	} {
		c, err := ParseCommand(in)
		if err != nil {
			t.Fatalf("ParseCommand(%q): %v", in, err)
		}
		if got := c.String(); got != want {
			t.Errorf("ParseCommand(%q) = %q, want %q", in, got, want)
		}
	}
	if c, _ := ParseCommand(`read 1 "wait"`); c.Key != "wait" || c.Wait {
		t.Errorf(`read 1 "wait": key %q wait %v, want the key "wait"`, c.Key, c.Wait)
	}
	for line, col := range map[string]int{
		"read":                    5,
		"read bob":                6,
		"read all":                6,
		"read 1 k wait more":      15,
		"probe":                   6,
		"probe sideways 1":        7,
		"probe ryw":               10,
		"probe monotonic 1":       18,
		"probe ryw 1 2":           13,
		"probe monotonic 1 2 k x": 23,
	} {
		_, err := ParseCommand(line)
		var pe *ParseError
		if !errors.As(err, &pe) {
			t.Errorf("ParseCommand(%q) = %v, want a ParseError", line, err)
			continue
		}
		if pe.Column != col {
			t.Errorf("ParseCommand(%q): column %d, want %d (%v)", line, pe.Column, col, err)
		}
	}
}

// lastRead is the newest read in the snapshot.
func lastRead(t *testing.T, c *Cluster) ReadResult {
	t.Helper()
	rs := c.Snapshot(0).Reads
	if len(rs) == 0 {
		t.Fatal("no reads recorded")
	}
	return rs[len(rs)-1]
}

// received waits until follower has received and flushed all the leader has.
func received(t *testing.T, c *Cluster, name string) {
	t.Helper()
	eventuallyC(t, c, name+" to receive and flush everything", func(s Snapshot) bool {
		return follower(s, name).FlushLSN == s.Leader.InsertLSN
	})
}

// TestReadStaleWhilePaused: a follower whose replay is paused has received
// and flushed a newer version, but a read on it returns the old one,
// STALE; once it resumes and replays, the read is current.
func TestReadStaleWhilePaused(t *testing.T) {
	c := newTest(t, Config{Followers: 2})
	do(t, c, "set k old")
	converge(t, c)
	do(t, c, "pause 1")
	do(t, c, "set k new")
	received(t, c, "follower-1")

	do(t, c, "read 1 k")
	r := lastRead(t, c)
	if r.Node != "follower-1" || r.Value != "old" || !r.Found || !r.Stale || r.Err != "" {
		t.Fatalf("read on the paused follower: %+v, want the old value, STALE", r)
	}
	if !(r.VersionLSN < r.PrimaryLSN) || r.ReplayLSN <= r.VersionLSN {
		t.Fatalf("versions: read @%s replay %s, primary @%s", r.VersionLSN, r.ReplayLSN, r.PrimaryLSN)
	}
	ev := c.Snapshot(0).Events
	text := ev[len(ev)-1].Text
	if ev[len(ev)-1].Kind != EvRead || !strings.Contains(text, `"old" @`) || !strings.Contains(text, "STALE: leader has @"+r.PrimaryLSN.String()) {
		t.Fatalf("event: %v %q", ev[len(ev)-1].Kind, text)
	}

	do(t, c, "read leader k")
	if r := lastRead(t, c); r.Value != "new" || r.Stale || r.ReplayLSN != c.Snapshot(0).Leader.InsertLSN || r.VersionLSN != r.PrimaryLSN {
		t.Fatalf("read on the leader: %+v", r)
	}
	// follower-2 streams: once it has replayed the new version (only
	// follower-1 was waited for above), a read on it is current.
	eventuallyC(t, c, "follower-2 to replay everything", func(s Snapshot) bool {
		return follower(s, "follower-2").ReplayLSN == s.Leader.InsertLSN
	})
	do(t, c, "read 2 k")
	if r := lastRead(t, c); r.Value != "new" || r.Stale {
		t.Fatalf("read on the streaming follower: %+v", r)
	}

	do(t, c, "resume 1")
	converge(t, c)
	do(t, c, "read 1 k")
	if r := lastRead(t, c); r.Value != "new" || r.Stale || r.VersionLSN != r.PrimaryLSN {
		t.Fatalf("read after resume: %+v", r)
	}
	// A key deleted on the leader but still held by the paused follower.
	do(t, c, "pause 1")
	do(t, c, "del k")
	received(t, c, "follower-1")
	do(t, c, "read 1 k")
	if r := lastRead(t, c); !r.Found || !r.Stale || r.PrimaryLSN != 0 || !strings.Contains(ReadText(r), "deleted on the leader") {
		t.Fatalf("read of a key deleted on the leader: %+v %q", r, ReadText(r))
	}
}

// TestReadWaitsForReplay: a waiting read on a paused follower waits until,
// resumed, it has replayed the client's last commit, then returns the new
// value and says how long it waited.
func TestReadWaitsForReplay(t *testing.T) {
	c := newTest(t, Config{Followers: 1})
	do(t, c, "set k old")
	converge(t, c)
	do(t, c, "pause 1")
	do(t, c, "set k new")
	received(t, c, "follower-1")
	_, want := c.clientWrite()
	do(t, c, "apply-delay 1 300ms")

	started := c.clk.Now()
	done := make(chan error, 1)
	go func() { done <- c.Exec("read 1 k wait") }()
	// Resume only once world time has moved on: the read waits meanwhile.
	for c.clk.Now() < started+200*time.Millisecond {
		select {
		case err := <-done:
			t.Fatalf("the waiting read returned while replay was paused: %v", err)
		case <-time.After(5 * time.Millisecond):
		}
	}
	do(t, c, "resume 1")
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	r := lastRead(t, c)
	if r.Value != "new" || r.Stale || r.WaitLSN != want || r.Waited <= 0 || r.ReplayLSN < want {
		t.Fatalf("waiting read: %+v (want wait for %s)", r, want)
	}
	if text := ReadText(r); !strings.Contains(text, "after waiting ") || !strings.Contains(text, "for replay of "+want.String()) {
		t.Fatalf("text: %q", text)
	}
}

// TestReadErrors: a stopped, missing or cut-off node gives an error with a
// reason, at once.
func TestReadErrors(t *testing.T) {
	c := newTest(t, Config{Followers: 2})
	do(t, c, "set k v")
	converge(t, c)
	do(t, c, "crash 1")
	for _, line := range []string{"read 1 k", "read 1 k wait"} {
		err := c.Exec(line)
		if err == nil || !strings.Contains(err.Error(), "stopped") {
			t.Fatalf("%s: %v, want stopped", line, err)
		}
		if r := lastRead(t, c); r.Node != "follower-1" || !strings.Contains(r.Err, "stopped") {
			t.Fatalf("%s recorded %+v", line, r)
		}
	}
	if err := c.Exec("read 7 k"); err == nil || !strings.Contains(err.Error(), "no follower follower-7") {
		t.Fatalf("read 7: %v", err)
	}
	do(t, c, "cut 2")
	do(t, c, "set k v2")
	if err := c.Exec("read 2 k wait"); err == nil || !strings.Contains(err.Error(), "link is cut") {
		t.Fatalf("waiting read across a cut link: %v", err)
	}
}

// TestReadWaitIsBounded: a waiting read on a paused follower gives up
// after readWaitWorld of world time, saying why; so does a probe whose
// commit the sync rule holds.
func TestReadWaitIsBounded(t *testing.T) {
	c := newTest(t, Config{Followers: 1})
	do(t, c, "pause 1")
	do(t, c, "set k v")
	do(t, c, "speed 32") // 10s of world time in about a third of a second
	err := c.Exec("read 1 k wait")
	if err == nil || !strings.Contains(err.Error(), "gave up after 10") || !strings.Contains(err.Error(), "(its replay is paused)") {
		t.Fatalf("waiting read on a paused follower: %v", err)
	}
	if r := lastRead(t, c); r.Err == "" || r.Waited < readWaitWorld || r.WaitLSN == 0 {
		t.Fatalf("recorded %+v", r)
	}
	do(t, c, "sync remote_apply 1")
	done := make(chan error, 1)
	go func() { done <- c.Exec("probe ryw 1") }()
	// Meanwhile the probe's commit is one of the leader's waiting commits.
	eventuallyC(t, c, "the probe's commit to wait", func(s Snapshot) bool { return s.Leader.WaitingCommits > 0 })
	err = <-done
	if err == nil || !strings.Contains(err.Error(), "not released after 10") || !strings.Contains(err.Error(), "replay") {
		t.Fatalf("probe held by remote_apply: %v", err)
	}
}

// TestProbeReadYourWrites: under remote_apply ANY 1 with follower-1
// paused, the probe's commit is released by follower-2's replay: read at
// once on follower-1 it is missing (the anomaly, named), on follower-2 it
// is there.
func TestProbeReadYourWrites(t *testing.T) {
	c := newTest(t, Config{Followers: 2})
	do(t, c, "sync remote_apply 1")
	do(t, c, "pause 1")
	do(t, c, "probe ryw 1")
	r := lastRead(t, c)
	if r.Key != RYWProbeKey || r.Anomaly != AnomalyRYW || r.Found {
		t.Fatalf("probe ryw on the paused follower: %+v", r)
	}
	ev := c.Snapshot(0).Events
	if text := ev[len(ev)-1].Text; !strings.Contains(text, "READ-YOUR-WRITES anomaly") || !strings.Contains(text, "committed under remote_apply") {
		t.Fatalf("event text: %q", text)
	}
	do(t, c, "probe ryw 2")
	if r := lastRead(t, c); r.Anomaly != "" || r.Value != "write-2" || r.Stale {
		t.Fatalf("probe ryw on the follower that released the commit: %+v", r)
	}
	// The client's last commit is the probe's: a waiting read waits for it.
	if _, lsn := c.clientWrite(); lsn != c.Snapshot(0).Leader.InsertLSN {
		t.Fatalf("client's last commit %s, leader at %s", lsn, c.Snapshot(0).Leader.InsertLSN)
	}
}

// TestProbeMonotonicReads: a read on a current follower, then on a paused
// one, goes back in time: the anomaly, named on the second read; the other
// way round it does not.
func TestProbeMonotonicReads(t *testing.T) {
	c := newTest(t, Config{Followers: 2})
	do(t, c, "set k old")
	converge(t, c)
	do(t, c, "pause 2")
	do(t, c, "set k new")
	_, end := c.clientWrite()
	eventuallyC(t, c, "follower-1 to replay the new version", func(s Snapshot) bool {
		return follower(s, "follower-1").ReplayLSN >= end
	})
	do(t, c, "probe monotonic 1 2 k")
	rs := c.Snapshot(0).Reads
	r1, r2 := rs[len(rs)-2], rs[len(rs)-1]
	if r1.Value != "new" || r2.Value != "old" || r1.Anomaly != "" || r2.Anomaly != AnomalyMonotonic || !r2.Stale {
		t.Fatalf("monotonic probe: first %+v, second %+v", r1, r2)
	}
	do(t, c, "probe monotonic 2 1")
	rs = c.Snapshot(0).Reads
	if r := rs[len(rs)-1]; r.Anomaly != "" || r.Value != "new" || r.Key != "k" {
		t.Fatalf("the other way round: %+v", r)
	}
}

// TestReadAcrossFailover: while no primary is up a read of it says why;
// after a failover, primary (and leader) read the promoted follower,
// named as it is.
func TestReadAcrossFailover(t *testing.T) {
	c := newTest(t, Config{Followers: 2, Sync: SyncRule{Mode: SyncOn, N: 1}})
	do(t, c, "set k v1")
	converge(t, c)
	do(t, c, "crash leader")
	err := c.Exec("read leader k")
	if err == nil || !strings.Contains(err.Error(), "nothing to read") {
		t.Fatalf("read of a crashed leader: %v", err)
	}
	do(t, c, "failover")
	s := eventuallyC(t, c, "a promoted primary", func(s Snapshot) bool { return s.Leader.Name != LeaderName && s.Leader.Name != "" })
	do(t, c, "read primary k")
	if r := lastRead(t, c); r.Node != s.Leader.Name || r.Value != "v1" || r.Stale {
		t.Fatalf("read of the new primary %s: %+v", s.Leader.Name, r)
	}
	do(t, c, "read leader k")
	if r := lastRead(t, c); r.Node != s.Leader.Name || r.Value != "v1" {
		t.Fatalf("read leader after the failover: %+v", r)
	}
	do(t, c, "set k v2")
	do(t, c, "read "+s.Leader.Name+" k")
	if r := lastRead(t, c); r.Node != s.Leader.Name || r.Value != "v2" || r.VersionLSN != r.PrimaryLSN {
		t.Fatalf("read of the new primary by its name: %+v", r)
	}
}

// TestReadRingBounded: Snapshot.Reads keeps the newest ReadRingSize reads,
// oldest first.
func TestReadRingBounded(t *testing.T) {
	c := newTest(t, Config{Followers: 1})
	do(t, c, "set first v") // at LSN 0
	do(t, c, "set k v")
	for range ReadRingSize + 3 {
		do(t, c, "read leader")
	}
	rs := c.Snapshot(0).Reads
	if len(rs) != ReadRingSize {
		t.Fatalf("%d reads kept, want %d", len(rs), ReadRingSize)
	}
	for i := 1; i < len(rs); i++ {
		if rs[i].Seq != rs[i-1].Seq+1 {
			t.Fatalf("reads out of order: %d then %d", rs[i-1].Seq, rs[i].Seq)
		}
	}
	if rs[len(rs)-1].Key != "k" || rs[len(rs)-1].Seq != ReadRingSize+3 {
		t.Fatalf("newest read: %+v", rs[len(rs)-1])
	}
	if rs[0].VersionLSN == 0 || rs[0].VersionLSN != rs[0].PrimaryLSN {
		t.Fatalf("the leader's version LSN: %+v", rs[0])
	}
}
