package ship

import (
	"net"
	"testing"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

// A client that completes the handshake as a known follower and then
// reports a flush far past anything it was sent is dropped with the
// reason as an event, and releases no commit.
func TestForgedStatusRejected(t *testing.T) {
	ev := &hostileEvents{}
	p, err := StartLeader(LeaderConfig{
		Dir: t.TempDir(), SegmentSize: hostileSeg, NoSync: true, OnEvent: ev.add,
		Sync: replica.SyncRule{Mode: replica.SyncOn, N: 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	end, err := p.Append(wal.OpSet, []byte("k"), []byte("v"))
	if err != nil {
		t.Fatal(err)
	}
	released := make(chan bool, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() { released <- p.WaitCommit(end, stop) }()

	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(helloFrame(wire.Magic, wire.Version, 0, "follower-1"))
	st := wire.Status{Write: 1<<63 - 1, Flush: 1<<63 - 1, Replay: 1<<63 - 1}
	if err := wire.WriteFrame(c, wire.KindStatus, st.Encode()); err != nil {
		t.Fatal(err)
	}
	e := ev.wait(t, replica.EvRefused, "rejected: status reports write 7FFFFFFF/FFFFFFFF, past")
	ev.wait(t, replica.EvDisconnect, "rejected")
	t.Log(e.Text)
	// The connection is dropped...
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	fr := wire.NewReader(c, 0)
	for {
		if _, err := fr.Next(); err != nil {
			break
		}
	}
	// ...and nothing of the report counts: not its positions, not for the
	// commit.
	for _, ps := range p.Followers() {
		if ps.Flush > end {
			t.Fatalf("the leader took the forged flush: %+v", ps)
		}
	}
	if p.Released(end) {
		t.Fatal("the forged report released a commit")
	}
	select {
	case <-released:
		t.Fatal("WaitCommit returned")
	default:
	}
}

// waitPeer polls until the leader's view of follower name passes ok.
func waitPeer(t *testing.T, p *Leader, name string, ok func(replica.Row) bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		for _, ps := range p.Followers() {
			if ps.Name == name && ok(ps) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: condition not reached: %+v", name, p.Followers())
		}
		time.Sleep(time.Millisecond)
	}
}

// scriptedFollower is a follower whose reports a test writes: it does the
// handshake and reads what the leader sends.
type scriptedFollower struct {
	c  net.Conn
	fr *wire.Reader
}

func dialScripted(t *testing.T, p *Leader, name string) *scriptedFollower {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.Write(helloFrame(wire.Magic, wire.Version, 0, name))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	fr := wire.NewReader(c, 0)
	if f, err := fr.Next(); err != nil || f.Kind != wire.KindWelcome {
		t.Fatalf("%v %v", f.Kind, err)
	}
	return &scriptedFollower{c, fr}
}

// receive reads until it has been sent WAL up to end.
func (f *scriptedFollower) receive(t *testing.T, end wal.LSN) {
	t.Helper()
	for got := wal.LSN(0); got < end; {
		fr, err := f.fr.Next()
		if err != nil {
			t.Fatal(err)
		}
		if fr.Kind == wire.KindData {
			_, got, _ = wire.DataRange(fr.Payload)
		}
	}
}

func (f *scriptedFollower) report(t *testing.T, st wire.Status) {
	t.Helper()
	if err := wire.WriteFrame(f.c, wire.KindStatus, st.Encode()); err != nil {
		t.Fatal(err)
	}
}

// A follower that confirmed a commit and then stopped does not count
// toward ANY 2 when another follower confirms it later: only streaming
// followers count, as in PostgreSQL. Once it is back and streaming, the
// commit is released.
func TestStoppedFollowerDoesNotConfirm(t *testing.T) {
	for _, mode := range []replica.SyncMode{replica.SyncRemoteWrite, replica.SyncOn, replica.SyncRemoteApply} {
		t.Run(mode.String(), func(t *testing.T) {
			p, err := StartLeader(LeaderConfig{
				Dir: t.TempDir(), SegmentSize: hostileSeg, NoSync: true,
				Sync: replica.SyncRule{Mode: mode, N: 2},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			start := func(dir string) *Follower {
				s, err := StartFollower(FollowerConfig{
					Name: "follower-2", Dir: dir, Leader: p.Addr(), SegmentSize: hostileSeg, NoSync: true,
					StatusInterval: 10 * time.Millisecond,
				})
				if err != nil {
					t.Fatal(err)
				}
				return s
			}
			f1 := dialScripted(t, p, "follower-1") // confirms when told
			dir2 := t.TempDir()
			f2 := start(dir2)

			end, err := p.Append(wal.OpSet, []byte("k"), []byte("v"))
			if err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			released := make(chan bool, 1)
			go func() { released <- p.WaitCommit(end, stop) }()
			confirmed := func(ps replica.Row) bool {
				return map[replica.SyncMode]wal.LSN{replica.SyncRemoteWrite: ps.Write, replica.SyncOn: ps.Flush, replica.SyncRemoteApply: ps.Replay}[mode] >= end
			}
			waitPeer(t, p, "follower-2", confirmed)
			if err := f2.Close(); err != nil {
				t.Fatal(err)
			}
			waitPeer(t, p, "follower-2", func(ps replica.Row) bool { return !ps.Connected })
			// follower-1 confirms now; follower-2's last report still
			// says it had, but it is stopped.
			f1.receive(t, end)
			f1.report(t, wire.Status{Write: end, Flush: end, Replay: end})
			waitPeer(t, p, "follower-1", confirmed)
			if p.Released(end) {
				t.Fatalf("%s ANY 2 released with follower-2 stopped", mode)
			}
			select {
			case <-released:
				t.Fatal("WaitCommit returned")
			default:
			}
			// Back and streaming: released.
			f2 = start(dir2)
			defer f2.Close()
			select {
			case ok := <-released:
				if !ok {
					t.Fatal("WaitCommit gave up")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("commit not released after follower-2 came back")
			}
		})
	}
}
