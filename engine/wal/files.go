package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The START file records the oldest LSN the log retains, durably, so that
// retention is told from a missing segment (see Open).
const (
	startFileName = "START"
	startMagic    = "WST1"
	startFileSize = 16
)

func (l *Log) writeStartFile(start LSN) error {
	var b [startFileSize]byte
	copy(b[:4], startMagic)
	binary.BigEndian.PutUint64(b[4:12], uint64(start))
	binary.BigEndian.PutUint32(b[12:16], Checksum(b[:12]))
	if err := WriteFileDurably(l.path(startFileName), l.noSync, b[:]); err != nil {
		return fmt.Errorf("wal: write START file: %w", err)
	}
	return nil
}

// WriteFileDurably replaces the file at path with data, the parts one
// after another, so that a crash leaves either the old file or the new one
// whole: it writes path+".tmp", fsyncs it, renames it over path and fsyncs
// the directory. With noSync it only writes and renames.
func WriteFileDurably(path string, noSync bool, data ...[]byte) error {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	for _, part := range data {
		if err == nil {
			_, err = f.Write(part)
		}
	}
	if err == nil && !noSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && !noSync {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

// readStartFile returns the start LSN kept by Reset, or 0 when there is no
// START file.
func readStartFile(dir string) (LSN, error) {
	p := filepath.Join(dir, startFileName)
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("wal: read %s: %w", p, err)
	}
	if len(b) != startFileSize || string(b[:4]) != startMagic || Checksum(b[:12]) != binary.BigEndian.Uint32(b[12:16]) {
		return 0, fmt.Errorf("%w: START file %s is damaged (%d bytes)", ErrCorrupt, p, len(b))
	}
	return LSN(binary.BigEndian.Uint64(b[4:12])), nil
}
