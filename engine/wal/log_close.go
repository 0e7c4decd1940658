package wal

import (
	"errors"
	"fmt"
	"os"
)

// Close syncs the log and closes its files. Readers stay usable until they
// are closed.
func (l *Log) Close() error {
	l.bufMu.Lock()
	failed := l.failed
	l.bufMu.Unlock()
	if errors.Is(failed, ErrClosed) {
		return nil
	}
	err := failed // a write error already lost the buffer: report it
	if failed == nil {
		_, err = l.Sync()
	}
	l.lockAll()
	defer l.unlockAll()
	l.failed = ErrClosed
	l.recent.reset()
	if l.cur != nil {
		if cerr := l.cur.Close(); err == nil {
			err = cerr
		}
		l.cur, l.curSeg = nil, nil
	}
	return err
}

// Crash simulates a crash, for tests and the demo: the write buffer is
// dropped and the files are cut so that only Flushed()+keepUnsynced bytes of
// the stream survive (capped at Written). A cut that ends mid-record leaves
// a torn record, as a real torn write would. Segment files that start beyond
// the cut are removed. The log is unusable afterwards; Open recovers it.
func (l *Log) Crash(keepUnsynced int64) error {
	l.lockAll()
	defer l.unlockAll()
	if errors.Is(l.failed, ErrClosed) {
		return ErrClosed
	}
	l.failed = ErrClosed
	l.buf, l.pieces = l.buf[:0], l.pieces[:0]
	l.recent.reset()
	if l.cur != nil {
		// A crash closes nothing cleanly: the error is not the point.
		_ = l.cur.Close()
		l.cur, l.curSeg = nil, nil
	}
	cutoff := l.Flushed() + LSN(max(keepUnsynced, 0))
	if w := l.Written(); cutoff > w {
		cutoff = w
	}
	var first error
	for _, s := range l.segs {
		p := l.path(s.name)
		var err error
		switch {
		case s.start > cutoff:
			err = os.Remove(p)
		case s.size.Load() > int64(cutoff-s.start):
			err = os.Truncate(p, int64(cutoff-s.start))
		}
		if err != nil && first == nil {
			first = fmt.Errorf("wal: crash: %w", err)
		}
	}
	l.segs = nil
	return first
}

// CloseAt closes the log, cutting the stream at at for good: segments
// that start past at are removed, the one holding at is cut there (and
// fsynced), and the directory is synced, so Open finds the log ending at
// at. It is how a node that went past a timeline's fork LSN rewinds (at
// must be a record boundary the caller knows, as a fork LSN is). at
// outside [Start, Written] is refused and nothing changes.
func (l *Log) CloseAt(at LSN) error {
	if _, err := l.Sync(); err != nil {
		return err
	}
	l.lockAll()
	defer l.unlockAll()
	if l.failed != nil {
		return l.failed
	}
	if at < l.Start() || at > l.Written() {
		return fmt.Errorf("wal: cannot cut the log at %s: it holds %s..%s", at, l.Start(), l.Written())
	}
	l.failed = ErrClosed
	l.buf, l.pieces = l.buf[:0], l.pieces[:0]
	l.recent.reset()
	if l.cur != nil {
		if err := l.cur.Close(); err != nil {
			return fmt.Errorf("wal: cut at %s: %w", at, err)
		}
		l.cur, l.curSeg = nil, nil
	}
	// Newest first: a crash part-way leaves a longer log, cut again by
	// the next rewind, never one with a hole.
	for i := len(l.segs) - 1; i >= 0; i-- {
		s := l.segs[i]
		p := l.path(s.name)
		switch {
		case s.start > at:
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("wal: cut at %s: %w", at, err)
			}
		case s.size.Load() > int64(at-s.start):
			if err := truncateDurably(p, int64(at-s.start), l.noSync); err != nil {
				return fmt.Errorf("wal: cut at %s: %w", at, err)
			}
		}
	}
	l.segs = nil
	return l.syncDir()
}

// truncateDurably cuts the file at path to size and fsyncs it.
func truncateDurably(path string, size int64, noSync bool) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	if err == nil && !noSync {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}
