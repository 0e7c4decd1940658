package cluster

import (
	"fmt"
	"os"

	"walship/engine/link"
	"walship/engine/ship"
	"walship/engine/wal"
)

// Exec parses and carries out one text command.
func (c *Cluster) Exec(line string) error {
	cmd, err := ParseCommand(line)
	if err != nil {
		return err
	}
	return c.Do(cmd)
}

// Do carries out one command. Its errors are for a person to read.
func (c *Cluster) Do(cmd Command) error {
	select {
	case <-c.stop:
		return fmt.Errorf("cluster is closed")
	default:
	}
	// The command's event comes before what it causes (a crash's own
	// event, say), so the log reads in causal order; one that fails is
	// followed by why.
	c.emit(Event{Kind: EvCommand, Follower: cmd.Follower, Text: cmd.String()})
	err := c.do(cmd)
	if err != nil {
		c.emit(Event{Kind: EvRefused, Follower: cmd.Follower, Text: cmd.String() + " failed: " + err.Error()})
	}
	return err
}

func (c *Cluster) do(cmd Command) error {
	switch cmd.Verb {
	case VerbFreeze:
		c.clk.SetFrozen(true)
		return nil
	case VerbUnfreeze:
		c.clk.SetFrozen(false)
		return nil
	case VerbSpeed:
		c.clk.SetSpeed(cmd.Factor)
		return nil
	case VerbSync:
		if cmd.Mode > SyncLocal && cmd.N > MaxFollowers {
			return fmt.Errorf("sync ANY %d: at most %d followers", cmd.N, MaxFollowers)
		}
		rule := SyncRule{Mode: cmd.Mode, N: int(cmd.N)}
		c.mu.Lock()
		c.cfg.Sync = rule // a new primary takes it too
		c.mu.Unlock()
		if l := c.primary(); l != nil {
			l.SetSync(rule)
		}
		return nil
	case VerbRate:
		c.work.setRate(float64(cmd.N))
		return nil
	case VerbWrite:
		return c.work.burst(cmd.N)
	case VerbSet:
		return c.writeOne(wal.OpSet, cmd.Key, cmd.Value)
	case VerbDel:
		return c.writeOne(wal.OpDel, cmd.Key, "")
	case VerbWALKeep:
		c.mu.Lock()
		c.cfg.WALKeep = cmd.N
		c.mu.Unlock()
		if l := c.primary(); l != nil {
			l.SetWALKeep(cmd.N)
		}
		return nil
	case VerbSlots:
		c.mu.Lock()
		c.cfg.Slots = cmd.On
		c.mu.Unlock()
		if l := c.primary(); l != nil {
			l.SetSlots(cmd.On)
		}
		return nil
	case VerbAdd:
		_, err := c.addFollower(false)
		return err
	case VerbRead:
		return c.read(cmd)
	case VerbProbe:
		return c.probe(cmd)
	case VerbCheckpoint:
		return fmt.Errorf("%s: the in-process engine does not do this yet (walship pg does)", cmd.Verb)
	case VerbFailover:
		return c.failover()
	case VerbCrash, VerbRestart:
		// "leader" here is the primary, whoever it is now.
		if cmd.Follower == LeaderName {
			if cmd.Verb == VerbCrash {
				return c.crashLeader(-1)
			}
			return c.restartLeader(cmd.On)
		}
	case VerbPromote:
		ms, err := c.members(cmd.Follower)
		if err != nil {
			return err
		}
		return c.promote(ms[0], "promote "+cmd.Follower)
	}

	ms, err := c.members(cmd.Follower)
	if err != nil {
		return err
	}
	for _, m := range ms {
		if err := c.doMember(cmd, m); err != nil {
			return err
		}
	}
	return nil
}

func (c *Cluster) writeOne(op wal.Op, key, value string) error {
	r := wal.Record{Op: op, Key: []byte(key), Value: []byte(value)}
	if err := r.Validate(); err != nil {
		return err
	}
	end, err := c.work.one(op, r.Key, r.Value)
	if err == nil {
		c.noteClientWrite(key, end)
	}
	return err
}

// running returns m's follower process, or an error saying it is not running.
func (c *Cluster) running(m *member) (*ship.Follower, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m.follower == nil {
		return nil, fmt.Errorf("%s is stopped (restart it first)", m.name)
	}
	return m.follower, nil
}

func (c *Cluster) doMember(cmd Command, m *member) error {
	switch cmd.Verb {
	case VerbPause, VerbResume:
		c.mu.Lock()
		m.paused = cmd.Verb == VerbPause
		s := m.follower
		c.mu.Unlock()
		if s != nil {
			s.SetPaused(cmd.Verb == VerbPause)
		}
		return nil
	case VerbApplyDelay, VerbFlushDelay:
		c.mu.Lock()
		if cmd.Verb == VerbApplyDelay {
			m.applyDelay = cmd.Dur
		} else {
			m.flushDelay = cmd.Dur
		}
		s := m.follower
		c.mu.Unlock()
		// Only what this command set: the fields are c.mu's, and a
		// concurrent command may be changing the other one.
		if s != nil && cmd.Verb == VerbApplyDelay {
			s.SetApplyDelay(cmd.Dur)
		} else if s != nil {
			s.SetFlushDelay(cmd.Dur)
		}
		return nil
	case VerbCut:
		switch cmd.Way {
		case WayTo:
			m.relay.CutOneWay(link.Down)
		case WayFrom:
			m.relay.CutOneWay(link.Up)
		default:
			m.relay.Cut()
		}
		return nil
	case VerbRestore:
		m.relay.Restore()
		return nil
	case VerbLatency:
		m.relay.SetLatency(cmd.Dur, cmd.Jitter)
		return nil
	case VerbBandwidth:
		m.relay.SetBandwidth(cmd.N)
		return nil
	case VerbSlice:
		m.relay.SetSlice(cmd.On)
		return nil
	case VerbCorrupt:
		if cmd.LSN != 0 {
			m.relay.CorruptLSN(cmd.LSN)
		} else {
			m.relay.CorruptNext(1)
		}
		return nil
	case VerbDrop:
		if cmd.LSN != 0 {
			m.relay.DropLSN(cmd.LSN)
		} else {
			m.relay.DropNext(1)
		}
		return nil
	case VerbBackup:
		s, err := c.running(m)
		if err != nil {
			return err
		}
		s.RequestBackup()
		return nil
	case VerbCrash:
		return c.crash(m, -1)
	case VerbRestart:
		c.mu.Lock()
		crashed := m.follower == nil
		c.mu.Unlock()
		if !crashed {
			return fmt.Errorf("%s is running (crash it first)", m.name)
		}
		return c.startFollower(m, false)
	case VerbRemove:
		return c.remove(m)
	}
	return fmt.Errorf("%s: not a follower command", cmd.Verb)
}

// crash kills a follower. keep is how many written-but-unsynced bytes
// survive (-1: a random part of them, possibly ending inside a record).
func (c *Cluster) crash(m *member, keep int64) error {
	c.mu.Lock()
	s := m.follower
	if s == nil {
		c.mu.Unlock()
		return fmt.Errorf("%s is already stopped", m.name)
	}
	m.follower, m.crashed = nil, true
	c.mu.Unlock()
	st := s.Status()
	unsynced := int64(st.Positions.Write - st.Positions.Flush)
	if keep < 0 {
		keep = c.randomKeep(unsynced)
	}
	err := s.Crash(keep)
	st = s.Status()
	// What is on its disk now: the flushed WAL and the first kept bytes of
	// the rest (a torn write that may end inside a record). Its write
	// position says so until recovery cuts the torn tail.
	kept := min(keep, unsynced)
	st.Positions.Write = st.Positions.Flush + wal.LSN(max(kept, 0))
	c.mu.Lock()
	m.last = st
	c.mu.Unlock()
	c.emit(Event{Follower: m.name, Kind: EvCrash, LSN: st.Positions.Flush, Text: crashText(st.Positions.Flush, kept, unsynced)})
	return err
}

// randomKeep is how many of a crashing node's unsynced bytes reach its
// disk when a crash does not say: a random part of them, from none to
// all, which may end inside a record (a torn write).
func (c *Cluster) randomKeep(unsynced int64) int64 {
	if unsynced <= 0 {
		return 0
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.rng.Int64N(unsynced + 1)
}

// crashText says what a follower's crash kept, as walship's crash does it
// (a power failure, not a process exit, which would keep what the
// operating system had): the WAL fsynced up to flush_lsn survives; of the
// bytes written after it and not fsynced, only the first kept reached the
// disk, and they may end inside a record.
func crashText(flush wal.LSN, kept, unsynced int64) string {
	switch {
	case unsynced <= 0:
		return fmt.Sprintf("crashed: everything it had written was fsynced (flush_lsn %s), so all of it survives", flush)
	case kept <= 0:
		return fmt.Sprintf("crashed as in a power failure: its WAL up to flush_lsn %s was fsynced and survives; none of the %d bytes written after it but not fsynced reached the disk: they are lost", flush, unsynced)
	case kept >= unsynced:
		return fmt.Sprintf("crashed as in a power failure: its WAL up to flush_lsn %s was fsynced and survives; all %d bytes written after it happened to reach the disk, though never fsynced", flush, unsynced)
	}
	return fmt.Sprintf("crashed as in a power failure: its WAL up to flush_lsn %s was fsynced and survives; of the %d bytes written after it but not fsynced, only the first %d reached the disk (a torn write); recovery will keep the whole records among them and cut the rest", flush, unsynced, kept)
}

func (c *Cluster) remove(m *member) error {
	c.mu.Lock()
	s := m.follower
	m.follower = nil
	c.mu.Unlock()
	if s != nil {
		s.Close()
	}
	m.relay.Close()
	c.dropMember(m)
	if l := c.primary(); l != nil {
		l.Forget(m.name)
	}
	os.RemoveAll(m.dir)
	return nil
}
