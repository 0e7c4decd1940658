package wal

import (
	"errors"
	"fmt"
	"os"
)

// Write hands the buffered bytes to the OS, one write(2) per segment piece,
// and advances Written.
func (l *Log) Write() error {
	l.writeMu.Lock()
	defer l.writeMu.Unlock()
	return l.writeLocked()
}

func (l *Log) writeLocked() error {
	l.bufMu.Lock()
	if l.failed != nil {
		err := l.failed
		l.bufMu.Unlock()
		return err
	}
	if len(l.buf) == 0 {
		l.bufMu.Unlock()
		return nil
	}
	l.buf, l.spare = l.spare[:0], l.buf
	l.pieces, l.spareP = l.spareP[:0], l.pieces
	l.bufMu.Unlock()

	for i, p := range l.spareP {
		stop := len(l.spare)
		if i+1 < len(l.spareP) {
			stop = l.spareP[i+1].off
		}
		if err := l.writePiece(p.lsn, l.spare[p.off:stop]); err != nil {
			l.bufMu.Lock()
			if l.failed == nil {
				l.failed = err
			}
			l.bufMu.Unlock()
			return err
		}
	}
	return nil
}

// writePiece writes data at lsn, all inside one segment. writeMu is held.
func (l *Log) writePiece(lsn LSN, data []byte) error {
	segStart := l.segStartOf(lsn)
	if l.curSeg == nil || l.curSeg.start != segStart {
		if err := l.switchTo(segStart); err != nil {
			return err
		}
	}
	off := int64(lsn - segStart)
	if _, err := l.cur.WriteAt(data, off); err != nil {
		return fmt.Errorf("wal: write %s at offset %d: %w", l.path(l.curSeg.name), off, err)
	}
	if e := off + int64(len(data)); e > l.curSeg.size.Load() {
		l.curSeg.size.Store(e)
	}
	l.recent.remember(lsn, data)
	l.written.Store(uint64(lsn) + uint64(len(data)))
	return nil
}

// switchTo seals the current segment (pad to full size, fsync, close) and
// creates the segment starting at segStart, then fsyncs the directory.
// writeMu is held.
func (l *Log) switchTo(segStart LSN) error {
	l.syncMu.Lock()
	defer l.syncMu.Unlock()
	if l.cur != nil {
		if err := l.cur.Truncate(l.segSize); err != nil {
			return fmt.Errorf("wal: pad %s to the segment size: %w", l.path(l.curSeg.name), err)
		}
		l.curSeg.size.Store(l.segSize)
		if !l.noSync {
			if err := l.cur.Sync(); err != nil {
				return fmt.Errorf("wal: fsync %s: %w", l.path(l.curSeg.name), err)
			}
			l.syncs.Add(1)
		}
		l.advanceFlushed(l.Written())
		if err := l.cur.Close(); err != nil {
			return fmt.Errorf("wal: close %s: %w", l.path(l.curSeg.name), err)
		}
		l.cur, l.curSeg = nil, nil
	}
	f, seg, err := l.createSegment(segStart)
	if err != nil {
		return err
	}
	l.mu.Lock()
	l.segs = append(l.segs, seg)
	l.mu.Unlock()
	l.cur, l.curSeg = f, seg
	return nil
}

// createSegment creates the empty segment file starting at start, open for
// writing, and makes it durable in the directory.
func (l *Log) createSegment(start LSN) (*os.File, *segment, error) {
	seg := &segment{start: start, name: SegmentName(start)}
	f, err := os.OpenFile(l.path(seg.name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("wal: create segment: %w", err)
	}
	if err := l.syncDir(); err != nil {
		return nil, nil, errors.Join(err, f.Close())
	}
	return f, seg, nil
}

func (l *Log) syncDir() error {
	if l.noSync {
		return nil
	}
	if err := syncDir(l.dir); err != nil {
		return fmt.Errorf("wal: %w", err)
	}
	return nil
}

// syncDir fsyncs a directory, so that files created, renamed or removed in
// it stay that way after a crash.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open directory: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Sync writes the buffer, then fsyncs the segment holding unsynced data
// (earlier segments were fsynced when they were sealed). Flushed advances to
// what was written before the fsync began, and Sync returns it. Appends may
// go on while Sync waits for the disk.
func (l *Log) Sync() (LSN, error) {
	if err := l.Write(); err != nil {
		return l.Flushed(), err
	}
	l.syncMu.Lock()
	w := l.Written()
	var err error
	if l.cur != nil && !l.noSync {
		if err = l.cur.Sync(); err != nil {
			err = fmt.Errorf("wal: fsync %s: %w", l.path(l.curSeg.name), err)
		}
		l.syncs.Add(1)
	}
	l.syncMu.Unlock()
	if err != nil {
		return l.Flushed(), err
	}
	l.advanceFlushed(w)
	return l.Flushed(), nil
}
