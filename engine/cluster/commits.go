package cluster

import (
	"slices"
	"sync"
	"time"

	"walship/engine/ship"
	"walship/engine/ship/replica"
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

// waitCommit waits on l for the commit of acks (one session's records,
// the last one's end the commit's) under the sync rule, as
// Leader.WaitCommit, times it, and records them as acknowledged. It
// reports whether it was released (false: stop closed first, or the
// primary stopped: a commit a crash interrupted is never acknowledged).
func (c *Cluster) waitCommit(l *ship.Leader, acks []replica.AckedCommit, stop <-chan struct{}) bool {
	if len(acks) == 0 {
		return true
	}
	start := c.clk.Now()
	ok := l.WaitCommit(acks[len(acks)-1].End, stop) && c.acknowledged(l, acks)
	if ok {
		c.commits.released(c.clk.Now() - start)
	}
	return ok
}

// ack is the acknowledgement record of a record appended at end.
func ack(op wal.Op, key, value []byte, end wal.LSN) replica.AckedCommit {
	r := wal.Record{Op: op, Key: key, Value: value}
	return replica.AckedCommit{LSN: end - wal.LSN(r.Size()), End: end, Key: string(key)}
}
