package ship

import "sync"

// signal is a broadcast: waiters take the current channel, which is closed
// and replaced on every broadcast.
type signal struct {
	mu sync.Mutex
	ch chan struct{}
}

func newSignal() *signal { return &signal{ch: make(chan struct{})} }

// wait returns a channel closed at the next broadcast.
func (s *signal) wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ch
}

func (s *signal) broadcast() {
	s.mu.Lock()
	close(s.ch)
	s.ch = make(chan struct{})
	s.mu.Unlock()
}

// kick wakes one goroutine through a 1-buffered channel; repeated kicks
// before it wakes merge into one.
func kick(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
