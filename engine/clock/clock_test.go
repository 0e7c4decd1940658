package clock

import (
	"testing"
	"time"
)

func TestFreezeStopsTime(t *testing.T) {
	w := NewWorld()
	w.SetFrozen(true)
	a := w.Now()
	time.Sleep(20 * time.Millisecond)
	if b := w.Now(); b != a {
		t.Fatalf("frozen clock moved from %v to %v", a, b)
	}
	if _, ok := w.Until(a + time.Second); ok {
		t.Fatal("Until is known while frozen")
	}
	w.SetFrozen(false)
	time.Sleep(10 * time.Millisecond)
	if w.Now() <= a {
		t.Fatal("clock did not restart")
	}
}

func TestSpeedScalesTime(t *testing.T) {
	w := NewWorld()
	w.SetSpeed(8)
	start := time.Now()
	a := w.Now()
	time.Sleep(20 * time.Millisecond)
	elapsed := time.Since(start)
	// At speed 8, world time runs at least ~8x the real time that passed
	// before the first reading (lower bound only: machines are noisy).
	if got := w.Now() - a; got < 8*(elapsed-5*time.Millisecond)/2 {
		t.Fatalf("world advanced %v in %v real at speed 8", got, elapsed)
	}
	w.SetSpeed(1000)
	if w.Speed() != 64 {
		t.Fatalf("speed not clamped: %v", w.Speed())
	}
}

func TestSleepWaitsOutFreezeAndStops(t *testing.T) {
	w := NewWorld()
	w.SetFrozen(true)
	done := make(chan bool, 1)
	go func() { done <- w.Sleep(10*time.Millisecond, nil) }()
	select {
	case <-done:
		t.Fatal("sleep finished while frozen")
	case <-time.After(50 * time.Millisecond):
	}
	w.SetFrozen(false)
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
