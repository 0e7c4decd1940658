package cluster

import (
	"slices"
	"sync"
	"time"

	"walship/engine/ship"
	"walship/engine/wal"
)

// Why commits wait, measured: the workload's commits as they wait for the
// sync rule (the oldest one's LSN) and how long the last ones took, in
// world time; and the watermark the rule has reached, from the followers'
// reports.

// latencyWindow is how many recent commits the latency percentiles cover.
const latencyWindow = 256

// commitTracker records the workload's commits while they wait and how
// long they took. It is safe for concurrent use.
type commitTracker struct {
	mu      sync.Mutex
	waiting []wal.LSN // the end LSNs of the commits waiting now
	took    [latencyWindow]time.Duration
	n       int // commits recorded, all time
}

// begin records a commit ending at end that starts to wait.
func (t *commitTracker) begin(end wal.LSN) {
	t.mu.Lock()
	t.waiting = append(t.waiting, end)
	t.mu.Unlock()
}

// end records that the commit ending at end stopped waiting: released
// after d (ok), or given up (the workload stopped).
func (t *commitTracker) end(end wal.LSN, d time.Duration, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := slices.Index(t.waiting, end); i >= 0 {
		t.waiting[i] = t.waiting[len(t.waiting)-1]
		t.waiting = t.waiting[:len(t.waiting)-1]
	}
	if ok {
		t.took[t.n%latencyWindow] = d
		t.n++
	}
}

// CommitLatency is how long the last commits took from their write to
// their release under the sync rule, in world time.
type CommitLatency struct {
	P50, P99 time.Duration
	Commits  int // how many commits the percentiles cover (0: none yet)
}

// summary is the oldest waiting commit's end LSN (0: none waits) and the
// latency of the last commits.
func (t *commitTracker) summary() (wal.LSN, CommitLatency) {
	t.mu.Lock()
	var oldest wal.LSN
	if len(t.waiting) > 0 {
		oldest = slices.Min(t.waiting)
	}
	k := min(t.n, latencyWindow)
	d := make([]time.Duration, k)
	copy(d, t.took[:k])
	t.mu.Unlock()
	if k == 0 {
		return oldest, CommitLatency{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(int(p*float64(k)), k-1)] }
	return oldest, CommitLatency{P50: at(0.50), P99: at(0.99), Commits: k}
}

// waitCommit waits for the commit ending at end under the sync rule, as
// Primary.WaitCommit, and records it.
func (c *Cluster) waitCommit(end wal.LSN, stop <-chan struct{}) bool {
	start := c.clk.Now()
	c.commits.begin(end)
	ok := c.primary.WaitCommit(end, stop)
	c.commits.end(end, c.clk.Now()-start, ok)
	return ok
}

// syncWatermark is the position the sync rule has reached: the highest
// LSN that n streaming followers have confirmed under its mode (a commit
// ending at or below it is released). It is 0 when the rule waits for no
// follower, or when fewer than n stream.
func syncWatermark(r SyncRule, peers []ship.PeerStatus) wal.LSN {
	if !r.Remote() {
		return 0
	}
	var pos []wal.LSN
	for _, p := range peers {
		if !p.Connected || !p.CaughtUp {
			continue
		}
		switch r.Mode {
		case SyncRemoteWrite:
			pos = append(pos, p.WriteLSN)
		case SyncOn:
			pos = append(pos, p.FlushLSN)
		default:
			pos = append(pos, p.ReplayLSN)
		}
	}
	if len(pos) < r.N {
		return 0
	}
	slices.Sort(pos)
	return pos[len(pos)-r.N]
}

// syncState is a follower's sync_state as pg_stat_replication names it
// under synchronous_standby_names = ANY n: every streaming standby is a
// quorum candidate; one still catching up is only potential; with no
// remote rule all are async. A follower the leader has no connection from
// has no row there: "".
func syncState(r SyncRule, p ship.PeerStatus) string {
	switch {
	case !p.Connected:
		return ""
	case !r.Remote():
		return "async"
	case p.CaughtUp:
		return "quorum"
	}
	return "potential"
}
