package cluster

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"walship/engine/ship"
	"walship/engine/wal"
)

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
		keep = c.randomKeep(unsynced)
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
