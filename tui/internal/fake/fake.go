// Package fake provides stand-ins for the cluster that the terminal UI
// drives: Recorder, a fixed snapshot that records every command, for Update
// tests; and Sim, a small synthetic cluster whose frames travel, whose
// followers write, flush and replay, and which obeys every command, so the
// UI can be watched and driven before (or without) the real engine.
//
// Sim is a toy: its numbers follow the shape of streaming replication, not
// its detail. Nothing here is used by the walship binary.
package fake

import (
	"sync"

	"walship/engine/cluster"
)

// Recorder is a Controller that always returns the same snapshot (with
// events filtered by sequence) and records the commands it is given.
type Recorder struct {
	mu   sync.Mutex
	snap cluster.Snapshot
	cmds []cluster.Command
	err  error
}

// NewRecorder returns a Recorder serving snap.
func NewRecorder(snap cluster.Snapshot) *Recorder { return &Recorder{snap: snap} }

// SetSnapshot replaces the snapshot served.
func (r *Recorder) SetSnapshot(s cluster.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.snap = s
}

// FailWith makes every later Do return err (nil to succeed again).
func (r *Recorder) FailWith(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.err = err
}

// Snapshot implements cluster.Controller.
func (r *Recorder) Snapshot(since uint64) cluster.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.snap
	s.Events = nil
	for _, e := range r.snap.Events {
		if e.Seq > since {
			s.Events = append(s.Events, e)
		}
	}
	return s
}

// Do implements cluster.Controller: it records c.
func (r *Recorder) Do(c cluster.Command) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.cmds = append(r.cmds, c)
	return r.err
}

// Commands returns the commands received so far, as text.
func (r *Recorder) Commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.cmds))
	for i, c := range r.cmds {
		out[i] = c.String()
	}
	return out
}
