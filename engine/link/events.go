package link

import (
	"fmt"
	"sync"
)

// maxQueuedEvents bounds the events waiting for OnEvent; past it new events
// are counted and reported as one "error" event once the queue drains.
const maxQueuedEvents = 1024

// eventQueue hands events to OnEvent from one goroutine, in order, so that
// no relay method ever calls OnEvent itself (the caller may hold a lock that
// OnEvent needs).
type eventQueue struct {
	fn   func(Event)
	wake chan struct{} // 1-buffered

	mu      sync.Mutex
	q       []Event
	dropped int
}

func (e *eventQueue) init(fn func(Event)) {
	e.fn = fn
	e.wake = make(chan struct{}, 1)
}

// push queues ev without blocking; it is a no-op without OnEvent.
func (e *eventQueue) push(ev Event) {
	if e.fn == nil {
		return
	}
	e.mu.Lock()
	if len(e.q) >= maxQueuedEvents {
		e.dropped++
		e.mu.Unlock()
		return
	}
	e.q = append(e.q, ev)
	e.mu.Unlock()
	signal(e.wake)
}

// take removes and returns the queued events, with a note of any dropped.
func (e *eventQueue) take(buf []Event) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	buf = append(buf[:0], e.q...)
	clear(e.q)
	e.q = e.q[:0]
	if e.dropped > 0 {
		buf = append(buf, Event{Kind: EventError, Text: fmt.Sprintf("%d link events dropped (queue full)", e.dropped)})
		e.dropped = 0
	}
	return buf
}

// run delivers events until stop is closed, then delivers what is left:
// Close stops it only after every other goroutine of the relay has ended,
// so no event is lost.
func (e *eventQueue) run(stop <-chan struct{}) {
	var buf []Event
	for {
		stopped := false
		select {
		case <-e.wake:
		case <-stop:
			stopped = true
		}
		buf = e.take(buf)
		for _, ev := range buf {
			e.fn(ev)
		}
		if stopped {
			return
		}
	}
}
