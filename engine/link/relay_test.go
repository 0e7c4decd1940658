package link

import (
	"bytes"
	"testing"

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
		return st.Connected && st.Frames == 51 && st.BytesUp == uint64(len(hello)) && st.BytesDown == uint64(len(sent))
	})
	st := h.relay.Status()
	if st.Addr != h.relay.Addr() {
		t.Fatalf("status addr %q, relay addr %q", st.Addr, h.relay.Addr())
	}
}
