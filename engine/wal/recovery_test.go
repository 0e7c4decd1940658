package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// keyLen is the length of the keys appendSized uses: record size is
// Overhead + keyLen + value length.
const keyLen = 6

// appendSized appends one record of each total size and returns what it
// appended.
func appendSized(t testing.TB, l *Log, sizes []int) []appended {
	t.Helper()
	var out []appended
	for i, size := range sizes {
		k := fmt.Sprintf("k%05d", i)
		v := bytes.Repeat([]byte{byte('a' + i%26)}, size-Overhead-keyLen)
		lsn, err := l.Append(OpSet, []byte(k), v)
		if err != nil {
			t.Fatalf("Append %d: %v", i, err)
		}
		out = append(out, appended{lsn, k, string(v)})
	}
	return out
}

// boundaryLayouts are record sizes around a segment boundary (segment size
// testSegSize), after pebble's TestBoundary: the first records fill the
// first segment exactly, leave one byte, overflow by one byte, leave room for
// exactly one more small record, or one byte less than that. Three small
// records follow, so the last segment holds records to damage.
func boundaryLayouts() map[string][]int {
	const small = 40
	fill := []int{MaxRecordSize, testSegSize - MaxRecordSize - 4096} // leaves 4096
	tail := []int{small, small + 1, small + 2}
	layout := func(third int) []int {
		return append(append(append([]int(nil), fill...), third), tail...)
	}
	return map[string][]int{
		"exact fill":       layout(4096),
		"one byte left":    layout(4095),
		"one byte over":    layout(4097),
		"room for one":     layout(4096 - small),
		"one short of one": layout(4096 - small + 1),
		"single segment":   {small, small + 7, small + 13},
	}
}

// dirState is every file's name and contents, to check that nothing changed.
func dirState(t testing.TB, dir string) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = string(b)
	}
	return m
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	for name, data := range dirState(t, from) {
		if err := os.WriteFile(filepath.Join(to, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func lastSegment(t testing.TB, dir string) string {
	t.Helper()
	var names []string
	for name := range dirState(t, dir) {
		if _, ok := parseSegmentName(name); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return filepath.Join(dir, names[len(names)-1])
}

// threeSegments writes a log of at least three segments, closed.
func threeSegments(t *testing.T) (dir string, want []appended) {
	dir = t.TempDir()
	l, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	want = appendN(t, l, 400, 100)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(l.Segments()); n < 3 {
		t.Fatalf("only %d segments", n)
	}
	return dir, want
}

func TestRecoveryTornTailReport(t *testing.T) {
	dir, want := threeSegments(t)
	last := lastSegment(t, dir)
	b, _ := os.ReadFile(last)
	os.WriteFile(last, b[:len(b)-40], 0o644) // record size is 23+6+100 = 129
	l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lastRec := want[len(want)-1]
	if !rec.Truncated || rec.TruncatedAt != lastRec.lsn || rec.TruncatedBytes != 129-40 ||
		rec.File != last || rec.Reason != "torn record (89 of 129 bytes)" || rec.Records != len(want)-1 {
		t.Fatalf("recovery %+v", rec)
	}
	if fi, _ := os.Stat(last); fi.Size() != int64(len(b)-129) {
		t.Fatalf("file not truncated: %d bytes", fi.Size())
	}
}

func TestRecoveryIgnoresOtherFiles(t *testing.T) {
	dir, want := threeSegments(t)
	for _, name := range []string{"notes.txt", "0000000000000000.wal.bak", "000000000000000g.wal", "0000000000004000.WAL"} {
		os.WriteFile(filepath.Join(dir, name), []byte("x"), 0o644)
	}
	l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
	if err != nil {
		t.Fatal(err)
	}
	if rec.Records != len(want) || rec.Truncated {
		t.Fatalf("recovery %+v", rec)
	}
	l.Close()
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatal(err)
	}
}

func TestOpenOptions(t *testing.T) {
	if _, _, err := Open(Options{Dir: t.TempDir(), SegmentSize: MaxRecordSize - 1}); err == nil || !strings.Contains(err.Error(), "segment size") {
		t.Fatalf("small segment: %v", err)
	}
	if _, _, err := Open(Options{}); err == nil {
		t.Fatal("empty Dir accepted")
	}
	dir := filepath.Join(t.TempDir(), "a", "b")
	l, _, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if l.SegmentSize() != DefaultSegmentSize {
		t.Fatalf("SegmentSize %d", l.SegmentSize())
	}
	// The directory records its segment size: any other is refused, naming
	// both, and nothing is changed.
	for _, other := range []int64{3 * testSegSize, MaxRecordSize} {
		dir2, _ := threeSegments(t)
		before := dirState(t, dir2)
		_, _, err := Open(Options{Dir: dir2, SegmentSize: other})
		if !errors.Is(err, ErrSegmentSize) || !strings.Contains(err.Error(), fmt.Sprint(testSegSize)) || !strings.Contains(err.Error(), fmt.Sprint(other)) {
			t.Fatalf("segment size %d: %v", other, err)
		}
		if fmt.Sprint(dirState(t, dir2)) != fmt.Sprint(before) {
			t.Fatalf("Open with segment size %d changed the directory", other)
		}
		if c, err := ReadControl(dir2); err != nil || c.SegmentSize != testSegSize {
			t.Fatalf("ReadControl: %+v, %v", c, err)
		}
	}
}

// A directory with segments but no CONTROL file (an older walship's, or one
// that lost it), or a damaged CONTROL file, is refused; nothing changes.
func TestControlFileRequired(t *testing.T) {
	for name, damage := range map[string]func(p string){
		"missing": func(p string) { os.Remove(p) },
		"damaged": func(p string) {
			b, _ := os.ReadFile(p)
			b[9] ^= 1
			os.WriteFile(p, b, 0o644)
		},
		"unknown version": func(p string) {
			b, _ := os.ReadFile(p)
			b[7] = 9
			binary.BigEndian.PutUint32(b[16:], Checksum(b[:16]))
			os.WriteFile(p, b, 0o644)
		},
	} {
		t.Run(name, func(t *testing.T) {
			dir, _ := threeSegments(t)
			p := filepath.Join(dir, "CONTROL")
			damage(p)
			before := dirState(t, dir)
			_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), dir) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, dir)
			}
			t.Log(err)
			if fmt.Sprint(dirState(t, dir)) != fmt.Sprint(before) {
				t.Fatal("Open changed the directory")
			}
		})
	}
}

// middleDamage is damage done to the middle segment of threeSegments.
var middleDamage = map[string]func(b []byte) []byte{
	"bit flip in a record":          func(b []byte) []byte { b[1000] ^= 1; return b },
	"bit flip in the last record":   func(b []byte) []byte { b[lastRecordEnd(b)-3] ^= 4; return b },
	"zeroed sector":                 func(b []byte) []byte { clear(b[4096 : 4096+512]); return b },
	"zeroed last record":            func(b []byte) []byte { e := lastRecordEnd(b); clear(b[e-129 : e]); return b },
	"cut at a record boundary":      func(b []byte) []byte { return b[:lastRecordEnd(b)-129] },
	"cut after the last record":     func(b []byte) []byte { return b[:lastRecordEnd(b)] },
	"cut inside a record":           func(b []byte) []byte { return b[:lastRecordEnd(b)-10] },
	"cut in the padding":            func(b []byte) []byte { return b[:len(b)-1] },
	"emptied":                       func(b []byte) []byte { return b[:0] },
	"padding overwritten":           func(b []byte) []byte { b[len(b)-1] = 7; return b },
	"garbage after the last record": func(b []byte) []byte { b[lastRecordEnd(b)] = 1; return b },
}

// lastRecordEnd is where the records of a padded segment of 129-byte
// records end.
func lastRecordEnd(b []byte) int { return testSegSize / 129 * 129 }

// Damage of any kind in a sealed (middle) segment stops Open, naming the
// file and an offset, and changes nothing.
func TestRecoveryDamagedMiddleSegment(t *testing.T) {
	for name, damage := range middleDamage {
		t.Run(name, func(t *testing.T) {
			dir, _ := threeSegments(t)
			mid := filepath.Join(dir, SegmentName(testSegSize))
			b, _ := os.ReadFile(mid)
			if len(b) != testSegSize {
				t.Fatalf("sealed segment is %d bytes, not padded", len(b))
			}
			if err := os.WriteFile(mid, damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)
			_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), mid) || !strings.Contains(err.Error(), "at offset ") {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s and an offset", err, mid)
			}
			t.Log(err)
			if fmt.Sprint(dirState(t, dir)) != fmt.Sprint(before) {
				t.Fatal("Open changed the directory of a damaged log")
			}
		})
	}
}

// A segment missing from the start or the middle, or every one after
// START, is damage; one removed by retention is not.
func TestRecoveryMissingSegment(t *testing.T) {
	for name, tc := range map[string]struct {
		retain  LSN // RemoveBefore this first
		missing LSN // then remove this segment
	}{
		"first":                      {0, 0},
		"middle":                     {0, testSegSize},
		"first after retention":      {testSegSize, testSegSize},
		"middle after retention":     {testSegSize, 2 * testSegSize},
		"first of a one-segment log": {3 * testSegSize, 3 * testSegSize},
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			l, _ := openTest(t, dir)
			appendN(t, l, 500, 100)
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.RemoveBefore(tc.retain); err != nil {
				t.Fatal(err)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			if tc.missing == 3*testSegSize {
				// All but the last segment were retained away.
				segs := 0
				for name := range dirState(t, dir) {
					if _, ok := parseSegmentName(name); ok {
						segs++
					}
				}
				if segs != 1 {
					t.Fatalf("%d segments left", segs)
				}
			}
			p := filepath.Join(dir, SegmentName(tc.missing))
			if err := os.Remove(p); err != nil {
				t.Fatal(err)
			}
			before := dirState(t, dir)
			_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
			if tc.missing == 3*testSegSize {
				// START says where the log starts: no segment at all is a
				// log that lost everything, which only the files above the
				// log (a checkpoint, a base backup) can tell.
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
				t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, p)
			}
			t.Log(err)
			if fmt.Sprint(dirState(t, dir)) != fmt.Sprint(before) {
				t.Fatal("Open changed the directory of a damaged log")
			}
		})
	}
}

// Retention writes START before it removes files: segments below START
// left by a crash in between are leftovers, removed at Open.
func TestRecoveryStaleBelowStart(t *testing.T) {
	dir := t.TempDir()
	l, _ := openTest(t, dir)
	want := appendN(t, l, 500, 100)
	l.Sync()
	stale := dirState(t, dir)[SegmentName(0)]
	if n, err := l.RemoveBefore(2 * testSegSize); err != nil || n != 2 {
		t.Fatalf("RemoveBefore: %d, %v", n, err)
	}
	l.Close()
	os.WriteFile(filepath.Join(dir, SegmentName(0)), []byte(stale), 0o644)
	l, rec := openTest(t, dir)
	defer l.Close()
	if rec.Start != 2*testSegSize {
		t.Fatalf("recovery %+v", rec)
	}
	if _, ok := dirState(t, dir)[SegmentName(0)]; ok {
		t.Fatal("leftover below START kept")
	}
	var kept []appended
	for _, a := range want {
		if a.lsn >= 2*testSegSize {
			kept = append(kept, a)
		}
	}
	checkRecords(t, readAll(t, l, l.Start(), l.End()), kept)
}

// A crash while a segment was being sealed leaves it padded and the next
// one empty or with a torn first record: recovery cuts both back to the
// last record, so the log does not end at the segment start with a record
// that would have fitted missing; and an empty next segment after one that
// was never sealed is damage.
func TestRecoveryCrashWhileSealing(t *testing.T) {
	build := func(t *testing.T) (string, []appended) {
		dir := t.TempDir()
		l, _ := openTest(t, dir)
		// Records of 175 bytes: 93 fill the first segment, leaving 109
		// bytes, and the 94th starts the second.
		want := appendN(t, l, 100, 146)
		l.Close()
		return dir, want
	}
	next := filepath.Join(SegmentName(testSegSize))
	for name, tail := range map[string]func([]byte) []byte{
		"empty":                func(b []byte) []byte { return nil },
		"torn first record":    func(b []byte) []byte { return b[:50] },
		"first record zeroed":  func(b []byte) []byte { return make([]byte, 175) },
		"only a length prefix": func(b []byte) []byte { return b[:3] },
	} {
		t.Run(name, func(t *testing.T) {
			dir, want := build(t)
			p := filepath.Join(dir, next)
			b, _ := os.ReadFile(p)
			os.WriteFile(p, tail(b), 0o644)
			l, rec := openTest(t, dir)
			kept := want[:testSegSize/175]
			end := kept[len(kept)-1].lsn + 175
			if rec.End != end || !rec.Truncated || rec.TruncatedAt != end || rec.File != filepath.Join(dir, SegmentName(0)) {
				t.Fatalf("recovery %+v, want end %v", rec, end)
			}
			if _, ok := dirState(t, dir)[next]; ok {
				t.Fatalf("%s kept", next)
			}
			checkRecords(t, readAll(t, l, 0, l.End()), kept)
			// A small record fits where the lost one did not.
			lsn, err := l.Append(OpSet, []byte("k"), nil)
			if err != nil || lsn != end {
				t.Fatalf("append at %v, %v; want %v", lsn, err, end)
			}
			l.Close()
			l, rec = openTest(t, dir)
			defer l.Close()
			if rec.Truncated || rec.End != end+LSN(Overhead+1) {
				t.Fatalf("reopen: %+v", rec)
			}
		})
	}
	t.Run("after an unsealed segment", func(t *testing.T) {
		dir := t.TempDir()
		l, _ := openTest(t, dir)
		appendN(t, l, 100, 100) // one segment, not full
		l.Close()
		os.WriteFile(filepath.Join(dir, next), nil, 0o644)
		before := dirState(t, dir)
		_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, SegmentName(0))) {
			t.Fatalf("Open = %v", err)
		}
		t.Log(err)
		if fmt.Sprint(dirState(t, dir)) != fmt.Sprint(before) {
			t.Fatal("Open changed the directory of a damaged log")
		}
	})
}

func TestResetReopen(t *testing.T) {
	for _, start := range []LSN{
		5*testSegSize + 100,    // mid-segment
		7 * testSegSize,        // segment start
		8*testSegSize - 30,     // too close to the end for the next record
		testSegSize + 1234 - 1, // below the old end
	} {
		t.Run(start.String(), func(t *testing.T) {
			dir := t.TempDir()
			l, _ := openTest(t, dir)
			appendN(t, l, 300, 100)
			if _, err := l.Sync(); err != nil {
				t.Fatal(err)
			}
			appendN(t, l, 5, 100) // buffered, dropped by Reset
			if err := l.Reset(start); err != nil {
				t.Fatal(err)
			}
			if l.Start() != start || l.End() != start || l.Written() != start || l.Flushed() != start {
				t.Fatalf("after Reset: start %v end %v written %v flushed %v", l.Start(), l.End(), l.Written(), l.Flushed())
			}
			if _, err := l.NewReader(start - 1); !errors.Is(err, ErrWALRemoved) {
				t.Fatalf("reader below start: %v", err)
			}
			want := appendN(t, l, 200, 100)
			if want[0].lsn != Place(start, 129, testSegSize) {
				t.Fatalf("first record at %v", want[0].lsn)
			}
			if err := l.Close(); err != nil {
				t.Fatal(err)
			}
			l, rec := openTest(t, dir)
			defer l.Close()
			if rec.Start != start || rec.Records != 200 || rec.Truncated {
				t.Fatalf("recovery %+v", rec)
			}
			checkRecords(t, readAll(t, l, start, l.End()), want)
		})
	}
}

func TestResetEmptyReopen(t *testing.T) {
	dir := t.TempDir()
	l, _ := openTest(t, dir)
	appendN(t, l, 100, 100)
	const start = 3*testSegSize + 77
	if err := l.Reset(start); err != nil {
		t.Fatal(err)
	}
	l.Close()
	l, rec := openTest(t, dir)
	if rec.Start != start || rec.End != start || rec.Records != 0 {
		t.Fatalf("recovery %+v", rec)
	}
	l.Close()
	// A damaged START file is an error naming it.
	p := filepath.Join(dir, "START")
	b, _ := os.ReadFile(p)
	b[6] ^= 1
	os.WriteFile(p, b, 0o644)
	if _, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), p) {
		t.Fatalf("damaged START: %v", err)
	}
}

// TestCrash appends with syncs in between, crashes keeping every amount of
// unsynced bytes, and checks that recovery keeps a valid prefix that reaches
// at least the flushed LSN and holds exactly the records appended before its
// end.
func TestCrash(t *testing.T) {
	build := func(dir string) (*Log, []appended, []int) {
		l, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		var all []appended
		var sizes []int
		add := func(n int) {
			for i := 0; i < n; i++ {
				vs := 50 + (len(all)*37)%900
				a := appendSized(t, l, []int{Overhead + keyLen + vs})
				all = append(all, a...)
				sizes = append(sizes, Overhead+keyLen+vs)
			}
		}
		add(40)
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		add(60) // written, not synced: crosses segments
		if err := l.Write(); err != nil {
			t.Fatal(err)
		}
		add(5) // buffered only
		return l, all, sizes
	}
	probe, _, _ := build(t.TempDir())
	flushed, written := probe.Flushed(), probe.Written()
	probe.Close()
	if written-flushed < 1000 || probe.segStartOf(flushed) == probe.segStartOf(written) {
		t.Fatalf("unsynced span %d too small", written-flushed)
	}
	for keep := int64(0); keep <= int64(written-flushed)+10; keep += 1 + keep/40 {
		dir := t.TempDir()
		l, all, sizes := build(dir)
		if l.Flushed() != flushed {
			t.Fatalf("not deterministic")
		}
		if err := l.Crash(keep); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Append(OpSet, []byte("k"), nil); err == nil {
			t.Fatal("Append after Crash succeeded")
		}
		l2, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
		if err != nil {
			t.Fatalf("keep %d: %v", keep, err)
		}
		if rec.End < flushed {
			t.Fatalf("keep %d: recovered end %v < flushed %v", keep, rec.End, flushed)
		}
		cut := flushed + LSN(keep)
		var want []appended
		for i, a := range all {
			if a.lsn+LSN(sizes[i]) <= min(cut, written) {
				want = append(want, a)
			}
		}
		got := readAll(t, l2, 0, l2.End())
		if len(got) != len(want) {
			t.Fatalf("keep %d: %d records, want %d (%+v)", keep, len(got), len(want), rec)
		}
		for i := range got {
			if got[i].LSN != want[i].lsn || string(got[i].Value) != want[i].value {
				t.Fatalf("keep %d: record %d differs", keep, i)
			}
		}
		if n := len(want); n > 0 && rec.End < want[n-1].lsn+LSN(sizes[n-1]) {
			t.Fatalf("keep %d: end %v before last record", keep, rec.End)
		}
		l2.Close()
	}
}

// FuzzRecoverSegment opens a log whose only segment holds arbitrary bytes
// after some valid records: Open never panics, and when it accepts the file
// it keeps only whole valid records, cutting nothing but a torn tail.
func FuzzRecoverSegment(f *testing.F) {
	f.Add([]byte{}, uint8(3))
	f.Add([]byte{0, 0, 0, 40, 1, 2}, uint8(1))
	f.Add(make([]byte, 600), uint8(0))
	f.Fuzz(func(t *testing.T, junk []byte, n uint8) {
		dir := t.TempDir()
		l, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
		if err != nil {
			t.Fatal(err)
		}
		want := appendN(t, l, int(n%8), 50)
		l.Close()
		p := filepath.Join(dir, SegmentName(0))
		good, _ := os.ReadFile(p)
		os.WriteFile(p, append(good, junk...), 0o644)
		l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("Open: %v", err)
			}
			return
		}
		defer l.Close()
		got := readAll(t, l, 0, l.End())
		if len(got) < len(want) {
			t.Fatalf("kept %d records of the %d valid ones (%+v)", len(got), len(want), rec)
		}
		checkRecords(t, got[:len(want)], want)
		if rec.Truncated && !tornAt(append(good, junk...), int(rec.TruncatedAt), true) {
			t.Fatalf("cut %d bytes at %v that are not a torn tail: %q", rec.TruncatedBytes, rec.TruncatedAt, junk)
		}
	})
}

// MustReach turns a tail cut below it from a torn tail into damage: Open
// refuses and changes nothing.
func TestRecoveryMustReach(t *testing.T) {
	dir, want := threeSegments(t)
	end := want[len(want)-1].lsn + 129
	last := lastSegment(t, dir)
	b, _ := os.ReadFile(last)
	os.WriteFile(last, b[:len(b)-10], 0o644) // the last record torn
	before := dirState(t, dir)
	_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize, MustReach: end})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "held WAL up to "+end.String()) {
		t.Fatalf("Open = %v", err)
	}
	if fmt.Sprint(dirState(t, dir)) != fmt.Sprint(before) {
		t.Fatal("Open changed the directory")
	}
	l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize, MustReach: end - 129})
	if err != nil || !rec.Truncated || rec.End != end-129 {
		t.Fatalf("Open = %+v, %v", rec, err)
	}
	l.Close()
}
