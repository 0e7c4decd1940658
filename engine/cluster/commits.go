package cluster

import (
	"slices"
	"sync"
	"time"

	"walship/engine/wal"
)

// How long the workload's commits take, from their write to their release
// under the sync rule, in world time. What the rule decides (which commits
// are released, the watermark it has reached, each follower's sync_state,
// the oldest commit waiting and why) is the leader's, in
// engine/ship/replica; this is only the stopwatch.

// latencyWindow is how many recent commits the latency percentiles cover.
const latencyWindow = 256

// commitTracker records how long the workload's last commits took. It is
// safe for concurrent use.
type commitTracker struct {
	mu   sync.Mutex
	took [latencyWindow]time.Duration
	n    int // commits recorded, all time
}

// released records a commit released after d.
func (t *commitTracker) released(d time.Duration) {
	t.mu.Lock()
	t.took[t.n%latencyWindow] = d
	t.n++
	t.mu.Unlock()
}

// CommitLatency is how long the last commits took from their write to
// their release under the sync rule, in world time.
type CommitLatency struct {
	P50, P99 time.Duration
	Commits  int // how many commits the percentiles cover (0: none yet)
}

// latency is the latency of the last commits.
func (t *commitTracker) latency() CommitLatency {
	t.mu.Lock()
	k := min(t.n, latencyWindow)
	d := make([]time.Duration, k)
	copy(d, t.took[:k])
	t.mu.Unlock()
	if k == 0 {
		return CommitLatency{}
	}
	slices.Sort(d)
	at := func(p float64) time.Duration { return d[min(int(p*float64(k)), k-1)] }
	return CommitLatency{P50: at(0.50), P99: at(0.99), Commits: k}
}

// waitCommit waits for the commit ending at end under the sync rule, as
// Leader.WaitCommit, and times it. It reports whether it was released
// (false: stop closed first).
func (c *Cluster) waitCommit(end wal.LSN, stop <-chan struct{}) bool {
	start := c.clk.Now()
	ok := c.leader.WaitCommit(end, stop)
	if ok {
		c.commits.released(c.clk.Now() - start)
	}
	return ok
}
