package cluster_test

// Crash consistency: a follower killed at any moment, keeping a random part
// of its written-but-unsynced tail (possibly a torn record), recovers to a
// valid prefix of the leader's log, catches up and converges; and every
// write acknowledged under synchronous_commit = on (remote flush) with
// ANY n is on at least n followers' flushed WAL after the crash. Every
// fourth round the whole cluster loses power instead — the leader too,
// each node keeping a random part of its unsynced tail — and restarts from
// its data directory: then every acknowledged write is also in the
// restarted leader's store.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// ack is a write the leader acknowledged under the round's sync rule.
type ack struct {
	key string
	end wal.LSN
}

// ackRound collects the acknowledgements of one round until it is closed
// (just before the crash): later ones are not counted.
type ackRound struct {
	mu     sync.Mutex
	closed bool
	acks   []ack
}

func (r *ackRound) add(a ack) {
	r.mu.Lock()
	if !r.closed {
		r.acks = append(r.acks, a)
	}
	r.mu.Unlock()
}

func (r *ackRound) close() []ack {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	return r.acks
}

func TestCrashAnyPointKeepsAcknowledgedWrites(t *testing.T) {
	t.Parallel()
	rounds := 200
	if testing.Short() {
		rounds = 40
	}
	const followers = 3
	seed := int64(20240607)
	if v := os.Getenv("WALSHIP_CRASH_SEED"); v != "" {
		fmt.Sscan(v, &seed)
	}
	t.Logf("seed %d (set WALSHIP_CRASH_SEED to change)", seed)
	rng := rand.New(rand.NewPCG(uint64(seed), 1))
	cfg := cluster.Config{
		Dir: t.TempDir(), Followers: followers, Seed: seed,
		SegmentSize: 16 << 10, // records cross segment boundaries often
		NoFsync:     true,     // a crash is simulated at the flushed position: fsync adds only time
		FlushDelay:  2 * time.Millisecond,
		Latency:     time.Millisecond, Jitter: time.Millisecond,
		StatusInterval: 20 * time.Millisecond,
		Sync:           cluster.SyncRule{Mode: cluster.SyncOn, N: 1},
		// Retention and checkpoints run often, and slots keep the WAL a
		// follower still needs, so no follower falls off.
		WALKeep: 64 << 10, CheckpointInterval: 5 * time.Millisecond, Slots: true,
	}
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { c.Close() }()
	log := collectEvents(c)
	defer func() { log.close() }()
	p := c.Leader()

	start := time.Now()
	var victim string
	var acked, torn, rebuilt, powerLosses, leaderTorn, fromCheckpoint int
	for round := range rounds {
		if victim != "" && c.Follower(victim) == nil {
			if err := c.Exec("restart " + victim); err != nil {
				t.Fatal(err)
			}
		}
		n := 1 + rng.IntN(followers)
		if err := c.Exec(fmt.Sprintf("sync on %d", n)); err != nil {
			t.Fatal(err)
		}
		victim = cluster.FollowerName(1 + rng.IntN(followers))

		// Writers: each appends unique keys and waits for the commit rule.
		var acks ackRound
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for w := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; ; i++ {
					select {
					case <-stop:
						return
					default:
					}
					key := fmt.Sprintf("r%03d-w%d-%05d", round, w, i)
					end, err := p.Append(wal.OpSet, []byte(key), []byte("v-"+key))
					if err != nil {
						return
					}
					if !p.WaitCommit(end, stop) {
						return
					}
					acks.add(ack{key, end})
				}
			}()
		}

		// Crash at a random moment: what was acknowledged before it
		// started must survive it.
		time.Sleep(time.Duration(rng.IntN(60_000)) * time.Microsecond)
		got := acks.close()
		if round%4 == 3 {
			// The whole cluster loses power, and restarts from its
			// directory.
			err := c.Crash(func(unsynced int64) int64 { return rng.Int64N(unsynced + 1) })
			close(stop)
			wg.Wait()
			if err != nil {
				t.Fatal(err)
			}
			log.close()
			if c, err = cluster.New(cfg); err != nil {
				t.Fatalf("round %d: restart from the directory: %v", round, err)
			}
			log = collectEvents(c)
			p = c.Leader()
			if e := waitRecovery(t, log, 0, ""); strings.Contains(e.Text, "torn tail") {
				leaderTorn++
			}
			if e := waitRecovery(t, log, 0, ""); strings.Contains(e.Text, "checkpoint at") {
				fromCheckpoint++
			}
			ends := map[string]wal.LSN{}
			for i := 1; i <= followers; i++ {
				name := cluster.FollowerName(i)
				ends[name] = waitRecovery(t, log, 0, name).LSN
			}
			lost := 0
			for _, a := range got {
				if v, ok := p.Store().Get(a.key); !ok || string(v) != "v-"+a.key {
					lost++
					continue
				}
				have := 0
				for _, end := range ends {
					if end >= a.end {
						have++
					}
				}
				if have < n {
					t.Fatalf("round %d (sync on ANY %d): write %s ending at %s acknowledged, then power lost: on %d followers (recovered to %v)",
						round, n, a.key, a.end, have, ends)
				}
			}
			if lost > 0 {
				t.Fatalf("round %d: %d of %d acknowledged writes missing from the restarted leader", round, lost, len(got))
			}
			acked += len(got)
			powerLosses++
			victim = ""
			continue
		}
		others := map[string]wal.LSN{}
		for i := 1; i <= followers; i++ {
			name := cluster.FollowerName(i)
			if name == victim {
				continue
			}
			if s := c.Follower(name); s != nil {
				others[name] = s.Status().Positions.Flush
			}
		}
		if err := c.Exec("crash " + victim); err != nil {
			t.Fatal(err)
		}
		close(stop)
		wg.Wait()
		var flushedBefore wal.LSN
		for _, f := range c.Snapshot(^uint64(0)).Followers {
			if f.Name == victim {
				flushedBefore = f.FlushLSN
			}
		}

		// What the victim keeps: every fifth round rebuild its store from
		// its files and compare with the leader (a valid prefix: every key
		// it has holds the leader's value); otherwise restart it and take
		// its own recovery's end.
		var keeps func(a ack) bool
		var end wal.LSN
		if round%5 == 0 {
			store, err := cluster.RebuildStore(filepath.Join(c.Dir(), victim), 16<<10)
			if err != nil {
				t.Fatalf("round %d: %s does not recover: %v", round, victim, err)
			}
			for _, k := range store.Keys() {
				v, _ := store.Get(k)
				if lv, ok := p.Store().Get(k); !ok || string(lv) != string(v) {
					t.Fatalf("round %d: %s recovered %q=%q, leader has %q", round, victim, k, v, lv)
				}
			}
			keeps = func(a ack) bool { _, ok := store.Get(a.key); return ok }
			end = recoveredEnd(t, filepath.Join(c.Dir(), victim, "wal"))
			rebuilt++
		} else {
			mark := len(log.list())
			if err := c.Exec("restart " + victim); err != nil {
				t.Fatal(err)
			}
			e := waitRecovery(t, log, mark, victim)
			if strings.Contains(e.Text, "torn tail") {
				torn++
			}
			end = e.LSN
			keeps = func(a ack) bool { return a.end <= end }
		}
		if end < flushedBefore {
			t.Fatalf("round %d: %s flushed %s before the crash but recovered only to %s", round, victim, flushedBefore, end)
		}
		for _, a := range got {
			have := 0
			if keeps(a) {
				have++
			}
			for _, f := range others {
				if f >= a.end {
					have++
				}
			}
			if have < n {
				t.Fatalf("round %d (sync on ANY %d): write %s ending at %s acknowledged, then %s crashed: on %d followers (victim recovered to %s, others flushed %v)",
					round, n, a.key, a.end, victim, have, end, others)
			}
		}
		acked += len(got)
	}
	if victim != "" && c.Follower(victim) == nil {
		if err := c.Exec("restart " + victim); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("%d crash points in %v: %d acknowledged writes checked, 0 lost; %d follower recoveries cut a torn tail, %d rebuilt from files; "+
		"%d power losses of the whole cluster, restarted from its directory (the leader from a checkpoint %d times, cutting a torn tail %d times)",
		rounds, time.Since(start).Round(time.Millisecond), acked, torn, rebuilt, powerLosses, fromCheckpoint, leaderTorn)
	if acked == 0 {
		t.Fatal("no write was acknowledged")
	}

	// Everyone catches up and matches the leader.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	log.close()
	verifyMatch(t, c, " after the crashes")
}

// waitRecovery waits for the recovery event of follower after the first
// mark events.
func waitRecovery(t *testing.T, log *eventLog, mark int, follower string) cluster.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range log.list()[mark:] {
			if e.Kind == cluster.EvRecovery && e.Follower == follower {
				return e
			}
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no recovery event for %s", follower)
	return cluster.Event{}
}

// recoveredEnd is where a (stopped) follower's WAL ends after recovery.
func recoveredEnd(t *testing.T, dir string) wal.LSN {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		t.Fatal(err)
	}
	l, _, err := wal.Open(wal.Options{Dir: dir, SegmentSize: 16 << 10, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.End()
}

// TestCrashDuringBaseBackup crashes a follower that fell off retained WAL
// at random moments while it takes base backups and catches up: each
// time, what its files hold (base backup plus WAL) is a state the leader
// went through, and in the end it converges.
func TestCrashDuringBaseBackup(t *testing.T) {
	t.Parallel()
	const seg = 16 << 10
	rng := rand.New(rand.NewPCG(7, 7))
	c, err := cluster.New(cluster.Config{
		Dir: t.TempDir(), Followers: 2, Seed: 7, SegmentSize: seg, WALKeep: seg,
		AutoBackup: true, NoFsync: true, FlushDelay: time.Millisecond,
		StatusInterval: 20 * time.Millisecond, CheckpointInterval: time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	log := collectEvents(c)
	defer log.close()
	var key atomic.Int64
	write := func(n int) {
		for range n {
			// Unique keys: a value never changes, so any key a follower
			// holds must hold the leader's value.
			k := key.Add(1)
			if _, err := c.Put(fmt.Appendf(nil, "key-%07d", k), fmt.Appendf(nil, "value-%07d", k)); err != nil {
				panic(err)
			}
		}
	}
	write(100)
	const rounds = 30
	for round := range rounds {
		if err := c.Exec("crash follower-1"); err != nil {
			t.Fatal(err)
		}
		write(600 + rng.IntN(600)) // well past wal_keep_size: it falls off
		if err := c.Exec("restart follower-1"); err != nil {
			t.Fatal(err)
		}
		more := make(chan struct{})
		go func(n int) {
			defer close(more)
			write(n)
		}(rng.IntN(200))
		// The refusal, the reconnect asking for a backup, the chunks and
		// the catch-up take tens of milliseconds: crash anywhere in them.
		time.Sleep(time.Duration(rng.IntN(200_000)) * time.Microsecond)
		if err := c.Exec("crash follower-1"); err != nil {
			t.Fatal(err)
		}
		<-more
		store, err := cluster.RebuildStore(filepath.Join(c.Dir(), "follower-1"), seg)
		if err != nil {
			t.Fatalf("round %d: follower-1 does not recover: %v", round, err)
		}
		for _, k := range store.Keys() {
			v, _ := store.Get(k)
			if lv, ok := c.Leader().Store().Get(k); !ok || string(lv) != string(v) {
				t.Fatalf("round %d: follower-1 recovered %q=%q, leader has %q", round, k, v, lv)
			}
		}
		if err := c.Exec("restart follower-1"); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	installed, receiving := 0, 0
	for _, e := range log.list() {
		if e.Kind == cluster.EvBackup && e.Follower == "follower-1" {
			switch {
			case strings.Contains(e.Text, "installed"):
				installed++
			case strings.Contains(e.Text, "receiving"):
				receiving++
			}
		}
	}
	t.Logf("%d rounds: %d base backups started, %d installed", rounds, receiving, installed)
	if installed == 0 {
		t.Fatal("no base backup was taken")
	}
	log.close()
	verifyMatch(t, c, "")
}
