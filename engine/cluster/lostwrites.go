package cluster

import (
	"fmt"
	"sort"
	"strings"
	"sync"

	"walship/engine/ship"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// ackLogCap bounds the acknowledged commits kept: past it the oldest go,
// and a count of lost writes may then be short (it says "at least").
const ackLogCap = 1 << 20

// ackLog is, for each primary process, the commits it acknowledged that
// some follower may not have flushed yet, in LSN order: a promotion or a
// restart counts against the process that was primary before, never
// against commits the next one acknowledged meanwhile. It is safe for
// concurrent use.
type ackLog struct {
	mu sync.Mutex
	by map[*ship.Leader]*ackList
	// counted: primaries whose commits were counted (see take): none of
	// theirs is acknowledged after that.
	counted map[*ship.Leader]bool
}

type ackList struct {
	commits []replica.AckedCommit
	dropped int
}

// add records commits l acknowledged, and reports whether they are:
// once l's commits were counted (a promotion or a restart replaced it),
// none more is.
func (a *ackLog) add(l *ship.Leader, cs []replica.AckedCommit, floor func() wal.LSN) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counted[l] {
		return false
	}
	if a.by == nil {
		a.by = make(map[*ship.Leader]*ackList)
	}
	al := a.by[l]
	if al == nil {
		al = &ackList{}
		a.by[l] = al
	}
	for _, cm := range cs {
		// Commits are released nearly in order: insert from the end.
		i := len(al.commits)
		for i > 0 && al.commits[i-1].End > cm.End {
			i--
		}
		al.commits = append(al.commits, replica.AckedCommit{})
		copy(al.commits[i+1:], al.commits[i:])
		al.commits[i] = cm
	}
	if len(al.commits) >= 4096 && len(al.commits)%4096 < len(cs) {
		// Nothing every follower has flushed can be lost: drop it.
		f := floor()
		i := sort.Search(len(al.commits), func(i int) bool { return al.commits[i].End > f })
		al.commits = append(al.commits[:0], al.commits[i:]...)
	}
	if over := len(al.commits) - ackLogCap; over > 0 {
		al.commits = append(al.commits[:0], al.commits[over:]...)
		al.dropped += over
	}
	return true
}

// take returns the commits l acknowledged and how many were dropped,
// and forgets them.
func (a *ackLog) take(l *ship.Leader) ([]replica.AckedCommit, int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.counted == nil {
		a.counted = make(map[*ship.Leader]bool)
	}
	a.counted[l] = true
	al := a.by[l]
	delete(a.by, l)
	if al == nil {
		return nil, 0
	}
	return al.commits, al.dropped
}

// flushFloor is the lowest flush LSN of any follower: no acknowledged
// commit below it can be lost by a promotion.
func (c *Cluster) flushFloor() wal.LSN {
	c.mu.Lock()
	members := append([]*member(nil), c.followers...)
	c.mu.Unlock()
	floor := wal.LSN(1<<63 - 1)
	for _, m := range members {
		st := c.memberStatus(m)
		floor = min(floor, st.Positions.Flush)
	}
	return floor
}

// acknowledged records commits primary l releases to a client, and
// reports whether they are acknowledged: not when l was replaced and its
// commits counted meanwhile.
func (c *Cluster) acknowledged(l *ship.Leader, cs []replica.AckedCommit) bool {
	return c.acked.add(l, cs, c.flushFloor)
}

// countLost lists the commits the primary process prev acknowledged whose
// records end past end, where the next primary's history goes on
// without them.
func (c *Cluster) countLost(prev *ship.Leader, end wal.LSN, timeline uint32, who string, rule SyncRule) {
	acked, dropped := c.acked.take(prev)
	n, from, to, keys := replica.LostCommits(acked, end, LostSampleKeys)
	if n == 0 {
		c.emit(Event{Kind: EvLost, LSN: end, Text: fmt.Sprintf("0 acknowledged commits lost: every commit acknowledged under %s ends at or before %s, which timeline %d has (%s)", rule, end, timeline, who)})
		return
	}
	lw := LostWrites{Timeline: timeline, ForkLSN: end, Promoted: who, Rule: rule, From: from, To: to, Count: uint64(n), Keys: keys}
	c.mu.Lock()
	c.lost = append(c.lost, lw)
	c.mu.Unlock()
	atLeast := ""
	if dropped > 0 {
		atLeast = "at least "
	}
	c.emit(Event{Kind: EvLost, LSN: from, Text: fmt.Sprintf("LOST: %s%d acknowledged commits (%s..%s) acknowledged under %s are not on timeline %d (%s, which has WAL to %s): %s",
		atLeast, n, from, to, rule, timeline, who, end, strings.Join(keys, ", "))})
}
