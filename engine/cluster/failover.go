package cluster

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

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

// ---- the leader crashes and restarts --------------------------------------

// crashLeader crashes the primary as a power loss would: its flushed WAL
// survives, and keep bytes of what it wrote after (-1: a random part).
// Its waiting commits are never acknowledged; writes are refused until it
// restarts or a follower is promoted.
func (c *Cluster) crashLeader(keep int64) error {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	c.mu.Lock()
	l := c.leader
	if l == nil {
		c.mu.Unlock()
		return fmt.Errorf("%s is already down", c.primaryName)
	}
	c.leader, c.primaryState, c.downPrimary = nil, PrimaryDown, l
	name := c.primaryName
	c.announceMoveLocked()
	c.mu.Unlock()
	st := l.Status()
	log := l.Log()
	unsynced := int64(log.Written() - log.Flushed())
	if keep < 0 {
		keep = 0
		if unsynced > 0 {
			c.mu.Lock()
			keep = c.rng.Int64N(unsynced + 1)
			c.mu.Unlock()
		}
	}
	flush := log.Flushed()
	err := l.Crash(keep)
	st.FlushLSN = flush
	st.InsertLSN = flush + wal.LSN(max(min(keep, unsynced), 0))
	st.Waiting, st.OldestWaiting, st.CommitWait = 0, 0, ""
	c.mu.Lock()
	c.primaryLast = st
	c.mu.Unlock()
	c.emit(Event{Follower: followerField(name), Kind: EvCrash, LSN: flush,
		Text: crashText(flush, min(keep, unsynced), unsynced) + "; no primary: writes are refused, followers have nothing to stream"})
	return err
}

// followerField is the Event.Follower of an event about node name: ""
// for the original leader.
func followerField(name string) string {
	if name == LeaderName {
		return ""
	}
	return name
}

// restartLeader restarts the primary that crashed, from its own files on
// its timeline. After a promotion left an old primary down, it brings
// that one back instead: as a follower of the new primary after a rewind
// of the WAL it wrote past the fork, or, asPrimary, as a primary on its
// old timeline, which no follower follows (fenced): the split.
func (c *Cluster) restartLeader(asPrimary bool) error {
	c.failMu.Lock()
	defer c.failMu.Unlock()
	c.mu.Lock()
	down := c.leader == nil && c.promoting == nil
	name, dir := c.primaryName, c.primaryDir
	var old *deposedNode
	if len(c.deposed) > 0 {
		old = &c.deposed[0]
	}
	var fenced *fencedNode
	if len(c.fenced) > 0 {
		fenced = c.fenced[0]
	}
	c.mu.Unlock()
	switch {
	case down:
		return c.restartPrimary(name, dir)
	case old != nil && asPrimary:
		return c.startFenced(*old)
	case old != nil:
		return c.rejoin(*old)
	case fenced != nil && !asPrimary:
		// The fenced old primary stops, rewinds and rejoins.
		c.mu.Lock()
		c.fenced = c.fenced[1:]
		c.mu.Unlock()
		if err := fenced.l.Close(); err != nil {
			return err
		}
		c.emit(Event{Follower: followerField(fenced.name), Kind: EvInfo, Text: fenced.name + " stops running as a fenced primary, to rejoin"})
		return c.rejoin(deposedNode{name: fenced.name, dir: fenced.dir})
	case fenced != nil:
		return fmt.Errorf("%s is already running as a fenced primary", fenced.name)
	}
	return fmt.Errorf("%s is running (crash leader first)", name)
}

// restartPrimary restarts the primary that crashed. Under off (and for
// commits released before a crash cut them), acknowledged commits past
// what its WAL kept are lost.
func (c *Cluster) restartPrimary(name, dir string) error {
	l, err := c.startPrimary(dir)
	if err != nil {
		return fmt.Errorf("restarting %s: %w", name, err)
	}
	end := l.Log().End()
	c.mu.Lock()
	prev := c.downPrimary
	c.leader, c.primaryState, c.primaryAddr, c.downPrimary = l, PrimaryUp, l.Addr(), nil
	c.history = l.History()
	c.announceMoveLocked()
	rule := c.cfg.Sync
	c.mu.Unlock()
	c.retarget(l.Addr())
	c.emit(Event{Follower: followerField(name), Kind: EvInfo, LSN: end,
		Text: fmt.Sprintf("%s restarted from its files on timeline %d: WAL ends at %s; it takes writes again", name, c.history.Timeline(), end)})
	c.countLost(prev, end, c.history.Timeline(), name+" (restarted)", rule)
	return nil
}

// startFenced starts an old primary as a primary on its old timeline.
func (c *Cluster) startFenced(old deposedNode) error {
	l, err := c.startPrimary(old.dir)
	if err != nil {
		return fmt.Errorf("starting %s as a primary: %w", old.name, err)
	}
	c.mu.Lock()
	c.deposed = c.deposed[1:]
	err = c.saveDeposedLocked()
	c.fenced = append(c.fenced, &fencedNode{name: old.name, dir: old.dir, l: l})
	tl := c.history.Timeline()
	c.mu.Unlock()
	c.emit(Event{Follower: followerField(old.name), Kind: EvTimeline, LSN: l.Log().End(),
		Text: fmt.Sprintf("SPLIT: %s runs as a primary on timeline %d, but the cluster is on timeline %d: fenced, no follower follows it (its followers would be refused)", old.name, l.History().Timeline(), tl)})
	return err
}

// rejoin brings an old primary back as a follower of the primary: a
// rewind of what it wrote past the fork (or a base backup when a rewind
// cannot be done), then streaming on the new timeline.
func (c *Cluster) rejoin(old deposedNode) error {
	idx := 0
	if old.name != LeaderName {
		var ok bool
		if idx, ok = FollowerIndex(old.name); !ok {
			return fmt.Errorf("cannot rejoin %s: not a follower's name", old.name)
		}
	}
	c.mu.Lock()
	c.deposed = removeDeposed(c.deposed, old.name)
	err := c.saveDeposedLocked()
	c.mu.Unlock()
	if err != nil {
		return err
	}
	c.addMu.Lock()
	defer c.addMu.Unlock()
	_, err = c.startMember(idx, true, false)
	return err
}

// prepareOldPrimary readies the directory of a node that was a primary
// (it holds a checkpoint) to start as a follower: its WAL may go past the
// fork where the cluster's timeline left its own, and its store image is
// a checkpoint a follower does not read. It rewinds it to that fork (as
// pg_rewind), or, when that cannot be done, empties it for a base backup
// (fromBackup). A directory that holds no checkpoint is left as it is.
func (c *Cluster) prepareOldPrimary(name, dir string) (fromBackup bool, err error) {
	if _, err := os.Stat(filepath.Join(dir, ship.CheckpointFile)); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	c.mu.Lock()
	hist := c.history
	c.mu.Unlock()
	own, err := ship.LoadHistory(dir)
	if err != nil {
		return false, err
	}
	fork, ok := hist.Fork(own.Timeline())
	if !ok {
		return false, fmt.Errorf("%s was a primary on timeline %d, which is not in the history of the cluster's timeline %d; not started, nothing changed", name, own.Timeline(), hist.Timeline())
	}
	c.emit(Event{Follower: followerField(name), Kind: EvRewind, LSN: fork,
		Text: fmt.Sprintf("%s rejoins as a follower: its WAL on timeline %d may go past %s, where timeline %d began; rewinding first (as pg_rewind)", name, own.Timeline(), fork, own.Timeline()+1)})
	res, err := ship.Rewind(dir, c.cfg.SegmentSize, c.cfg.NoFsync, hist, fork)
	if err != nil {
		return false, err
	}
	if !res.Plan.Rewind {
		c.emit(Event{Follower: followerField(name), Kind: EvRewind, LSN: fork, Text: name + " cannot rewind: " + res.Plan.Reason + "; it takes a base backup from the new leader instead"})
		return true, clearNodeDir(dir)
	}
	c.emit(Event{Follower: followerField(name), Kind: EvRewind, LSN: fork, Text: rewoundText(name, res, fork)})
	// A follower keeps no slots.
	if err := os.Remove(filepath.Join(dir, ship.SlotsFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return false, err
	}
	return false, nil
}

// nodeNameTakenLocked reports whether a node outside the followers (the
// primary, an old primary down or fenced) has the name: a new follower
// must not take its slot, nor its directory. mu is held.
func (c *Cluster) nodeNameTakenLocked(name string) bool {
	if c.primaryName == name {
		return true
	}
	for _, d := range c.deposed {
		if d.name == name {
			return true
		}
	}
	for _, f := range c.fenced {
		if f.name == name {
			return true
		}
	}
	return false
}

// saveDeposed records the deposed old primaries in the data directory
// (DeposedFile), for a restart of the whole cluster. mu is held.
func (c *Cluster) saveDeposedLocked() error {
	path := filepath.Join(c.dir, DeposedFile)
	if len(c.deposed) == 0 {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return nil
	}
	var b strings.Builder
	for _, d := range c.deposed {
		b.WriteString(d.name + "\n")
	}
	return wal.WriteFileDurably(path, c.cfg.NoFsync, []byte(b.String()))
}

func removeDeposed(ds []deposedNode, name string) []deposedNode {
	out := ds[:0]
	for _, d := range ds {
		if d.name != name {
			out = append(out, d)
		}
	}
	return out
}

// rewoundText says what a rewind did.
func rewoundText(name string, res ship.RewindResult, fork wal.LSN) string {
	cut := ""
	if res.Cut > fork {
		cut = fmt.Sprintf(" (%d bytes of WAL, %s..%s, were on no timeline but its old one)", res.Cut-fork, fork, res.Cut)
	}
	return fmt.Sprintf("%s rewound: %s%s; store rebuilt: %d records replayed, %d keys; it streams the new timeline from %s", name, res.Plan.Reason, cut, res.Replayed, res.Keys, res.Plan.To)
}

// clearNodeDir empties a node's directory for a base backup, but only
// when it holds what a walship node writes.
func clearNodeDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		switch e.Name() {
		case ship.WALDir, ship.BaseBackupFile, ship.CheckpointFile, ship.SlotsFile, ship.HistoryFile:
		default:
			if !strings.HasSuffix(e.Name(), ".tmp") {
				return fmt.Errorf("%s holds %s, which walship did not write; not removing it", dir, e.Name())
			}
		}
	}
	return os.RemoveAll(dir)
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
		f, rewinding, last := m.follower, m.rewinding, m.last
		c.mu.Unlock()
		cd := candidate(m, f, rewinding, last)
		cs = append(cs, cd)
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

// candidate is what a failover knows of a follower.
func candidate(m *member, f *ship.Follower, rewinding bool, last ship.FollowerStatus) replica.Candidate {
	cd := replica.Candidate{Name: m.name, Index: m.index, Running: f != nil && !rewinding, State: StateStopped}
	st := last
	if f != nil {
		st = f.Status()
	}
	if rewinding {
		cd.State = StateRewinding
	} else if f != nil {
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
		// It stays stopped: restart it to make it a follower again.
		c.mu.Lock()
		c.leader, c.promoting, c.primaryState = old, nil, oldState
		m.follower, m.crashed, m.last = nil, true, f.Status()
		c.announceMoveLocked()
		c.mu.Unlock()
		f.Close()
		return err
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
		c.mu.Lock()
		f, last := x.follower, x.last
		c.mu.Unlock()
		st := last
		if f != nil {
			st = f.Status()
		}
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
// the follower as a leader; the follower stays stopped.
func (c *Cluster) promoteFailed(m *member, f *ship.Follower, old *ship.Leader, oldState string, err error) error {
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

// ---- rewinds --------------------------------------------------------------

// needsRewind takes the primary's refusal of a follower whose WAL went
// past the fork: the cluster rewinds it, as Patroni does with
// use_pg_rewind, on a goroutine of its own.
func (c *Cluster) needsRewind(name string) {
	c.mu.Lock()
	var m *member
	for _, x := range c.followers {
		if x.name == name {
			m = x
		}
	}
	if m == nil || m.rewindPending || m.follower == nil || c.stopping {
		c.mu.Unlock()
		return
	}
	m.rewindPending = true
	c.rewinds.Add(1)
	c.mu.Unlock()
	c.guard.Go("rewind "+name, func() {
		defer c.rewinds.Done()
		c.rewind(m)
	})
}

// rewind stops m, rewinds its files to the fork of the primary's
// timeline, and starts it again; a base backup when a rewind cannot be
// done.
func (c *Cluster) rewind(m *member) {
	done := func() {
		c.mu.Lock()
		m.rewinding, m.rewindPending = false, false
		c.mu.Unlock()
	}
	// Let "needs rewind" be seen first.
	if !c.clk.Sleep(c.cfg.RewindAfter, c.stop) {
		done()
		return
	}
	c.failMu.Lock()
	defer c.failMu.Unlock()
	c.mu.Lock()
	m.rewinding = true
	c.mu.Unlock()
	c.mu.Lock()
	f := m.follower
	hist := c.history
	closed := c.stopping
	if f != nil {
		m.follower = nil
	}
	c.mu.Unlock()
	if f == nil || closed {
		done()
		return
	}
	st := f.Status()
	f.Close()
	c.mu.Lock()
	m.last = f.Status()
	c.mu.Unlock()
	fork, ok := hist.Fork(st.Timeline)
	if !ok {
		// It follows the primary's timeline meanwhile (or one the
		// primary never was on, which the handshake refuses again):
		// nothing to rewind. It starts as it was.
		done()
		if st.Timeline != hist.Timeline() {
			c.emit(Event{Follower: m.name, Kind: EvError, Text: fmt.Sprintf("%s is on timeline %d, which is not in the history of the primary's timeline %d: not rewound", m.name, st.Timeline, hist.Timeline())})
		}
		if err := c.startFollower(m, false); err != nil {
			c.emit(Event{Follower: m.name, Kind: EvError, Text: fmt.Sprintf("%s: restart failed: %v", m.name, err)})
		}
		return
	}
	c.emit(Event{Follower: m.name, Kind: EvRewind, LSN: fork,
		Text: fmt.Sprintf("%s needs rewind: its WAL reaches %s, past %s where timeline %d began; rewinding (as pg_rewind)", m.name, st.Positions.Write, fork, hist.Timeline())})
	res, err := ship.Rewind(m.dir, c.cfg.SegmentSize, c.cfg.NoFsync, hist, fork)
	fromBackup := false
	switch {
	case err != nil:
		done()
		c.emit(Event{Follower: m.name, Kind: EvError, LSN: fork, Text: fmt.Sprintf("%s: rewind failed: %v; it stays stopped", m.name, err)})
		return
	case res.Plan.Rewind:
		c.emit(Event{Follower: m.name, Kind: EvRewind, LSN: fork, Text: rewoundText(m.name, res, fork)})
	default:
		c.emit(Event{Follower: m.name, Kind: EvRewind, LSN: fork, Text: m.name + " cannot rewind: " + res.Plan.Reason + "; it takes a base backup from the new leader instead"})
		if err := clearNodeDir(m.dir); err != nil {
			done()
			c.emit(Event{Follower: m.name, Kind: EvError, Text: err.Error()})
			return
		}
		fromBackup = true
	}
	done()
	if err := c.startFollower(m, fromBackup); err != nil {
		c.emit(Event{Follower: m.name, Kind: EvError, Text: fmt.Sprintf("%s: restart after the rewind failed: %v", m.name, err)})
	}
}

// ---- acknowledged commits and lost writes ---------------------------------

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
		c.mu.Lock()
		f, last := m.follower, m.last
		c.mu.Unlock()
		st := last
		if f != nil {
			st = f.Status()
		}
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
