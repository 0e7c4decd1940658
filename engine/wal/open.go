package wal

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Open opens the log in opts.Dir, creating the directory if needed, and
// recovers it: every segment is scanned in LSN order and every CRC verified.
// Only a torn tail of the last segment — an incomplete last record, or zeros
// running to the end of the file — is cut, and what is kept is fsynced
// before it counts as flushed. Anything else is damage: a record that does
// not decode (a CRC mismatch, a bad header, a zeroed sector followed by
// data), a sealed segment that is not full size or whose records stop
// where the next segment's first record would have fitted, a segment
// missing from the start or the middle. Damage is an error wrapping
// ErrCorrupt that names the file, the offset and what was expected; then
// nothing is changed.
func Open(opts Options) (*Log, Recovery, error) {
	var rec Recovery
	if opts.Dir == "" {
		return nil, rec, errors.New("wal: Options.Dir is empty")
	}
	segSize := opts.SegmentSize
	if segSize == 0 {
		segSize = DefaultSegmentSize
	}
	if segSize < MaxRecordSize {
		return nil, rec, fmt.Errorf("wal: segment size %d is smaller than the largest record (%d bytes)", segSize, MaxRecordSize)
	}
	if err := os.MkdirAll(opts.Dir, 0o755); err != nil {
		return nil, rec, fmt.Errorf("wal: create directory: %w", err)
	}
	l := &Log{dir: opts.Dir, segSize: segSize, noSync: opts.NoSync}
	l.recent.max = opts.Recent
	if l.recent.max <= 0 {
		l.recent.max = DefaultRecent
	}
	if err := checkControl(opts.Dir, segSize, opts.NoSync); err != nil {
		return nil, rec, err
	}

	start, err := readStartFile(opts.Dir)
	if err != nil {
		return nil, rec, err
	}
	entries, err := os.ReadDir(opts.Dir)
	if err != nil {
		return nil, rec, fmt.Errorf("wal: read directory: %w", err)
	}
	var all []*segment
	for _, e := range entries {
		s, ok := parseSegmentName(e.Name())
		if !ok || !e.Type().IsRegular() {
			continue // not ours: leave it alone
		}
		if uint64(s)%uint64(segSize) != 0 {
			return nil, rec, fmt.Errorf("%w: %s: start is not a multiple of the segment size %d", ErrCorrupt, l.path(e.Name()), segSize)
		}
		all = append(all, &segment{start: s, name: e.Name()})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].start < all[j].start })

	// Segments wholly below START are leftovers of retention (START moves
	// before the files go); ignore them. The log starts in START's
	// segment: one missing there or in the middle was not removed by
	// retention, and is damage.
	var stale []*segment
	for len(all) > 0 && all[0].start+LSN(segSize) <= start {
		stale = append(stale, all[0])
		all = all[1:]
	}
	if first := l.segStartOf(start); len(all) > 0 && all[0].start != first {
		return nil, rec, fmt.Errorf("%w: segment %s is missing: the log starts at %s, and the oldest segment file is %s",
			ErrCorrupt, l.path(SegmentName(first)), start, all[0].name)
	}
	for i := 1; i < len(all); i++ {
		if want := all[i-1].start + LSN(segSize); all[i].start != want {
			return nil, rec, fmt.Errorf("%w: segment %s is missing between %s and %s", ErrCorrupt,
				l.path(SegmentName(want)), all[i-1].name, all[i].name)
		}
	}

	var tail tornTail // what the last segment, or the last two, lose
	var prev scanResult
	for i, s := range all {
		p := l.path(s.name)
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, rec, fmt.Errorf("wal: read %s: %w", p, err)
		}
		if int64(len(data)) > segSize {
			// No write, torn or not, puts bytes past a segment's range.
			return nil, rec, fmt.Errorf("%w: %s is %d bytes, more than the segment size %d", ErrCorrupt, p, len(data), segSize)
		}
		from := 0
		if start > s.start {
			from = int(start - s.start)
		}
		res := scanSegment(data, s.start, from, segSize)
		rec.Records += res.records
		s.size.Store(int64(len(data)))
		if i < len(all)-1 {
			if err := l.checkSealed(p, data, res, all[i+1]); err != nil {
				return nil, rec, err
			}
			prev = res
			continue
		}
		if res.reason != "" && !res.torn {
			return nil, rec, fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, p, res.valid, res.reason)
		}
		tail = tornTail{seg: s, at: res.valid, bytes: int64(res.size - res.valid), reason: res.reason}
		if i > 0 && res.valid == 0 && int64(prev.valid) < segSize {
			// Not one record of the last segment survived: the crash
			// came while the one before was being sealed, or just
			// after. Its padding and this file are the torn tail, so the
			// next record is placed as if the seal never happened.
			what := "empty"
			if res.size > 0 {
				what = res.reason
			}
			tail = tornTail{seg: all[i-1], at: prev.valid, drop: s,
				bytes:  segSize - int64(prev.valid) + int64(res.size),
				reason: fmt.Sprintf("last segment %s %s, and the zero padding of the one before", s.name, what)}
		}
	}
	end := start
	if tail.seg != nil {
		end = tail.seg.start + LSN(tail.at)
		if end < start {
			end = start // START's segment, with nothing past START
		}
	}
	if end < opts.MustReach {
		return nil, rec, fmt.Errorf("%w: %s would end at %s, but it held WAL up to %s durably: WAL is missing (cut short, or its last segments removed); nothing changed",
			ErrCorrupt, opts.Dir, end, opts.MustReach)
	}

	// Everything checked: now change the directory.
	if tail.bytes > 0 {
		if tail.drop != nil {
			p := l.path(tail.drop.name)
			if err := os.Remove(p); err != nil {
				return nil, rec, fmt.Errorf("wal: remove %s: %w", p, err)
			}
			all = all[:len(all)-1]
		}
		p := l.path(tail.seg.name)
		if err := os.Truncate(p, int64(tail.at)); err != nil {
			return nil, rec, fmt.Errorf("wal: truncate %s at offset %d: %w", p, tail.at, err)
		}
		tail.seg.size.Store(int64(tail.at))
		rec.Truncated = true
		rec.TruncatedAt = end
		rec.TruncatedBytes = tail.bytes
		rec.File = p
		rec.Reason = tail.reason
	}
	for _, s := range stale {
		if err := os.Remove(l.path(s.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, rec, fmt.Errorf("wal: remove stale segment: %w", err)
		}
	}
	if len(all) > 0 {
		last := all[len(all)-1]
		p := l.path(last.name)
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err != nil {
			return nil, rec, fmt.Errorf("wal: open %s: %w", p, err)
		}
		// What the last segment keeps may have been written but never
		// fsynced before the crash: it counts as flushed only once it is.
		if !l.noSync {
			if err := f.Sync(); err != nil {
				return nil, rec, errors.Join(fmt.Errorf("wal: fsync %s: %w", p, err), f.Close())
			}
			l.syncs.Add(1)
		}
		l.cur, l.curSeg = f, last
	}
	if rec.Truncated || len(stale) > 0 {
		if err := l.syncDir(); err != nil {
			if l.cur != nil {
				err = errors.Join(err, l.cur.Close())
			}
			return nil, rec, err
		}
	}
	l.segs = all
	l.start.Store(uint64(start))
	l.end.Store(uint64(end))
	l.written.Store(uint64(end))
	l.flushed.Store(uint64(end))
	rec.Start, rec.End, rec.Segments = start, end, len(all)
	return l, rec, nil
}

// tornTail is what recovery cuts: seg is truncated at file offset at, and
// drop, when set, is an empty or torn last segment after it, removed.
type tornTail struct {
	seg    *segment
	at     int
	drop   *segment
	bytes  int64
	reason string
}

// checkSealed checks a segment that has a successor (next): it was sealed,
// so it holds whole records, then zeros up to the full segment size, and
// its records run until the successor's first record would not have
// fitted (records never span segments; see Place).
func (l *Log) checkSealed(p string, data []byte, res scanResult, next *segment) error {
	if int64(len(data)) != l.segSize {
		return fmt.Errorf("%w: %s at offset %d: the file ends, but %s follows it, so it was sealed, and a sealed segment is padded to the segment size %d (cut short or emptied)",
			ErrCorrupt, p, len(data), next.name, l.segSize)
	}
	if res.reason != "" && !allZero(data[res.valid:]) {
		return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, p, res.valid, res.reason)
	}
	if int64(res.valid) == l.segSize {
		return nil
	}
	np := l.path(next.name)
	f, err := os.Open(np)
	if err != nil {
		return fmt.Errorf("wal: open %s: %w", np, err)
	}
	defer f.Close()
	head := make([]byte, MaxRecordSize)
	n, _ := f.ReadAt(head, 0)
	first, size, err := DecodeRecord(head[:n])
	if err != nil || first.LSN != next.start {
		// No whole first record to measure: a torn one is cut, damage
		// is the successor's to report.
		return nil
	}
	if int64(res.valid+size) <= l.segSize {
		return fmt.Errorf("%w: %s at offset %d: the records stop, but the next record (%d bytes, at the start of %s) would have fitted here: records are missing",
			ErrCorrupt, p, res.valid, size, next.name)
	}
	return nil
}

// scanResult is what scanSegment found in one segment file.
type scanResult struct {
	valid   int    // file offset just past the last valid record
	size    int    // file size
	records int    // valid records
	reason  string // why scanning stopped before the end of the file ("" if it did not)
	// torn: what stopped the scan is a torn tail — an incomplete last
	// record, or zeros running to the end of the file — which a crash
	// leaves and recovery may cut. Anything else is damage.
	torn bool
}

// scanSegment verifies the records of a segment file from offset from on.
func scanSegment(data []byte, segStart LSN, from int, segSize int64) scanResult {
	res := scanResult{valid: from, size: len(data)}
	stop := func(torn bool, reason string) scanResult {
		rest := data[res.valid:]
		switch {
		case allZero(rest):
			torn, reason = true, fmt.Sprintf("zeroed tail (%d bytes)", len(rest))
		case torn:
			// A torn write is the last thing in the file: a whole record
			// after it means the "torn" one is damage (a flipped length
			// bit, say), whatever it looks like.
			if at, ok := validRecordAfter(data, segStart, res.valid+1); ok {
				torn, reason = false, fmt.Sprintf("%s, but a valid record follows at offset %d", reason, at)
			}
		}
		res.torn, res.reason = torn, reason
		return res
	}
	pos := from
	for pos < len(data) {
		rest := data[pos:]
		if int64(pos)+Overhead+1 > segSize {
			return stop(false, fmt.Sprintf("%d byte(s) past the last record slot", len(rest)))
		}
		n, err := PeekSize(rest)
		switch {
		case errors.Is(err, io.ErrUnexpectedEOF):
			return stop(true, fmt.Sprintf("torn record (%d of 4 length bytes)", len(rest)))
		case err != nil:
			return stop(false, corruptDetail(err))
		}
		if int64(pos+n) > segSize {
			return stop(false, fmt.Sprintf("record of %d bytes crosses the segment end", n))
		}
		if len(rest) < n {
			return stop(true, fmt.Sprintf("torn record (%d of %d bytes)", len(rest), n))
		}
		r, _, err := DecodeRecord(rest)
		if err != nil {
			// A write torn by a crash can leave a record's length and
			// first bytes with zeros after them, read back from blocks
			// never written: a CRC field of zeros with nothing but zeros
			// after it. Any other mismatch is damage.
			if allZero(rest[n-TrailerSize:]) {
				return stop(true, fmt.Sprintf("torn record (%d bytes, ending in zeros)", n))
			}
			return stop(false, corruptDetail(err))
		}
		if want := segStart + LSN(pos); r.LSN != want {
			return stop(false, fmt.Sprintf("record LSN field %v at position %v", r.LSN, want))
		}
		res.records++
		pos += n
		res.valid = pos
	}
	return res
}

// validRecordAfter looks for a record that decodes, CRC and position
// included, starting at or after offset from of a segment file.
func validRecordAfter(data []byte, segStart LSN, from int) (int, bool) {
	for at := from; at+Overhead < len(data); at++ {
		b := data[at:]
		if RecordLSN(b) != segStart+LSN(at) {
			continue // cheap: most offsets fail here
		}
		if _, _, err := DecodeRecord(b); err == nil {
			return at, true
		}
	}
	return 0, false
}

// corruptDetail strips the sentinel's text from a decode error so it can be
// rewrapped with a file and offset.
func corruptDetail(err error) string {
	return strings.TrimPrefix(err.Error(), ErrCorrupt.Error()+": ")
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
