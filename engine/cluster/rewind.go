package cluster

import (
	"fmt"

	"walship/engine/ship"
)

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
