package ship

// Hostile network input against the leader's port: every stranger is
// refused with a reason (a Refuse frame where the protocol allows one, and
// an event), nothing is allocated from an untrusted length, idle half-open
// connections time out, the number of connections is capped, and a real
// follower streaming meanwhile is not disturbed.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

// hostileEvents records a component's events for a test.
type hostileEvents struct {
	mu  sync.Mutex
	evs []replica.Event
}

func (h *hostileEvents) add(e replica.Event) {
	h.mu.Lock()
	h.evs = append(h.evs, e)
	h.mu.Unlock()
}

func (h *hostileEvents) list() []replica.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]replica.Event(nil), h.evs...)
}

// wait polls for an event of kind whose text holds sub.
func (h *hostileEvents) wait(t *testing.T, kind, sub string) replica.Event {
	t.Helper()
	return h.waitFrom(t, 0, kind, sub)
}

// waitFrom is wait among the events after the first from.
func (h *hostileEvents) waitFrom(t *testing.T, from int, kind, sub string) replica.Event {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range h.list()[from:] {
			if e.Kind == kind && strings.Contains(e.Text, sub) {
				return e
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("no %s event containing %q; events:\n%s", kind, sub, h.dump())
	return replica.Event{}
}

func (h *hostileEvents) count(follower, kind string) int {
	n := 0
	for _, e := range h.list() {
		if e.Follower == follower && e.Kind == kind {
			n++
		}
	}
	return n
}

func (h *hostileEvents) dump() string {
	var b strings.Builder
	for _, e := range h.list() {
		fmt.Fprintf(&b, "  %s %s %s %s\n", e.Follower, e.Kind, e.LSN, e.Text)
	}
	return b.String()
}

// hostileRig is a leader with one real follower streaming from it while a
// writer appends records.
type hostileRig struct {
	p       *Leader
	s       *Follower
	ev      *hostileEvents
	stop    chan struct{}
	writing sync.WaitGroup
}

const hostileSeg = 64 << 10

func newHostileRig(t *testing.T, cfg LeaderConfig) *hostileRig {
	t.Helper()
	ev := &hostileEvents{}
	cfg.Dir = t.TempDir()
	cfg.SegmentSize = hostileSeg
	cfg.NoSync = true
	cfg.OnEvent = ev.add
	cfg.WALKeep = 1 << 40
	p, err := StartLeader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err := StartFollower(FollowerConfig{
		Name: "follower-1", Dir: t.TempDir(), Leader: p.Addr(), SegmentSize: hostileSeg,
		NoSync: true, StatusInterval: 20 * time.Millisecond, OnEvent: ev.add,
	})
	if err != nil {
		p.Close()
		t.Fatal(err)
	}
	r := &hostileRig{p: p, s: s, ev: ev, stop: make(chan struct{})}
	t.Cleanup(func() {
		r.stopWriting()
		s.Close()
		p.Close()
	})
	ev.wait(t, replica.EvConnect, "connected")
	r.writing.Add(1)
	go func() {
		defer r.writing.Done()
		for i := 0; ; i++ {
			select {
			case <-r.stop:
				return
			case <-time.After(time.Millisecond):
			}
			if _, err := p.Append(wal.OpSet, fmt.Appendf(nil, "k%d", i%500), fmt.Appendf(nil, "v%d", i)); err != nil {
				return
			}
		}
	}()
	return r
}

func (r *hostileRig) stopWriting() {
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.writing.Wait()
}

// undisturbed checks that the real follower never lost its connection and
// replays everything the leader has.
func (r *hostileRig) undisturbed(t *testing.T) {
	t.Helper()
	r.stopWriting()
	end := r.p.Log().End()
	deadline := time.Now().Add(10 * time.Second)
	for r.s.Status().Positions.Replay < end {
		if time.Now().After(deadline) {
			t.Fatalf("follower stuck at %+v, leader at %s", r.s.Status().Positions, end)
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := r.ev.count("follower-1", replica.EvDisconnect); n != 0 {
		t.Fatalf("the real follower was disconnected %d times:\n%s", n, r.ev.dump())
	}
	if n := r.ev.count("follower-1", replica.EvConnect); n != 1 {
		t.Fatalf("the real follower connected %d times", n)
	}
	if d := r.p.Store().Diff(r.s.Store()); d != "" {
		t.Fatalf("follower store differs: %s", d)
	}
}

// probeResult is what a stranger saw.
type probeResult struct {
	frames []wire.Kind
	refuse *wire.Refuse
	closed time.Duration // how long until the leader closed the connection
}

// probe dials addr, sends in (nothing when nil), then reads frames until the
// leader closes the connection (or 10s pass).
func probe(t *testing.T, addr string, in []byte) probeResult {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	if len(in) > 0 {
		if _, err := c.Write(in); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	var res probeResult
	fr := wire.NewReader(c, 0)
	for {
		f, err := fr.Next()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the leader kept a hostile connection open for 10s (frames %v)", res.frames)
			}
			break
		}
		res.frames = append(res.frames, f.Kind)
		if f.Kind == wire.KindRefuse && res.refuse == nil {
			r, err := wire.DecodeRefuse(f.Payload)
			if err != nil {
				t.Fatal(err)
			}
			res.refuse = &r
		}
	}
	res.closed = time.Since(start)
	return res
}

func helloFrame(magic uint32, version uint16, start wal.LSN, name string) []byte {
	h := wire.Hello{Magic: magic, Version: version, Start: start, Name: name}
	return wire.AppendFrame(nil, wire.KindHello, h.Encode())
}

// rawHello builds a Hello payload whose name length byte says nameLen
// whatever the name holds.
func rawHello(nameLen byte, name string) []byte {
	b := binary.BigEndian.AppendUint32(nil, wire.Magic)
	b = binary.BigEndian.AppendUint16(b, wire.Version)
	b = binary.BigEndian.AppendUint64(b, 0)
	b = append(b, 0, nameLen)
	return wire.AppendFrame(nil, wire.KindHello, append(b, name...))
}

// TestHostileHandshakes sends the leader what a stranger might, one
// connection each, while a real follower streams.
func TestHostileHandshakes(t *testing.T) {
	const handshake = 300 * time.Millisecond
	r := newHostileRig(t, LeaderConfig{
		HandshakeTimeout: handshake,
		IdleTimeout:      400 * time.Millisecond,
		Known: func(name string) bool {
			return name == "follower-1" || name == "stray-1"
		},
	})
	addr := r.p.Addr()
	tooLong := strings.Repeat("n", 200)
	cases := []struct {
		name  string
		in    []byte
		code  byte   // wanted Refuse code; 0 = no Refuse frame
		event string // wanted refused event text
	}{
		{"http garbage", []byte("GET / HTTP/1.1\r\nHost: localhost\r\n\r\n"), wire.RefuseProtocol, "not a walship hello"},
		{"random bytes", []byte{0x00, 0x00, 0x01, 0x00, 0xde, 0xad, 0xbe, 0xef}, wire.RefuseProtocol, "no hello within"}, // a plausible length: waits for the rest
		{"length 4 GiB", []byte{0xff, 0xff, 0xff, 0xff, 'H'}, wire.RefuseProtocol, "frame length out of range"},
		{"length 1 MiB", []byte{0x00, 0x10, 0x00, 0x00, 'H', 1, 2, 3}, wire.RefuseProtocol, "frame length out of range"},
		{"length zero", []byte{0, 0, 0, 0}, wire.RefuseProtocol, "frame length out of range"},
		{"wrong magic", helloFrame(0x12345678, wire.Version, 0, "follower-2"), wire.RefuseBadMagic, "bad magic 12345678"},
		{"wrong version", helloFrame(wire.Magic, 9, 0, "follower-2"), wire.RefuseBadVersion, "protocol version 9"},
		{"name too long", rawHello(200, tooLong), wire.RefuseBadName, "200 bytes is too long"},
		{"name length lies", rawHello(10, "ab"), wire.RefuseProtocol, "hello name length 10"},
		{"empty name", rawHello(0, ""), wire.RefuseProtocol, "hello name length 0"},
		{"name with odd bytes", helloFrame(wire.Magic, wire.Version, 0, "fol\x00low\ner\xff"), wire.RefuseBadName, `bad follower name "fol\x00low\ner\xff"`},
		{"name with escape codes", helloFrame(wire.Magic, wire.Version, 0, "\x1b[2Jfollower"), wire.RefuseBadName, `bad follower name "\x1b[2Jfollower"`},
		{"unknown name", helloFrame(wire.Magic, wire.Version, 0, "nobody"), wire.RefuseUnknownName, `unknown follower "nobody"`},
		{"duplicate of a streaming follower", helloFrame(wire.Magic, wire.Version, 0, "follower-1"), wire.RefuseDuplicate, "already streaming"},
		{"start past the leader", helloFrame(wire.Magic, wire.Version, 1<<40, "stray-1"), wire.RefuseProtocol, "ahead of the leader's flush"},
		{"status first", wire.AppendFrame(nil, wire.KindStatus, wire.Status{Write: 1 << 40, Flush: 1 << 40}.Encode()), wire.RefuseProtocol, "expected hello, got status frame"},
		{"data first", wire.AppendFrame(nil, wire.KindData, wire.AppendDataHeader(nil, 0, 0)), wire.RefuseProtocol, "expected hello, got data frame"},
		{"unknown kind first", wire.AppendFrame(nil, wire.Kind(0x7f), []byte("x")), wire.RefuseProtocol, "expected hello, got kind(0x7f) frame"},
		{"half a hello then silence", helloFrame(wire.Magic, wire.Version, 0, "stray-1")[:9], wire.RefuseProtocol, "no hello within"},
		{"header only then silence", []byte{0, 0, 0, 30}, wire.RefuseProtocol, "no hello within"},
		{"silence", nil, wire.RefuseProtocol, "no hello within"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := probe(t, addr, tc.in)
			if res.refuse == nil || res.refuse.Code != tc.code {
				t.Fatalf("got frames %v, refusal %+v; want code %d", res.frames, res.refuse, tc.code)
			}
			if len(res.frames) != 1 {
				t.Fatalf("got frames %v, want just the refusal", res.frames)
			}
			if res.closed > handshake+2*time.Second {
				t.Fatalf("closed after %v", res.closed)
			}
			r.ev.wait(t, replica.EvRefused, tc.event)
			t.Logf("%-34s -> refuse(%d) %q after %v", tc.name, res.refuse.Code, res.refuse.Reason, res.closed.Round(time.Millisecond))
		})
	}
	t.Run("connect and close", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		r.ev.wait(t, replica.EvRefused, "closed before saying hello")
	})
	r.undisturbed(t)
}

// TestHostileAfterHello covers strangers that pass the handshake: they may
// then fall silent, send what only the leader sends, or a hostile length.
// Each is dropped with a reason; the real follower is not disturbed.
func TestHostileAfterHello(t *testing.T) {
	const idle = time.Second
	r := newHostileRig(t, LeaderConfig{
		HandshakeTimeout:  time.Second,
		IdleTimeout:       idle,
		KeepaliveInterval: 50 * time.Millisecond,
	})
	addr := r.p.Addr()
	hello := helloFrame(wire.Magic, wire.Version, 0, "stray-1")
	cases := []struct {
		name   string
		then   []byte
		reason string
	}{
		{"silence (half-open)", nil, "idle: no frame from the follower in"},
		{"half a status then silence", wire.AppendFrame(nil, wire.KindStatus, make([]byte, 33))[:10], "idle: no frame from the follower in"},
		{"a data frame", wire.AppendFrame(nil, wire.KindData, wire.AppendDataHeader(nil, 0, 0)), "unexpected data frame from follower"},
		{"a second hello", hello, "unexpected hello frame from follower"},
		{"length 4 GiB", []byte{0xff, 0xff, 0xff, 0xff}, "frame length out of range"},
		{"a short status", wire.AppendFrame(nil, wire.KindStatus, []byte{1, 2, 3}), "malformed frame: status of 3 bytes"},
		{"a short resend", wire.AppendFrame(nil, wire.KindResend, []byte{1}), "malformed frame: resend of 1 bytes"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mark := len(r.ev.list())
			res := probe(t, addr, append(append([]byte(nil), hello...), tc.then...))
			if len(res.frames) == 0 || res.frames[0] != wire.KindWelcome {
				t.Fatalf("frames %v, want a welcome first", res.frames)
			}
			if res.closed > idle+2*time.Second {
				t.Fatalf("closed after %v", res.closed)
			}
			r.ev.waitFrom(t, mark, replica.EvDisconnect, tc.reason)
			t.Logf("%-28s -> dropped after %v", tc.name, res.closed.Round(time.Millisecond))
		})
	}
	r.undisturbed(t)
}

// TestHostileStartAndResend: a Hello or a Resend naming an LSN inside a
// record is refused with that reason, rather than making the leader read
// garbage from its own WAL and report its log as corrupt.
func TestHostileStartAndResend(t *testing.T) {
	r := newHostileRig(t, LeaderConfig{HandshakeTimeout: time.Second, IdleTimeout: time.Second})
	for r.p.Flushed() < 200 {
		time.Sleep(time.Millisecond)
	}
	res := probe(t, r.p.Addr(), helloFrame(wire.Magic, wire.Version, 3, "stray-1"))
	if res.refuse == nil || res.refuse.Code != wire.RefuseProtocol || !strings.Contains(res.refuse.Reason, "not a record boundary") {
		t.Fatalf("hello from LSN 3: frames %v, refusal %+v", res.frames, res.refuse)
	}
	r.ev.wait(t, replica.EvRefused, "not a record boundary")

	in := helloFrame(wire.Magic, wire.Version, 0, "stray-2")
	in = wire.AppendFrame(in, wire.KindResend, wire.EncodeResend(5))
	res = probe(t, r.p.Addr(), in)
	if len(res.frames) == 0 || res.frames[0] != wire.KindWelcome {
		t.Fatalf("frames %v", res.frames)
	}
	r.ev.wait(t, replica.EvDisconnect, "resend from 0/5: not a record boundary")
	for _, e := range r.ev.list() {
		if e.Kind == replica.EvError {
			t.Fatalf("leader reported an error for a stranger's LSN: %s", e.Text)
		}
	}
	r.undisturbed(t)
}

// TestConnectionFlood opens thousands of connections that say nothing. The
// leader holds at most MaxConns of them, refuses the rest at once with a
// Refuse frame and a few merged events (or evicts a held one that has been
// silent for a while to take a newer one), times out the ones it held, and
// the real follower streams throughout.
func TestConnectionFlood(t *testing.T) {
	const (
		maxConns = 64
		flood    = 2000
	)
	r := newHostileRig(t, LeaderConfig{MaxConns: maxConns, HandshakeTimeout: 1500 * time.Millisecond})
	addr := r.p.Addr()
	var peak atomic.Int64
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			r.p.mu.Lock()
			n := int64(len(r.p.conns))
			r.p.mu.Unlock()
			if n > peak.Load() {
				peak.Store(n)
			}
			select {
			case <-r.stop:
				return
			case <-time.After(time.Millisecond):
			}
		}
	}()

	start := time.Now()
	conns := make([]net.Conn, 0, flood)
	for range flood {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d: %v", len(conns), err)
		}
		conns = append(conns, c)
	}
	var refused, evicted, timedOut, other atomic.Int64
	var wg sync.WaitGroup
	for _, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.Close()
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			f, err := wire.NewReader(c, 512).Next()
			if err != nil {
				t.Logf("flood connection: %v", err)
				other.Add(1)
				return
			}
			rf, _ := wire.DecodeRefuse(f.Payload)
			switch {
			case strings.Contains(rf.Reason, "too many connections"):
				refused.Add(1)
			case strings.Contains(rf.Reason, "evicted"):
				evicted.Add(1)
			case strings.Contains(rf.Reason, "no hello within"):
				timedOut.Add(1)
			default:
				other.Add(1)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d connections in %v: %d refused over the cap, %d evicted, %d timed out in the handshake, %d other; peak held %d",
		flood, elapsed.Round(time.Millisecond), refused.Load(), evicted.Load(), timedOut.Load(), other.Load(), peak.Load())
	if p := peak.Load(); p > maxConns {
		t.Fatalf("leader held %d connections, cap %d", p, maxConns)
	}
	// The leader accepts from its backlog as slots free: those it held
	// are evicted or time out in the handshake, everything else is
	// refused at once.
	if refused.Load()+evicted.Load()+timedOut.Load() != flood || timedOut.Load() < 1 || refused.Load() < flood/2 {
		t.Fatalf("refused %d, evicted %d, timed out %d, other %d", refused.Load(), evicted.Load(), timedOut.Load(), other.Load())
	}
	var busyEvents int
	for _, e := range r.ev.list() {
		if e.Kind == replica.EvRefused && strings.Contains(e.Text, "too many connections") {
			busyEvents++
		}
	}
	if busyEvents == 0 || busyEvents > int(elapsed/time.Second)+2 {
		t.Fatalf("%d 'too many connections' events in %v", busyEvents, elapsed)
	}
	// Back to just the follower, and a new follower connection is welcome.
	deadline := time.Now().Add(5 * time.Second)
	for {
		r.p.mu.Lock()
		n := len(r.p.conns)
		r.p.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("leader still holds %d connections", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	res := probe(t, addr, helloFrame(wire.Magic, wire.Version, 0, "follower-1"))
	if res.refuse == nil || res.refuse.Code != wire.RefuseDuplicate {
		t.Fatalf("after the flood: %v %+v", res.frames, res.refuse)
	}
	r.undisturbed(t)
	<-watchDone
}

// FuzzLeaderServe runs the leader's whole connection handler on arbitrary
// bytes from a stranger over a net.Pipe: it must return (the stranger hung
// up), never panic, never report its own WAL as broken, and leave no
// connection marked as streaming.
func FuzzLeaderServe(f *testing.F) {
	hello := helloFrame(wire.Magic, wire.Version, 0, "fuzz")
	f.Add(hello)
	f.Add(append(append([]byte(nil), hello...), wire.AppendFrame(nil, wire.KindStatus, wire.Status{Write: 10, Flush: 5, Replay: 1}.Encode())...))
	f.Add(append(append([]byte(nil), hello...), wire.AppendFrame(nil, wire.KindResend, wire.EncodeResend(0))...))
	f.Add(append(append([]byte(nil), hello...), wire.AppendFrame(nil, wire.KindBackupReq, nil)...))
	f.Add(helloFrame(wire.Magic, wire.Version, 1<<40, "fuzz"))
	f.Add(helloFrame(wire.Magic, wire.Version, 7, "fuzz"))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte("GET / HTTP/1.0\r\n\r\n"))
	f.Add(wire.AppendFrame(nil, wire.KindHello, wire.Hello{Magic: wire.Magic, Version: wire.Version, Flags: 0xff, Name: "fuzz"}.Encode()))

	ev := &hostileEvents{}
	p, err := StartLeader(LeaderConfig{
		Dir: f.TempDir(), SegmentSize: hostileSeg, NoSync: true, OnEvent: ev.add,
		HandshakeTimeout: 50 * time.Millisecond, IdleTimeout: 50 * time.Millisecond,
		KeepaliveInterval: 10 * time.Millisecond, WALKeep: 1 << 40,
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { p.Close() })
	for i := range 50 {
		p.Append(wal.OpSet, fmt.Appendf(nil, "k%d", i), []byte("v"))
	}
	for p.Flushed() < p.Log().End() {
		time.Sleep(time.Millisecond)
	}

	f.Fuzz(func(t *testing.T, in []byte) {
		ours, theirs := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			p.serve(ours, &connState{since: time.Now()})
			ours.Close()
		}()
		drained := make(chan struct{})
		go func() {
			defer close(drained)
			io.Copy(io.Discard, theirs)
		}()
		theirs.SetWriteDeadline(time.Now().Add(time.Second))
		theirs.Write(in)
		theirs.Close()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("serve did not return after the stranger hung up")
		}
		<-drained
		for _, e := range ev.list() {
			if e.Kind == replica.EvError {
				t.Fatalf("leader error event for a stranger's input: %s", e.Text)
			}
		}
		for _, ps := range p.Followers() {
			if ps.Connected {
				t.Fatalf("%s still marked connected", ps.Name)
			}
		}
		ev.mu.Lock()
		ev.evs = ev.evs[:0]
		ev.mu.Unlock()
	})
}

// When every slot is taken by connections that said nothing, a follower's
// connection takes the slot of the oldest once it has had a fifth of the
// handshake timeout to say hello (that one is refused as evicted), and a
// connection that said a valid hello is never evicted.
func TestLeaderEvictsForAFollower(t *testing.T) {
	const maxConns = 4
	// The handshake deadline (real time) runs out in no run of this test;
	// the connections' ages, and so their grace, are on clk.
	const handshake = time.Minute
	const grace = handshake / 5
	clk := newStepClock()
	ev := &hostileEvents{}
	p, err := StartLeader(LeaderConfig{
		Dir: t.TempDir(), SegmentSize: hostileSeg, NoSync: true, OnEvent: ev.add,
		MaxConns: maxConns, HandshakeTimeout: handshake, connNow: clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	var strangers []net.Conn
	for range maxConns {
		strangers = append(strangers, dial())
	}
	waitConns(t, p, maxConns) // accepted in the order dialled, so strangers[0] is the oldest
	// (Within their grace a newcomer is refused: the rule is
	// replica.Eviction, told in testdata/leader/evict.txt.)
	clk.advance(grace) // their grace runs out
	// A follower takes the oldest stranger's slot.
	s, err := StartFollower(FollowerConfig{Name: "follower-1", Dir: t.TempDir(), Leader: p.Addr(), SegmentSize: hostileSeg, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ev.wait(t, replica.EvConnect, "connected")
	if r := refusal(t, strangers[0]); !strings.Contains(r, "evicted") {
		t.Fatalf("oldest stranger told %q", r)
	}
	ev.wait(t, replica.EvRefused, "evicted 1 connection(s) that had not said hello")
	// Newcomers evict the other strangers once their grace is out, and
	// then, finding only one another within their grace and the follower
	// (whose own grace is out too), are refused: never is the follower
	// evicted.
	clk.advance(grace)
	var newcomers []net.Conn
	for range 2 * maxConns {
		newcomers = append(newcomers, dial())
	}
	for i, c := range strangers[1:] {
		if r := refusal(t, c); !strings.Contains(r, "evicted") {
			t.Fatalf("stranger %d told %q", i+1, r)
		}
	}
	for i, c := range newcomers[maxConns-1:] {
		if r := refusal(t, c); !strings.Contains(r, "too many connections") {
			t.Fatalf("newcomer %d told %q", i+maxConns-1, r)
		}
	}
	// Every newcomer has been dealt with: had one evicted the follower,
	// its connection would be gone from the leader's table by now.
	p.mu.Lock()
	st := p.conns[p.streams["follower-1"]]
	p.mu.Unlock()
	if st == nil || st.evicted || !st.named {
		t.Fatalf("the follower's connection is gone or evicted: %+v\n%s", st, ev.dump())
	}
	if n := ev.count("follower-1", replica.EvDisconnect); n != 0 {
		t.Fatalf("the follower was disconnected:\n%s", ev.dump())
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

// waitConns polls until the leader has accepted n connections.
func waitConns(t *testing.T, p *Leader, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		p.mu.Lock()
		got := len(p.conns)
		p.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections accepted, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

// refusal reads the Refuse frame the leader sends c and returns its reason.
func refusal(t *testing.T, c net.Conn) string {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := wire.NewReader(c, 0).Next()
	if err != nil || f.Kind != wire.KindRefuse {
		t.Fatalf("want a refusal, got %v %v", f.Kind, err)
	}
	r, err := wire.DecodeRefuse(f.Payload)
	if err != nil {
		t.Fatal(err)
	}
	return r.Reason
}
