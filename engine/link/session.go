package link

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// session is one connection pair: a follower connection and the relay's
// connection to the leader.
type session struct {
	r        *Relay
	n        int64
	since    time.Time // accepted (real time)
	named    bool      // its first frame was a hello with the relay's follower name; r.mu guards it
	follower net.Conn
	ctx      context.Context
	cancel   context.CancelFunc
	done     chan struct{} // closed by teardown
	pipes    [2]*pipe      // set before the pumps start, under r.mu

	mu        sync.Mutex
	leader    net.Conn
	connected bool
	closed    bool
	reason    string
}

func newSession(r *Relay, c net.Conn, n int64) *session {
	ctx, cancel := context.WithCancel(context.Background())
	return &session{r: r, n: n, follower: c, ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// firstByte waits, at most the relay's idle timeout, for the first byte
// from the follower side.
func (s *session) firstByte() ([]byte, error) {
	if s.r.idle > 0 {
		s.follower.SetReadDeadline(time.Now().Add(s.r.idle))
	}
	var b [1]byte
	_, err := io.ReadFull(s.follower, b[:])
	return b[:], err
}

// prefixedConn is a connection whose first bytes were already read: Read
// returns them before reading on.
type prefixedConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixedConn) Read(p []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(p, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(p)
}

func (s *session) isConnected() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connected && !s.closed
}

// teardown ends the session: the first reason given is kept. It closes both
// sockets so that blocked pumps return.
func (s *session) teardown(reason string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed = true
	s.reason = reason
	close(s.done)
	s.cancel()
	s.follower.Close()
	if s.leader != nil {
		s.leader.Close()
	}
}

// run dials the leader, runs the four pumps until the session ends, and
// then forgets the session.
func (s *session) run() {
	r := s.r
	defer r.wg.Done()
	pumped := s.pump()
	r.mu.Lock()
	delete(r.sessions, s)
	r.mu.Unlock()
	if !pumped {
		return
	}
	s.mu.Lock()
	reason := s.reason
	s.mu.Unlock()
	for _, p := range s.pipes {
		p.release()
	}
	r.emit(Event{Kind: EventDisconnect, Text: "disconnected: " + reason})
}

// pump waits for the follower side to say something, dials the leader,
// starts the four pumps and waits for them, then tears the session down.
// It reports false when the session ended before the pumps started (the
// follower said nothing, the dial failed, or a Cut or Close came first).
func (s *session) pump() bool {
	r := s.r
	// The leader is dialled only once the follower side has sent a byte:
	// a stranger holding a connection open in silence costs the leader
	// nothing, and cannot crowd the follower out of the leader's slots.
	first, err := s.firstByte()
	if err != nil {
		var ne net.Error
		reason := "read from follower: " + err.Error()
		if errors.As(err, &ne) && ne.Timeout() {
			reason = fmt.Sprintf("idle: follower sent no frame in %v", r.idle)
			r.emit(Event{Kind: EventDisconnect, Text: "disconnected: " + reason})
		}
		s.teardown(reason)
		return false
	}
	d := net.Dialer{Timeout: DialTimeout}
	target := r.Target()
	lc, err := d.DialContext(s.ctx, "tcp", target)
	if err != nil {
		if s.ctx.Err() == nil { // not a Cut or Close
			r.emit(Event{Kind: EventError, Text: fmt.Sprintf("dial leader %s: %v", target, err)})
		}
		s.teardown("dial leader: " + err.Error())
		return false
	}
	for _, c := range []net.Conn{s.follower, lc} {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetNoDelay(true)
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		lc.Close()
		return false
	}
	s.leader = lc
	s.connected = true
	s.mu.Unlock()

	down := newPipe(s, Down, lc, s.follower)
	up := newPipe(s, Up, &prefixedConn{Conn: s.follower, prefix: first}, lc)
	r.mu.Lock()
	s.pipes = [2]*pipe{down, up}
	r.mu.Unlock()
	r.emit(Event{Kind: EventConnect, Text: fmt.Sprintf("%s connected through to leader %s", s.follower.RemoteAddr(), target)})

	var wg sync.WaitGroup
	for _, p := range s.pipes {
		wg.Add(2)
		r.guard.Go("reader", func() {
			defer wg.Done()
			p.readLoop()
		})
		r.guard.Go("writer", func() {
			defer wg.Done()
			p.writeLoop()
		})
	}
	wg.Wait()
	s.teardown("")
	return true
}
