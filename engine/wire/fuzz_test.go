package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"walship/engine/wal"
)

// seedStream is a well-formed exchange of every frame kind, back to back.
func seedStream() []byte {
	var b []byte
	b = AppendFrame(b, KindHello, Hello{Magic: Magic, Version: Version, Start: 42, Name: "follower-1"}.Encode())
	b = AppendFrame(b, KindWelcome, Welcome{Flushed: 100, SegmentSize: 1 << 20, Oldest: 0}.Encode())
	rec := wal.AppendRecord(nil, wal.Record{LSN: 42, Op: wal.OpSet, Key: []byte("k"), Value: []byte("v")})
	data := AppendDataHeader(nil, 42, 42+wal.LSN(len(rec)))
	b = AppendFrame(b, KindData, append(data, rec...))
	b = AppendFrame(b, KindKeepalive, Keepalive{Flushed: 100, TimeNS: 7, Reply: true}.Encode())
	b = AppendFrame(b, KindStatus, Status{Write: 3, Flush: 2, Replay: 1, TimeNS: 9}.Encode())
	b = AppendFrame(b, KindResend, EncodeResend(42))
	b = AppendFrame(b, KindBackupReq, nil)
	b = AppendFrame(b, KindBackup, BackupChunk{LSN: 5, Offset: 0, Total: 3, Last: true, Data: []byte("abc")}.Encode())
	b = AppendFrame(b, KindRefuse, Refuse{Code: RefuseBadMagic, Reason: "no"}.Encode())
	return b
}

// FuzzReader feeds the frame reader an arbitrary stream, read in one go and
// one byte at a time. It must never panic, never allocate more than the
// frame it was actually sent (and never more than MaxFrameSize), stop with
// one of its documented errors, and hand back frames that re-encode to
// exactly the bytes read. Every payload decoder is run on every frame.
func FuzzReader(f *testing.F) {
	f.Add(seedStream())
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0})
	f.Add([]byte{0, 0x10, 0, 0, 'W'})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"))
	f.Add(seedStream()[:23])
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, oneByte := range []bool{false, true} {
			var src io.Reader = bytes.NewReader(in)
			if oneByte {
				src = iotest.OneByteReader(src)
			}
			fr := NewReader(src, 16)
			var again []byte
			for {
				f, raw, err := fr.RawNext()
				if cap(fr.buf) > HeaderSize+MaxFrameSize {
					t.Fatalf("buffer grew to %d bytes", cap(fr.buf))
				}
				if cap(fr.buf) > 2*len(in)+4096 {
					t.Fatalf("buffer of %d bytes for a %d-byte stream", cap(fr.buf), len(in))
				}
				if err != nil {
					switch {
					case err == io.EOF, err == io.ErrUnexpectedEOF, errors.Is(err, ErrFrameTooLarge):
					default:
						t.Fatalf("unexpected error: %v", err)
					}
					if err == io.EOF && len(again) != len(in) {
						t.Fatalf("clean EOF after %d of %d bytes", len(again), len(in))
					}
					break
				}
				if f.Size() != len(raw) || f.Size() > HeaderSize+MaxFrameSize {
					t.Fatalf("frame size %d, raw %d", f.Size(), len(raw))
				}
				again = AppendFrame(again, f.Kind, f.Payload)
				checkPayload(t, f)
			}
			if !bytes.HasPrefix(in, again) {
				t.Fatalf("frames read do not re-encode to the input")
			}
		}
	})
}

// FuzzReaderInto: RawNextInto reads the same frames, with the same errors,
// as RawNext, into the buffers it is given.
func FuzzReaderInto(f *testing.F) {
	f.Add(seedStream())
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0, 0, 0, 0})
	f.Add(seedStream()[:23])
	f.Fuzz(func(t *testing.T, in []byte) {
		want := NewReader(bytes.NewReader(in), 16)
		got := NewReader(iotest.OneByteReader(bytes.NewReader(in)), 16)
		for {
			wf, wraw, werr := want.RawNext()
			var buf []byte
			gf, graw, gerr := got.RawNextInto(func(n int) []byte {
				buf = make([]byte, n, n+7)
				return buf
			})
			if (werr == nil) != (gerr == nil) || werr != nil && werr.Error() != gerr.Error() {
				t.Fatalf("RawNext error %v, RawNextInto %v", werr, gerr)
			}
			if werr != nil {
				return
			}
			if !bytes.Equal(wraw, graw) || wf.Kind != gf.Kind || !bytes.Equal(wf.Payload, gf.Payload) {
				t.Fatalf("RawNext read %x, RawNextInto %x", wraw, graw)
			}
			if &graw[0] != &buf[0] {
				t.Fatal("RawNextInto did not read into the buffer it was given")
			}
		}
	})
}

// checkPayload runs the decoder of f's kind (and FrameLSN) and checks what
// a decoded value promises.
func checkPayload(t *testing.T, f Frame) {
	t.Helper()
	p := f.Payload
	FrameLSN(f)
	switch f.Kind {
	case KindHello:
		checkHello(t, p)
	case KindWelcome:
		if w, err := DecodeWelcome(p); err == nil && !bytes.Equal(w.Encode(), p) {
			t.Fatalf("welcome does not round-trip")
		}
	case KindRefuse:
		if r, err := DecodeRefuse(p); err == nil && !bytes.Equal(r.Encode(), p) {
			t.Fatalf("refuse does not round-trip")
		}
	case KindKeepalive:
		if k, err := DecodeKeepalive(p); err == nil && k.Reply != (p[16] != 0) {
			t.Fatalf("keepalive reply")
		}
	case KindStatus:
		if s, err := DecodeStatus(p); err == nil && binary.BigEndian.Uint64(p[8:]) != uint64(s.Flush) {
			t.Fatalf("status flush")
		}
	case KindResend:
		if l, err := DecodeResend(p); err == nil && !bytes.Equal(EncodeResend(l), p) {
			t.Fatalf("resend does not round-trip")
		}
	case KindBackup:
		checkBackup(t, p)
	case KindData:
		if first, end, err := DataRange(p); err == nil {
			_ = first <= end
			q := append([]byte(nil), p...)
			if CorruptData(q) && bytes.Equal(q, p) {
				t.Fatalf("CorruptData reported a change it did not make")
			}
		}
	}
}

func checkHello(t *testing.T, p []byte) {
	t.Helper()
	h, err := DecodeHello(p)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("hello error not ErrMalformed: %v", err)
		}
		return
	}
	if len(h.Name) == 0 || len(h.Name) > MaxNameLen {
		t.Fatalf("hello name of %d bytes accepted", len(h.Name))
	}
	if !bytes.Equal(h.Encode(), p) {
		t.Fatalf("hello does not round-trip: % x", p)
	}
}

func checkBackup(t *testing.T, p []byte) {
	t.Helper()
	c, err := DecodeBackupChunk(p)
	if err != nil {
		if !errors.Is(err, ErrMalformed) {
			t.Fatalf("backup error not ErrMalformed: %v", err)
		}
		return
	}
	// What a follower relies on: the chunk lies inside [0, Total).
	if c.Offset < 0 || c.Total < 0 || c.Offset > c.Total || int64(len(c.Data)) > c.Total-c.Offset {
		t.Fatalf("backup chunk at %d+%d of %d accepted", c.Offset, len(c.Data), c.Total)
	}
	q := append([]byte(nil), p...)
	q[24] = boolByte(q[24] != 0) // any non-zero byte means last
	if !bytes.Equal(c.Encode(), q) {
		t.Fatalf("backup chunk does not round-trip")
	}
}

// FuzzDecodeHello is the handshake decoder alone: whatever a stranger says
// first, DecodeHello either refuses it as malformed or returns a Hello that
// encodes back to the same bytes, with a name of 1..MaxNameLen bytes.
func FuzzDecodeHello(f *testing.F) {
	f.Add(Hello{Magic: Magic, Version: Version, Start: 42, Name: "follower-1"}.Encode())
	f.Add(Hello{Magic: Magic, Version: Version, Flags: HelloWantBackup, Name: "x"}.Encode())
	f.Add(Hello{Magic: 0xdeadbeef, Version: 9, Name: "f\x00\xff"}.Encode())
	long := Hello{Magic: Magic, Version: Version, Name: string(bytes.Repeat([]byte("n"), 255))}.Encode()
	f.Add(long)
	f.Add([]byte{})
	f.Add(make([]byte, 16))
	f.Fuzz(func(t *testing.T, p []byte) {
		checkHello(t, p)
	})
}

// FuzzDecodePayload runs every payload decoder on the same bytes.
func FuzzDecodePayload(f *testing.F) {
	f.Add(byte(KindBackup), BackupChunk{LSN: 5, Offset: 1, Total: 4, Data: []byte("abc")}.Encode())
	f.Add(byte(KindStatus), Status{Write: 3, Flush: 2, Replay: 1}.Encode())
	f.Add(byte(KindData), AppendDataHeader(nil, 1, 2))
	f.Add(byte(KindKeepalive), Keepalive{Flushed: 1}.Encode())
	f.Fuzz(func(t *testing.T, kind byte, p []byte) {
		checkPayload(t, Frame{Kind: Kind(kind), Payload: p})
		for _, k := range []Kind{KindHello, KindWelcome, KindRefuse, KindData, KindKeepalive, KindStatus, KindResend, KindBackupReq, KindBackup} {
			checkPayload(t, Frame{Kind: k, Payload: p})
		}
	})
}
