package wal

import (
	"bytes"
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

// repairer holds a log written once, closed, for testRepair to damage
// copies of.
type repairer struct {
	sizes    []int
	all      []appended
	tmpl     string
	lastName string
	segStart LSN
	orig     []byte
}

func newRepairer(t *testing.T, sizes []int) *repairer {
	t.Helper()
	r := &repairer{sizes: sizes, tmpl: t.TempDir()}
	l, _, err := Open(Options{Dir: r.tmpl, SegmentSize: testSegSize, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	r.all = appendSized(t, l, sizes)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	lastPath := lastSegment(t, r.tmpl)
	r.lastName = filepath.Base(lastPath)
	r.segStart, _ = parseSegmentName(r.lastName)
	if r.orig, err = os.ReadFile(lastPath); err != nil {
		t.Fatal(err)
	}
	return r
}

// testRepair is the one corruption helper (after etcd's repair_test): it
// applies corrupt to (a copy of) the last segment file's bytes, reopens, and
// checks that recovery keeps exactly the records lying wholly before the
// first damaged byte, reports the cut, and that the log can be appended to
// and reopened afterwards.
func (r *repairer) testRepair(t *testing.T, corrupt func(last []byte) []byte) {
	t.Helper()
	sizes, all, segStart, orig := r.sizes, r.all, r.segStart, r.orig
	damaged := corrupt(bytes.Clone(orig))
	firstBad := len(damaged)
	for i := 0; i < len(damaged) && i < len(orig); i++ {
		if damaged[i] != orig[i] {
			firstBad = i
			break
		}
	}
	if firstBad == len(orig) && len(damaged) >= len(orig) {
		t.Fatalf("corruption changed nothing")
	}
	var want []appended
	for i, a := range all {
		if end := a.lsn + LSN(sizes[i]); a.lsn < segStart || end <= segStart+LSN(firstBad) {
			want = append(want, a)
		}
	}
	wantEnd := segStart
	if n := len(want); n > 0 && want[n-1].lsn >= segStart {
		wantEnd = want[n-1].lsn + LSN(sizes[n-1])
	}

	dir := t.TempDir()
	copyDir(t, r.tmpl, dir)
	if err := os.WriteFile(filepath.Join(dir, r.lastName), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
	if err != nil {
		t.Fatalf("Open after corruption at %d: %v", firstBad, err)
	}
	if rec.End != wantEnd || rec.Records != len(want) {
		t.Fatalf("corruption at %d: recovered end %v, %d records; want %v, %d (%+v)", firstBad, rec.End, rec.Records, wantEnd, len(want), rec)
	}
	cut := int64(len(damaged)) - int64(wantEnd-segStart)
	if rec.Truncated != (cut > 0) || (cut > 0 && (rec.TruncatedAt != wantEnd || rec.TruncatedBytes != cut ||
		rec.File != filepath.Join(dir, r.lastName) || rec.Reason == "")) {
		t.Fatalf("corruption at %d: report %+v, want cut of %d at %v", firstBad, rec, cut, wantEnd)
	}
	checkRecords(t, readAll(t, l, 0, l.End()), want)
	more, err := l.Append(OpSet, []byte("after"), []byte("repair"))
	if err != nil {
		t.Fatal(err)
	}
	if more != Place(wantEnd, Overhead+5+6, testSegSize) {
		t.Fatalf("append after repair at %v", more)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l, rec, err = Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if rec.Truncated || rec.Records != len(want)+1 {
		t.Fatalf("second open after repair: %+v", rec)
	}
}

func TestRepairTruncate(t *testing.T) {
	for name, sizes := range boundaryLayouts() {
		t.Run(name, func(t *testing.T) {
			r := newRepairer(t, sizes)
			last := sizes[len(sizes)-1]
			for cut := 1; cut <= last; cut++ {
				r.testRepair(t, func(b []byte) []byte { return b[:len(b)-cut] })
			}
		})
	}
	t.Run("whole last segment", func(t *testing.T) {
		r := newRepairer(t, boundaryLayouts()["one byte over"])
		// Every byte of the small tail records, then every 61st byte of
		// the large record before them, down to an empty file.
		for cut := 1; ; cut += map[bool]int{true: 1, false: 61}[cut < 200] {
			stop := false
			r.testRepair(t, func(b []byte) []byte {
				cut = min(cut, len(b))
				stop = cut == len(b)
				return b[:len(b)-cut]
			})
			if stop {
				break
			}
		}
	})
}

func TestRepairBitFlip(t *testing.T) {
	for name, sizes := range boundaryLayouts() {
		t.Run(name, func(t *testing.T) {
			r := newRepairer(t, sizes)
			last := sizes[len(sizes)-1]
			for bit := 0; bit < last*8; bit++ {
				r.testRepair(t, func(b []byte) []byte {
					b[len(b)-last+bit/8] ^= 1 << (bit % 8)
					return b
				})
			}
			// A flip in the first record of the last segment loses the rest.
			r.testRepair(t, func(b []byte) []byte { b[5] ^= 0x10; return b })
		})
	}
}

func TestRepairZero(t *testing.T) {
	for name, sizes := range boundaryLayouts() {
		t.Run(name, func(t *testing.T) {
			r := newRepairer(t, sizes)
			for _, region := range []struct{ from, n int }{{0, 4}, {0, 512}, {3, 1}, {20, 8}, {40, 30}, {50, 1000}} {
				r.testRepair(t, func(b []byte) []byte {
					for i := region.from; i < region.from+region.n && i < len(b); i++ {
						b[i] = 0
					}
					return b
				})
			}
			// A zeroed tail appended past the end (a file grown by a crash).
			r.testRepair(t, func(b []byte) []byte { return append(b, make([]byte, 512)...) })
		})
	}
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

func TestRecoveryDamagedMiddleSegment(t *testing.T) {
	dir, _ := threeSegments(t)
	mid := filepath.Join(dir, SegmentName(testSegSize))
	b, _ := os.ReadFile(mid)
	b[1000] ^= 1
	os.WriteFile(mid, b, 0o644)
	before := dirState(t, dir)
	_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), mid) || !strings.Contains(err.Error(), "offset ") {
		t.Fatalf("Open = %v, want ErrCorrupt naming %s and an offset", err, mid)
	}
	t.Log(err)
	if after := dirState(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("Open changed the directory of a damaged log")
	}
}

func TestRecoveryTornMiddleSegment(t *testing.T) {
	dir, _ := threeSegments(t)
	mid := filepath.Join(dir, SegmentName(testSegSize))
	b, _ := os.ReadFile(mid)
	os.WriteFile(mid, b[:len(b)-10], 0o644)
	before := dirState(t, dir)
	_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), mid) {
		t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, mid)
	}
	if after := dirState(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("Open changed the directory of a damaged log")
	}
}

func TestRecoveryMissingMiddleSegment(t *testing.T) {
	dir, _ := threeSegments(t)
	mid := filepath.Join(dir, SegmentName(testSegSize))
	if err := os.Remove(mid); err != nil {
		t.Fatal(err)
	}
	before := dirState(t, dir)
	_, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize})
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), mid) {
		t.Fatalf("Open = %v, want ErrCorrupt naming %s", err, mid)
	}
	t.Log(err)
	if after := dirState(t, dir); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatal("Open changed the directory of a damaged log")
	}
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
	// A segment size that does not match the files is refused.
	dir2, _ := threeSegments(t)
	if _, _, err := Open(Options{Dir: dir2, SegmentSize: 3 * testSegSize}); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("mismatched segment size: %v", err)
	}
	// A smaller segment size must refuse, not truncate the last segment.
	one := t.TempDir()
	l1, _, _ := Open(Options{Dir: one, SegmentSize: testSegSize})
	appendN(t, l1, 100, 100)
	l1.Close()
	before := dirState(t, one)
	if _, _, err := Open(Options{Dir: one, SegmentSize: MaxRecordSize}); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "wrong SegmentSize") {
		t.Fatalf("smaller segment size: %v", err)
	}
	if fmt.Sprint(dirState(t, one)) != fmt.Sprint(before) {
		t.Fatal("Open with a smaller segment size changed the directory")
	}
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
