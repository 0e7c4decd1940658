package cluster

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestFailoverAtRandomPoints crashes the primary at random moments while
// clients commit, fails over to the follower with the highest flush LSN,
// and brings the old primary back as a follower (a rewind), round after
// round on one cluster, whose timeline grows by one each round. Under
// synchronous_commit = on with ANY 1 and ANY 2, no commit a client saw
// acknowledged may ever be missing from the primary, and none may be
// counted lost. The control: under off, promoting the least advanced
// follower finds losses, counted as the clients saw them.
func TestFailoverAtRandomPoints(t *testing.T) {
	t.Parallel() // uses no package state (it passes its cluster to eventuallyC)
	rounds := 200
	if testing.Short() {
		rounds = 30
	}
	seed := int64(20261207)
	if v := os.Getenv("WALSHIP_FAILOVER_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("seed %d (set WALSHIP_FAILOVER_SEED to change)", seed)
	for _, rule := range []string{"on 1", "on 2"} {
		t.Run(rule, func(t *testing.T) {
			t.Parallel() // each rule has its own cluster; the rounds wait on the world, not the CPU
			rng := rand.New(rand.NewPCG(uint64(seed), uint64(len(rule))))
			var rewound, backups atomic.Int64
			c := newTest(t, Config{
				eventHook: func(e Event) {
					switch {
					case e.Kind == EvRewind && strings.Contains(e.Text, " rewound: cut the WAL"):
						rewound.Add(1)
					case e.Kind == EvRewind && strings.Contains(e.Text, "cannot rewind"):
						backups.Add(1)
					}
				},
				Followers: 3, Seed: seed, NoFsync: true,
				SegmentSize: 16 << 10, // records cross segment boundaries often
				Latency:     time.Millisecond, Jitter: time.Millisecond, FlushDelay: time.Millisecond,
				StatusInterval: 20 * time.Millisecond, RewindAfter: 10 * time.Millisecond,
			})
			do(t, c, "sync "+rule)
			var all []string
			for round := 1; round <= rounds; round++ {
				w := startWriters(c, 3)
				target := w.count() + 1 + rng.IntN(40)
				eventuallyC(t, c, fmt.Sprintf("round %d: %d commits", round, target), func(Snapshot) bool { return w.count() >= target })
				do(t, c, "crash leader")
				all = append(all, w.halt()...)
				do(t, c, "failover")
				s := eventuallyC(t, c, fmt.Sprintf("round %d: a primary on timeline %d", round, round+1), func(s Snapshot) bool {
					return s.Leader.State == PrimaryUp && s.Leader.Timeline == uint32(round+1)
				})
				if miss, some := missing(c, all); miss > 0 {
					t.Fatalf("round %d (%s): %d of %d acknowledged commits missing from timeline %d, e.g. %v", round, rule, miss, len(all), round+1, some)
				}
				if n := lostCount(s); n != 0 {
					t.Fatalf("round %d (%s): %d acknowledged commits counted lost: %+v", round, rule, n, s.Lost)
				}
				do(t, c, "restart leader")
				eventuallyC(t, c, fmt.Sprintf("round %d: three followers streaming timeline %d", round, round+1), func(s Snapshot) bool {
					if len(s.Followers) != 3 {
						return false
					}
					for _, f := range s.Followers {
						if f.Timeline != s.Leader.Timeline || f.State != StateStreaming {
							return false
						}
					}
					return true
				})
			}
			t.Logf("%s: %d rounds, %d acknowledged commits, none lost; %d rewinds cut WAL past a fork, %d nodes took a base backup instead", rule, rounds, len(all), rewound.Load(), backups.Load())
			converge(t, c)
			verifyAll(t, c)
		})
	}
	t.Run("control: off, least advanced promoted", func(t *testing.T) {
		t.Parallel()
		found := 0
		for round := 1; round <= 5 && found == 0; round++ {
			c := newTest(t, Config{Followers: 2, Seed: seed + int64(round), NoFsync: true, Latency: time.Millisecond, StatusInterval: 20 * time.Millisecond})
			do(t, c, "latency follower-2 30ms")
			w := startWriters(c, 3)
			eventuallyC(t, c, "100 commits, some on follower-2", func(s Snapshot) bool {
				return w.count() >= 100 && follower(s, "follower-2").FlushLSN > 0
			})
			do(t, c, "crash leader")
			acked := w.halt()
			do(t, c, "promote follower-2")
			s := eventuallyC(t, c, "a primary on timeline 2", func(s Snapshot) bool { return s.Leader.State == PrimaryUp })
			miss, _ := missing(c, acked)
			if uint64(miss) != lostCount(s) {
				t.Fatalf("%d acknowledged commits missing, %d counted lost", miss, lostCount(s))
			}
			found = miss
			t.Logf("round %d: %d of %d acknowledged commits lost, as counted", round, miss, len(acked))
			c.Close()
		}
		if found == 0 {
			t.Fatal("the control found no loss promoting the least advanced follower under off")
		}
	})
}
