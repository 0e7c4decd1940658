package wal

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

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

// outcome is what recovery must do with a damaged last segment.
type outcome int

const (
	cutTorn outcome = iota // a torn tail: cut at the first damaged record
	refused                // damage: Open fails naming file and offset, changing nothing
)

func (o outcome) String() string { return [...]string{"cut", "refused"}[o] }

// recordAt is the offset in the last segment of the record holding byte
// off (off itself past the last record).
func (r *repairer) recordAt(off int) int {
	for i, a := range r.all {
		if a.lsn < r.segStart {
			continue
		}
		start := int(a.lsn - r.segStart)
		if off < start+r.sizes[i] {
			return start
		}
	}
	return off
}

// testRepair is the one corruption helper (after etcd's repair_test): it
// applies corrupt to (a copy of) the last segment file's bytes and reopens.
// For cutTorn it checks that recovery keeps exactly the records lying
// wholly before the first damaged byte, reports the cut, and that the log
// can be appended to and reopened; for refused, that Open fails with
// ErrCorrupt naming the file and an offset, and the directory is as it
// was.
func (r *repairer) testRepair(t *testing.T, want outcome, corrupt func(last []byte) []byte) {
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
	dir := t.TempDir()
	copyDir(t, r.tmpl, dir)
	lastPath := filepath.Join(dir, r.lastName)
	if err := os.WriteFile(lastPath, damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	if want == refused {
		before := dirState(t, dir)
		l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
		if err == nil {
			l.Close()
			t.Fatalf("damage at %d: Open accepted it (%+v)", firstBad, rec)
		}
		if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), lastPath) || !strings.Contains(err.Error(), "at offset ") {
			t.Fatalf("damage at %d: %v, want ErrCorrupt naming %s and an offset", firstBad, err, lastPath)
		}
		if fmt.Sprint(dirState(t, dir)) != fmt.Sprint(before) {
			t.Fatalf("damage at %d: Open changed the directory", firstBad)
		}
		return
	}

	var kept []appended
	var wantEnd LSN
	for i, a := range all {
		if end := a.lsn + LSN(sizes[i]); a.lsn < segStart || end <= segStart+LSN(firstBad) {
			kept = append(kept, a)
			wantEnd = end
		}
	}
	l, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: true})
	if err != nil {
		t.Fatalf("Open after a torn tail at %d: %v", firstBad, err)
	}
	if rec.End != wantEnd || rec.Records != len(kept) {
		t.Fatalf("torn tail at %d: recovered end %v, %d records; want %v, %d (%+v)", firstBad, rec.End, rec.Records, wantEnd, len(kept), rec)
	}
	// When the last segment keeps no record, the padding of the one
	// before is cut too, as if it had never been sealed.
	wantFile := lastPath
	if wantEnd < segStart {
		wantFile = filepath.Join(dir, SegmentName(segStart-testSegSize))
	}
	cut := int64(segStart) + int64(len(damaged)) - int64(wantEnd)
	if rec.Truncated != (cut > 0) || (cut > 0 && (rec.TruncatedAt != wantEnd || rec.TruncatedBytes != cut ||
		rec.File != wantFile || rec.Reason == "")) {
		t.Fatalf("torn tail at %d: report %+v, want cut of %d at %v in %s", firstBad, rec, cut, wantEnd, wantFile)
	}
	checkRecords(t, readAll(t, l, 0, l.End()), kept)
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
	if rec.Truncated || rec.Records != len(kept)+1 {
		t.Fatalf("second open after repair: %+v", rec)
	}
}

// tornAt says whether b, from the record starting at offset a on, is a torn
// tail as Open defines it: zeros running to the end of the file, from
// anywhere in the record's CRC field or before; or the file's last record
// incomplete (fewer than 4 bytes, or shorter than its length). last says
// whether the record at a was the file's last before the damage.
func tornAt(b []byte, a int, last bool) bool {
	rest := b[a:]
	if allZero(rest) {
		return true
	}
	if len(rest) < 4 {
		return last
	}
	n := int(binary.BigEndian.Uint32(rest))
	if n < Overhead+1 || n > MaxRecordSize {
		return false
	}
	if n > len(rest) {
		return last
	}
	return allZero(rest[n-TrailerSize:])
}

// Any truncation of the last segment is a torn tail: cut, never refused.
func TestRepairTruncate(t *testing.T) {
	for name, sizes := range boundaryLayouts() {
		t.Run(name, func(t *testing.T) {
			r := newRepairer(t, sizes)
			last := sizes[len(sizes)-1]
			for cut := 1; cut <= last; cut++ {
				r.testRepair(t, cutTorn, func(b []byte) []byte { return b[:len(b)-cut] })
			}
		})
	}
	t.Run("whole last segment", func(t *testing.T) {
		r := newRepairer(t, boundaryLayouts()["one byte over"])
		// Every byte of the small tail records, then every 61st byte of
		// the large record before them, down to an empty file.
		for cut := 1; ; cut += map[bool]int{true: 1, false: 61}[cut < 200] {
			stop := false
			r.testRepair(t, cutTorn, func(b []byte) []byte {
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

// A flipped bit is damage wherever it is, the last record included, and is
// refused: only a flip in the last record's length that makes it run past
// the end of the file looks like a torn record, and is cut as one.
func TestRepairBitFlip(t *testing.T) {
	for name, sizes := range boundaryLayouts() {
		t.Run(name, func(t *testing.T) {
			r := newRepairer(t, sizes)
			// The last segment's last three records (or all of them, when
			// it holds fewer).
			tail := 0
			for i := len(sizes) - 1; i >= len(sizes)-3 && i >= 0 && r.all[i].lsn >= r.segStart; i-- {
				tail += sizes[i]
			}
			// Every bit of the last record, every fifth before it.
			lastRec := len(r.orig) - sizes[len(sizes)-1]
			for bit := 0; bit < tail*8; bit++ {
				at := len(r.orig) - tail + bit/8
				if at < lastRec && bit%5 != 0 {
					continue
				}
				flip := func(b []byte) []byte { b[at] ^= 1 << (bit % 8); return b }
				want := refused
				if a := r.recordAt(at); tornAt(flip(bytes.Clone(r.orig)), a, a == lastRec) {
					want = cutTorn
					if at >= a+4 {
						t.Fatalf("bit %d at %d, past the length field, taken for a torn tail", bit, at)
					}
				}
				r.testRepair(t, want, flip)
			}
			// A flip in the first record of the last segment.
			r.testRepair(t, refused, func(b []byte) []byte { b[5] ^= 0x10; return b })
		})
	}
}

// A zeroed region followed by data is damage; zeros running to the end of
// the file are a torn tail.
func TestRepairZero(t *testing.T) {
	for name, sizes := range boundaryLayouts() {
		t.Run(name, func(t *testing.T) {
			r := newRepairer(t, sizes)
			for _, region := range []struct{ from, n int }{{0, 4}, {0, 512}, {3, 1}, {20, 8}, {40, 30}, {50, 1000}} {
				zero := func(b []byte) []byte {
					for i := region.from; i < region.from+region.n && i < len(b); i++ {
						b[i] = 0
					}
					return b
				}
				want := refused
				a := r.recordAt(region.from)
				if tornAt(zero(bytes.Clone(r.orig)), a, a == len(r.orig)-sizes[len(sizes)-1]) {
					want = cutTorn
				}
				r.testRepair(t, want, zero)
			}
			// A zeroed tail appended past the end (a file grown by a crash).
			r.testRepair(t, cutTorn, func(b []byte) []byte { return append(b, make([]byte, 512)...) })
		})
	}
	// One 512-byte sector zeroed in the middle of a last segment full of
	// small records: 30-odd fsynced records that recovery must not drop.
	r := newRepairer(t, slices.Repeat([]int{100}, 120))
	for _, sector := range []int{0, 512, 4096, 8192} {
		r.testRepair(t, refused, func(b []byte) []byte { clear(b[sector : sector+512]); return b })
	}
}
