package wal

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// DefaultSegmentSize is the segment size used when Options.SegmentSize is 0.
const DefaultSegmentSize = 1 << 20

// chunkSize is the write buffer size past which Append hands bytes to the
// OS, the size of a Reader's pread, and the smallest buffer of the
// in-memory tail (so a tail set below it still holds one chunk).
const chunkSize = 256 << 10

// ErrOutOfOrder means AppendRaw was given a record whose LSN field is not the
// log's next write position.
var ErrOutOfOrder = errors.New("wal: record out of order")

// ErrClosed is returned by operations on a closed (or crashed) log, and
// by Err after Close or Crash.
var ErrClosed = errors.New("wal: log is closed")

// Options configure Open.
type Options struct {
	// Dir holds the segment files. It is created if missing.
	Dir string
	// SegmentSize is the size of one segment file's LSN range. 0 means
	// DefaultSegmentSize; anything else must be at least MaxRecordSize.
	// A directory must always be opened with the same segment size.
	SegmentSize int64
	// NoSync skips every fsync (for benchmarks). Everything else, including
	// how Flushed advances, is identical.
	NoSync bool
	// Recent is how many of the newest written bytes the log keeps in
	// memory for Readers near the end (0 means DefaultRecent). Readers
	// usually trail Written by what one fsync takes to finish, and each
	// Reader that finds its bytes here saves a read of the files.
	Recent int
	// MustReach, when set, is an LSN the log is known to have held
	// durably (a checkpoint was taken there): a log that would end below
	// it after recovery is missing WAL, and Open refuses it, changing
	// nothing, rather than cut a "torn tail" that was damage.
	MustReach LSN
}

// DefaultRecent is the in-memory copy of a log's newest bytes when
// Options.Recent is 0.
const DefaultRecent = 2 << 20

// Recovery reports what Open found in the directory.
type Recovery struct {
	Start, End     LSN    // retained range after recovery (End = next write position)
	Records        int    // valid records scanned
	Segments       int    // segment files retained
	Truncated      bool   // a torn tail was cut
	TruncatedAt    LSN    // where the tail was cut
	TruncatedBytes int64  // how many bytes were cut
	File           string // segment file that was cut
	Reason         string // why, e.g. "torn record (4 of 57 bytes)", "zeroed tail (512 bytes)"
}

// SegmentInfo describes one segment file.
type SegmentInfo struct {
	Name  string // file name, e.g. 0000000000100000.wal
	Start LSN    // first LSN of the segment's range
	Size  int64  // bytes in the file
}

// segment is one segment file's bookkeeping. Size is updated by the
// appending goroutine and read by Segments.
type segment struct {
	start LSN
	name  string
	size  atomic.Int64
}

// piece is a run of the write buffer that lies in one segment: buf[off:] up
// to the next piece starts at lsn.
type piece struct {
	off int
	lsn LSN
}

// Log is a segmented write-ahead log.
//
// # Segment files
//
// The LSN stream is cut into ranges of SegmentSize bytes. The range
// [S, S+SegmentSize) lives in a file named fmt.Sprintf("%016X.wal", S), at
// file offset LSN-S. Files are not preallocated: the last segment's file
// ends where its last record ends. When the next record does not fit, the
// segment is sealed: its file is padded with zeros to the full segment
// size, fsynced, and the next record starts the next segment. The zeros
// after a sealed segment's last record are a gap that readers skip
// (records never span segments; see Place), and a sealed segment of any
// other size was cut short. A new log starts at LSN 0. The directory's
// CONTROL file (see control.go) records the segment size and this format.
//
// After Reset the log starts at an arbitrary record boundary, and after
// RemoveBefore at a later segment; that start is kept in a file named START
// (frozen format, big-endian), written durably before any file is removed,
// so a missing first segment is told from one retention removed:
//
//	offset  size  field
//	0       4     magic "WST1"
//	4       8     start LSN
//	12      4     CRC-32C of bytes [0, 12)
//
// # Durability
//
// Before the first byte is written into a new segment the previous one is
// padded and fsynced, and the directory is fsynced after a segment file is
// created, so after a crash only the last segment can have a torn tail.
// Open verifies every record, cuts only a torn tail of the last segment,
// and refuses damage anywhere.
//
// # Concurrency
//
// One appending goroutine (Append, AppendRaw, Write) may run concurrently
// with one syncing goroutine (Sync), any number of Readers, the status
// getters and RemoveBefore.
type Log struct {
	dir     string
	segSize int64
	noSync  bool

	// Positions. Invariant: start <= flushed <= written <= end.
	end     atomic.Uint64 // next write position, buffered bytes included
	written atomic.Uint64 // handed to the OS
	flushed atomic.Uint64 // durable
	start   atomic.Uint64 // oldest retained LSN
	syncs   atomic.Uint64 // fsyncs of segment files (Sync and segment seals)

	// bufMu guards the write buffer and failed.
	bufMu  sync.Mutex
	buf    []byte
	pieces []piece
	failed error // sticky: set after a write error, Close or Crash

	// writeMu serializes Write; its holder owns spare, spareP and writes
	// into cur.
	writeMu sync.Mutex
	spare   []byte
	spareP  []piece

	// syncMu guards cur and curSeg: they change only with writeMu and syncMu
	// both held, so Sync can fsync cur without it being closed underneath.
	syncMu sync.Mutex
	cur    *os.File // last segment, open for writing; nil before the first
	curSeg *segment

	// mu guards segs, the retained segment files in LSN order.
	mu   sync.Mutex
	segs []*segment

	// recent holds the newest written bytes for Readers near the end.
	recent recent
}

// SegmentName is the file name of the segment starting at start.
func SegmentName(start LSN) string { return fmt.Sprintf("%016X.wal", uint64(start)) }

// parseSegmentName returns the start LSN of a segment file name, or false
// when name is not one.
func parseSegmentName(name string) (LSN, bool) {
	if len(name) != 20 || !strings.HasSuffix(name, ".wal") {
		return 0, false
	}
	v, err := strconv.ParseUint(name[:16], 16, 64)
	if err != nil || SegmentName(LSN(v)) != name {
		return 0, false
	}
	return LSN(v), true
}

// IsLogFile reports whether name is a file the log keeps in its directory:
// a segment, or the START or CONTROL file (or their temporary twins while
// they are being replaced). Anything else in the directory is not the log's.
func IsLogFile(name string) bool {
	switch name {
	case startFileName, startFileName + ".tmp", controlFileName, controlFileName + ".tmp":
		return true
	}
	_, ok := parseSegmentName(name)
	return ok
}

func (l *Log) path(name string) string { return filepath.Join(l.dir, name) }

func (l *Log) segStartOf(lsn LSN) LSN { return lsn - lsn%LSN(l.segSize) }

// SegmentSize returns the log's segment size.
func (l *Log) SegmentSize() int64 { return l.segSize }

// End returns the next write position, buffered bytes included.
func (l *Log) End() LSN { return LSN(l.end.Load()) }

// Written returns the position up to which bytes were handed to the OS.
func (l *Log) Written() LSN { return LSN(l.written.Load()) }

// Flushed returns the position up to which the log is durable.
func (l *Log) Flushed() LSN { return LSN(l.flushed.Load()) }

// Start returns the oldest retained LSN.
func (l *Log) Start() LSN { return LSN(l.start.Load()) }

// Syncs returns how many times a segment file was fsynced (by Sync, when
// a full segment was sealed, or by Open making a recovered tail durable).
// With NoSync it stays 0.
func (l *Log) Syncs() uint64 { return l.syncs.Load() }

func (l *Log) advanceFlushed(to LSN) {
	for {
		old := l.flushed.Load()
		if uint64(to) <= old || l.flushed.CompareAndSwap(old, uint64(to)) {
			return
		}
	}
}

// Err returns the error that made the log unusable — a failed write (disk
// full, I/O error), Close or Crash — or nil while it works. It names the
// file and offset where a write failed.
func (l *Log) Err() error {
	l.bufMu.Lock()
	defer l.bufMu.Unlock()
	return l.failed
}

// SegmentCount is how many segment files the log has: len(Segments())
// without building the list.
func (l *Log) SegmentCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.segs)
}

// Segments lists the retained segment files in LSN order.
func (l *Log) Segments() []SegmentInfo {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]SegmentInfo, len(l.segs))
	for i, s := range l.segs {
		out[i] = SegmentInfo{Name: s.name, Start: s.start, Size: s.size.Load()}
	}
	return out
}

// startsPiece reports whether a record at pos starts a new buffer piece:
// when nothing is buffered (buffered bytes), or pos does not continue the
// buffered bytes, which end at end, in the same segment.
func (l *Log) startsPiece(buffered int, pos, end LSN) bool {
	return buffered == 0 || pos != end || uint64(pos)%uint64(l.segSize) == 0
}

// addPieceLocked starts a new buffer piece for a record at pos when
// startsPiece says so. bufMu is held.
func (l *Log) addPieceLocked(pos, end LSN) {
	if l.startsPiece(len(l.buf), pos, end) {
		l.pieces = append(l.pieces, piece{off: len(l.buf), lsn: pos})
	}
}

// Append encodes a record at the log's next position into the write buffer
// and returns its LSN. The record reaches the OS on the next Write (or when
// the buffer passes 256 KiB) and is durable after a Sync.
func (l *Log) Append(op Op, key, value []byte) (LSN, error) {
	rs := [1]Record{{Op: op, Key: key, Value: value}}
	err := l.AppendBatch(rs[:])
	return rs[0].LSN, err
}

// AppendBatch appends records in order, as Append would one by one, under
// one lock, and sets each one's LSN. Nothing is appended when one of them
// is invalid.
func (l *Log) AppendBatch(rs []Record) error {
	for i := range rs {
		if err := rs[i].Validate(); err != nil {
			return err
		}
	}
	l.bufMu.Lock()
	if l.failed != nil {
		err := l.failed
		l.bufMu.Unlock()
		return err
	}
	// end is published once, after the batch and before bufMu is released:
	// no one needs the positions in between, and whoever sees the new End
	// and then calls Write or Sync takes bufMu, so finds the bytes buffered.
	end := LSN(l.end.Load())
	for i := range rs {
		r := &rs[i]
		size := r.Size()
		r.LSN = Place(end, size, l.segSize)
		l.addPieceLocked(r.LSN, end)
		l.buf = appendValid(l.buf, *r)
		end = r.LSN + LSN(size)
	}
	l.end.Store(uint64(end))
	full := len(l.buf) >= chunkSize
	l.bufMu.Unlock()
	if full {
		return l.Write()
	}
	return nil
}

// AppendRaw buffers one encoded record received from the leader. Its CRC is
// the caller's to check; its LSN field must equal Place(End(), len(rec)),
// else the error wraps ErrOutOfOrder.
func (l *Log) AppendRaw(rec []byte) error { return l.AppendRawRun(rec) }

// AppendRawRun buffers encoded records lying back to back in run, as
// AppendRaw would one by one, under one lock. The records before one that
// is malformed or out of order are kept; the error says which.
func (l *Log) AppendRawRun(run []byte) error {
	l.bufMu.Lock()
	if l.failed != nil {
		err := l.failed
		l.bufMu.Unlock()
		return err
	}
	var err error
	// Records that continue one another in one segment are copied
	// together: pending is the run's bytes not yet in buf.
	end := LSN(l.end.Load())
	pending := 0
	for pending < len(run) {
		rest := run[pending:]
		n, perr := PeekSize(rest)
		if perr != nil || n > len(rest) {
			err = fmt.Errorf("%w: AppendRaw of %d bytes is not whole records", ErrCorrupt, len(rest))
			break
		}
		want := Place(end, n, l.segSize)
		if got := RecordLSN(rest); got != want {
			err = fmt.Errorf("%w: record at %v, next position is %v", ErrOutOfOrder, got, want)
			break
		}
		if l.startsPiece(len(l.buf)+pending, want, end) {
			// What came before goes in first, so the piece starts at
			// the right offset.
			l.buf = append(l.buf, run[:pending]...)
			run, pending = run[pending:], 0
			l.addPieceLocked(want, end)
		}
		pending += n
		end = want + LSN(n)
	}
	l.buf = append(l.buf, run[:pending]...)
	l.end.Store(uint64(end))
	full := len(l.buf) >= chunkSize
	l.bufMu.Unlock()
	if err != nil {
		return err
	}
	if full {
		return l.Write()
	}
	return nil
}

// RemoveBefore removes, oldest first, the whole segments whose range ends at
// or before lsn, never the last segment file nor the segment holding End.
// Start advances to the first retained segment, and the START file says so
// durably before any file goes: a segment missing below it was removed, one
// missing above it is damage.
func (l *Log) RemoveBefore(lsn LSN) (removed int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lim := l.segStartOf(l.End()); lsn > lim {
		lsn = lim
	}
	n := 0
	for n+1 < len(l.segs) && l.segs[n].start+LSN(l.segSize) <= lsn {
		n++
	}
	if n == 0 {
		return 0, nil
	}
	if next := l.segs[n].start; uint64(next) > l.start.Load() {
		if err := l.writeStartFile(next); err != nil {
			return 0, err
		}
		// Start moves before the files go, so readers see ErrWALRemoved
		// rather than a missing file.
		l.start.Store(uint64(next))
	}
	for range n {
		s := l.segs[0]
		if err := os.Remove(l.path(s.name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return removed, fmt.Errorf("wal: remove %s: %w", l.path(s.name), err)
		}
		l.segs = l.segs[1:]
		removed++
	}
	return removed, l.syncDir()
}

// lockAll takes every lock, in order.
func (l *Log) lockAll() {
	l.writeMu.Lock()
	l.syncMu.Lock()
	l.bufMu.Lock()
	l.mu.Lock()
}

func (l *Log) unlockAll() {
	l.mu.Unlock()
	l.bufMu.Unlock()
	l.syncMu.Unlock()
	l.writeMu.Unlock()
}

// Reset empties the log and makes it start at start, which must be a record
// boundary of the stream (a base backup's LSN). Buffered bytes are dropped
// and every segment file removed. The new start is kept in the START file, so
// it survives Open.
func (l *Log) Reset(start LSN) error {
	l.lockAll()
	defer l.unlockAll()
	if l.failed != nil {
		return l.failed
	}
	l.buf, l.pieces = l.buf[:0], l.pieces[:0]
	l.recent.reset()
	if l.cur != nil {
		// Its file is removed just below: a failed close loses nothing
		// that is wanted.
		_ = l.cur.Close()
		l.cur, l.curSeg = nil, nil
	}
	// Raise start first so readers see ErrWALRemoved rather than a hole.
	l.start.Store(uint64(start))
	// Newest first: a crash part-way leaves the old log, shorter, rather
	// than one with its first segments missing.
	for n := len(l.segs); n > 0; n-- {
		p := l.path(l.segs[n-1].name)
		if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return l.failLocked(fmt.Errorf("wal: reset: remove %s: %w", p, err))
		}
		l.segs = l.segs[:n-1]
	}
	if err := l.syncDir(); err != nil {
		return l.failLocked(err)
	}
	if err := l.writeStartFile(start); err != nil {
		return l.failLocked(err)
	}
	// Create the start's segment now so that Start stays start after a
	// reopen even when the first record lands in the next segment.
	f, seg, err := l.createSegment(l.segStartOf(start))
	if err != nil {
		return l.failLocked(err)
	}
	l.cur, l.curSeg = f, seg
	l.segs = append(l.segs, seg)
	l.end.Store(uint64(start))
	l.written.Store(uint64(start))
	l.flushed.Store(uint64(start))
	return nil
}

// failLocked makes err sticky. bufMu is held.
func (l *Log) failLocked(err error) error {
	if l.failed == nil {
		l.failed = err
	}
	return err
}
