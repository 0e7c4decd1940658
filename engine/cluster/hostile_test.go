package cluster_test

// Hostile network input against a whole cluster: strangers on the leader's
// port and on a relay's port. Each is refused with a reason that reaches
// the event log as a "refused" event, and the real followers keep
// streaming and converge.

import (
	"context"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/engine/link"
	"walship/engine/ship"
	"walship/engine/wire"
)

// eventLog collects a cluster's events as they happen (the ring is bounded,
// so a flood would push the interesting ones out before the end).
type eventLog struct {
	mu   sync.Mutex
	evs  []cluster.Event
	stop chan struct{}
	done chan struct{}
}

func collectEvents(c *cluster.Cluster) *eventLog {
	l := &eventLog{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(l.done)
		var seq uint64
		for {
			s := c.Snapshot(seq)
			seq = s.LastEvent
			l.mu.Lock()
			l.evs = append(l.evs, s.Events...)
			l.mu.Unlock()
			select {
			case <-l.stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
		}
	}()
	return l
}

func (l *eventLog) close() {
	select {
	case <-l.stop:
	default:
		close(l.stop)
	}
	<-l.done
}

func (l *eventLog) list() []cluster.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]cluster.Event(nil), l.evs...)
}

func (l *eventLog) wait(t *testing.T, kind cluster.EventKind, follower, sub string) cluster.Event {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, e := range l.list() {
			if e.Kind == kind && e.Follower == follower && strings.Contains(e.Text, sub) {
				return e
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	var b strings.Builder
	for _, e := range l.list() {
		fmt.Fprintf(&b, "  %q %s %s\n", e.Follower, e.Kind, e.Text)
	}
	t.Fatalf("no %s event for %q containing %q; events:\n%s", kind, follower, sub, b.String())
	return cluster.Event{}
}

// stranger dials addr, sends in, and returns the first Refuse frame it
// reads (nil if none) once the other side has closed the connection.
func stranger(t *testing.T, addr string, in []byte) *wire.Refuse {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if len(in) > 0 {
		if _, err := c.Write(in); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	fr := wire.NewReader(c, 0)
	var refusal *wire.Refuse
	for {
		f, err := fr.Next()
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("%s kept a hostile connection open for 10s", addr)
			}
			return refusal
		}
		if f.Kind == wire.KindRefuse && refusal == nil {
			r, _ := wire.DecodeRefuse(f.Payload)
			refusal = &r
		}
	}
}

func hello(magic uint32, version uint16, name string) []byte {
	h := wire.Hello{Magic: magic, Version: version, Name: name}
	return wire.AppendFrame(nil, wire.KindHello, h.Encode())
}

// twoFollowers starts a cluster of two streaming followers with cfg's
// hardening settings, closed when the test ends, and returns it with its
// events, the leader's address and follower-1's relay's.
func twoFollowers(t *testing.T, cfg cluster.Config) (*cluster.Cluster, *eventLog, string, string) {
	t.Helper()
	cfg.Dir, cfg.Followers, cfg.NoFsync = t.TempDir(), 2, true
	cfg.SegmentSize, cfg.StatusInterval = 64<<10, 50*time.Millisecond
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	log := collectEvents(c)
	t.Cleanup(log.close)
	log.wait(t, cluster.EvConnect, "follower-1", "connected")
	log.wait(t, cluster.EvConnect, "follower-2", "connected")
	snap := c.Snapshot(^uint64(0))
	return c, log, snap.Leader.Addr, snap.Followers[0].Link.Addr
}

func TestHostileClusterPorts(t *testing.T) {
	c, log, leader, relay := twoFollowers(t, cluster.Config{
		Seed: 7, HandshakeTimeout: time.Second, IdleTimeout: 2 * time.Second, MaxConns: 32,
	})
	snap := c.Snapshot(^uint64(0))
	for _, a := range []string{leader, relay, snap.Followers[1].Link.Addr} {
		if host, _, _ := net.SplitHostPort(a); host != "127.0.0.1" {
			t.Fatalf("listening on %s, not loopback", a)
		}
	}

	stop := make(chan struct{})
	var writer sync.WaitGroup
	writer.Add(1)
	go func() {
		defer writer.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(time.Millisecond):
			}
			c.Put(fmt.Appendf(nil, "k%04d", i%2000), fmt.Appendf(nil, "v%d", i))
		}
	}()

	type hostile struct {
		name string
		in   []byte
		code byte   // Refuse code the stranger should read; 0: none
		who  string // follower the refused event is filed under
		text string
	}
	onLeader := []hostile{
		{"garbage", []byte("GET / HTTP/1.1\r\n\r\n"), wire.RefuseProtocol, "", "not a walship hello"},
		{"length 4 GiB", []byte{0xff, 0xff, 0xff, 0xff}, wire.RefuseProtocol, "", "4294967295 bytes"},
		{"wrong magic", hello(0xcafebabe, wire.Version, "follower-1"), wire.RefuseBadMagic, "", "bad magic cafebabe"},
		{"wrong version", hello(wire.Magic, 2, "follower-1"), wire.RefuseBadVersion, "", "protocol version 2"},
		{"odd name", hello(wire.Magic, wire.Version, "follower\x07-1"), wire.RefuseBadName, "", `bad follower name "follower\a-1"`},
		{"unknown name", hello(wire.Magic, wire.Version, "follower-9"), wire.RefuseUnknownName, "", `unknown follower "follower-9"`},
		{"impostor", hello(wire.Magic, wire.Version, "follower-2"), wire.RefuseDuplicate, "follower-2", "already streaming"},
		{"status first", wire.AppendFrame(nil, wire.KindStatus, make([]byte, 33)), wire.RefuseProtocol, "", "expected hello, got status"},
		{"half a frame", hello(wire.Magic, wire.Version, "follower-1")[:7], wire.RefuseProtocol, "", "no hello within 1s"},
	}
	for _, h := range onLeader {
		r := stranger(t, leader, h.in)
		if r == nil || r.Code != h.code {
			t.Fatalf("leader, %s: refusal %+v, want code %d", h.name, r, h.code)
		}
		log.wait(t, cluster.EvRefused, h.who, h.text)
		t.Logf("leader port, %-13s -> refuse(%d) %q", h.name, r.Code, r.Reason)
	}

	// Through follower-1's relay: the relay refuses a hostile length
	// itself; anything frame-shaped reaches the leader, which refuses it
	// and whose Refuse frame comes back through the relay.
	onRelay := []hostile{
		{"length 4 GiB", []byte{0xff, 0xff, 0xff, 0xff}, 0, "follower-1", "hostile frame from follower 127.0.0.1:"},
		{"wrong magic", hello(0xcafebabe, wire.Version, "follower-1"), wire.RefuseBadMagic, "", "bad magic cafebabe"},
		{"impostor", hello(wire.Magic, wire.Version, "follower-1"), wire.RefuseDuplicate, "follower-1", "already streaming"},
		{"half a frame", []byte{0, 0, 0, 20, 'H'}, wire.RefuseProtocol, "", "no hello within"},
	}
	for _, h := range onRelay {
		r := stranger(t, relay, h.in)
		if (h.code == 0) != (r == nil) || r != nil && r.Code != h.code {
			t.Fatalf("relay, %s: refusal %+v, want code %d", h.name, r, h.code)
		}
		log.wait(t, cluster.EvRefused, h.who, h.text)
		reason := "closed"
		if r != nil {
			reason = fmt.Sprintf("refuse(%d) %q", r.Code, r.Reason)
		}
		t.Logf("relay port,  %-13s -> %s", h.name, reason)
	}

	// Floods on both ports, held open: the relay keeps at most 16 (each
	// held by the leader until its handshake timeout), the leader at most
	// 32; the rest are refused at once. The relay first: a full leader
	// would refuse the relay's dials at once and so end its sessions.
	var conns []net.Conn
	for _, target := range []struct {
		addr string
		n    int
	}{{relay, 200}, {leader, 400}} {
		for range target.n {
			cn, err := net.Dial("tcp", target.addr)
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, cn)
		}
	}
	log.wait(t, cluster.EvRefused, "", "too many connections (max 32)")
	log.wait(t, cluster.EvRefused, "follower-1", "too many connections (max 16)")
	for _, cn := range conns {
		cn.Close()
	}

	close(stop)
	writer.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	for _, e := range log.list() {
		if (e.Follower == "follower-1" || e.Follower == "follower-2") && (e.Kind == cluster.EvDisconnect || e.Kind == cluster.EvCRC) {
			t.Fatalf("a real follower was disturbed: %s %s %s", e.Follower, e.Kind, e.Text)
		}
	}
	log.close()
	verifyMatch(t, c, "")
}

// verifyMatch rebuilds every follower's store from its files and fails
// the test at the first that differs from the leader's; what says when.
func verifyMatch(t *testing.T, c *cluster.Cluster, what string) {
	t.Helper()
	vs, err := c.Verify()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		if !v.Match() {
			t.Fatalf("%s differs%s: %+v", v.Name, what, v)
		}
	}
}

// TestListenHost: listeners bind to loopback by default; Listen chooses
// another host, IPv6 included.
func TestListenHost(t *testing.T) {
	for _, host := range []string{"", "127.0.0.1", "::1"} {
		if host == "::1" {
			ln, err := net.Listen("tcp", "[::1]:0")
			if err != nil {
				t.Logf("no IPv6 loopback here: %v", err)
				continue
			}
			ln.Close()
		}
		c, err := cluster.New(cluster.Config{Dir: t.TempDir(), Followers: 1, NoFsync: true, Listen: host})
		if err != nil {
			t.Fatalf("Listen %q: %v", host, err)
		}
		s := c.Snapshot(0)
		want := host
		if want == "" {
			want = "127.0.0.1"
		}
		for _, a := range []string{s.Leader.Addr, s.Followers[0].Link.Addr} {
			if h, _, _ := net.SplitHostPort(a); h != want {
				t.Errorf("Listen %q: listening on %s", host, a)
			}
		}
		c.Put([]byte("k"), []byte("v"))
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err = c.WaitConverged(ctx)
		cancel()
		c.Close()
		if err != nil {
			t.Fatalf("Listen %q: %v", host, err)
		}
	}
}

// flood is what a test's holders hold: when each one's connection was
// opened (zero while it has none).
type flood struct {
	mu    sync.Mutex
	since []time.Time
}

// holder adds a holder to the flood and starts it: it keeps one
// connection to addr open, silent, and opens a new one 20ms after it is
// closed or refused, until stop: a flood that holds a slot and takes it
// back when it loses it.
func (f *flood) holder(addr string, stop chan struct{}, wg *sync.WaitGroup) {
	f.mu.Lock()
	i := len(f.since)
	f.since = append(f.since, time.Time{})
	f.mu.Unlock()
	set := func(t time.Time) {
		f.mu.Lock()
		f.since[i] = t
		f.mu.Unlock()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if c, err := net.Dial("tcp", addr); err == nil {
				set(time.Now())
				go func() { <-stop; c.Close() }()
				io.Copy(io.Discard, c) // until the other side closes it
				c.Close()
				set(time.Time{})
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
}

// heldFor reports whether every holder has held its connection for at
// least d.
func (f *flood) heldFor(d time.Duration) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, t := range f.since {
		if t.IsZero() || time.Since(t) < d {
			return false
		}
	}
	return true
}

// A follower restarting while a flood holds every free slot of its relay
// and of the leader (and takes each one back when it loses it) still gets
// in: its connection takes the slot of a stranger that has said nothing
// for a while, at the relay and then at the leader, and the slot is its
// own once its hello is in. The product target is 5 s; the assertion is a
// generous guard, and the measured time is logged.
func TestFollowerReconnectsThroughAFlood(t *testing.T) {
	const leaderConns = 8
	c, log, leader, relay := twoFollowers(t, cluster.Config{MaxConns: leaderConns})

	if err := c.Exec("crash follower-1"); err != nil {
		t.Fatal(err)
	}
	// Every free slot: the relay's 16, and the leader's 7 beside
	// follower-2's. (The relay dials the leader only for a connection
	// that says something: its silent strangers take no leader slot.)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var fl flood
	for range link.DefaultMaxConns {
		fl.holder(relay, stop, &wg)
	}
	for range leaderConns - 1 {
		fl.holder(leader, stop, &wg)
	}
	defer func() { close(stop); wg.Wait() }()
	// Wait for the strangers to settle in their slots: each holds one now,
	// and has for a connection's grace to say hello (the relay's
	// EvictAfter, and a fifth of the leader's handshake timeout).
	grace := max(link.DefaultEvictAfter, ship.DefaultHandshakeTimeout/5)
	settle := time.Now().Add(30 * time.Second)
	for !fl.heldFor(grace) {
		if time.Now().After(settle) {
			t.Fatal("the flood did not settle in 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}

	mark := len(log.list())
	start := time.Now()
	if err := c.Exec("restart follower-1"); err != nil {
		t.Fatal(err)
	}
	deadline := start.Add(30 * time.Second)
	for {
		for _, e := range log.list()[mark:] {
			if e.Kind == cluster.EvConnect && e.Follower == "follower-1" {
				t.Logf("follower-1 connected %v after its restart, through a flood of %d + %d connections",
					time.Since(start).Round(time.Millisecond), link.DefaultMaxConns, leaderConns-1)
				c.Put([]byte("after"), []byte("flood"))
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if err := c.WaitConverged(ctx); err != nil {
					t.Fatal(err)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower-1 not connected 30s after its restart: %+v", c.Snapshot(^uint64(0)).Followers[0])
		}
		time.Sleep(time.Millisecond)
	}
}
