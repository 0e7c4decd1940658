package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
)

// Reader reads encoded records from a Log, in LSN order: from the log's
// copy of its newest bytes when it is that close to the end, else from the
// files with pread in large chunks. It has its own file handles, so it may
// run concurrently with the appending and syncing goroutines. One Reader is
// for one goroutine.
type Reader struct {
	l    *Log
	pos  LSN    // position of the next record
	last Record // the last record Next returned or Run took, decoded

	buf    []byte
	bufLSN LSN  // LSN of buf[0]
	n      int  // valid bytes in buf
	cached bool // buf came from the log's memory, not its files

	f    *os.File // segment file being read
	fSeg LSN      // its start
}

// NewReader returns a Reader positioned at from, which must be a record
// position or End. It fails with an error wrapping ErrWALRemoved when from is
// older than Start.
func (l *Log) NewReader(from LSN) (*Reader, error) {
	if start := l.Start(); from < start {
		return nil, fmt.Errorf("%w: %v is before the oldest retained LSN %v", ErrWALRemoved, from, start)
	}
	if end := l.End(); from > end {
		return nil, fmt.Errorf("wal: reader start %v is past the end of the log %v", from, end)
	}
	return &Reader{l: l, pos: from, buf: make([]byte, min(chunkSize, l.segSize))}, nil
}

// Pos returns the position of the next record.
func (r *Reader) Pos() LSN { return r.pos }

// Close releases the reader's file handle.
func (r *Reader) Close() error {
	if r.f == nil {
		return nil
	}
	err := r.f.Close()
	r.f = nil
	return err
}

// Next returns the next encoded record lying wholly below limit, skipping the
// unused tails of segments. It returns io.EOF when there is none below limit
// yet; a later call with a higher limit continues. The slice aliases an
// internal buffer that is valid until the next call. Errors wrap
// ErrWALRemoved when the segment needed was removed, and ErrCorrupt (with
// file and offset) when the bytes there do not decode or the record's LSN
// field is not its position.
//
// Use Written as the limit on the leader and Flushed on a follower; a limit
// past Written is treated as Written.
func (r *Reader) Next(limit LSN) ([]byte, error) {
	seg := LSN(r.l.segSize)
	if w := r.l.Written(); limit > w {
		limit = w
	}
	for {
		if start := r.l.Start(); r.pos < start {
			return nil, fmt.Errorf("%w: reader at %v, oldest retained LSN is %v", ErrWALRemoved, r.pos, start)
		}
		if r.pos >= limit {
			return nil, io.EOF
		}
		segStart := r.l.segStartOf(r.pos)
		segEnd := segStart + seg
		if segEnd-r.pos < Overhead+1 {
			// No record fits in what is left: the next one is in the next segment.
			if limit >= segEnd {
				r.pos = segEnd
				continue
			}
			return nil, io.EOF
		}
		b, err := r.have(4, segStart, segEnd, limit)
		if err != nil {
			return nil, err
		}
		if len(b) == 0 || limit >= segEnd && len(b) >= 4 && binary.BigEndian.Uint32(b) == 0 {
			// The file ends here, or (the log having moved on to the next
			// segment) its zero padding starts: the rest of the segment is
			// a gap.
			if limit >= segEnd {
				r.pos = segEnd
				continue
			}
			return nil, r.short(1, 0)
		}
		if len(b) < 4 {
			return nil, r.short(4, len(b))
		}
		size, err := PeekSize(b)
		if err != nil {
			return nil, r.corrupt(corruptDetail(err))
		}
		if r.pos+LSN(size) > limit {
			return nil, io.EOF
		}
		if r.pos+LSN(size) > segEnd {
			return nil, r.corrupt(fmt.Sprintf("record of %d bytes crosses the segment end", size))
		}
		if len(b) < size {
			if b, err = r.have(size, segStart, segEnd, limit); err != nil {
				return nil, err
			}
			if len(b) < size {
				return nil, r.short(size, len(b))
			}
		}
		// Bytes from the log's memory were encoded by this process or
		// CRC-checked before AppendRaw; bytes from a file are checked.
		rec, _, err := decodeRecord(b[:size], !r.cached)
		if err != nil {
			return nil, r.corrupt(corruptDetail(err))
		}
		if rec.LSN != r.pos {
			return nil, r.corrupt(fmt.Sprintf("record LSN field %v is not its position", rec.LSN))
		}
		r.pos += LSN(size)
		r.last = rec
		return b[:size], nil
	}
}

// Run returns the next records as one slice: at least one record (else
// io.EOF or an error, as Next), then more while they are whole in the
// reader's buffer, in the same segment, below limit, and within max bytes
// in all. It appends them, decoded, to recs and returns that too; keys and
// values alias the slice, which is valid until the next call. An error
// after the first record ends the run early and is returned by the next
// call.
func (r *Reader) Run(limit LSN, max int, recs []Record) ([]byte, []Record, error) {
	first, err := r.Next(limit)
	if err != nil {
		return nil, recs, err
	}
	recs = append(recs, r.last)
	if w := r.l.Written(); limit > w {
		limit = w
	}
	off := int(r.pos-r.bufLSN) - len(first) // first's offset in buf
	total := len(first)
	segEnd := r.l.segStartOf(r.pos-1) + LSN(r.l.segSize) // first's segment
	// The rest of the run lies wholly in the buffer, whose bytes were
	// checked as they came in or are checked here, so the run walks it
	// directly rather than through Next, which would look at the log's
	// positions again for every record. Anything that does not fit or
	// does not decode ends the run, unconsumed: the next call's Next
	// reports it.
	for {
		rest := r.buf[int(r.pos-r.bufLSN):r.n]
		size, err := PeekSize(rest)
		if err != nil || size > len(rest) || total+size > max || r.pos+LSN(size) > min(limit, segEnd) {
			break
		}
		rec, _, err := decodeRecord(rest[:size], !r.cached)
		if err != nil || rec.LSN != r.pos {
			break
		}
		r.pos += LSN(size)
		r.last = rec
		recs = append(recs, rec)
		total += size
	}
	return r.buf[off : off+total], recs, nil
}

// Record returns the record the last successful Next returned, already
// decoded and checked (CRC and position), so a caller that wants the fields
// need not decode it again. Key and Value alias the same buffer as Next's
// slice and are valid as long as it is.
func (r *Reader) Record() Record { return r.last }

// have returns the buffered bytes at r.pos, reading from the file when fewer
// than need are buffered. Bytes are only read below limit, so everything in
// the buffer was handed to the OS before it was read and never changes.
func (r *Reader) have(need int, segStart, segEnd, limit LSN) ([]byte, error) {
	if r.pos >= r.bufLSN && r.pos < r.bufLSN+LSN(r.n) {
		if b := r.buf[r.pos-r.bufLSN : r.n]; len(b) >= need {
			return b, nil
		}
	}
	want := min(limit, segEnd) - r.pos
	if want > LSN(len(r.buf)) {
		want = LSN(len(r.buf))
	}
	if n := r.l.recent.read(r.buf[:want], r.pos); n >= need {
		r.bufLSN, r.n, r.cached = r.pos, n, true
		// Caught up with memory: hold no file (it is reopened if the
		// reader falls behind again).
		r.Close()
		return r.buf[:n], nil
	}
	if r.f == nil || r.fSeg != segStart {
		if r.f != nil {
			r.f.Close()
			r.f = nil
		}
		p := r.l.path(SegmentName(segStart))
		f, err := os.Open(p)
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: segment %s for %v is gone", ErrWALRemoved, p, r.pos)
		}
		if err != nil {
			return nil, fmt.Errorf("wal: open %s: %w", p, err)
		}
		r.f, r.fSeg = f, segStart
	}
	n, err := r.f.ReadAt(r.buf[:want], int64(r.pos-segStart))
	if err != nil && err != io.EOF {
		r.n = 0
		return nil, fmt.Errorf("wal: read %s at offset %d: %w", r.l.path(SegmentName(segStart)), r.pos-segStart, err)
	}
	r.bufLSN, r.n, r.cached = r.pos, n, false
	return r.buf[:n], nil
}

// short reports a file that ends inside a record below the limit: still
// being written when the record is past Written, damage otherwise.
func (r *Reader) short(need, got int) error {
	if r.pos+LSN(need) > r.l.Written() {
		return io.EOF
	}
	return r.corrupt(fmt.Sprintf("file ends inside a record (%d of %d bytes)", got, need))
}

func (r *Reader) corrupt(detail string) error {
	return fmt.Errorf("%w: %s at offset %d: %s", ErrCorrupt, r.l.path(SegmentName(r.l.segStartOf(r.pos))), r.pos-r.l.segStartOf(r.pos), detail)
}
