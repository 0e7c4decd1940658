// Package wal is walship's write-ahead log: a record codec with CRC-32C,
// segmented log files, recovery that truncates a torn tail, and retention.
//
// # Record format (frozen: on disk and on the wire)
//
// Every record is self-describing and self-checking. All integers are
// big-endian.
//
//	offset  size  field
//	0       4     total length of the record in bytes, header to CRC inclusive
//	4       8     LSN: the byte offset of this record in the log stream
//	12      1     op (1 = SET, 2 = DEL)
//	13      2     key length (1..MaxKeySize)
//	15      4     value length (0 for DEL)
//	19      k     key
//	19+k    v     value
//	19+k+v  4     CRC-32C (Castagnoli) of bytes [0, 19+k+v)
//
// A record never spans two segment files. When a record does not fit in the
// space left in the current segment, it is placed at the start of the next
// segment (see Place) and the rest of the old segment stays unused, as
// PostgreSQL leaves the tail of a segment after a switch. LSNs therefore stay
// byte offsets in the stream, and a follower's log holds the same bytes at the
// same LSNs as the leader's.
//
// These constants are part of the on-disk and on-wire format. Changing any of
// them breaks existing data directories and peers: don't.
package wal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

// Frozen record layout constants.
const (
	HeaderSize    = 19 // length, LSN, op, key length, value length
	TrailerSize   = 4  // CRC-32C
	Overhead      = HeaderSize + TrailerSize
	MaxKeySize    = 512
	MaxRecordSize = 8 << 10 // 8 KiB, header and CRC included
	MaxValueSize  = MaxRecordSize - Overhead - 1
)

// Op is what a record does to the store.
type Op uint8

// Record operations. Zero is never valid, so zeroed bytes never decode.
const (
	OpSet Op = 1
	OpDel Op = 2
)

func (o Op) String() string {
	switch o {
	case OpSet:
		return "SET"
	case OpDel:
		return "DEL"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Valid reports whether o is a known operation.
func (o Op) Valid() bool { return o == OpSet || o == OpDel }

// LSN is a log sequence number: a byte offset in the leader's log stream.
type LSN uint64

// String formats an LSN as PostgreSQL does: high and low 32 bits in hex.
func (l LSN) String() string { return fmt.Sprintf("%X/%X", uint64(l)>>32, uint32(l)) }

// ParseLSN reads the X/Y form written by LSN.String.
func ParseLSN(s string) (LSN, error) {
	var hi, lo uint32
	if _, err := fmt.Sscanf(s, "%X/%X", &hi, &lo); err != nil {
		return 0, fmt.Errorf("wal: bad LSN %q: want X/Y in hex", s)
	}
	return LSN(uint64(hi)<<32 | uint64(lo)), nil
}

// Record is one decoded log record. Key and Value may alias the buffer the
// record was decoded from.
type Record struct {
	LSN   LSN
	Op    Op
	Key   []byte
	Value []byte
}

// Size is the encoded length of r.
func (r Record) Size() int { return Overhead + len(r.Key) + len(r.Value) }

// End is the LSN just past r (before any segment-switch gap).
func (r Record) End() LSN { return r.LSN + LSN(r.Size()) }

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrCorrupt means bytes are present but are not a valid record: a CRC
	// mismatch, an impossible length or an unknown op.
	ErrCorrupt = errors.New("wal: corrupt record")
	// ErrTooLarge means a record would exceed MaxRecordSize or MaxKeySize.
	ErrTooLarge = errors.New("wal: record too large")
	// ErrWALRemoved means the requested LSN is older than the retained log.
	ErrWALRemoved = errors.New("wal: requested WAL segment has already been removed")
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum is CRC-32C, the record checksum.
func Checksum(b []byte) uint32 { return crc32.Checksum(b, castagnoli) }

// Validate checks r against the size limits before it is encoded.
func (r Record) Validate() error {
	if !r.Op.Valid() {
		return fmt.Errorf("%w: unknown op %d", ErrCorrupt, r.Op)
	}
	if len(r.Key) == 0 {
		return fmt.Errorf("wal: empty key")
	}
	if len(r.Key) > MaxKeySize {
		return fmt.Errorf("%w: key of %d bytes (max %d)", ErrTooLarge, len(r.Key), MaxKeySize)
	}
	if r.Size() > MaxRecordSize {
		return fmt.Errorf("%w: %d bytes (max %d)", ErrTooLarge, r.Size(), MaxRecordSize)
	}
	return nil
}

// AppendRecord encodes r onto dst and returns the extended slice. r must pass
// Validate; AppendRecord panics otherwise, since that is a caller bug.
func AppendRecord(dst []byte, r Record) []byte {
	if err := r.Validate(); err != nil {
		panic(err)
	}
	return appendValid(dst, r)
}

// appendValid is AppendRecord for a record already validated.
func appendValid(dst []byte, r Record) []byte {
	n := r.Size()
	start := len(dst)
	dst = append(dst, make([]byte, n)...)
	b := dst[start:]
	binary.BigEndian.PutUint32(b[0:4], uint32(n))
	binary.BigEndian.PutUint64(b[4:12], uint64(r.LSN))
	b[12] = byte(r.Op)
	binary.BigEndian.PutUint16(b[13:15], uint16(len(r.Key)))
	binary.BigEndian.PutUint32(b[15:19], uint32(len(r.Value)))
	copy(b[HeaderSize:], r.Key)
	copy(b[HeaderSize+len(r.Key):], r.Value)
	binary.BigEndian.PutUint32(b[n-TrailerSize:], Checksum(b[:n-TrailerSize]))
	return dst
}

// PeekSize returns the total length field of the record at the start of b,
// checking only that it is plausible. It returns io.ErrUnexpectedEOF when b is
// shorter than the length field, and ErrCorrupt for an impossible length.
func PeekSize(b []byte) (int, error) {
	if len(b) < 4 {
		return 0, io.ErrUnexpectedEOF
	}
	n := int(binary.BigEndian.Uint32(b))
	if n < Overhead+1 || n > MaxRecordSize {
		return 0, fmt.Errorf("%w: length %d", ErrCorrupt, n)
	}
	return n, nil
}

// DecodeRecord decodes the record at the start of b and returns it with the
// number of bytes it used. Key and Value alias b. A short buffer gives
// io.ErrUnexpectedEOF (a torn tail); anything else that is wrong gives an
// error wrapping ErrCorrupt. It never allocates from an untrusted length.
func DecodeRecord(b []byte) (Record, int, error) { return decodeRecord(b, true) }

// decodeRecord is DecodeRecord, with the CRC check left out when checkCRC is
// false (for bytes this process encoded or already checked).
func decodeRecord(b []byte, checkCRC bool) (Record, int, error) {
	n, err := PeekSize(b)
	if err != nil {
		return Record{}, 0, err
	}
	if len(b) < n {
		return Record{}, 0, io.ErrUnexpectedEOF
	}
	body := b[:n]
	if checkCRC {
		want := binary.BigEndian.Uint32(body[n-TrailerSize:])
		if got := Checksum(body[:n-TrailerSize]); got != want {
			return Record{}, 0, fmt.Errorf("%w: CRC mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
		}
	}
	op := Op(body[12])
	klen := int(binary.BigEndian.Uint16(body[13:15]))
	vlen := int(binary.BigEndian.Uint32(body[15:19]))
	if !op.Valid() || klen == 0 || klen > MaxKeySize || Overhead+klen+vlen != n {
		return Record{}, 0, fmt.Errorf("%w: bad header (op %d, key %d, value %d, length %d)", ErrCorrupt, op, klen, vlen, n)
	}
	return Record{
		LSN:   LSN(binary.BigEndian.Uint64(body[4:12])),
		Op:    op,
		Key:   body[HeaderSize : HeaderSize+klen],
		Value: body[HeaderSize+klen : HeaderSize+klen+vlen],
	}, n, nil
}

// RecordLSN returns the LSN field of an encoded record without checking it.
func RecordLSN(b []byte) LSN { return LSN(binary.BigEndian.Uint64(b[4:12])) }

// Place returns the LSN at which a record of size bytes is written when the
// log's next free position is pos: pos itself, or the start of the next
// segment when the record would not fit in what is left of this one.
func Place(pos LSN, size int, segmentSize int64) LSN {
	seg := uint64(segmentSize)
	if uint64(pos)%seg+uint64(size) > seg {
		return LSN((uint64(pos)/seg + 1) * seg)
	}
	return pos
}
