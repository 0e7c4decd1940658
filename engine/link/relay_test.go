package link

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"walship/engine/clock"

	"walship/engine/wal"
	"walship/engine/wire"
)

// Frames go through unchanged both ways, and the counters see them.
func TestForwardBothWays(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	h.waitEvent(EventConnect, "")

	hello := wire.AppendFrame(nil, wire.KindHello, wire.Hello{Magic: wire.Magic, Version: wire.Version, Start: 42, Name: "follower-1"}.Encode())
	mustWrite(t, f, hello)
	lr := wire.NewReader(l, 0)
	fr, raw := readFrame(t, l, lr)
	if fr.Kind != wire.KindHello || !bytes.Equal(raw, hello) {
		t.Fatalf("leader got %v %x, want hello %x", fr.Kind, raw, hello)
	}

	frr := wire.NewReader(f, 0)
	var sent []byte
	lsn := wal.LSN(0)
	for i := range 50 {
		var d []byte
		d, lsn = dataFrame(lsn, 1+i%3, 10*i)
		sent = append(sent, d...)
		mustWrite(t, l, d)
	}
	var got []byte
	for range 50 {
		fr, raw := readFrame(t, f, frr)
		if fr.Kind != wire.KindData {
			t.Fatalf("follower got %v", fr.Kind)
		}
		if err := checkRecords(fr.Payload); err != nil {
			t.Fatal(err)
		}
		got = append(got, raw...)
	}
	if !bytes.Equal(got, sent) {
		t.Fatal("follower got different bytes than the leader sent")
	}

	// The counters move just after the write: poll.
	eventually(t, "status counters", func() bool {
		st := h.relay.Status()
		// (connect's hello, then the test's)
		return st.Connected && st.Frames == 52 && st.BytesUp == 2*uint64(len(hello)) && st.BytesDown == uint64(len(sent))
	})
	st := h.relay.Status()
	if st.Addr != h.relay.Addr() {
		t.Fatalf("status addr %q, relay addr %q", st.Addr, h.relay.Addr())
	}
}

// Under heavy jitter frames still arrive in the order they were sent, in
// both directions at once.
func TestOrderKeptUnderJitter(t *testing.T) {
	h := newHarness(t, Options{Seed: 7})
	h.relay.SetLatency(2*time.Millisecond, 40*time.Millisecond)
	f, l := h.connect()
	const n = 400
	go func() {
		lsn := wal.LSN(0)
		for range n {
			var d []byte
			d, lsn = dataFrame(lsn, 1, 8)
			if !mustWrite(t, l, d) {
				return
			}
		}
	}()
	go func() {
		for i := range n {
			if !mustWrite(t, f, statusFrame(wal.LSN(i+1), 0)) {
				return
			}
		}
	}()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rd := wire.NewReader(l, 0)
		l.SetReadDeadline(time.Now().Add(wait))
		for i := range n {
			fr, err := rd.Next()
			if err != nil {
				t.Errorf("leader read: %v", err)
				return
			}
			s, err := wire.DecodeStatus(fr.Payload)
			if err != nil || s.Write != wal.LSN(i+1) {
				t.Errorf("status %d: got %+v (%v)", i, s, err)
				return
			}
		}
	}()
	// Meanwhile, what InFlight reports is in order too: ids rising,
	// arrivals never earlier than the frame before in that direction.
	wg.Add(1)
	stop := make(chan struct{})
	go func() {
		defer wg.Done()
		var fl []InFlight
		for {
			select {
			case <-stop:
				return
			default:
			}
			fl, _ = h.relay.InFlight(fl[:0])
			var last [2]InFlight
			for i, x := range fl {
				if i > 0 && x.ID <= fl[i-1].ID {
					t.Errorf("in flight ids out of order: %d after %d", x.ID, fl[i-1].ID)
					return
				}
				if p := last[x.Dir]; p.ID != 0 && x.Arrive < p.Arrive {
					t.Errorf("%v frame %d arrives at %v, before frame %d at %v", x.Dir, x.ID, x.Arrive, p.ID, p.Arrive)
					return
				}
				last[x.Dir] = x
			}
			time.Sleep(time.Millisecond)
		}
	}()
	rd := wire.NewReader(f, 0)
	next := wal.LSN(0)
	for i := range n {
		fr, _ := readFrame(t, f, rd)
		first, end, err := wire.DataRange(fr.Payload)
		if err != nil || first != next {
			t.Fatalf("data frame %d starts at %s, want %s (%v)", i, first, next, err)
		}
		next = end
	}
	close(stop)
	wg.Wait()
}

// No frame is delivered before its latency has passed in world time. Only
// lower bounds are checked: machines are noisy.
func TestLatencyLowerBound(t *testing.T) {
	clk := clock.NewWorld()
	clk.SetSpeed(4)
	h := newHarness(t, Options{Clock: clk, Seed: 3})
	const lat = 200 * time.Millisecond
	h.relay.SetLatency(lat, 50*time.Millisecond)
	f, l := h.connect()
	const n = 20
	go func() {
		for i := range n {
			if !mustWrite(t, l, keepaliveFrame(wal.LSN(i), clk.Now())) ||
				!mustWrite(t, f, statusFrame(wal.LSN(i), clk.Now())) {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	check := func(c net.Conn, decode func([]byte) (time.Duration, error)) {
		rd := wire.NewReader(c, 0)
		c.SetReadDeadline(time.Now().Add(wait))
		for range n {
			fr, err := rd.Next()
			if err != nil {
				t.Errorf("read: %v", err)
				return
			}
			now := clk.Now()
			sent, err := decode(fr.Payload)
			if err != nil {
				t.Error(err)
				return
			}
			if now-sent < lat {
				t.Errorf("%v frame arrived after %v, latency is %v", fr.Kind, now-sent, lat)
			}
		}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		check(l, func(p []byte) (time.Duration, error) {
			s, err := wire.DecodeStatus(p)
			return time.Duration(s.TimeNS), err
		})
	}()
	check(f, func(p []byte) (time.Duration, error) {
		k, err := wire.DecodeKeepalive(p)
		return time.Duration(k.TimeNS), err
	})
	wg.Wait()
}

// CorruptNext corrupts exactly the armed number of data frames: the
// receiver's CRC check fails on them, later frames are intact, and frames
// of other kinds are left alone.
func TestCorruptNext(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	h.relay.CorruptNext(2)
	h.relay.CorruptNext(1) // adds up: 3
	if st := h.relay.Status(); st.CorruptArmed != 3 {
		t.Fatalf("armed %d, want 3", st.CorruptArmed)
	}
	go func() {
		lsn := wal.LSN(0)
		for range 10 {
			var d []byte
			d, lsn = dataFrame(lsn, 2, 20)
			if !mustWrite(t, l, keepaliveFrame(lsn, 0)) || !mustWrite(t, l, d) {
				return
			}
		}
	}()
	rd := wire.NewReader(f, 0)
	bad := 0
	for i := range 20 {
		fr, _ := readFrame(t, f, rd)
		if fr.Kind == wire.KindKeepalive {
			if _, err := wire.DecodeKeepalive(fr.Payload); err != nil {
				t.Fatalf("keepalive %d: %v", i, err)
			}
			continue
		}
		err := checkRecords(fr.Payload)
		if i/2 < 3 {
			if !errors.Is(err, wal.ErrCorrupt) {
				t.Fatalf("data frame %d: err %v, want a CRC failure", i/2, err)
			}
			bad++
		} else if err != nil {
			t.Fatalf("data frame %d after the corrupted ones: %v", i/2, err)
		}
	}
	if bad != 3 {
		t.Fatalf("%d corrupted frames, want 3", bad)
	}
	st := h.relay.Status()
	if st.CorruptArmed != 0 || st.Corrupted != 3 {
		t.Fatalf("status armed %d corrupted %d, want 0 and 3", st.CorruptArmed, st.Corrupted)
	}
	eventually(t, "3 corrupt events", func() bool { return h.countEvents(EventCorrupt) == 3 })
}

// CorruptLSN hits the frame whose range holds the LSN, and only it; frames
// already in flight can be hit too, by LSN or by id.
func TestCorruptLSN(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	var frames [][]byte
	var starts []wal.LSN
	lsn := wal.LSN(1000)
	for range 8 {
		var d []byte
		starts = append(starts, lsn)
		d, lsn = dataFrame(lsn, 3, 30)
		frames = append(frames, d)
	}
	target := starts[4] + 40 // inside frame 4, past its first record
	h.relay.CorruptLSN(target)
	if st := h.relay.Status(); st.CorruptArmed != 1 {
		t.Fatalf("armed %d, want 1", st.CorruptArmed)
	}
	rd := wire.NewReader(f, 0)
	for i, d := range frames {
		mustWrite(t, l, d)
		fr, _ := readFrame(t, f, rd)
		err := checkRecords(fr.Payload)
		if i == 4 && !errors.Is(err, wal.ErrCorrupt) {
			t.Fatalf("frame 4 holds LSN %s but passed its CRC check (%v)", target, err)
		}
		if i != 4 && err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
	}
	if e := h.waitEvent(EventCorrupt, ""); e.LSN != starts[4] {
		t.Fatalf("corrupt event at %s, want %s", e.LSN, starts[4])
	}

	// In flight: hold frames with a freeze, then corrupt two of them.
	h.clk.SetFrozen(true)
	for _, d := range frames[:4] {
		mustWrite(t, l, d)
	}
	var fl []InFlight
	eventually(t, "4 frames in flight", func() bool {
		fl, _ = h.relay.InFlight(fl[:0])
		return len(fl) == 4
	})
	h.relay.CorruptLSN(starts[1])
	if !h.relay.CorruptFrame(fl[3].ID) {
		t.Fatal("CorruptFrame found no frame")
	}
	if h.relay.CorruptFrame(12345678) {
		t.Fatal("CorruptFrame corrupted a frame that is not there")
	}
	fl, _ = h.relay.InFlight(fl[:0])
	for i, x := range fl {
		if want := i == 1 || i == 3; x.Corrupt != want {
			t.Fatalf("in flight %d corrupt %v, want %v", i, x.Corrupt, want)
		}
	}
	if st := h.relay.Status(); st.CorruptArmed != 0 {
		t.Fatalf("armed %d after corrupting in flight", st.CorruptArmed)
	}
	h.clk.SetFrozen(false)
	for i := range 4 {
		fr, _ := readFrame(t, f, rd)
		err := checkRecords(fr.Payload)
		if want := i == 1 || i == 3; want != (err != nil) {
			t.Fatalf("frame %d after unfreeze: err %v, corrupted %v", i, err, want)
		}
	}
}

// countingConn counts the reads that returned data.
type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.reads++
	}
	return n, err
}

// Sliced traffic arrives in many short pieces but still yields whole,
// identical frames.
func TestSliceKeepsFrames(t *testing.T) {
	h := newHarness(t, Options{Seed: 11})
	h.relay.SetSlice(true)
	f, l := h.connect()
	const n = 60
	var sent [][]byte
	lsn := wal.LSN(0)
	for i := range n {
		var d []byte
		d, lsn = dataFrame(lsn, 1+i%4, 100+13*i)
		sent = append(sent, d)
	}
	go func() {
		for _, d := range sent {
			if !mustWrite(t, l, d) {
				return
			}
		}
	}()
	up := statusFrame(77, 5)
	mustWrite(t, f, up)

	cc := &countingConn{Conn: f}
	f.SetReadDeadline(time.Now().Add(wait))
	rd := wire.NewReader(cc, 64<<10) // reads take all there is
	for i, want := range sent {
		_, raw, err := rd.RawNext()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(raw, want) {
			t.Fatalf("frame %d differs after slicing", i)
		}
	}
	// How many reads it took depends on scheduling (with one CPU the pieces
	// pile up before the reader runs), so only log it; that each write is
	// a small piece is checked by TestWriteSlicedPieces.
	t.Logf("%d reads for %d frames", cc.reads, n)
	lrd := wire.NewReader(l, 0)
	if _, raw := readFrame(t, l, lrd); !bytes.Equal(raw, up) {
		t.Fatal("status frame differs after slicing")
	}
	if !h.relay.Status().Slice {
		t.Fatal("status does not show slicing")
	}
}

// Cut closes both sockets and refuses new connections; Restore lets a new
// connection through.
func TestCutAndRestore(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	h.waitEvent(EventConnect, "")
	h.relay.Cut()
	expectClosed(t, f)
	expectClosed(t, l)
	h.waitEvent(EventCut, "")
	h.waitEvent(EventDisconnect, "link cut")
	eventually(t, "disconnected status", func() bool { return !h.relay.Status().Connected })
	if !h.relay.Status().Cut {
		t.Fatal("status does not show the cut")
	}

	// While cut: the dial may succeed (the relay accepts) but the
	// connection is closed at once and the leader sees nothing.
	c, err := net.Dial("tcp", h.relay.Addr())
	if err == nil {
		expectClosed(t, c)
		c.Close()
	}
	// Refused at accept: the relay never dialled the leader for it.
	h.waitEvent(EventRefused, "link cut")
	select {
	case lc := <-h.accept:
		lc.Close()
		t.Fatal("the leader got a connection while the link was cut")
	default:
	}

	h.relay.Restore()
	h.waitEvent(EventRestore, "")
	f, l = h.connect()
	mustWrite(t, l, keepaliveFrame(9, 0))
	if fr, _ := readFrame(t, f, wire.NewReader(f, 0)); fr.Kind != wire.KindKeepalive {
		t.Fatalf("got %v after restore", fr.Kind)
	}
	if st := h.relay.Status(); st.Cut || !st.Connected {
		t.Fatalf("status after restore %+v", st)
	}
}

// A hostile length prefix from either side ends that connection pair with
// an event and without allocating it; another connection on the same relay
// goes on undisturbed.
func TestHostileLength(t *testing.T) {
	for _, from := range []string{"leader", "follower"} {
		t.Run("from "+from, func(t *testing.T) {
			h := newHarness(t, Options{})
			goodF, goodL := h.connect()
			badF, badL := h.connect()
			// The relay dials the leader from its own goroutines, so the
			// leader's accepts may come in either order: pair them by
			// the status each follower sends.
			mustWrite(t, goodF, statusFrame(1, 0))
			mustWrite(t, badF, statusFrame(2, 0))
			byWrite := map[wal.LSN]net.Conn{}
			readers := map[net.Conn]*wire.Reader{}
			for _, l := range []net.Conn{goodL, badL} {
				readers[l] = wire.NewReader(l, 0)
				fr, _ := readFrame(t, l, readers[l])
				s, err := wire.DecodeStatus(fr.Payload)
				if err != nil {
					t.Fatal(err)
				}
				byWrite[s.Write] = l
			}
			goodL, badL = byWrite[1], byWrite[2]
			if goodL == nil || badL == nil {
				t.Fatal("could not pair the connections")
			}

			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			hostile := []byte{0xFF, 0xFF, 0xFF, 0xFF, byte(wire.KindData)}
			if from == "leader" {
				mustWrite(t, badL, hostile)
			} else {
				mustWrite(t, badF, hostile)
			}
			expectClosed(t, badF)
			expectClosed(t, badL)
			if from == "leader" {
				h.waitEvent(EventError, "hostile frame from leader")
			} else {
				h.waitEvent(EventRefused, "hostile frame from follower")
			}
			h.waitEvent(EventDisconnect, "hostile")
			runtime.ReadMemStats(&after)
			if grown := after.TotalAlloc - before.TotalAlloc; grown > 64<<20 {
				t.Fatalf("%d bytes allocated after a hostile length", grown)
			}

			// The good pair still works both ways.
			mustWrite(t, goodL, keepaliveFrame(5, 0))
			if fr, _ := readFrame(t, goodF, wire.NewReader(goodF, 0)); fr.Kind != wire.KindKeepalive {
				t.Fatalf("good follower got %v", fr.Kind)
			}
			mustWrite(t, goodF, statusFrame(6, 0))
			fr, _ := readFrame(t, goodL, readers[goodL])
			if s, err := wire.DecodeStatus(fr.Payload); err != nil || s.Write != 6 {
				t.Fatalf("good leader got %v %+v (%v)", fr.Kind, s, err)
			}
			if !h.relay.Status().Connected {
				t.Fatal("relay reports no connection")
			}
		})
	}
}

// While the world is frozen no frame is delivered and the connection
// stays; after the thaw every frame arrives.
func TestFreezeHoldsFrames(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	h.clk.SetFrozen(true)
	lsn := wal.LSN(0)
	for range 10 {
		var d []byte
		d, lsn = dataFrame(lsn, 1, 10)
		mustWrite(t, l, d)
	}
	mustWrite(t, f, statusFrame(3, 0))
	eventually(t, "11 frames in flight", func() bool {
		fl, _ := h.relay.InFlight(nil)
		return len(fl) == 11
	})
	// Nothing gets through while frozen (a real-time wait).
	f.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	var b [1]byte
	if n, err := f.Read(b[:]); n > 0 || !isTimeout(err) {
		t.Fatalf("follower read %d bytes (%v) while frozen", n, err)
	}
	l.SetReadDeadline(time.Now().Add(10 * time.Millisecond))
	if n, err := l.Read(b[:]); n > 0 || !isTimeout(err) {
		t.Fatalf("leader read %d bytes (%v) while frozen", n, err)
	}
	if !h.relay.Status().Connected {
		t.Fatal("connection torn by a freeze")
	}
	h.clk.SetFrozen(false)
	rd := wire.NewReader(f, 0)
	next := wal.LSN(0)
	for range 10 {
		fr, _ := readFrame(t, f, rd)
		first, end, _ := wire.DataRange(fr.Payload)
		if first != next {
			t.Fatalf("frame at %s, want %s", first, next)
		}
		next = end
	}
	if fr, _ := readFrame(t, l, wire.NewReader(l, 0)); fr.Kind != wire.KindStatus {
		t.Fatalf("leader got %v", fr.Kind)
	}
	if n := h.countEvents(EventDisconnect); n != 0 {
		t.Fatalf("%d disconnects", n)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// 100 KiB at 50 KiB/s takes at least 2 s of world time (run at speed 16).
func TestBandwidth(t *testing.T) {
	clk := clock.NewWorld()
	clk.SetSpeed(16)
	h := newHarness(t, Options{Clock: clk})
	h.relay.SetBandwidth(50 << 10)
	f, l := h.connect()
	const total = 100 << 10
	payload := make([]byte, 4<<10-wire.HeaderSize-1)
	frame := wire.AppendFrame(nil, wire.KindBackup, payload)
	start := clk.Now()
	go func() {
		for range total / len(frame) {
			if !mustWrite(t, l, frame) {
				return
			}
		}
	}()
	rd := wire.NewReader(f, 0)
	for range total / len(frame) {
		readFrame(t, f, rd)
	}
	if took := clk.Now() - start; took < 2*time.Second {
		t.Fatalf("100 KiB at 50 KiB/s took %v of world time", took)
	}
	if st := h.relay.Status(); st.Bandwidth != 50<<10 {
		t.Fatalf("status bandwidth %d", st.Bandwidth)
	}
}

// InFlight lists the oldest MaxTracked frames and counts the rest.
func TestInFlightBounded(t *testing.T) {
	ids := new(atomic.Uint64)
	ids.Store(1000)
	h := newHarness(t, Options{MaxTracked: 5, IDs: ids})
	h.relay.SetLatency(time.Second, 0)
	f, l := h.connect()
	h.clk.SetFrozen(true)
	lsn := wal.LSN(0)
	for i := range 10 {
		var d []byte
		d, lsn = dataFrame(lsn, 1, 10)
		mustWrite(t, l, d)
		mustWrite(t, f, statusFrame(wal.LSN(i), 0))
	}
	var fl []InFlight
	var omitted int
	eventually(t, "20 frames in flight", func() bool {
		fl, omitted = h.relay.InFlight(fl[:0])
		return len(fl)+omitted == 20
	})
	if len(fl) != 5 || omitted != 15 {
		t.Fatalf("listed %d omitted %d, want 5 and 15", len(fl), omitted)
	}
	for i, x := range fl {
		if x.ID <= 1000 || (i > 0 && x.ID <= fl[i-1].ID) {
			t.Fatalf("ids out of order: %+v", fl)
		}
		if x.Arrive-x.Sent != time.Second {
			t.Fatalf("frame %d: sent %v arrive %v", i, x.Sent, x.Arrive)
		}
		if x.Dir == Down && (x.Kind != wire.KindData || x.EndLSN <= x.LSN) {
			t.Fatalf("down frame %+v", x)
		}
		if x.Dir == Up && x.Kind != wire.KindStatus {
			t.Fatalf("up frame %+v", x)
		}
	}
	h.clk.SetFrozen(false)
}

// A follower that connects and sends nothing is closed after IdleTimeout;
// one that has sent a frame is not.
func TestIdleTimeout(t *testing.T) {
	h := newHarness(t, Options{IdleTimeout: 100 * time.Millisecond})
	busyF, busyL := h.connect()
	mustWrite(t, busyF, statusFrame(1, 0))
	busyLR := wire.NewReader(busyL, 0)
	readFrame(t, busyL, busyLR)
	// The idle connection's deadline was set after every deadline of the
	// busy one, so once it has run out theirs would have too: a deadline
	// still set on the busy follower's side would now fail every read, and
	// the frames below would not get through.
	idleF := h.dial()
	expectClosed(t, idleF)
	h.waitEvent(EventDisconnect, "idle")
	mustWrite(t, busyF, statusFrame(2, 0))
	readFrame(t, busyL, busyLR)
	mustWrite(t, busyL, keepaliveFrame(1, 0))
	readFrame(t, busyF, wire.NewReader(busyF, 0))
	if n := h.countEvents(EventDisconnect); n != 1 {
		t.Fatalf("%d disconnects, want only the idle one: %v", n, h.eventList())
	}
}

// A leader that refuses and closes still gets its refusal through: the
// relay delivers what is in flight before it closes the follower's side.
func TestDrainBeforeClose(t *testing.T) {
	h := newHarness(t, Options{})
	h.relay.SetLatency(50*time.Millisecond, 0)
	f, l := h.connect()
	mustWrite(t, l, wire.AppendFrame(nil, wire.KindRefuse, wire.Refuse{Code: wire.RefuseWALRemoved, Reason: "gone"}.Encode()))
	l.Close()
	rd := wire.NewReader(f, 0)
	fr, _ := readFrame(t, f, rd)
	if r, err := wire.DecodeRefuse(fr.Payload); err != nil || r.Reason != "gone" {
		t.Fatalf("got %v %q (%v)", fr.Kind, fr.Payload, err)
	}
	expectClosed(t, f)
	h.waitEvent(EventDisconnect, "leader closed")
}

// A leader that cannot be reached gives an error event and the follower's
// connection is closed.
func TestDialFailure(t *testing.T) {
	h := newHarness(t, Options{})
	h.ln.Close() // nobody listens at the target any more
	c, err := net.Dial("tcp", h.relay.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	mustWrite(t, c, statusFrame(1, 0)) // the relay dials once the follower says something
	expectClosed(t, c)
	h.waitEvent(EventError, "dial leader")
}

// After Close no goroutine of the relay is left, whatever it was doing.
func TestNoLeakAfterClose(t *testing.T) {
	base := runtime.NumGoroutine()
	func() {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		r, err := New(Options{Target: ln.Addr().String(), OnEvent: func(Event) {}})
		if err != nil {
			t.Fatal(err)
		}
		r.SetLatency(time.Hour, 0) // frames wait in flight
		var conns []net.Conn
		for range 3 {
			f, err := net.Dial("tcp", r.Addr())
			if err != nil {
				t.Fatal(err)
			}
			mustWrite(t, f, statusFrame(1, 0))
			l, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			conns = append(conns, f, l)
			mustWrite(t, l, keepaliveFrame(1, 0))
		}
		eventually(t, "frames in flight", func() bool {
			fl, _ := r.InFlight(nil)
			return len(fl) == 6
		})
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		for _, c := range conns {
			expectClosed(t, c)
			c.Close()
		}
	}()
	eventually(t, "goroutines back to baseline", func() bool {
		return runtime.NumGoroutine() <= base
	})
}

// Lifting a bandwidth limit re-stamps the frames still waiting for the
// link: a backlog of 100 s at the old rate is delivered at once.
func TestBandwidthLifted(t *testing.T) {
	h := newHarness(t, Options{})
	h.relay.SetBandwidth(1000)
	f, l := h.connect()
	frame := wire.AppendFrame(nil, wire.KindBackup, make([]byte, 1000-wire.HeaderSize-1))
	const n = 100
	for range n {
		mustWrite(t, l, frame)
	}
	var fl []InFlight
	eventually(t, "the backlog in flight", func() bool {
		fl, _ = h.relay.InFlight(fl[:0])
		return len(fl) == n
	})
	if last := fl[n-1]; last.Arrive-h.clk.Now() < 90*time.Second {
		t.Fatalf("last frame arrives at %v, now %v: no backlog", last.Arrive, h.clk.Now())
	}
	h.relay.SetBandwidth(0)
	rd := wire.NewReader(f, 0)
	for range n {
		readFrame(t, f, rd) // within the test's wait, far less than 100 s
	}
}

// writeRecorder is a net.Conn that records the size of each write.
type writeRecorder struct {
	net.Conn
	sizes []int
	data  []byte
}

func (w *writeRecorder) Write(b []byte) (int, error) {
	w.sizes = append(w.sizes, len(b))
	w.data = append(w.data, b...)
	return len(b), nil
}

// Slicing writes every frame in pieces of 1..16 bytes, each its own write.
func TestWriteSlicedPieces(t *testing.T) {
	rec := &writeRecorder{}
	p := &pipe{dst: rec}
	frame, _ := dataFrame(0, 3, 200)
	if err := p.writeSliced(frame, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rec.data, frame) {
		t.Fatal("sliced bytes differ")
	}
	seen := map[int]bool{}
	for _, n := range rec.sizes {
		if n < 1 || n > 16 {
			t.Fatalf("a write of %d bytes", n)
		}
		seen[n] = true
	}
	if len(rec.sizes) < len(frame)/16 || len(seen) < 8 {
		t.Fatalf("%d writes of %d distinct sizes for %d bytes", len(rec.sizes), len(seen), len(frame))
	}
}
