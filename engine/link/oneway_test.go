package link

import (
	"testing"

	"walship/engine/wal"
	"walship/engine/wire"
)

// A one-way cut toward the follower loses the leader's frames, keeps the
// connection up and lets the follower's status through; Restore ends it.
func TestCutOneWayDown(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	h.relay.CutOneWay(Down)
	if st := h.relay.Status(); !st.LoseDown || st.LoseUp || st.Cut {
		t.Fatalf("status %+v, want LoseDown only", st)
	}
	h.waitEvent(EventOneWay, "leader's frames")

	var lsn wal.LSN
	for range 3 {
		var d []byte
		d, lsn = dataFrame(lsn, 1, 10)
		mustWrite(t, l, d)
	}
	mustWrite(t, l, keepaliveFrame(lsn, 0))
	eventually(t, "4 frames lost", func() bool { return h.relay.Status().Lost == 4 })

	// The other way still works, on the same connection.
	mustWrite(t, f, statusFrame(0, 0))
	fr, _ := readFrame(t, l, wire.NewReader(l, 0))
	if fr.Kind != wire.KindStatus {
		t.Fatalf("leader got a %s frame, want the status", fr.Kind)
	}

	h.relay.Restore()
	if st := h.relay.Status(); st.LoseDown || st.LoseUp {
		t.Fatalf("after Restore: %+v", st)
	}
	d, end := dataFrame(lsn, 1, 10)
	mustWrite(t, l, d)
	fr, _ = readFrame(t, f, wire.NewReader(f, 0))
	if first, _, _ := wire.DataRange(fr.Payload); fr.Kind != wire.KindData || first != lsn {
		t.Fatalf("follower got %s at %s first, want the data frame at %s sent after the restore (..%s)", fr.Kind, first, lsn, end)
	}
	if st := h.relay.Status(); st.Lost != 4 || st.BytesDown != uint64(len(d)) {
		t.Fatalf("lost %d, bytes down %d; want 4 and %d", st.Lost, st.BytesDown, len(d))
	}
}

// A one-way cut from the follower loses its status, and frames already in
// flight that way are lost too; the leader's frames go on arriving.
func TestCutOneWayUp(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	h.clk.SetFrozen(true) // hold a status in flight
	mustWrite(t, f, statusFrame(1, 0))
	var fl []InFlight
	eventually(t, "the status in flight", func() bool {
		fl, _ = h.relay.InFlight(fl[:0])
		return len(fl) == 1
	})
	h.relay.CutOneWay(Up)
	fl, _ = h.relay.InFlight(fl[:0])
	if len(fl) != 1 || !fl[0].Lost {
		t.Fatalf("in flight after the cut: %+v, want the status marked lost", fl)
	}
	h.clk.SetFrozen(false)
	mustWrite(t, f, statusFrame(2, 0))
	eventually(t, "2 frames lost", func() bool { return h.relay.Status().Lost == 2 })

	d, _ := dataFrame(0, 1, 10)
	mustWrite(t, l, d)
	if fr, _ := readFrame(t, f, wire.NewReader(f, 0)); fr.Kind != wire.KindData {
		t.Fatalf("follower got a %s frame, want data", fr.Kind)
	}
	h.relay.Restore()
	mustWrite(t, f, statusFrame(3, 0))
	fr, _ := readFrame(t, l, wire.NewReader(l, 0))
	st, err := wire.DecodeStatus(fr.Payload)
	if err != nil || st.Write != 3 {
		t.Fatalf("leader's first status after the restore: %+v %v, want write 3", st, err)
	}
}

// Drops take exactly the data frames they name, by LSN (armed, or in
// flight) and next; the frames around them arrive.
func TestDrop(t *testing.T) {
	h := newHarness(t, Options{})
	f, l := h.connect()
	var frames [][]byte
	var starts []wal.LSN
	lsn := wal.LSN(100)
	for range 6 {
		var d []byte
		starts = append(starts, lsn)
		d, lsn = dataFrame(lsn, 2, 20)
		frames = append(frames, d)
	}
	h.relay.DropLSN(starts[1] + 30) // inside frame 1
	h.relay.DropNext(1)             // frame 0, the next one
	if st := h.relay.Status(); st.DropArmed != 2 {
		t.Fatalf("armed %d, want 2", st.DropArmed)
	}
	rd := wire.NewReader(f, 0)
	for _, d := range frames[:3] {
		mustWrite(t, l, d)
	}
	fr, _ := readFrame(t, f, rd)
	if first, _, _ := wire.DataRange(fr.Payload); first != starts[2] {
		t.Fatalf("first frame to arrive starts at %s, want %s (frames 0 and 1 dropped)", first, starts[2])
	}
	if n := h.countEvents(EventDrop); n > 2 {
		t.Fatalf("%d drop events, want 2", n)
	}
	eventually(t, "2 drop events", func() bool { return h.countEvents(EventDrop) == 2 })

	// In flight: frozen, then dropped by LSN and by id.
	h.clk.SetFrozen(true)
	for _, d := range frames[3:] {
		mustWrite(t, l, d)
	}
	var fl []InFlight
	eventually(t, "3 frames in flight", func() bool {
		fl, _ = h.relay.InFlight(fl[:0])
		return len(fl) == 3
	})
	h.relay.DropLSN(starts[3])
	if !h.relay.DropFrame(fl[2].ID) {
		t.Fatal("DropFrame found no frame")
	}
	if h.relay.DropFrame(fl[2].ID) {
		t.Fatal("DropFrame dropped a frame twice")
	}
	fl, _ = h.relay.InFlight(fl[:0])
	for i, x := range fl {
		if want := i != 1; x.Lost != want {
			t.Fatalf("in flight %d lost %v, want %v", i, x.Lost, want)
		}
	}
	h.clk.SetFrozen(false)
	fr, _ = readFrame(t, f, rd)
	if first, _, _ := wire.DataRange(fr.Payload); first != starts[4] {
		t.Fatalf("frame after unfreeze starts at %s, want %s", first, starts[4])
	}
	eventually(t, "4 lost", func() bool { return h.relay.Status().Lost == 4 })
}
