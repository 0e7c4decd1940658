package cluster

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// writers runs n clients committing unique keys through the cluster
// until stop closes, and returns the keys it saw acknowledged.
type writers struct {
	mu    sync.Mutex
	acked []string
	stop  chan struct{}
	wg    sync.WaitGroup
}

func startWriters(c *Cluster, n int) *writers {
	w := &writers{stop: make(chan struct{})}
	for id := range n {
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			for i := 0; ; i++ {
				select {
				case <-w.stop:
					return
				default:
				}
				key := fmt.Sprintf("client%d-%06d", id, i)
				_, ok, err := c.Commit([]byte(key), []byte("v"), w.stop)
				if err != nil {
					// No primary: wait for one, as a client would retry.
					select {
					case <-w.stop:
						return
					case <-c.moved():
					}
					continue
				}
				if ok {
					w.mu.Lock()
					w.acked = append(w.acked, key)
					w.mu.Unlock()
				}
			}
		}()
	}
	return w
}

func (w *writers) halt() []string {
	close(w.stop)
	w.wg.Wait()
	return w.acked
}

func (w *writers) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked)
}

// missing counts the acked keys the primary's store lacks.
func missing(c *Cluster, keys []string) (int, []string) {
	store := c.primary().Store()
	n := 0
	var some []string
	for _, k := range keys {
		if _, ok := store.Get(k); !ok {
			n++
			if len(some) < 3 {
				some = append(some, k)
			}
		}
	}
	return n, some
}

func lostCount(s Snapshot) uint64 {
	var n uint64
	for _, l := range s.Lost {
		n += l.Count
	}
	return n
}

// TestFailoverAtEachSyncLevel crashes the leader while clients commit,
// fails over, and checks the lost-write count against the keys the
// clients saw acknowledged: under on and remote_apply with the highest
// flush LSN promoted none is lost; under off promoting the least
// advanced follower loses some, and says how many.
func TestFailoverAtEachSyncLevel(t *testing.T) {
	for _, tc := range []struct {
		rule      string
		promote   string // "" for failover
		wantNone  bool
		wantSome  bool
		lagBehind string // a follower made to lag
	}{
		{rule: "off", promote: "follower-2", wantSome: true, lagBehind: "follower-2"},
		{rule: "local"},
		{rule: "remote_write 1"},
		{rule: "on 1", wantNone: true},
		{rule: "on 2", wantNone: true},
		{rule: "remote_apply 1", wantNone: true},
	} {
		t.Run(strings.ReplaceAll(tc.rule, " ", "-"), func(t *testing.T) {
			c := newTest(t, Config{Followers: 2, Latency: 2 * time.Millisecond, StatusInterval: 20 * time.Millisecond, NoFsync: true, RewindAfter: 10 * time.Millisecond})
			do(t, c, "sync "+tc.rule)
			if tc.lagBehind != "" {
				do(t, c, "latency "+tc.lagBehind+" 40ms")
			}
			w := startWriters(c, 4)
			// Crash once every follower has flushed some of it: the fork
			// is then past the start, and what is lost is a tail.
			eventuallyC(t, c, "300 acknowledged commits, some flushed by every follower", func(s Snapshot) bool {
				for _, f := range s.Followers {
					if f.FlushLSN == 0 {
						return false
					}
				}
				return w.count() >= 300
			})
			do(t, c, "crash leader")
			s := c.Snapshot(0)
			if s.Leader.State != PrimaryDown {
				t.Fatalf("leader state %q after crash, want %q", s.Leader.State, PrimaryDown)
			}
			if err := c.Exec("write 1"); err == nil || !strings.Contains(err.Error(), "no primary") {
				t.Fatalf("write with the leader down: %v, want a refusal naming no primary", err)
			}
			// The clients go on: they wait for a primary, and commit on
			// the new one once it opens. Its acknowledgements must not be
			// counted against the old one's.
			before := w.count()
			if tc.promote != "" {
				do(t, c, "promote "+tc.promote)
			} else {
				do(t, c, "failover")
			}
			s = eventuallyC(t, c, "a primary on timeline 2", func(s Snapshot) bool {
				return s.Leader.State == PrimaryUp && s.Leader.Timeline == 2
			})
			// The old leader rejoins (after a rewind), so ANY 2 has two
			// followers again.
			do(t, c, "restart leader")
			eventuallyC(t, c, "commits on timeline 2", func(Snapshot) bool { return w.count() >= before+50 })
			acked := w.halt()
			s = c.Snapshot(0)
			if len(s.History) != 1 || s.History[0].Timeline != 1 {
				t.Fatalf("history %+v, want one switch from timeline 1", s.History)
			}
			miss, some := missing(c, acked)
			lost := lostCount(s)
			t.Logf("%s: %d acknowledged, %d missing from timeline 2, %d counted lost (fork %s)", tc.rule, len(acked), miss, lost, s.History[0].ForkLSN)
			if uint64(miss) != lost {
				t.Errorf("%d acknowledged commits are missing from the new primary (%v), but %d are counted lost", miss, some, lost)
			}
			if tc.wantNone && lost != 0 {
				t.Errorf("lost %d acknowledged commits under %s with the highest flush LSN promoted", lost, tc.rule)
			}
			if tc.wantSome && lost == 0 {
				t.Errorf("no loss found promoting the lagging follower under %s (control)", tc.rule)
			}
			// The other follower follows timeline 2 (rewound if it had
			// to be), and so does the old leader.
			eventuallyC(t, c, "every follower streaming timeline 2", func(s Snapshot) bool {
				if len(s.Followers) != 2 {
					return false
				}
				for _, f := range s.Followers {
					if f.Timeline != 2 || f.ReplayLSN < s.Leader.FlushLSN || f.State != StateStreaming {
						return false
					}
				}
				return true
			})
			verifyAll(t, c)
		})
	}
}

// TestKeptDirectoryAfterFailover restarts a whole cluster from a data
// directory a failover changed: the promoted node leads again on its
// timeline, the old leader (a checkpoint past the fork on timeline 1)
// stays down until restart leader, then rewinds and follows, and nothing
// acknowledged is lost.
func TestKeptDirectoryAfterFailover(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Followers: 2, StatusInterval: 20 * time.Millisecond, NoFsync: true, RewindAfter: 10 * time.Millisecond, Sync: SyncRule{Mode: SyncOn, N: 1}}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	w := startWriters(c, 2)
	eventuallyC(t, c, "100 commits", func(Snapshot) bool { return w.count() >= 100 })
	do(t, c, "crash leader")
	do(t, c, "failover")
	eventuallyC(t, c, "timeline 2", func(s Snapshot) bool { return s.Leader.State == PrimaryUp && s.Leader.Timeline == 2 })
	w2 := startWriters(c, 2)
	eventuallyC(t, c, "100 more commits", func(Snapshot) bool { return w2.count() >= 100 })
	acked := append(w.halt(), w2.halt()...)
	name := c.Snapshot(0).Leader.Name
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	c2 := newTest(t, cfg)
	s := c2.Snapshot(0)
	if s.Leader.Name != name || s.Leader.Timeline != 2 {
		t.Fatalf("restarted with %s on timeline %d leading, want %s on timeline 2", s.Leader.Name, s.Leader.Timeline, name)
	}
	if miss, some := missing(c2, acked); miss > 0 {
		t.Fatalf("%d acknowledged commits missing after the restart, e.g. %v", miss, some)
	}
	// The old leader stays down, as it was; restart leader rewinds it
	// and it follows.
	do(t, c2, "restart leader")
	eventuallyC(t, c2, "the old leader and the other followers streaming timeline 2", func(s Snapshot) bool {
		if len(s.Followers) != 3 || s.Followers[0].Name != LeaderName {
			return false
		}
		for _, f := range s.Followers {
			if f.Timeline != 2 || f.State != StateStreaming {
				return false
			}
		}
		return true
	})
	converge(t, c2)
	verifyAll(t, c2)
}

// TestNeedsRewindIsShown promotes the less advanced of two followers:
// the other one's WAL went past the fork, so the new primary refuses it
// and it shows "needs rewind" with the fork LSN, then rewinds, and
// streams the new timeline.
func TestNeedsRewindIsShown(t *testing.T) {
	// Needs rewind shows for RewindAfter of world time: long enough that
	// the test cannot miss it, then the world runs fast to the rewind.
	c := newTest(t, Config{Followers: 2, StatusInterval: 20 * time.Millisecond, NoFsync: true, RewindAfter: 30 * time.Second})
	put(t, c, 20, "a")
	converge(t, c)
	do(t, c, "latency follower-1 200ms")
	put(t, c, 30, "b")
	eventuallyC(t, c, "follower-2 has all, follower-1 not", func(s Snapshot) bool {
		return follower(s, "follower-2").FlushLSN == s.Leader.FlushLSN && follower(s, "follower-1").FlushLSN < s.Leader.FlushLSN
	})
	do(t, c, "crash leader")
	do(t, c, "promote follower-1")
	s := eventuallyC(t, c, "follower-2 needs rewind", func(s Snapshot) bool {
		return follower(s, "follower-2").State == StateNeedsRewind
	})
	f := follower(s, "follower-2")
	if f.ForkLSN != s.History[0].ForkLSN || f.ForkLSN == 0 || f.WriteLSN <= f.ForkLSN {
		t.Fatalf("follower-2 needs rewind at fork %s, write %s; history %+v", f.ForkLSN, f.WriteLSN, s.History)
	}
	c.clk.SetSpeed(64)
	eventuallyC(t, c, "follower-2 rewound, streaming timeline 2", func(s Snapshot) bool {
		f := follower(s, "follower-2")
		return f.State == StateStreaming && f.Timeline == 2
	})
	converge(t, c)
	verifyAll(t, c)
}

// TestKeptDirectoryKeepsTheOldLeaderDown restarts a whole cluster whose
// old leader a failover left down: it stays down, as it was, until
// restart leader brings it back.
func TestKeptDirectoryKeepsTheOldLeaderDown(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Dir: dir, Followers: 2, StatusInterval: 20 * time.Millisecond, NoFsync: true, RewindAfter: 10 * time.Millisecond}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	put(t, c, 20, "a")
	converge(t, c)
	do(t, c, "crash leader")
	do(t, c, "failover")
	eventuallyC(t, c, "timeline 2", func(s Snapshot) bool { return s.Leader.State == PrimaryUp && s.Leader.Timeline == 2 })
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	cfg.Followers = 1
	c2 := newTest(t, cfg)
	if s := c2.Snapshot(0); len(s.Followers) != 1 || s.Followers[0].Name == LeaderName {
		t.Fatalf("after the restart the followers are %s; want the old leader still down", describe(s))
	}
	do(t, c2, "restart leader")
	eventuallyC(t, c2, "the old leader streaming timeline 2", func(s Snapshot) bool {
		f := follower(s, LeaderName)
		return f.State == StateStreaming && f.Timeline == 2
	})
	converge(t, c2)
	verifyAll(t, c2)
}
