package wire

import (
	"bytes"
	"io"
	"testing"

	"walship/engine/wal"
)

// dataStream returns n data frames, each of records 100-byte-value records.
func dataStream(n, records int) (stream []byte, frameSize int) {
	var lsn wal.LSN
	for range n {
		payload := AppendDataHeader(nil, 0, 0)
		first := lsn
		for range records {
			r := wal.Record{LSN: lsn, Op: wal.OpSet, Key: []byte("k000000001"), Value: make([]byte, 100)}
			payload = wal.AppendRecord(payload, r)
			lsn = r.End()
		}
		copy(payload, AppendDataHeader(nil, first, lsn))
		stream = AppendFrame(stream, KindData, payload)
	}
	return stream, len(stream) / n
}

// loopReader replays a byte stream forever, so Next never runs dry.
type loopReader struct {
	b   []byte
	off int
}

func (l *loopReader) Read(p []byte) (int, error) {
	n := copy(p, l.b[l.off:])
	l.off = (l.off + n) % len(l.b)
	return n, nil
}

func benchRead(b *testing.B, records int) {
	stream, size := dataStream(64, records)
	fr := NewReader(&loopReader{b: stream}, 256<<10)
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		f, err := fr.Next()
		if err != nil {
			b.Fatal(err)
		}
		if f.Kind != KindData {
			b.Fatal(f.Kind)
		}
	}
}

// BenchmarkReadFrameSmall reads one-record data frames (what the UI ships).
func BenchmarkReadFrameSmall(b *testing.B) { benchRead(b, 1) }

// BenchmarkReadFrameLarge reads ~256 KiB data frames (what walship bench
// ships): a steady stream should allocate nothing per frame.
func BenchmarkReadFrameLarge(b *testing.B) { benchRead(b, 1950) }

// BenchmarkDataRange checks a data frame's header and first record header,
// as the relay does for every frame.
func BenchmarkDataRange(b *testing.B) {
	stream, _ := dataStream(1, 1950)
	fr := NewReader(bytes.NewReader(stream), 0)
	f, err := fr.Next()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := DataRange(f.Payload); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWriteFrame writes ~256 KiB data frames to a discarding writer.
func BenchmarkWriteFrame(b *testing.B) {
	stream, size := dataStream(1, 1950)
	fr := NewReader(bytes.NewReader(stream), 0)
	f, err := fr.Next()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		if err := WriteFrame(io.Discard, KindData, f.Payload); err != nil {
			b.Fatal(err)
		}
	}
}
