package kv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"walship/engine/wal"
)

func set(lsn wal.LSN, k, v string) wal.Record {
	return wal.Record{LSN: lsn, Op: wal.OpSet, Key: []byte(k), Value: []byte(v)}
}

func del(lsn wal.LSN, k string) wal.Record {
	return wal.Record{LSN: lsn, Op: wal.OpDel, Key: []byte(k)}
}

func TestApplyGetDel(t *testing.T) {
	s := New()
	if s.Len() != 0 || s.Digest() != 0 || s.AppliedLSN() != 0 {
		t.Fatal("new store not empty")
	}
	key, val := []byte("a"), []byte("1")
	r := wal.Record{LSN: 0, Op: wal.OpSet, Key: key, Value: val}
	s.Apply(r)
	key[0], val[0] = 'x', 'x' // Apply copied them
	if v, ok := s.Get("a"); !ok || string(v) != "1" {
		t.Fatalf("Get(a) = %q, %v", v, ok)
	}
	if s.AppliedLSN() != r.End() {
		t.Fatalf("AppliedLSN %v, want %v", s.AppliedLSN(), r.End())
	}
	s.Apply(set(100, "a", "2"))
	s.Apply(set(200, "b", ""))
	if v, ok := s.Get("a"); !ok || string(v) != "2" {
		t.Fatalf("Get(a) = %q, %v", v, ok)
	}
	if v, ok := s.Get("b"); !ok || v == nil || len(v) != 0 {
		t.Fatalf("Get(b) = %q, %v", v, ok)
	}
	s.Apply(del(300, "a"))
	s.Apply(del(400, "never"))
	if _, ok := s.Get("a"); ok || s.Len() != 1 {
		t.Fatalf("after DEL: len %d", s.Len())
	}
	if got := s.Keys(); fmt.Sprint(got) != "[b]" {
		t.Fatalf("Keys = %v", got)
	}
	s.Apply(del(500, "b"))
	if s.Digest() != 0 {
		t.Fatalf("empty store digest %x", s.Digest())
	}
}

// TestDigestOrderIndependent applies the same final state through different
// histories and orders.
func TestDigestOrderIndependent(t *testing.T) {
	final := map[string]string{}
	for i := 0; i < 200; i++ {
		final[fmt.Sprintf("k%03d", i)] = fmt.Sprintf("v%d", i*i)
	}
	build := func(seed uint64) *Store {
		rng := rand.New(rand.NewPCG(seed, 1))
		s := New()
		var keys []string
		for k := range final {
			keys = append(keys, k)
		}
		rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
		for i, k := range keys {
			// Noise that is overwritten or deleted later.
			s.Apply(set(wal.LSN(i), k, "junk"))
			s.Apply(set(wal.LSN(i), "tmp"+k, "x"))
			if rng.IntN(2) == 0 {
				s.Apply(del(wal.LSN(i), k))
			}
		}
		for _, k := range keys {
			s.Apply(set(0, k, final[k]))
			s.Apply(del(0, "tmp"+k))
		}
		return s
	}
	a, b := build(1), build(2)
	if a.Digest() != b.Digest() || a.Len() != len(final) {
		t.Fatalf("digests %x and %x differ", a.Digest(), b.Digest())
	}
	if d := a.Diff(b); d != "" {
		t.Fatalf("Diff = %s", d)
	}
	b.Apply(set(0, "k007", "other"))
	if a.Digest() == b.Digest() {
		t.Fatal("different stores, same digest")
	}
	// Swapped values between two keys must not collide either.
	c, d := New(), New()
	c.Apply(set(0, "x", "1"))
	c.Apply(set(0, "y", "2"))
	d.Apply(set(0, "x", "2"))
	d.Apply(set(0, "y", "1"))
	if c.Digest() == d.Digest() {
		t.Fatal("swapped values, same digest")
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name             string
		leader, follower []wal.Record
		want             string
	}{
		{"equal", []wal.Record{set(0, "a", "1")}, []wal.Record{set(0, "a", "1")}, ""},
		{"empty", nil, nil, ""},
		{"follower missing", []wal.Record{set(0, "k17", "abc")}, nil, `key "k17": leader "abc", follower missing`},
		{"leader missing", nil, []wal.Record{set(0, "k2", "x")}, `key "k2": leader missing, follower "x"`},
		{"value", []wal.Record{set(0, "a", "1"), set(0, "b", "2")}, []wal.Record{set(0, "a", "1"), set(0, "b", "3")}, `key "b": leader "2", follower "3"`},
		{"first in key order", []wal.Record{set(0, "b", "1"), set(0, "a", "1")}, nil, `key "a": leader "1", follower missing`},
		{"long value", []wal.Record{set(0, "a", strings.Repeat("z", 100))}, nil, `key "a": leader "` + strings.Repeat("z", 40) + `"... (100 bytes), follower missing`},
	}
	for _, tt := range tests {
		l, f := New(), New()
		for _, r := range tt.leader {
			l.Apply(r)
		}
		for _, r := range tt.follower {
			f.Apply(r)
		}
		if got := l.Diff(f); got != tt.want {
			t.Errorf("%s: Diff = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func testStore(n int) *Store {
	s := New()
	for i := 0; i < n; i++ {
		s.Apply(set(wal.LSN(i*100), fmt.Sprintf("key-%04d", i), strings.Repeat("v", i%50)))
	}
	return s
}

func TestImageRestore(t *testing.T) {
	for _, n := range []int{0, 1, 100} {
		s := testStore(n)
		data, lsn := s.Image()
		if lsn != s.AppliedLSN() {
			t.Fatalf("image LSN %v, applied %v", lsn, s.AppliedLSN())
		}
		r, rlsn, err := Restore(data)
		if err != nil {
			t.Fatalf("%d keys: %v", n, err)
		}
		if rlsn != lsn || r.AppliedLSN() != lsn || r.Len() != n || r.Digest() != s.Digest() || s.Diff(r) != "" {
			t.Fatalf("%d keys: restored lsn %v len %d diff %q", n, rlsn, r.Len(), s.Diff(r))
		}
		data2, _ := r.Image()
		if !bytes.Equal(data, data2) {
			t.Fatalf("%d keys: image of the restored store differs", n)
		}
	}
}

// TestGetVersion: each key's version is the start LSN of the record that
// wrote its value now held, whether the SET overwrote in place, moved the
// pair, or recreated a deleted key; a restored image keeps the versions.
func TestGetVersion(t *testing.T) {
	s := New()
	want := func(key string, found bool, value string, lsn, applied wal.LSN) {
		t.Helper()
		v := s.GetVersion(key)
		if v.Found != found || string(v.Value) != value || v.LSN != lsn || v.Applied != applied {
			t.Fatalf("GetVersion(%q) = %+v; want found %v %q @%v applied %v", key, v, found, value, lsn, applied)
		}
	}
	want("a", false, "", 0, 0)
	s.Apply(set(100, "a", "four"))
	want("a", true, "four", 100, set(100, "a", "four").End())
	s.Apply(set(200, "a", "two"))                                                // in place
	s.ApplyBatch([]wal.Record{set(300, "b", "x"), set(400, "a", "much longer")}) // moved
	end := set(400, "a", "much longer").End()
	want("a", true, "much longer", 400, end)
	want("b", true, "x", 300, end)
	s.Apply(del(500, "a"))
	end = del(500, "a").End()
	want("a", false, "", 0, end)
	s.Apply(set(600, "a", "again"))
	end = set(600, "a", "again").End()
	want("a", true, "again", 600, end)
	data, _ := s.Image()
	r, _, err := Restore(data)
	if err != nil {
		t.Fatal(err)
	}
	if v := r.GetVersion("b"); v.LSN != 300 || v.Applied != end {
		t.Fatalf("restored: GetVersion(b) = %+v", v)
	}
}

func TestRestoreCorrupt(t *testing.T) {
	data, _ := testStore(5).Image()
	for i := 0; i < len(data); i++ {
		if _, _, err := Restore(data[:i]); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated at %d: %v", i, err)
		}
	}
	for bit := 0; bit < len(data)*8; bit++ {
		c := bytes.Clone(data)
		c[bit/8] ^= 1 << (bit % 8)
		if _, _, err := Restore(c); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("bit %d flipped: %v", bit, err)
		}
	}
	if _, _, err := Restore(append(bytes.Clone(data), 0)); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("trailing byte: %v", err)
	}
}

// reseal recomputes the CRC so structural checks behind it are exercised.
func reseal(b []byte) []byte {
	body := b[:len(b)-4]
	return append(bytes.Clone(body), beCRC(body)...)
}

func beCRC(b []byte) []byte {
	c := wal.Checksum(b)
	return []byte{byte(c >> 24), byte(c >> 16), byte(c >> 8), byte(c)}
}

func TestRestoreStructure(t *testing.T) {
	data, _ := testStore(3).Image()
	tests := []struct {
		name string
		edit func(b []byte)
	}{
		{"magic", func(b []byte) { b[0] = 'X' }},
		{"version", func(b []byte) { b[4] = 3 }},
		{"version 0", func(b []byte) { b[4] = 0 }},
		{"huge count", func(b []byte) { b[13], b[14], b[15], b[16] = 0xff, 0xff, 0xff, 0xff }},
		{"count one more", func(b []byte) { b[16]++ }},
		{"count one less", func(b []byte) { b[16]-- }},
		{"zero key length", func(b []byte) { b[17], b[18] = 0, 0 }},
		{"huge value length", func(b []byte) { b[19], b[20] = 0x7f, 0xff }},
		{"keys out of order", func(b []byte) { b[17+14+7]++ }}, // "key-0000" -> "key-0001"
	}
	for _, tt := range tests {
		c := bytes.Clone(data)
		tt.edit(c)
		if _, _, err := Restore(reseal(c)); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: %v", tt.name, err)
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	s := New()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 5000; i++ {
			s.Apply(set(wal.LSN(i), fmt.Sprintf("k%d", i%100), "v"))
		}
	}()
	o := testStore(10)
	for {
		select {
		case <-done:
			return
		default:
		}
		s.Get("k1")
		s.Image()
		s.Diff(o)
		o.Diff(s)
		s.Keys()
	}
}

// FuzzRestore checks that Restore never panics, and that what it accepts
// images back to the same bytes. With reseal set the CRC is recomputed
// first, so the fuzzer reaches the structural checks behind it.
func FuzzRestore(f *testing.F) {
	for _, n := range []int{0, 1, 3} {
		data, _ := testStore(n).Image()
		f.Add(data, false)
		f.Add(data, true)
	}
	f.Add([]byte("WSKV"), false)
	f.Add(modelImage(map[string][]byte{"a": []byte("1"), "b": nil}, nil, 40, ImageVersion1), false)
	f.Fuzz(func(t *testing.T, b []byte, resealCRC bool) {
		if resealCRC && len(b) >= 4 {
			b = reseal(b)
		}
		s, lsn, err := Restore(b)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error does not wrap ErrCorrupt: %v", err)
			}
			return
		}
		again, lsn2 := s.Image()
		if b[4] == ImageVersion1 {
			// Imaged again as version 2: the same pairs, LSNs unknown.
			r, lsn3, err := Restore(again)
			if err != nil || lsn3 != lsn || r.Diff(s) != "" {
				t.Fatalf("accepted version 1 image does not round-trip: %v", err)
			}
			return
		}
		if lsn2 != lsn || !bytes.Equal(again, b) {
			t.Fatal("accepted image does not round-trip")
		}
	})
}

func BenchmarkApply(b *testing.B) {
	s := New()
	keys := make([][]byte, 1000)
	for i := range keys {
		keys[i] = []byte(fmt.Sprintf("key-%06d", i))
	}
	val := make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(len(val) + len(keys[0])))
	for i := 0; b.Loop(); i++ {
		s.Apply(wal.Record{LSN: wal.LSN(i), Op: wal.OpSet, Key: keys[i%len(keys)], Value: val})
	}
}
