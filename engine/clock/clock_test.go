package clock

import (
	"sync"
	"testing"
	"time"
)

// realTime is a real-time source a test moves by hand.
type realTime struct {
	mu sync.Mutex
	t  time.Time
}

func (r *realTime) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.t
}

func (r *realTime) pass(d time.Duration) {
	r.mu.Lock()
	r.t = r.t.Add(d)
	r.mu.Unlock()
}

func newTestWorld() (*World, *realTime) {
	r := &realTime{t: time.Unix(1_000_000, 0)}
	return newWorldOn(r.now), r
}

func TestFreezeStopsTime(t *testing.T) {
	w, r := newTestWorld()
	r.pass(time.Second)
	if got := w.Now(); got != time.Second {
		t.Fatalf("world time %v after a second at speed 1", got)
	}
	w.SetFrozen(true)
	r.pass(time.Minute)
	if got := w.Now(); got != time.Second {
		t.Fatalf("frozen clock moved to %v", got)
	}
	if _, ok := w.Until(w.Now() + time.Second); ok {
		t.Fatal("Until is known while frozen")
	}
	w.SetFrozen(false)
	r.pass(time.Second)
	if got := w.Now(); got != 2*time.Second {
		t.Fatalf("world time %v after unfreezing and a second", got)
	}
}

func TestSpeedScalesTime(t *testing.T) {
	w, r := newTestWorld()
	w.SetSpeed(8)
	r.pass(100 * time.Millisecond)
	if got := w.Now(); got != 800*time.Millisecond {
		t.Fatalf("world advanced %v in 100ms real at speed 8", got)
	}
	if d, ok := w.Until(w.Now() + 800*time.Millisecond); !ok || d != 100*time.Millisecond {
		t.Fatalf("Until 800ms of world time at speed 8: %v %v", d, ok)
	}
	w.SetSpeed(0.5)
	r.pass(time.Second)
	if got := w.Now(); got != 1300*time.Millisecond {
		t.Fatalf("world time %v, want 1.3s", got)
	}
	w.SetSpeed(1000)
	if w.Speed() != 64 {
		t.Fatalf("speed not clamped: %v", w.Speed())
	}
}

// A sleeper waits out a freeze: while frozen its wake-up time is unknown
// (Until), so it waits only for a change of the clock; unfrozen, it
// wakes once the world time has passed. It honours stop.
func TestSleepWaitsOutFreezeAndStops(t *testing.T) {
	w, r := newTestWorld()
	w.SetFrozen(true)
	wake := w.Now() + 10*time.Millisecond
	done := make(chan bool, 1)
	go func() { done <- w.SleepUntil(wake, nil) }()
	if _, ok := w.Until(wake); ok {
		t.Fatal("a sleeper would wake while frozen")
	}
	w.SetFrozen(false)
	r.pass(10 * time.Millisecond)
	if !<-done {
		t.Fatal("sleep reported stop")
	}
	stop := make(chan struct{})
	go func() { done <- w.Sleep(time.Hour, stop) }()
	close(stop)
	if <-done {
		t.Fatal("sleep ignored stop")
	}
	w.SetFrozen(true)
	go func() { done <- w.WaitRunning(stop) }()
	if <-done {
		t.Fatal("WaitRunning ignored stop")
	}
}
