package link

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"walship/engine/wire"
)

func (r *Relay) sessionCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sessions)
}

// TestRelayConnectionCap floods a relay with connections while a follower
// streams through it. The relay keeps at most MaxConns sessions (each one a
// dial of the leader and two frame queues), closes the rest at once (or
// evicts the oldest silent one past EvictAfter) with a few merged
// "refused" events, and the follower's pair keeps working.
func TestRelayConnectionCap(t *testing.T) {
	const maxConns, flood = 8, 1000
	h := newHarness(t, Options{MaxConns: maxConns})
	goodF, goodL := h.connect()
	mustWrite(t, goodF, helloFrame("follower-1"))
	mustWrite(t, goodF, statusFrame(1, 0))
	goodLR := wire.NewReader(goodL, 0)
	readFrame(t, goodL, goodLR)
	readFrame(t, goodL, goodLR)

	// The fake leader accepts whatever the relay dials; hold them.
	var held []net.Conn
	var heldMu sync.Mutex
	stopAccept := make(chan struct{})
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for {
			select {
			case c, ok := <-h.accept:
				if !ok {
					return
				}
				heldMu.Lock()
				held = append(held, c)
				heldMu.Unlock()
			case <-stopAccept:
				return
			}
		}
	}()

	peak := 0
	var conns []net.Conn
	for range flood {
		c, err := net.Dial("tcp", h.relay.Addr())
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
		peak = max(peak, h.relay.sessionCount())
	}
	var closedAtOnce atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(time.Second))
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil {
				if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
					closedAtOnce.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	peak = max(peak, h.relay.sessionCount())
	t.Logf("%d connections: %d closed at once, peak %d sessions", flood, closedAtOnce.Load(), peak)
	if peak > maxConns {
		t.Fatalf("relay held %d sessions, cap %d", peak, maxConns)
	}
	if closedAtOnce.Load() < flood-maxConns {
		t.Fatalf("only %d of %d connections over the cap were closed", closedAtOnce.Load(), flood)
	}
	h.waitEvent(EventRefused, "too many connections (max 8)")
	busy := 0
	for _, e := range h.eventList() {
		if e.Kind == EventRefused && strings.Contains(e.Text, "too many connections") {
			busy++
		}
	}
	if busy > 5 {
		t.Fatalf("%d 'too many connections' events: not merged", busy)
	}

	// The follower's pair still works both ways.
	mustWrite(t, goodL, keepaliveFrame(5, 0))
	if fr, _ := readFrame(t, goodF, wire.NewReader(goodF, 0)); fr.Kind != wire.KindKeepalive {
		t.Fatalf("follower got %v", fr.Kind)
	}
	mustWrite(t, goodF, statusFrame(6, 0))
	if fr, _ := readFrame(t, goodL, goodLR); fr.Kind != wire.KindStatus {
		t.Fatalf("leader got %v", fr.Kind)
	}
	close(stopAccept)
	<-accepted
	heldMu.Lock()
	for _, c := range held {
		c.Close()
	}
	heldMu.Unlock()
	eventually(t, "sessions to end", func() bool { return h.relay.sessionCount() <= 1 })
}

// TestRelayHostileFromStranger: a stranger on the relay's port that sends
// a hostile length is refused with an event naming it; one that sends half
// a frame and falls silent is closed after the idle timeout.
func TestRelayHostileFromStranger(t *testing.T) {
	h := newHarness(t, Options{IdleTimeout: 150 * time.Millisecond})
	bad := h.dial()
	mustWrite(t, bad, []byte{0xff, 0xff, 0xff, 0xff, 'H'})
	expectClosed(t, bad)
	e := h.waitEvent(EventRefused, "hostile frame from follower 127.0.0.1:")
	if !strings.Contains(e.Text, "frame length out of range") {
		t.Fatalf("event %q", e.Text)
	}
	half := h.dial()
	mustWrite(t, half, []byte{0, 0, 0, 40, 'H', 1, 2})
	expectClosed(t, half)
	h.waitEvent(EventDisconnect, "idle") // closed for its silence, not for anything else
}

func helloFrame(name string) []byte {
	h := wire.Hello{Magic: wire.Magic, Version: wire.Version, Name: name}
	return wire.AppendFrame(nil, wire.KindHello, h.Encode())
}

// A flood that holds every slot of the relay cannot hold its follower out:
// the follower's connection takes the slot of the oldest stranger that has
// said nothing for EvictAfter, and once it has said hello as the relay's
// follower no newer connection takes its slot. (Which connection goes,
// and none while every stranger is within EvictAfter, is the rule
// replica.Eviction: testdata/leader/evict.txt.)
func TestRelayEvictsForItsFollower(t *testing.T) {
	const maxConns = 4
	// The connections' ages are on clk, moved on by the test; the idle
	// timeout (real time) is the default, which no run of the test reaches.
	const evictAfter = time.Minute
	clk := newStepClock()
	h := newHarness(t, Options{MaxConns: maxConns, EvictAfter: evictAfter, connNow: clk.now})
	var strangers []net.Conn
	for range maxConns {
		strangers = append(strangers, h.dial()) // silent
	}
	// Accepted in the order dialled, so strangers[0] is the oldest.
	eventually(t, "the strangers accepted", func() bool { return h.relay.sessionCount() == maxConns })
	clk.advance(evictAfter) // the strangers' grace runs out

	f, l := h.connect() // says hello as follower-1
	lr := wire.NewReader(l, 0)
	expectClosed(t, strangers[0]) // the oldest
	h.waitEvent(EventRefused, "evicted 1 connection(s) that had not said hello as follower-1")
	if n := h.relay.sessionCount(); n > maxConns {
		t.Fatalf("%d sessions, cap %d", n, maxConns)
	}

	// More strangers, young and old, evict one another or are closed,
	// never the follower. In each round the grace of all that came before
	// (the follower's too) runs out, then maxConns newcomers take the
	// slots of the old strangers and the last, finding only young ones
	// and the follower, is closed: once it is, the relay has dealt with
	// the whole round.
	for range 6 {
		clk.advance(evictAfter)
		var c net.Conn
		for range maxConns {
			c = h.dial()
		}
		expectClosed(t, c)
	}
	mustWrite(t, f, statusFrame(7, 0))
	if fr, _ := readFrame(t, l, lr); fr.Kind != wire.KindStatus {
		t.Fatalf("leader got %v", fr.Kind)
	}
	mustWrite(t, l, keepaliveFrame(8, 0))
	if fr, _ := readFrame(t, f, wire.NewReader(f, 0)); fr.Kind != wire.KindKeepalive {
		t.Fatalf("follower got %v", fr.Kind)
	}
}

// stepClock is a real-time clock a test moves: each reading is a
// microsecond after the one before (so connections accepted one after
// another have distinct ages), and advance jumps it forward.
type stepClock struct {
	mu sync.Mutex
	t  time.Time
}

func newStepClock() *stepClock { return &stepClock{t: time.Now()} }

func (c *stepClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Microsecond)
	return c.t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}
