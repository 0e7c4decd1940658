package cluster

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"walship/engine/kv"
	"walship/engine/ship"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// Put writes one SET on the leader without waiting for any commit rule, and
// returns the LSN just past it.
func (c *Cluster) Put(key, value []byte) (wal.LSN, error) {
	l, err := c.writable()
	if err != nil {
		return 0, err
	}
	return l.Append(wal.OpSet, key, value)
}

// Converged reports whether every follower has replayed everything the
// leader has, and if not, which one is behind and where.
func (c *Cluster) Converged() (bool, string) {
	s := c.Snapshot(^uint64(0))
	if c.primary() == nil {
		return false, fmt.Sprintf("no primary: %s is %s", s.Leader.Name, s.Leader.State)
	}
	target := s.Leader.InsertLSN
	if s.Leader.FlushLSN < target {
		return false, fmt.Sprintf("leader flushed %s of %s", s.Leader.FlushLSN, target)
	}
	for _, f := range s.Followers {
		if f.ReplayLSN < target || f.State == StateStopped {
			return false, fmt.Sprintf("%s is %s: write %s, flush %s, replay %s, leader %s (%s)",
				f.Name, f.State, f.WriteLSN, f.FlushLSN, f.ReplayLSN, target, f.LastError)
		}
	}
	return true, ""
}

// WALFailure returns why the leader's or a running follower's WAL can no
// longer be written, or nil. It takes each log's buffer lock, so callers
// poll it sparingly.
func (c *Cluster) WALFailure() error {
	if l := c.primary(); l != nil {
		if err := l.Log().Err(); err != nil {
			return fmt.Errorf("the leader's WAL failed: %w", err)
		}
	}
	for _, name := range c.Names() {
		s := c.Follower(name)
		if s == nil {
			continue
		}
		// A follower being crashed or stopped closes its WAL; that is
		// not a failure.
		if err := s.WALErr(); err != nil && !errors.Is(err, wal.ErrClosed) {
			return fmt.Errorf("%s's WAL failed: %w", name, err)
		}
	}
	return nil
}

// WaitConverged polls until every follower has replayed the leader's whole
// log, or ctx ends (the error then says who is behind).
func (c *Cluster) WaitConverged(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		ok, why := c.Converged()
		if ok {
			return nil
		}
		// A cluster a panic stopped, or a WAL that cannot be written (disk
		// full, I/O error), will never get there: say so now.
		if p := c.Fatal(); p != nil {
			return fmt.Errorf("followers cannot converge: %w\n%s", p, p.Stack)
		}
		if err := c.WALFailure(); err != nil {
			return fmt.Errorf("followers cannot converge: %w", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("followers did not converge: %s", why)
		case <-t.C:
		}
	}
}

// Verification is what walship check reports for one follower.
type Verification struct {
	Name        string
	Received    uint64 // records received over the network since it started
	CRCFailures uint64
	Resends     uint64
	Backups     int
	StoreKeys   int // keys in the live follower store
	LeaderKeys  int
	Identical   int    // leader keys whose value the replayed files reproduce
	FileKeys    int    // keys in the store rebuilt from the follower's files
	Diff        string // first difference, "" when they match
	Violations  uint64
}

// Match reports whether the follower's files reproduce the leader's store.
func (v Verification) Match() bool {
	return v.Diff == "" && v.Identical == v.LeaderKeys && v.FileKeys == v.LeaderKeys && v.Violations == 0
}

// Verify stops the workload and every follower cleanly, then rebuilds each
// follower's store from its own files (base backup and WAL) into a fresh
// store and compares it with the leader's.
func (c *Cluster) Verify() ([]Verification, error) {
	c.work.close()
	l, err := c.writable()
	if err != nil {
		return nil, err
	}
	leader := l.Store()
	c.mu.Lock()
	members := append([]*member(nil), c.followers...)
	c.mu.Unlock()
	var out []Verification
	for _, m := range members {
		c.mu.Lock()
		s := m.follower
		m.follower = nil
		c.mu.Unlock()
		v := Verification{Name: m.name, LeaderKeys: leader.Len()}
		if s == nil {
			v.Diff = "follower is stopped"
			out = append(out, v)
			continue
		}
		st := s.Status()
		v.Received, v.CRCFailures, v.Resends = st.Records, st.CRCFailures, st.Resends
		v.Backups, v.StoreKeys, v.Violations = st.Backup.Count, st.Keys, st.Violations
		live := s.Store()
		if err := s.Close(); err != nil {
			return nil, fmt.Errorf("%s: close: %w", m.name, err)
		}
		c.mu.Lock()
		m.last, m.crashed = st, true
		c.mu.Unlock()
		rebuilt, err := RebuildStore(m.dir, c.cfg.SegmentSize)
		if err != nil {
			v.Diff = err.Error()
			out = append(out, v)
			continue
		}
		v.FileKeys = rebuilt.Len()
		for _, k := range leader.Keys() {
			a, _ := leader.Get(k)
			if b, ok := rebuilt.Get(k); ok && string(a) == string(b) {
				v.Identical++
			}
		}
		v.Diff = leader.Diff(rebuilt)
		if v.Diff == "" {
			if d := leader.Diff(live); d != "" {
				v.Diff = "live store: " + d
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// RebuildStore replays a follower's files — its last base backup, if any,
// then its WAL — into a fresh store. Opening the WAL recovers it as a
// restart would (a torn tail is cut). dir is the follower's directory; the
// follower must be stopped. segmentSize is the cluster's.
func RebuildStore(dir string, segmentSize int64) (*kv.Store, error) {
	store := kv.New()
	from := wal.LSN(0)
	s, lsn, err := ship.LoadImageFile(filepath.Join(dir, ship.BaseBackupFile)) // nil when there is none
	if err != nil {
		return nil, err
	}
	if s != nil {
		store, from = s, lsn
	}
	log, _, err := wal.Open(wal.Options{Dir: filepath.Join(dir, ship.WALDir), SegmentSize: segmentSize, NoSync: true})
	if err != nil {
		return nil, err
	}
	defer log.Close()
	if err := ship.ReplayLog(log, store, max(from, log.Start()), log.End()); err != nil {
		return nil, err
	}
	return store, nil
}

// Commit writes one SET on the primary as a client would and waits for
// its commit under the sync rule in force, recording it as acknowledged
// (see Snapshot.Lost) when it is released. It reports whether it was
// acknowledged: false when stop closed first or the primary went down
// while it waited, which is never an acknowledgement.
func (c *Cluster) Commit(key, value []byte, stop <-chan struct{}) (wal.LSN, bool, error) {
	l, err := c.writable()
	if err != nil {
		return 0, false, err
	}
	end, err := l.Append(wal.OpSet, key, value)
	if err != nil {
		return 0, false, err
	}
	a := [1]replica.AckedCommit{ack(wal.OpSet, key, value, end)}
	return end, c.waitCommit(l, a[:], stop), nil
}
