package wire

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"runtime"
	"testing"
)

// A header that promises the largest frame, followed by a few bytes and
// then nothing, must not make the reader allocate the promised megabyte.
func TestReaderAllocatesOnlyWhatArrives(t *testing.T) {
	in := binary.BigEndian.AppendUint32(nil, MaxFrameSize)
	in = append(in, 'W', 1, 2, 3, 4, 5, 6, 7)
	var before, after runtime.MemStats
	var err error
	runtime.ReadMemStats(&before)
	for range 16 {
		fr := NewReader(bytes.NewReader(in), 16)
		_, err = fr.Next()
	}
	runtime.ReadMemStats(&after)
	if err != io.ErrUnexpectedEOF {
		t.Fatalf("err = %v, want io.ErrUnexpectedEOF", err)
	}
	// 16 readers of 4 KiB (+16 B bufio) each; the promised frames would be 16 MiB.
	if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
		t.Fatalf("16 truncated 1 MiB frames allocated %d bytes", got)
	}
}

// A frame that grows the buffer past its first size still reads whole, and
// the next small frame reuses the grown buffer.
func TestReaderGrowsAsBytesArrive(t *testing.T) {
	big := bytes.Repeat([]byte{0xab}, 300_000)
	var in []byte
	in = AppendFrame(in, KindData, big)
	in = AppendFrame(in, KindStatus, Status{Write: 1}.Encode())
	in = AppendFrame(in, KindData, big[:5000])
	fr := NewReader(bytes.NewReader(in), 0)
	for i, want := range [][]byte{big, Status{Write: 1}.Encode(), big[:5000]} {
		f, err := fr.Next()
		if err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if !bytes.Equal(f.Payload, want) {
			t.Fatalf("frame %d: payload of %d bytes differs", i, len(f.Payload))
		}
	}
	if _, err := fr.Next(); err != io.EOF {
		t.Fatalf("end: %v", err)
	}
}

func TestSetMaxFrame(t *testing.T) {
	in := AppendFrame(nil, KindHello, make([]byte, 200))
	fr := NewReader(bytes.NewReader(in), 0)
	fr.SetMaxFrame(128)
	if _, err := fr.Next(); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("200-byte frame with max 128: %v", err)
	}
	fr = NewReader(bytes.NewReader(in), 0)
	fr.SetMaxFrame(0) // back to MaxFrameSize
	if _, err := fr.Next(); err != nil {
		t.Fatal(err)
	}
	for _, n := range []uint32{0, MaxFrameSize + 1, math.MaxUint32} {
		fr := NewReader(bytes.NewReader(binary.BigEndian.AppendUint32(nil, n)), 0)
		if _, err := fr.Next(); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("length %#x: %v", n, err)
		}
	}
}

// An offset near the top of int64 must not wrap around the bounds check.
func TestDecodeBackupChunkOffsetOverflow(t *testing.T) {
	for _, c := range []BackupChunk{
		{Offset: math.MaxInt64 - 1, Total: 10, Data: []byte("abc")},
		{Offset: math.MaxInt64, Total: math.MaxInt64 - 1, Data: []byte("a")},
		{Offset: 11, Total: 10},
	} {
		if got, err := DecodeBackupChunk(c.Encode()); !errors.Is(err, ErrMalformed) {
			t.Errorf("offset %d + %d of %d accepted: %+v", c.Offset, len(c.Data), c.Total, got)
		}
	}
	ok := BackupChunk{Offset: 7, Total: 10, Data: []byte("abc"), Last: true}
	if _, err := DecodeBackupChunk(ok.Encode()); err != nil {
		t.Fatal(err)
	}
}
