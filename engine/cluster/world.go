package cluster

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"walship/engine/fatal"
)

// World is a cluster that can be saved and taken back: a lesson
// checkpoints it as each chapter begins, and rewinds to a checkpoint when
// the presenter goes back, so that the chapter plays the same the second
// time. It is a Controller, and owns the Cluster inside it, which a rewind
// replaces.
//
// A checkpoint freezes the world and copies every node's data directory:
// the leader's WAL, its store checkpoint and CONTROL file, each follower's
// WAL. It keeps the snapshot taken just before, whose Settings are the
// rest of the world: the links and their faults, replay pauses, stopped
// followers, the sync rule, retention, slots, the workload's rate and the
// world clock's speed and freeze. Checkpoints live in the data directory,
// under checkpoints/, and Close removes them.
//
// Rewinding stops the whole cluster, puts the copy in place of its data
// directory and restarts the cluster from it, as a database restarts from
// its data directory: the leader recovers from its checkpoint and WAL,
// every follower from its own WAL. Then the settings are applied again.
// What is not brought back: frames that were in flight (a follower asks
// for them again, as after any reconnect), bytes a node had written but
// not flushed, the counters of CRC failures, resends and records, lags
// (until new status updates come), and the event log and world time, which
// go on from where they were.
type World struct {
	cfg  Config // as given, but Dir always set
	temp bool   // Dir is ours to remove

	mu    sync.RWMutex // held for writing while a checkpoint or a rewind runs
	c     *Cluster
	seq   uint64        // events numbered by the clusters before c
	clock time.Duration // world time the clusters before c ran
	saved map[string]Snapshot
}

// checkpointDir is where a World keeps its checkpoints, in the cluster's
// data directory (a restarted cluster ignores it).
const checkpointDir = "checkpoints"

// NewWorld starts a cluster as New does, on cfg.Dir or a temporary
// directory of its own, and makes it a World. Checkpoints an earlier run
// left in the directory are removed.
func NewWorld(cfg Config) (*World, error) {
	w := &World{cfg: cfg, saved: map[string]Snapshot{}}
	if w.cfg.Dir == "" {
		d, err := os.MkdirTemp("", "walship-")
		if err != nil {
			return nil, fmt.Errorf("cluster: %w", err)
		}
		w.cfg.Dir, w.temp = d, true
	}
	if err := os.RemoveAll(w.keep()); err != nil {
		w.removeTemp()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	c, err := New(w.cfg)
	if err != nil {
		w.removeTemp()
		return nil, err
	}
	w.c = c
	return w, nil
}

func (w *World) keep() string { return filepath.Join(w.cfg.Dir, checkpointDir) }

func (w *World) removeTemp() {
	if w.temp {
		os.RemoveAll(w.cfg.Dir)
	}
}

// Start starts the workload.
func (w *World) Start() error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.c.Start()
}

// Dir is the cluster's data directory.
func (w *World) Dir() string { return w.cfg.Dir }

// Cluster is the cluster running now; a rewind replaces it (and closes
// this one).
func (w *World) Cluster() *Cluster {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.c
}

// Fatal returns the panic that stopped the cluster running now, with its
// stack, or nil (see Cluster.Fatal).
func (w *World) Fatal() *fatal.Panic {
	return w.Cluster().Fatal()
}

// Close stops the cluster and removes the checkpoints (and the data
// directory when it is a temporary one).
func (w *World) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.c.Close()
	err = errors.Join(err, os.RemoveAll(w.keep()))
	w.removeTemp()
	return err
}

// Snapshot is the cluster's, with event numbers and world time going on
// across rewinds.
func (w *World) Snapshot(sinceEvent uint64) Snapshot {
	w.mu.RLock()
	defer w.mu.RUnlock()
	var since uint64
	if sinceEvent > w.seq {
		since = sinceEvent - w.seq
	}
	s := w.c.Snapshot(since)
	s.World += w.clock
	s.LastEvent += w.seq
	for i := range s.Events {
		s.Events[i].Seq += w.seq
		s.Events[i].World += w.clock
	}
	return s
}

// Do carries out a command on the cluster.
func (w *World) Do(c Command) error {
	w.mu.RLock()
	defer w.mu.RUnlock()
	return w.c.Do(c)
}

// Checkpoint saves the world under name (see World), replacing what was
// saved under that name before.
func (w *World) Checkpoint(name string) error {
	if name == "" || filepath.Base(name) != name || name == "." || name == ".." {
		return fmt.Errorf("checkpoint: bad name %q", name)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	snap := w.c.Snapshot(^uint64(0))
	if !snap.Frozen { // no node moves while its files are copied
		w.c.clk.SetFrozen(true)
		defer w.c.clk.SetFrozen(false)
	}
	// Nor does retention remove a segment under the copy.
	if l := w.c.primary(); l != nil {
		release := l.HoldRetention()
		defer release()
	}
	dst := filepath.Join(w.keep(), name)
	tmp := dst + ".new"
	err := os.RemoveAll(tmp)
	if err == nil {
		// Checkpoints are scratch: nothing needs them after a crash, so
		// they are not fsynced.
		err = copyTree(w.cfg.Dir, tmp, false)
	}
	if err == nil {
		err = os.RemoveAll(dst)
	}
	if err == nil {
		err = os.Rename(tmp, dst)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("checkpoint %s: %w", name, err)
	}
	w.saved[name] = snap
	w.c.emit(Event{Kind: EvInfo, Text: "checkpoint " + name + ": every node's files copied"})
	return nil
}

// Rewind takes the world back to the checkpoint saved under name (see
// World).
func (w *World) Rewind(name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	snap, ok := w.saved[name]
	if !ok {
		return fmt.Errorf("rewind: no checkpoint %q", name)
	}
	last := w.c.Snapshot(^uint64(0))
	if err := w.c.Close(); err != nil {
		return fmt.Errorf("rewind: stopping the cluster: %w", err)
	}
	// The data directory itself stays (it may be the user's --data):
	// what is in it is replaced, but for the checkpoints.
	ents, err := os.ReadDir(w.cfg.Dir)
	if err != nil {
		return fmt.Errorf("rewind: %w", err)
	}
	for _, e := range ents {
		if e.Name() != checkpointDir {
			if err := os.RemoveAll(filepath.Join(w.cfg.Dir, e.Name())); err != nil {
				return fmt.Errorf("rewind: %w", err)
			}
		}
	}
	if err := copyTree(filepath.Join(w.keep(), name), w.cfg.Dir, true); err != nil {
		return fmt.Errorf("rewind: %w", err)
	}
	cfg := w.cfg
	cfg.Followers, cfg.SegmentSize = 0, 0 // the directory's own
	c, err := New(cfg)
	if err != nil {
		return fmt.Errorf("rewind: restarting the cluster from checkpoint %s: %w", name, err)
	}
	if err := c.Start(); err != nil {
		c.Close()
		return fmt.Errorf("rewind: %w", err)
	}
	w.seq += last.LastEvent
	w.clock += last.World
	w.c = c
	c.emit(Event{Kind: EvInfo, Text: "rewound to checkpoint " + name + ": the whole cluster restarted from its copy"})
	var errs error
	for _, cmd := range snap.Settings() {
		if err := c.Do(cmd); err != nil {
			errs = errors.Join(errs, fmt.Errorf("%s: %w", cmd, err))
		}
	}
	if errs != nil {
		return fmt.Errorf("rewind: the cluster restarted, but not every setting came back: %w", errs)
	}
	return nil
}

// copyTree copies the directories and regular files under src into dst,
// leaving out src's checkpoints; with sync, every file is fsynced.
func copyTree(src, dst string, sync bool) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		if rel == checkpointDir {
			return filepath.SkipDir
		}
		to := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		case d.Type().IsRegular():
			return copyFile(path, to, sync)
		}
		return nil // nothing else belongs in a data directory
	})
}

func copyFile(src, dst string, sync bool) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	if err == nil && sync {
		err = out.Sync()
	}
	return errors.Join(err, out.Close())
}
