// Package fake provides Recorder, a stand-in for the cluster the terminal
// UI drives: it serves a fixed snapshot and records every command, for
// the UI's tests. It never carries a command out: what a command does is
// the engine's (the demo and the end-to-end tests run the real one).
// Nothing here is used by the walship binary.
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
