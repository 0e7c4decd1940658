package wal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// testSegSize is small so that tests cross many segments.
const testSegSize = 16 << 10

func openTest(t testing.TB, dir string) (*Log, Recovery) {
	t.Helper()
	l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return l, rec
}

// appended is what a test appended: LSN, key and value of each record.
type appended struct {
	lsn        LSN
	key, value string
}

func appendN(t testing.TB, l *Log, n, vsize int) []appended {
	t.Helper()
	var out []appended
	for i := 0; i < n; i++ {
		k := fmt.Sprintf("k%05d", i)
		v := make([]byte, vsize)
		for j := range v {
			v[j] = byte('a' + (i+j)%26)
		}
		lsn, err := l.Append(OpSet, []byte(k), v)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, appended{lsn, k, string(v)})
	}
	return out
}

// readAll reads every record below limit from a new reader at from.
func readAll(t testing.TB, l *Log, from, limit LSN) []Record {
	t.Helper()
	r, err := l.NewReader(from)
	if err != nil {
		t.Fatalf("NewReader(%v): %v", from, err)
	}
	defer r.Close()
	var out []Record
	for {
		b, err := r.Next(limit)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Next at %v: %v", r.Pos(), err)
		}
		rec, _, err := DecodeRecord(b)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		rec.Key = append([]byte(nil), rec.Key...)
		rec.Value = append([]byte(nil), rec.Value...)
		out = append(out, rec)
	}
}

func checkRecords(t testing.TB, got []Record, want []appended) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i].LSN != want[i].lsn || string(got[i].Key) != want[i].key || string(got[i].Value) != want[i].value {
			t.Fatalf("record %d: got %v %q, want %v %q", i, got[i].LSN, got[i].Key, want[i].lsn, want[i].key)
		}
	}
}

func TestAppendSyncReopen(t *testing.T) {
	dir := t.TempDir()
	l, rec := openTest(t, dir)
	if rec.Start != 0 || rec.End != 0 {
		t.Fatalf("new log recovery %+v", rec)
	}
	want := appendN(t, l, 500, 100)
	if l.Written() != 0 {
		t.Fatalf("Written %v before Write", l.Written())
	}
	f, err := l.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if f != l.End() || l.Written() != l.End() {
		t.Fatalf("Sync returned %v, End %v Written %v", f, l.End(), l.Written())
	}
	checkRecords(t, readAll(t, l, 0, l.Written()), want)
	end := l.End()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, rec = openTest(t, dir)
	defer l.Close()
	if rec.End != end || rec.Records != 500 || rec.Truncated {
		t.Fatalf("recovery %+v, want end %v", rec, end)
	}
	checkRecords(t, readAll(t, l, 0, l.End()), want)
	if len(l.Segments()) != rec.Segments || rec.Segments < 3 {
		t.Fatalf("segments %v", l.Segments())
	}
}

// TestAppendBatchMatchesAppend: a batch lands where the same records
// appended one by one would, across segment ends, and a batch with an
// invalid record appends nothing.
func TestAppendBatchMatchesAppend(t *testing.T) {
	one, _ := openTest(t, t.TempDir())
	defer one.Close()
	batched, _ := openTest(t, t.TempDir())
	defer batched.Close()
	var want []appended
	var batch []Record
	for i := range 700 {
		k, v := fmt.Sprintf("k%d", i), bytes.Repeat([]byte{byte('a' + i%26)}, i%90)
		lsn, err := one.Append(OpSet, []byte(k), v)
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, appended{lsn, k, string(v)})
		batch = append(batch, Record{Op: OpSet, Key: []byte(k), Value: v})
		if len(batch) == 50 {
			if err := batched.AppendBatch(batch); err != nil {
				t.Fatal(err)
			}
			for j, r := range batch {
				if w := want[len(want)-len(batch)+j].lsn; r.LSN != w {
					t.Fatalf("batch record %d at %v, one by one at %v", j, r.LSN, w)
				}
			}
			batch = batch[:0]
		}
	}
	end := batched.End()
	bad := []Record{{Op: OpSet, Key: []byte("ok")}, {Op: OpSet}}
	if err := batched.AppendBatch(bad); err == nil || batched.End() != end {
		t.Fatalf("invalid batch: err %v, end %v -> %v", err, end, batched.End())
	}
	if _, err := batched.Sync(); err != nil {
		t.Fatal(err)
	}
	checkRecords(t, readAll(t, batched, 0, batched.Written()), want)
}

func TestIsLogFile(t *testing.T) {
	for name, want := range map[string]bool{
		SegmentName(0):         true,
		SegmentName(16 << 20):  true,
		"START":                true,
		"START.tmp":            true,
		"0000000001000000.wal": true,
		"0000000001000000.WAL": false,
		"000000000100000a.wal": false, // we write upper case only
		"00000000010000.wal":   false,
		"notes.txt":            false,
		"START.bak":            false,
		"":                     false,
	} {
		if got := IsLogFile(name); got != want {
			t.Errorf("IsLogFile(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestWriteFileDurably(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	for _, data := range []string{"first", "second, longer"} {
		if err := WriteFileDurably(p, false, []byte(data)); err != nil {
			t.Fatal(err)
		}
		if got, err := os.ReadFile(p); err != nil || string(got) != data {
			t.Fatalf("read back %q, %v; want %q", got, err, data)
		}
	}
	if _, err := os.Stat(p + ".tmp"); !os.IsNotExist(err) {
		t.Errorf("temporary file left behind: %v", err)
	}
	if err := WriteFileDurably(filepath.Join(dir, "missing", "f"), false, []byte("x")); err == nil {
		t.Error("writing into a missing directory did not fail")
	}
}
