package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// # The CONTROL file (frozen format)
//
// A log's directory records the settings its files depend on in a file
// named CONTROL, written once when the log is created, as PostgreSQL's
// control file records wal_segment_size. Big-endian:
//
//	offset  size  field
//	0       4     magic "WSC1"
//	4       4     format version (ControlVersion)
//	8       8     segment size in bytes
//	16      4     CRC-32C of bytes [0, 16)
//
// Format version 1 means: segment files as described on Log, with every
// sealed segment padded with zeros to the full segment size.

// ControlVersion is the on-disk format version a log writes and reads.
const ControlVersion = 1

const (
	controlFileName = "CONTROL"
	controlMagic    = "WSC1"
	controlFileSize = 20
)

// ErrSegmentSize means a log's directory was made with another segment size
// than the one it is opened with. A log's segment size never changes.
var ErrSegmentSize = errors.New("wal: segment size differs from the one the directory was made with")

// Control is what a log's CONTROL file records.
type Control struct {
	SegmentSize int64
}

// ReadControl reads the CONTROL file of the log in dir. It returns an error
// wrapping os.ErrNotExist when there is none, and one wrapping ErrCorrupt
// when it is damaged or of an unknown format version.
func ReadControl(dir string) (Control, error) {
	p := filepath.Join(dir, controlFileName)
	b, err := os.ReadFile(p)
	if err != nil {
		return Control{}, fmt.Errorf("wal: read %s: %w", p, err)
	}
	if len(b) != controlFileSize || string(b[:4]) != controlMagic || Checksum(b[:16]) != binary.BigEndian.Uint32(b[16:20]) {
		return Control{}, fmt.Errorf("%w: CONTROL file %s is damaged (%d bytes)", ErrCorrupt, p, len(b))
	}
	if v := binary.BigEndian.Uint32(b[4:8]); v != ControlVersion {
		return Control{}, fmt.Errorf("%w: CONTROL file %s says format version %d; this walship reads version %d", ErrCorrupt, p, v, ControlVersion)
	}
	c := Control{SegmentSize: int64(binary.BigEndian.Uint64(b[8:16]))}
	if c.SegmentSize < MaxRecordSize {
		return Control{}, fmt.Errorf("%w: CONTROL file %s says segment size %d, below the largest record", ErrCorrupt, p, c.SegmentSize)
	}
	return c, nil
}

func writeControl(dir string, c Control, noSync bool) error {
	var b [controlFileSize]byte
	copy(b[:4], controlMagic)
	binary.BigEndian.PutUint32(b[4:8], ControlVersion)
	binary.BigEndian.PutUint64(b[8:16], uint64(c.SegmentSize))
	binary.BigEndian.PutUint32(b[16:20], Checksum(b[:16]))
	if err := WriteFileDurably(filepath.Join(dir, controlFileName), noSync, b[:]); err != nil {
		return fmt.Errorf("wal: write CONTROL file: %w", err)
	}
	return nil
}

// checkControl makes sure the log in dir was made with segSize, writing
// CONTROL for a new log. A directory that holds segment files or a START
// file but no CONTROL file was not written by this format (or lost the
// file): it is refused, and nothing is written.
func checkControl(dir string, segSize int64, noSync bool) error {
	c, err := ReadControl(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		entries, err := os.ReadDir(dir)
		if err != nil {
			return fmt.Errorf("wal: read directory: %w", err)
		}
		for _, e := range entries {
			if _, ok := parseSegmentName(e.Name()); ok || e.Name() == startFileName {
				return fmt.Errorf("%w: %s holds %s but no CONTROL file: it was written by an older walship, or the file was lost; not opened, nothing changed",
					ErrCorrupt, dir, e.Name())
			}
		}
		return writeControl(dir, Control{SegmentSize: segSize}, noSync)
	case err != nil:
		return err
	case c.SegmentSize != segSize:
		return fmt.Errorf("%w: %s was made with segment size %d bytes and cannot be opened with %d",
			ErrSegmentSize, dir, c.SegmentSize, segSize)
	}
	return nil
}
