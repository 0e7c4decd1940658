// Package clock is walship's world clock: simulated time that can run slower
// or faster than real time, or stop, without tearing a connection. Latency,
// apply delay, flush delay and the write rate are all measured in world time,
// so one speed factor scales them all and a freeze holds everything still.
// Beside it is a small real-time rule the leader and the relays share
// against floods: Tally merges like events.
package clock

import (
	"sync"
	"time"
)

// World is a clock whose time runs at Speed times real time and stops while
// frozen. World time starts at zero. It is safe for concurrent use.
type World struct {
	mu       sync.Mutex
	speed    float64
	frozen   bool
	realBase time.Time     // real time at the last change
	base     time.Duration // world time at the last change
	changed  chan struct{} // closed and replaced on every change
	real     func() time.Time
}

// NewWorld returns a running clock at speed 1.
func NewWorld() *World { return newWorldOn(time.Now) }

// newWorldOn is NewWorld on a real-time source of its own (tests pass one
// they move by hand).
func newWorldOn(real func() time.Time) *World {
	return &World{speed: 1, realBase: real(), changed: make(chan struct{}), real: real}
}

// Now is the current world time.
func (w *World) Now() time.Duration {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.nowLocked(w.real())
}

func (w *World) nowLocked(real time.Time) time.Duration {
	if w.frozen {
		return w.base
	}
	return w.base + time.Duration(float64(real.Sub(w.realBase))*w.speed)
}

// rebase records the world time now so that speed or freeze can change.
func (w *World) rebase() {
	now := w.real()
	w.base = w.nowLocked(now)
	w.realBase = now
	close(w.changed)
	w.changed = make(chan struct{})
}

// SetSpeed sets the speed factor, clamped to [1/64, 64].
func (w *World) SetSpeed(f float64) {
	f = min(max(f, 1.0/64), 64)
	w.mu.Lock()
	defer w.mu.Unlock()
	w.rebase()
	w.speed = f
}

// Speed is the current speed factor.
func (w *World) Speed() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.speed
}

// SetFrozen stops (true) or restarts (false) world time.
func (w *World) SetFrozen(frozen bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.frozen == frozen {
		return
	}
	w.rebase()
	w.frozen = frozen
}

// Frozen reports whether world time is stopped.
func (w *World) Frozen() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.frozen
}

// Changed returns a channel closed at the next change of speed or freeze.
// Sleepers select on it to recompute their real deadline.
func (w *World) Changed() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.changed
}

// Until is how long in real time until world time reaches t, and whether
// that is known (false while frozen and t is still ahead).
func (w *World) Until(t time.Duration) (time.Duration, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.nowLocked(w.real())
	if now >= t {
		return 0, true
	}
	if w.frozen {
		return 0, false
	}
	return time.Duration(float64(t-now) / w.speed), true
}

// SleepUntil blocks until world time reaches t or stop is closed. It returns
// false when stopped. Freezes and speed changes are honoured while waiting.
func (w *World) SleepUntil(t time.Duration, stop <-chan struct{}) bool {
	for {
		changed := w.Changed()
		d, ok := w.Until(t)
		if ok && d <= 0 {
			return true
		}
		var timeout <-chan time.Time
		var timer *time.Timer
		if ok {
			timer = time.NewTimer(d)
			timeout = timer.C
		}
		select {
		case <-stop:
			if timer != nil {
				timer.Stop()
			}
			return false
		case <-changed:
		case <-timeout:
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// WaitRunning blocks while the world is frozen. It returns false when stop
// is closed first.
func (w *World) WaitRunning(stop <-chan struct{}) bool {
	for {
		w.mu.Lock()
		frozen, changed := w.frozen, w.changed
		w.mu.Unlock()
		if !frozen {
			return true
		}
		select {
		case <-stop:
			return false
		case <-changed:
		}
	}
}

// Sleep blocks for d of world time, or until stop is closed (false). A
// sleep of zero still waits out a freeze.
func (w *World) Sleep(d time.Duration, stop <-chan struct{}) bool {
	if d <= 0 {
		return w.WaitRunning(stop)
	}
	return w.SleepUntil(w.Now()+d, stop)
}
