// Package session records what walship showed as data, and plays it back:
// the snapshots the screen was drawn from, the events, and a lesson's
// captions, rather than the terminal's bytes. A recording can therefore be
// drawn again at any terminal size and in any theme (walship replay), and
// scrubbed back and forth. The UI keeps its own last minutes in the same
// form (History), to look back at while the world is frozen.
//
// # Session file format (frozen)
//
// A session file is a 20-byte header followed by records, to the end of
// the file. All fixed-size integers are big-endian.
//
//	header:
//	offset  size  field
//	0       16    magic "WALSHIP-SESSION\n"
//	16      2     format version (3; versions 1 and 2 are read too)
//	18      2     reserved, 0
//
//	record:
//	0       4     body length n (kind and payload), 1..MaxRecordSize
//	4       4     CRC-32C (Castagnoli) of the body
//	8       1     kind
//	9       n-1   payload
//
// Record kinds:
//
//	'M'  meta: the first record, exactly once. The Meta fields.
//	'S'  snapshot: flags u8 (bit 0: a keyframe), wall time, then the
//	     snapshot (below).
//	'L'  lesson: wall time, present u8 (0: no lesson from here on; 1: a
//	     lesson state follows, its fields against the zero state).
//	'Z'  end: wall time. Written when a recording is closed cleanly, so a
//	     file without it is known to have been cut short.
//
// Wall time is microseconds since the recording started, as an unsigned
// varint; it never goes backwards.
//
// Values inside payloads are varints: unsigned integers, booleans (0 or 1)
// and floats (their IEEE 754 bits, byte-reversed, as encoding/gob does)
// as unsigned varints; signed integers and durations (nanoseconds) as
// zigzag varints (encoding/binary's Varint); strings as an unsigned varint
// length (at most 64 KiB) and their bytes.
//
// A struct is written as a delta against an earlier value of it: a bit
// mask of ceil(f/8) bytes for its f fields (field i is bit i%8 of byte
// i/8), then the value of each field whose bit is set, in order. The
// field lists, in order, are in fields.go and are part of this format.
//
// A snapshot is, in order: its scalars (world time, speed, frozen, frames
// omitted, last event, source name, unobservable), its leader, its
// followers and its frames as tables, and the events it brought. Each
// struct is a delta against the same struct in the snapshot record
// before, or, in a keyframe, against the zero value. A table is its row
// count, then for each row its key (a follower's index, a frame's id) as
// a zigzag difference from the key before it (the first from 0) and the
// row as a delta against the row with that key in the record before (the
// zero row when there is none, and always in a keyframe); rows not listed
// are gone. The events are a count, then each event as a delta against
// the event before it in the same record (the first against the zero
// event). From version 2 the events are followed by a failover's lists,
// each a table keyed by timeline: the timeline history, the lost writes
// (a list of keys is a count, then each key) and the fenced primaries.
// From version 3 they are followed by the reads (Snapshot.Reads), a
// table keyed by each read's sequence number.
// A keyframe is written at least every 64 snapshot records and
// every 5 seconds of wall time, so reading can begin at any keyframe.
//
// A reader stops at the first record that is cut short, fails its CRC,
// is not one of these kinds, or does not decode, and plays what came
// before; it says where it stopped and why. A file of a newer format
// version is refused.
//
// These constants and layouts are part of the file format: don't change
// them. A new field is appended to its list with a new format version, and
// readers keep reading the older versions.
package session

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Frozen file format constants.
const (
	Magic         = "WALSHIP-SESSION\n"
	Version       = 3 // 2: the leader's replay LSN and the failover lists; 3: the reads
	HeaderSize    = len(Magic) + 4
	RecordHeader  = 8 // length and CRC
	MaxRecordSize = 4 << 20
)

// Record kinds (frozen).
const (
	kindMeta     byte = 'M'
	kindSnapshot byte = 'S'
	kindLesson   byte = 'L'
	kindEnd      byte = 'Z'
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Meta describes a recording: the first record of every session file.
type Meta struct {
	Started int64  // when the recording started, Unix nanoseconds
	Program string // what recorded it, e.g. "walship v1.2.3"
	Title   string // what was playing, e.g. a lesson's title
	// The terminal's size while recording (0 when unknown). A recording
	// plays at any size; this is only what it looked like.
	Width, Height int
}

func appendHeader(b []byte) []byte {
	b = append(b, Magic...)
	b = binary.BigEndian.AppendUint16(b, Version)
	return binary.BigEndian.AppendUint16(b, 0)
}

// ErrNotSession is a file that does not start with a session header.
var ErrNotSession = errors.New("session: not a walship session file")

// readHeader checks the header and returns the file's format version.
func readHeader(r io.Reader) (uint16, error) {
	var h [HeaderSize]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, fmt.Errorf("%w: shorter than its %d-byte header", ErrNotSession, HeaderSize)
		}
		return 0, fmt.Errorf("session: %w", err)
	}
	if string(h[:len(Magic)]) != Magic {
		return 0, fmt.Errorf("%w (it does not start with %q)", ErrNotSession, Magic[:len(Magic)-1])
	}
	v := binary.BigEndian.Uint16(h[len(Magic):])
	if v == 0 || v > Version {
		return 0, fmt.Errorf("session: format version %d; this walship reads versions 1 to %d (a newer walship made it)", v, Version)
	}
	return v, nil
}

// appendRecord frames a record whose kind byte and payload are body.
func appendRecord(b, body []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(body, castagnoli))
	return append(b, body...)
}

// errTruncated is a record cut short by the end of the file.
var errTruncated = errors.New("the file ends inside a record (the recording was cut short)")

// readRecord reads one record into buf and returns its body (kind and
// payload). io.EOF means a clean end, at a record boundary.
func readRecord(r io.Reader, buf []byte) ([]byte, error) {
	var h [RecordHeader]byte
	if n, err := io.ReadFull(r, h[:]); err != nil {
		if n == 0 && errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errTruncated
		}
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:4])
	if n == 0 || n > MaxRecordSize {
		return nil, fmt.Errorf("a record length of %d bytes (1 to %d)", n, MaxRecordSize)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	body := buf[:n]
	if _, err := io.ReadFull(r, body); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, errTruncated
		}
		return nil, err
	}
	if got, want := crc32.Checksum(body, castagnoli), binary.BigEndian.Uint32(h[4:]); got != want {
		return nil, fmt.Errorf("CRC mismatch (%08x, the record says %08x)", got, want)
	}
	return body, nil
}
