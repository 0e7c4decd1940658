package ship

import (
	"fmt"
	"net"
	"testing"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

func peerConnected(p *Leader, name string) bool {
	for _, ps := range p.Followers() {
		if ps.Name == name {
			return ps.Connected
		}
	}
	return false
}

// TestReconnectSameName: a follower that drops and comes straight back
// under the same name (a crash and restart, an impostor) while the leader
// is still reporting the first disconnect. Under -race this caught
// disconnected reading the peer's flush LSN outside the lock: the event
// callback holds the old connection's goroutine right after that read
// until the new connection is in.
func TestReconnectSameName(t *testing.T) {
	release := make(chan struct{})
	p, err := StartLeader(LeaderConfig{
		Dir: t.TempDir(), SegmentSize: hostileSeg, NoSync: true,
		OnEvent: func(e replica.Event) {
			if e.Kind == replica.EvDisconnect {
				<-release
			}
		},
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
		c.Write(helloFrame(wire.Magic, wire.Version, 0, "stray-1"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if f, err := wire.NewReader(c, 0).Next(); err != nil || f.Kind != wire.KindWelcome {
			t.Fatalf("%v %v", f.Kind, err)
		}
		return c
	}
	waitConnected := func(want bool) {
		deadline := time.Now().Add(5 * time.Second)
		for peerConnected(p, "stray-1") != want {
			if time.Now().After(deadline) {
				t.Fatalf("stray-1 connected is not %v", want)
			}
			time.Sleep(time.Millisecond)
		}
	}
	c := dial()
	for range 5 {
		c.Close()
		waitConnected(false) // the old goroutine is now in (or about to be in) OnEvent
		c = dial()
		waitConnected(true)
		release <- struct{}{}
	}
	c.Close()
	close(release)
}

// TestReconnectKeepsReportedFlush: a follower's hello gives the end of its
// log, which may hold bytes it has not fsynced. Until its status says
// otherwise the leader must not count them as flushed on it, or a
// synchronous commit could be acknowledged before it is durable there.
func TestReconnectKeepsReportedFlush(t *testing.T) {
	p, err := StartLeader(LeaderConfig{Dir: t.TempDir(), SegmentSize: hostileSeg, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	var end wal.LSN
	for i := range 10 {
		if end, err = p.Append(wal.OpSet, fmt.Appendf(nil, "k%d", i), []byte("v")); err != nil {
			t.Fatal(err)
		}
	}
	for p.Flushed() < end {
		time.Sleep(time.Millisecond)
	}
	peerFlush := func() wal.LSN {
		for _, ps := range p.Followers() {
			if ps.Name == "stray-1" {
				return ps.Flush
			}
		}
		return 0
	}
	dial := func(start wal.LSN) (net.Conn, *wire.Reader) {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		c.Write(helloFrame(wire.Magic, wire.Version, start, "stray-1"))
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		fr := wire.NewReader(c, 0)
		if f, err := fr.Next(); err != nil || f.Kind != wire.KindWelcome {
			t.Fatalf("%v %v", f.Kind, err)
		}
		return c, fr
	}
	c, fr := dial(0)
	// It receives everything (a status reporting more than it was sent
	// would be rejected), writes it, fsyncs nothing, and says so.
	for got := wal.LSN(0); got < end; {
		f, err := fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if f.Kind == wire.KindData {
			_, got, _ = wire.DataRange(f.Payload)
		}
	}
	st := wire.Status{Write: end, Flush: 0, Replay: 0}
	if err := wire.WriteFrame(c, wire.KindStatus, st.Encode()); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ps := p.Followers()
		if len(ps) == 1 && ps[0].Write == end {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("status not taken")
		}
		time.Sleep(time.Millisecond)
	}
	c.Close()
	for peerConnected(p, "stray-1") {
		time.Sleep(time.Millisecond)
	}
	// Back, streaming from the end of what it wrote.
	c, _ = dial(end)
	defer c.Close()
	for !peerConnected(p, "stray-1") {
		time.Sleep(time.Millisecond)
	}
	if f := peerFlush(); f != 0 {
		t.Fatalf("after reconnecting from %v the leader counts %v as flushed; the follower said 0", end, f)
	}
}
