package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"path/filepath"
	"sort"

	"walship/engine/link"
	"walship/engine/ship"
)

// addFollower adds a new follower, with an empty directory, at the lowest
// free index (so keys 1-9 keep working); fromBackup makes it start with a
// base backup.
func (c *Cluster) addFollower(fromBackup bool) (*member, error) {
	c.addMu.Lock()
	defer c.addMu.Unlock()
	c.mu.Lock()
	idx := 1
	for used := true; used; {
		used = c.nodeNameTakenLocked(FollowerName(idx))
		for _, m := range c.followers {
			if m.index == idx {
				used = true
				break
			}
		}
		if used {
			idx++
		}
	}
	c.mu.Unlock()
	return c.startMember(idx, false, fromBackup)
}

// startMember starts the follower with index idx behind a new relay: from
// its own files when kept, else from an empty directory, with a base
// backup when fromBackup. addMu is held.
func (c *Cluster) startMember(idx int, kept, fromBackup bool) (*member, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("cluster is closed")
	}
	if len(c.followers) >= MaxFollowers {
		c.mu.Unlock()
		return nil, fmt.Errorf("at most %d followers", MaxFollowers)
	}
	for _, m := range c.followers {
		if m.index == idx {
			c.mu.Unlock()
			return nil, fmt.Errorf("%s is already running", m.name)
		}
	}
	m := &member{
		name: memberName(idx), index: idx,
		applyDelay: c.cfg.ApplyDelay, flushDelay: c.cfg.FlushDelay,
	}
	m.dir = filepath.Join(c.dir, m.name)
	if idx == 0 {
		m.dir = filepath.Join(c.dir, leaderDir)
	}
	m.last.State = StateStartup
	seed := c.rng.Int64()
	c.mu.Unlock()

	if !kept {
		if err := clearFollowerDir(m.dir); err != nil { // a new follower starts empty
			return nil, err
		}
	} else if !fromBackup {
		// An old primary (after a failover) rewinds first.
		var err error
		if fromBackup, err = c.prepareOldPrimary(m.name, m.dir); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	target := c.primaryAddr
	c.mu.Unlock()
	r, err := link.New(link.Options{
		Name: m.name, Target: target, Listen: c.cfg.Listen,
		Clock: c.clk, IDs: &c.ids, Seed: seed,
		OnEvent: func(e link.Event) { c.linkEvent(m.name, e) },
		OnPanic: c.onPanic,
		// Longer than the leader's, so a stranger's silence through the
		// relay is answered by the leader's Refuse, with its reason.
		IdleTimeout: 3 * cmp.Or(c.cfg.HandshakeTimeout, ship.DefaultHandshakeTimeout),
	})
	if err != nil {
		return nil, err
	}
	r.SetLatency(c.cfg.Latency, c.cfg.Jitter)
	// Publish the member only now that its relay exists: Snapshot and the
	// commands use m.relay without a lock, and it never changes after.
	m.relay = r
	c.mu.Lock()
	c.followers = append(c.followers, m)
	sort.Slice(c.followers, func(i, j int) bool { return c.followers[i].index < c.followers[j].index })
	c.mu.Unlock()
	if err := c.startFollower(m, fromBackup); err != nil {
		r.Close()
		c.dropMember(m)
		return nil, err
	}
	return m, nil
}

func (c *Cluster) dropMember(m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.followers {
		if x == m {
			c.followers = append(c.followers[:i], c.followers[i+1:]...)
			return
		}
	}
}

// startFollower starts m's follower from its directory; fromBackup makes
// its first connection ask for a base backup.
func (c *Cluster) startFollower(m *member, fromBackup bool) error {
	s, err := ship.StartFollower(ship.FollowerConfig{
		Name: m.name, Dir: m.dir, Leader: m.relay.Addr(),
		SegmentSize: c.cfg.SegmentSize, NoSync: c.cfg.NoFsync, Clock: c.clk,
		ApplyDelay: m.applyDelay, FlushDelay: m.flushDelay, Paused: m.paused,
		StatusInterval: c.cfg.StatusInterval,
		AutoBackup:     c.cfg.AutoBackup,
		WantBackup:     fromBackup,
		OnEvent:        c.shipEvent,
		OnPanic:        c.onPanic,
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.follower, m.crashed = s, false
	c.mu.Unlock()
	return nil
}

// members returns the followers a command names ("all" or one).
func (c *Cluster) members(name string) ([]*member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name == "all" {
		return append([]*member(nil), c.followers...), nil
	}
	for _, m := range c.followers {
		if m.name == name {
			return []*member{m}, nil
		}
	}
	if len(c.followers) == 0 {
		return nil, fmt.Errorf("no follower %s: there are no followers", name)
	}
	return nil, fmt.Errorf("no follower %s (there are %s)", name, c.namesLocked())
}

func (c *Cluster) namesLocked() string {
	var s string
	for i, m := range c.followers {
		if i > 0 {
			s += ", "
		}
		s += m.name
	}
	return s
}

// Names lists the followers in index order.
func (c *Cluster) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.followers))
	for i, m := range c.followers {
		out[i] = m.name
	}
	return out
}

// Follower returns a running follower by name, or nil.
func (c *Cluster) Follower(name string) *ship.Follower {
	ms, err := c.members(name)
	if err != nil || len(ms) != 1 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ms[0].follower
}
