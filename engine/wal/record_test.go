package wal

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
	}{
		{"set", Record{LSN: 0, Op: OpSet, Key: []byte("k"), Value: []byte("v")}},
		{"empty value", Record{LSN: 42, Op: OpSet, Key: []byte("key"), Value: nil}},
		{"del", Record{LSN: 1 << 40, Op: OpDel, Key: []byte("gone")}},
		{"max key", Record{LSN: 7, Op: OpSet, Key: bytes.Repeat([]byte("k"), MaxKeySize), Value: []byte("x")}},
		{"max record", Record{LSN: 9, Op: OpSet, Key: []byte("k"), Value: make([]byte, MaxValueSize)}},
		{"binary", Record{LSN: ^LSN(0) - 100, Op: OpSet, Key: []byte{0, 1, 2}, Value: []byte{0xff, 0, 0xfe}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := AppendRecord([]byte("prefix"), tt.rec)
			b = b[len("prefix"):]
			if len(b) != tt.rec.Size() {
				t.Fatalf("encoded %d bytes, Size %d", len(b), tt.rec.Size())
			}
			got, n, err := DecodeRecord(append(b, "trailing"...))
			if err != nil {
				t.Fatal(err)
			}
			if n != len(b) || got.LSN != tt.rec.LSN || got.Op != tt.rec.Op ||
				!bytes.Equal(got.Key, tt.rec.Key) || !bytes.Equal(got.Value, tt.rec.Value) {
				t.Fatalf("round trip: got %+v (%d bytes), want %+v", got, n, tt.rec)
			}
			if RecordLSN(b) != tt.rec.LSN {
				t.Fatalf("RecordLSN %v", RecordLSN(b))
			}
		})
	}
}

func TestRecordValidate(t *testing.T) {
	tests := []struct {
		name string
		rec  Record
		want error
	}{
		{"bad op", Record{Op: 0, Key: []byte("k")}, ErrCorrupt},
		{"key too long", Record{Op: OpSet, Key: make([]byte, MaxKeySize+1)}, ErrTooLarge},
		{"record too large", Record{Op: OpSet, Key: []byte("kk"), Value: make([]byte, MaxValueSize)}, ErrTooLarge},
	}
	for _, tt := range tests {
		if err := tt.rec.Validate(); !errors.Is(err, tt.want) {
			t.Errorf("%s: Validate = %v, want %v", tt.name, err, tt.want)
		}
	}
	if err := (Record{Op: OpSet}).Validate(); err == nil {
		t.Error("empty key accepted")
	}
}

// TestDecodeCorruption: every truncation of a record is a torn tail
// (io.ErrUnexpectedEOF), and every single-bit flip is caught.
func TestDecodeCorruption(t *testing.T) {
	b := AppendRecord(nil, Record{LSN: 0x1234, Op: OpSet, Key: []byte("key"), Value: []byte("some value")})
	for i := 0; i < len(b); i++ {
		if _, _, err := DecodeRecord(b[:i]); !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	for bit := 0; bit < len(b)*8; bit++ {
		c := bytes.Clone(b)
		c[bit/8] ^= 1 << (bit % 8)
		if _, _, err := DecodeRecord(c); err == nil {
			t.Fatalf("bit %d flipped: decoded without error", bit)
		}
	}
	if _, _, err := DecodeRecord(make([]byte, 64)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("zeroed bytes: %v", err)
	}
}

func TestPlace(t *testing.T) {
	const seg = 100
	tests := []struct {
		pos  LSN
		size int
		want LSN
	}{
		{0, 100, 0},
		{0, 50, 0},
		{50, 50, 50},
		{51, 50, 100},
		{99, 24, 100},
		{100, 24, 100},
		{176, 24, 176},
		{177, 24, 200},
	}
	for _, tt := range tests {
		if got := Place(tt.pos, tt.size, seg); got != tt.want {
			t.Errorf("Place(%d, %d) = %d, want %d", tt.pos, tt.size, got, tt.want)
		}
	}
}

func TestLSNString(t *testing.T) {
	for _, l := range []LSN{0, 1, 0x16B3748, 0x1_0000_0000, ^LSN(0)} {
		got, err := ParseLSN(l.String())
		if err != nil || got != l {
			t.Errorf("ParseLSN(%q) = %v, %v", l.String(), got, err)
		}
	}
	if LSN(0x1_0000_00A0).String() != "1/A0" {
		t.Errorf("String = %s", LSN(0x1_0000_00A0))
	}
	if _, err := ParseLSN("zz"); err == nil || !strings.HasPrefix(err.Error(), "wal: ") {
		t.Errorf("ParseLSN(zz) = %v", err)
	}
}

// FuzzDecodeRecord checks that DecodeRecord never panics, never reports more
// bytes than it was given, and that whatever it accepts re-encodes to the
// same bytes.
func FuzzDecodeRecord(f *testing.F) {
	f.Add(AppendRecord(nil, Record{LSN: 0, Op: OpSet, Key: []byte("k"), Value: []byte("v")}))
	f.Add(AppendRecord(nil, Record{LSN: 99, Op: OpDel, Key: []byte("key")}))
	f.Add([]byte{})
	f.Add(make([]byte, 30))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, n, err := DecodeRecord(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if n > len(b) || n != rec.Size() {
			t.Fatalf("n = %d, len %d, Size %d", n, len(b), rec.Size())
		}
		if err := rec.Validate(); err != nil {
			t.Fatalf("decoded record does not validate: %v", err)
		}
		if re := AppendRecord(nil, rec); !bytes.Equal(re, b[:n]) {
			t.Fatalf("re-encoding differs")
		}
	})
}
