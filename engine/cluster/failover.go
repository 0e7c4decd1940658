package cluster

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strings"

	"walship/engine/ship"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// Failover: the leader can crash and restart; a follower can be promoted
// to lead on a new timeline; the other followers follow it (rewinding
// when their WAL went past the fork); an old leader rejoins as a follower
// after a rewind, or runs fenced on its old timeline; commits the old
// leader acknowledged that the new timeline lacks are counted as lost.
// What is decided (the failover's choice, the timeline verdicts, the
// lost-writes arithmetic, the rewind plan) is engine/ship/replica's; this
// is the orchestration, as Patroni's is over PostgreSQL.

// deposedNode is an old primary a promotion left down: restart leader
// brings it back, as a follower after a rewind, or fenced.
type deposedNode struct {
	name string
	dir  string
}

// fencedNode is an old primary running as a primary on a timeline the
// cluster has left: no follower follows it.
type fencedNode struct {
	name string
	dir  string
	l    *ship.Leader
}

// memberName is the name of the follower slot idx: index 0 is the
// original leader, when it rejoins as a follower.
func memberName(idx int) string {
	if idx == 0 {
		return LeaderName
	}
	return FollowerName(idx)
}

// ErrNoPrimary refuses writes while no primary is up.
var ErrNoPrimary = errors.New("no primary")

// primary returns the primary, or nil while none is up.
func (c *Cluster) primary() *ship.Leader {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leader
}

// writable returns the primary, or an error saying why writes are
// refused.
func (c *Cluster) writable() (*ship.Leader, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.leader != nil:
		return c.leader, nil
	case c.promoting != nil:
		return nil, fmt.Errorf("%w: %s is being promoted and opens for writes once it has replayed its flushed WAL", ErrNoPrimary, c.promoting.name)
	}
	return nil, fmt.Errorf("%w: %s is down; writes are refused until it restarts (restart leader) or a follower is promoted (failover, promote F)", ErrNoPrimary, c.primaryName)
}

// moved returns a channel closed when the primary next changes.
func (c *Cluster) moved() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.primaryMoved
}

// announceMove wakes everyone waiting for the primary to change. mu is held.
func (c *Cluster) announceMoveLocked() {
	close(c.primaryMoved)
	c.primaryMoved = make(chan struct{})
}

// syncRule is the sync rule in force, kept across primaries.
func (c *Cluster) syncRule() SyncRule {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cfg.Sync
}

// lostAndFenced copies the lost writes and the fenced primaries.
func (c *Cluster) lostAndFenced() ([]LostWrites, []FencedPrimary) {
	c.mu.Lock()
	lost := append([]LostWrites(nil), c.lost...)
	fenced := append([]*fencedNode(nil), c.fenced...)
	c.mu.Unlock()
	var out []FencedPrimary
	for _, f := range fenced {
		st := f.l.Status()
		out = append(out, FencedPrimary{Name: f.name, Timeline: st.Timeline, InsertLSN: st.InsertLSN, FlushLSN: st.FlushLSN, Commits: st.Commits})
	}
	return lost, out
}

// startPrimary starts a leader on dir with the cluster's settings.
func (c *Cluster) startPrimary(dir string) (*ship.Leader, error) {
	c.mu.Lock()
	rule, keep, slots := c.cfg.Sync, c.cfg.WALKeep, c.cfg.Slots
	c.mu.Unlock()
	return ship.StartLeader(ship.LeaderConfig{
		Dir:                dir,
		SegmentSize:        c.cfg.SegmentSize,
		NoSync:             c.cfg.NoFsync,
		Clock:              c.clk,
		Listen:             net.JoinHostPort(c.cfg.Listen, "0"),
		BatchBytes:         c.cfg.BatchBytes,
		CheckpointInterval: c.cfg.CheckpointInterval,
		WALKeep:            max(keep, 0),
		Slots:              slots,
		MaxSlotWAL:         c.cfg.MaxSlotWAL,
		Sync:               rule,
		Known:              c.known,
		OnEvent:            c.shipEvent,
		OnPanic:            c.onPanic,
		HandshakeTimeout:   c.cfg.HandshakeTimeout,
		IdleTimeout:        c.cfg.IdleTimeout,
		MaxConns:           c.cfg.MaxConns,
	})
}

// retarget points every follower's relay at addr.
func (c *Cluster) retarget(addr string) {
	c.mu.Lock()
	members := append([]*member(nil), c.followers...)
	c.mu.Unlock()
	for _, m := range members {
		m.relay.SetTarget(addr)
		c.mu.Lock()
		f := m.follower
		c.mu.Unlock()
		if f != nil {
			f.Retry()
		}
	}
}

// ---- promotion ------------------------------------------------------------

// failover promotes the follower a failover picks (replica.ChooseFailover)
// while the primary is down.
func (c *Cluster) failover() error {
	c.mu.Lock()
	up := c.leader != nil
	name := c.primaryName
	members := append([]*member(nil), c.followers...)
	c.mu.Unlock()
	if up {
		return fmt.Errorf("%s is up: a failover replaces a primary that is down (crash leader first, or promote F to force a switch)", name)
	}
	var cs []replica.Candidate
	for _, m := range members {
		c.mu.Lock()
		running, rewinding := m.follower != nil, m.rewinding
		c.mu.Unlock()
		cs = append(cs, candidate(m, c.memberStatus(m), running, rewinding))
	}
	best, why, ok := replica.ChooseFailover(cs)
	if !ok {
		return fmt.Errorf("failover: %s", why)
	}
	for _, m := range members {
		if m.name == best.Name {
			return c.promote(m, "failover: "+why)
		}
	}
	return fmt.Errorf("failover: %s is gone", best.Name)
}

// memberStatus is m's follower's status, or the last one it had while it
// is stopped.
func (c *Cluster) memberStatus(m *member) ship.FollowerStatus {
	c.mu.Lock()
	f, last := m.follower, m.last
	c.mu.Unlock()
	if f != nil {
		return f.Status()
	}
	return last
}

// candidate is what a failover knows of a follower.
func candidate(m *member, st ship.FollowerStatus, running, rewinding bool) replica.Candidate {
	cd := replica.Candidate{Name: m.name, Index: m.index, Running: running && !rewinding, State: StateStopped}
	if rewinding {
		cd.State = StateRewinding
	} else if running {
		cd.State = st.State
	}
	if st.State == StateNeedsRewind {
		cd.Running, cd.State = false, StateNeedsRewind
	}
	cd.Flush, cd.Replay = st.Positions.Flush, st.Positions.Replay
	return cd
}

// promote opens follower m as the primary, as pg_promote: it stops
// streaming, replays its flushed WAL to the end, and opens on the next
// timeline, which forks where its WAL ends. A primary still running is
// left running on the old timeline, fenced. Commits the old primary
// acknowledged past the fork are counted as lost.
func (c *Cluster) promote(m *member, reason string) error {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	c.mu.Lock()
	f := m.follower
	switch {
	case c.closed:
		c.mu.Unlock()
		return errors.New("cluster is closed")
	case f == nil:
		c.mu.Unlock()
		return fmt.Errorf("%s is stopped: only a running follower can be promoted", m.name)
	case m.rewinding:
		c.mu.Unlock()
		return fmt.Errorf("%s is rewinding: promote it once it streams", m.name)
	}
	if !isMember(c.followers, m) {
		c.mu.Unlock()
		return fmt.Errorf("%s is no longer a follower", m.name)
	}
	old, oldName, oldDir, oldState := c.leader, c.primaryName, c.primaryDir, c.primaryState
	prev := old
	if prev == nil {
		prev = c.downPrimary
	}
	hist := c.history
	c.leader, c.promoting, c.primaryState = nil, m, PrimaryPromoting
	m.paused = false
	c.announceMoveLocked()
	c.mu.Unlock()
	st := f.Status()
	if st.Timeline != hist.Timeline() {
		c.mu.Lock()
		c.leader, c.promoting, c.primaryState = old, nil, oldState
		c.mu.Unlock()
		return fmt.Errorf("%s is on timeline %d, the cluster on %d: it must follow the cluster's timeline before it can be promoted", m.name, st.Timeline, hist.Timeline())
	}
	p := st.Positions
	if cost := c.promotionCost(m, p.Write); cost != "" {
		c.emit(Event{Follower: m.name, Kind: EvPromote, LSN: p.Write, Text: cost})
	}
	c.emit(Event{Follower: m.name, Kind: EvPromote, LSN: p.Flush,
		Text: fmt.Sprintf("promoting %s (%s): it stops streaming and replays its WAL to the end (write %s, flush %s, replay %s) before it opens for writes on timeline %d", m.name, reason, p.Write, p.Flush, p.Replay, hist.Timeline()+1)})
	fork, err := f.Promote(c.stop)
	if err != nil {
		return c.promoteFailed(m, f, old, oldState, err)
	}
	newHist := hist.Promote(fork, m.name+" promoted ("+reason+")")
	if err := ship.SaveHistory(m.dir, newHist, c.cfg.NoFsync); err != nil {
		return c.promoteFailed(m, f, old, oldState, err)
	}
	// The data directory names its new primary before it opens, so a
	// whole-cluster restart finds it.
	if err := wal.WriteFileDurably(filepath.Join(c.dir, PrimaryFile), c.cfg.NoFsync, []byte(m.name+"\n")); err != nil {
		return c.promoteFailed(m, f, old, oldState, err)
	}
	l, err := c.startPrimary(m.dir)
	if err != nil {
		return c.promoteFailed(m, f, old, oldState, err)
	}
	c.mu.Lock()
	c.followers = removeMember(c.followers, m)
	c.leader, c.promoting, c.primaryState = l, nil, PrimaryUp
	c.primaryName, c.primaryDir, c.primaryAddr, c.history = m.name, m.dir, l.Addr(), newHist
	c.downPrimary = nil
	if old != nil {
		c.fenced = append(c.fenced, &fencedNode{name: oldName, dir: oldDir, l: old})
	} else {
		c.deposed = append(c.deposed, deposedNode{name: oldName, dir: oldDir})
	}
	deposedErr := c.saveDeposedLocked()
	rule := c.cfg.Sync
	c.announceMoveLocked()
	c.mu.Unlock()
	m.relay.Close()
	if old != nil {
		old.Forget(m.name)
	}
	c.emit(Event{Follower: m.name, Kind: EvTimeline, LSN: fork,
		Text: fmt.Sprintf("%s is the primary on timeline %d, forked from timeline %d at %s (history: %s); it takes writes and followers", m.name, newHist.Timeline(), hist.Timeline(), fork, strings.TrimSpace(string(newHist[len(newHist)-1:].Format())))})
	if old != nil {
		c.emit(Event{Follower: followerField(oldName), Kind: EvTimeline, LSN: old.Log().End(),
			Text: fmt.Sprintf("SPLIT: %s still runs as a primary on timeline %d: fenced, no follower follows it any more", oldName, hist.Timeline())})
	}
	c.retarget(l.Addr())
	c.countLost(prev, fork, newHist.Timeline(), m.name, rule)
	if deposedErr != nil {
		return fmt.Errorf("%s is the primary, but the data directory does not record that %s is down: %w", m.name, oldName, deposedErr)
	}
	return nil
}

// promotionCost says what promoting m, whose WAL ends at end, costs
// when another follower has flushed more: that WAL is on no later
// timeline, and commits acknowledged past end are lost. "" when none
// has.
func (c *Cluster) promotionCost(m *member, end wal.LSN) string {
	c.mu.Lock()
	members := append([]*member(nil), c.followers...)
	c.mu.Unlock()
	var ahead []string
	var most wal.LSN
	for _, x := range members {
		if x == m {
			continue
		}
		st := c.memberStatus(x)
		if st.Positions.Flush > end {
			ahead = append(ahead, fmt.Sprintf("%s flushed %s", x.name, st.Positions.Flush))
			most = max(most, st.Positions.Flush)
		}
	}
	if len(ahead) == 0 {
		return ""
	}
	return fmt.Sprintf("%s is not the most advanced follower (%s; its WAL ends at %s): the %d bytes of WAL past %s will be on no timeline but the old one (those followers rewind), and commits acknowledged past %s are lost",
		m.name, strings.Join(ahead, ", "), end, most-end, end, end)
}

// promoteFailed puts things back after a promotion that could not open
// the follower as a leader; the follower stays stopped (restart makes it
// a follower again).
func (c *Cluster) promoteFailed(m *member, f *ship.Follower, old *ship.Leader, oldState string, err error) error {
	f.Close() // idempotent: a completed Promote closed it already
	c.mu.Lock()
	c.leader, c.promoting, c.primaryState = old, nil, oldState
	m.follower, m.crashed, m.last = nil, true, f.Status()
	c.announceMoveLocked()
	c.mu.Unlock()
	return fmt.Errorf("promoting %s: %w", m.name, err)
}

func isMember(ms []*member, m *member) bool {
	for _, x := range ms {
		if x == m {
			return true
		}
	}
	return false
}

func removeMember(ms []*member, m *member) []*member {
	out := ms[:0]
	for _, x := range ms {
		if x != m {
			out = append(out, x)
		}
	}
	return out
}
