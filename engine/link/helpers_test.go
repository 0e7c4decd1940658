package link

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"walship/engine/clock"
	"walship/engine/wal"
	"walship/engine/wire"
)

// wait is how long a test waits for something that should happen promptly.
const wait = 10 * time.Second

// harness is a fake leader (a loopback listener) behind a relay, plus the
// relay's events.
type harness struct {
	t      *testing.T
	clk    *clock.World
	ln     net.Listener
	relay  *Relay
	accept chan net.Conn

	mu     sync.Mutex
	events []Event
	evWake chan struct{}
}

func newHarness(t *testing.T, opts Options) *harness {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, ln: ln, accept: make(chan net.Conn, 16), evWake: make(chan struct{}, 1)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(h.accept)
				return
			}
			h.accept <- c
		}
	}()
	if opts.Clock == nil {
		opts.Clock = clock.NewWorld()
	}
	h.clk = opts.Clock
	opts.Target = ln.Addr().String()
	if opts.Name == "" {
		opts.Name = "follower-1"
	}
	opts.OnEvent = func(e Event) {
		h.mu.Lock()
		h.events = append(h.events, e)
		h.mu.Unlock()
		signal(h.evWake)
	}
	r, err := New(opts)
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	h.relay = r
	t.Cleanup(h.close)
	return h
}

func (h *harness) close() {
	h.relay.Close()
	h.ln.Close()
	for c := range h.accept {
		c.Close()
	}
}

// connect dials the relay as a follower that says hello (the relay dials
// the leader once the follower has said something), and returns both ends
// with that hello read off the leader's: the follower's connection and
// the leader's accepted one.
func (h *harness) connect() (follower, leader net.Conn) {
	h.t.Helper()
	f := h.dial()
	hello := wire.AppendFrame(nil, wire.KindHello, wire.Hello{Magic: wire.Magic, Version: wire.Version, Name: h.relay.opts.Name}.Encode())
	mustWrite(h.t, f, hello)
	select {
	case l := <-h.accept:
		h.t.Cleanup(func() { l.Close() })
		l.SetReadDeadline(time.Now().Add(wait))
		if _, err := io.ReadFull(l, make([]byte, len(hello))); err != nil {
			h.t.Fatalf("leader did not get the hello: %v", err)
		}
		l.SetReadDeadline(time.Time{})
		return f, l
	case <-time.After(wait):
		h.t.Fatal("leader saw no connection")
	}
	return nil, nil
}

// dial dials the relay and says nothing: the relay does not dial the
// leader for it until it does.
func (h *harness) dial() net.Conn {
	h.t.Helper()
	f, err := net.Dial("tcp", h.relay.Addr())
	if err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { f.Close() })
	return f
}

// waitEvent waits for an event of the given kind whose text contains sub,
// and returns it.
func (h *harness) waitEvent(kind, sub string) Event {
	h.t.Helper()
	deadline := time.After(wait)
	for {
		h.mu.Lock()
		for _, e := range h.events {
			if e.Kind == kind && strings.Contains(e.Text, sub) {
				h.mu.Unlock()
				return e
			}
		}
		h.mu.Unlock()
		select {
		case <-h.evWake:
		case <-deadline:
			h.t.Fatalf("no %q event containing %q; events: %v", kind, sub, h.eventList())
		}
	}
}

func (h *harness) eventList() []Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]Event(nil), h.events...)
}

func (h *harness) countEvents(kind string) int {
	n := 0
	for _, e := range h.eventList() {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// dataFrame is a whole Data frame holding n records from lsn on, each with
// a value of size bytes. It returns the frame and the end LSN.
func dataFrame(lsn wal.LSN, n, size int) ([]byte, wal.LSN) {
	var recs []byte
	end := lsn
	for i := range n {
		r := wal.Record{LSN: end, Op: wal.OpSet, Key: fmt.Appendf(nil, "key-%d-%d", lsn, i), Value: make([]byte, size)}
		for j := range r.Value {
			r.Value[j] = byte(j + i)
		}
		recs = wal.AppendRecord(recs, r)
		end = r.End()
	}
	payload := wire.AppendDataHeader(nil, lsn, end)
	payload = append(payload, recs...)
	return wire.AppendFrame(nil, wire.KindData, payload), end
}

// checkRecords decodes every record of a Data payload and returns the first
// error (nil when every CRC holds).
func checkRecords(payload []byte) error {
	first, end, err := wire.DataRange(payload)
	if err != nil {
		return err
	}
	b := payload[wire.DataHeaderSize:]
	lsn := first
	for len(b) > 0 {
		r, n, err := wal.DecodeRecord(b)
		if err != nil {
			return err
		}
		if r.LSN != lsn {
			return fmt.Errorf("record at %s, want %s", r.LSN, lsn)
		}
		lsn = r.End()
		b = b[n:]
	}
	if lsn != end {
		return fmt.Errorf("records end at %s, frame says %s", lsn, end)
	}
	return nil
}

func statusFrame(write wal.LSN, t time.Duration) []byte {
	return wire.AppendFrame(nil, wire.KindStatus, wire.Status{Write: write, Flush: write, Replay: write, TimeNS: int64(t)}.Encode())
}

func keepaliveFrame(flushed wal.LSN, t time.Duration) []byte {
	return wire.AppendFrame(nil, wire.KindKeepalive, wire.Keepalive{Flushed: flushed, TimeNS: int64(t)}.Encode())
}

// mustWrite writes b to c or fails the test (from any goroutine: it uses
// Errorf).
func mustWrite(t *testing.T, c net.Conn, b []byte) bool {
	if _, err := c.Write(b); err != nil {
		t.Errorf("write: %v", err)
		return false
	}
	return true
}

// readFrame reads one frame from rd with a deadline on c.
func readFrame(t *testing.T, c net.Conn, rd *wire.Reader) (wire.Frame, []byte) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	f, raw, err := rd.RawNext()
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	return f, raw
}

// expectClosed checks that c is closed by the far end (EOF or reset)
// within the wait.
func expectClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(wait))
	var b [64]byte
	for {
		_, err := c.Read(b[:])
		if err == nil {
			continue
		}
		if ne, ok := err.(net.Error); ok && ne.Timeout() {
			t.Fatal("connection still open")
		}
		return
	}
}

// eventually polls cond until it holds or the wait runs out.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
