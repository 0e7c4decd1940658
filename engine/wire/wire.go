// Package wire defines walship's replication frames: how bytes travel between
// a follower and the leader. The ship package speaks it; the link relay
// parses it to report and disturb frames in flight.
//
// # Frame format (frozen)
//
// Every frame, in both directions, is a 4-byte big-endian length followed by
// that many bytes of body. The body starts with a one-byte kind.
//
//	+----------------+------+------------------------+
//	| length (u32BE) | kind | payload (length-1)     |
//	+----------------+------+------------------------+
//
// The length counts the kind byte and the payload, is at least 1, and is at
// most MaxFrameSize; a larger length is an error before anything is
// allocated. Payloads by kind (all integers big-endian):
//
//	Hello     F->L  magic u32 "WSHP", version u16, start LSN u64, flags u8,
//	                name length u8, name [, timeline u32]
//	Welcome   L->F  leader flushed LSN u64, segment size u64, oldest LSN u64
//	                [, timeline u32, switches u8, then per switch:
//	                timeline u32, fork LSN u64, reason length u8, reason]
//	Refuse    L->F  code u8, reason text (the leader closes afterwards)
//	Data      L->F  first LSN u64, end LSN u64, one or more WAL records
//	                (wal package format, each with its own CRC)
//	Keepalive L->F  leader flushed LSN u64, leader time ns i64, reply u8
//	Status    F->L  write LSN u64, flush LSN u64, replay LSN u64,
//	                follower time ns i64, reply u8
//	Resend    F->L  from LSN u64
//	BackupReq F->L  (empty)
//	Backup    L->F  backup LSN u64, offset u64, total u64, last u8, data
//
// The bracketed tails were added with timelines (failover): a Hello or a
// Welcome without one is on timeline 1, with no history.
//
// These values are part of the wire protocol: don't change them.
package wire

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"walship/engine/wal"
)

// Frozen protocol constants.
const (
	Magic        uint32 = 0x57534850 // "WSHP"
	Version      uint16 = 1
	MaxFrameSize        = 1 << 20 // 1 MiB: length field maximum
	MaxNameLen          = 64
	HeaderSize          = 4
)

// Kind is the first body byte of a frame.
type Kind byte

// Frame kinds (frozen).
const (
	KindHello     Kind = 'H'
	KindWelcome   Kind = 'O'
	KindRefuse    Kind = 'E'
	KindData      Kind = 'W'
	KindKeepalive Kind = 'K'
	KindStatus    Kind = 'S'
	KindResend    Kind = 'R'
	KindBackupReq Kind = 'Q'
	KindBackup    Kind = 'B'
)

func (k Kind) String() string {
	switch k {
	case KindHello:
		return "hello"
	case KindWelcome:
		return "welcome"
	case KindRefuse:
		return "refuse"
	case KindData:
		return "data"
	case KindKeepalive:
		return "keepalive"
	case KindStatus:
		return "status"
	case KindResend:
		return "resend"
	case KindBackupReq:
		return "backup-request"
	case KindBackup:
		return "backup"
	}
	return fmt.Sprintf("kind(%#x)", byte(k))
}

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindHello, KindWelcome, KindRefuse, KindData, KindKeepalive,
		KindStatus, KindResend, KindBackupReq, KindBackup:
		return true
	}
	return false
}

// Refusal codes carried by a Refuse frame.
const (
	RefuseBadMagic    byte = 1
	RefuseBadVersion  byte = 2
	RefuseBadName     byte = 3
	RefuseWALRemoved  byte = 4
	RefuseDuplicate   byte = 5
	RefuseProtocol    byte = 6
	RefuseShutdown    byte = 7
	RefuseUnknownName byte = 8
	// RefuseNeedsRewind: the follower's WAL went past the fork LSN where
	// the leader's timeline left the follower's; it must rewind first.
	RefuseNeedsRewind byte = 9
	// RefuseFenced: the follower is on a newer timeline than the
	// leader's: the leader is an old primary that was left behind.
	RefuseFenced byte = 10
)

// Errors.
var (
	// ErrFrameTooLarge: a length prefix over the Reader's limit
	// (MaxFrameSize unless SetMaxFrame lowered it), or zero.
	ErrFrameTooLarge = errors.New("wire: frame length out of range")
	// ErrNameTooLong: a hello whose name length is over MaxNameLen. It
	// wraps ErrMalformed.
	ErrNameTooLong = fmt.Errorf("%w: hello name too long", ErrMalformed)
	// ErrMalformed: a payload too short or otherwise wrong for its kind.
	ErrMalformed = errors.New("wire: malformed frame")
)

// Frame is one frame's kind and payload. Payload aliases the Reader's buffer
// and is valid only until the next call to Next (or, from RawNextInto, the
// caller's buffer).
type Frame struct {
	Kind    Kind
	Payload []byte
}

// Size is the frame's length on the wire, header included.
func (f Frame) Size() int { return HeaderSize + 1 + len(f.Payload) }

// Reader reads frames from a stream, reusing one buffer. Short reads are
// handled (io.ReadFull); a bad length is refused before allocation.
type Reader struct {
	r   *bufio.Reader
	buf []byte // header and body of the last frame
	max int    // largest length accepted; MaxFrameSize unless lowered
}

// SetMaxFrame lowers the largest frame length (kind and payload) this
// Reader accepts, for a side that knows its peer only sends small frames
// (the leader before and after the handshake). Values outside
// 1..MaxFrameSize restore MaxFrameSize.
func (fr *Reader) SetMaxFrame(n int) {
	if n < 1 || n > MaxFrameSize {
		n = MaxFrameSize
	}
	fr.max = n
}

// NewReader returns a Reader over r with a read buffer of size bufSize
// (a default when <= 0).
func NewReader(r io.Reader, bufSize int) *Reader {
	if bufSize <= 0 {
		bufSize = 64 << 10
	}
	return &Reader{r: bufio.NewReaderSize(r, bufSize), buf: make([]byte, 4096), max: MaxFrameSize}
}

// Buffered is how many bytes are already read from the stream but not yet
// returned: zero means the next Next will block on the network.
func (fr *Reader) Buffered() int { return fr.r.Buffered() }

// Next reads one whole frame. At a clean end of stream it returns io.EOF; a
// stream that ends inside a frame gives io.ErrUnexpectedEOF.
func (fr *Reader) Next() (Frame, error) {
	f, _, err := fr.RawNext()
	return f, err
}

// RawNext is Next that also returns the frame's whole encoding (header, kind
// and payload), for relays that forward bytes. Both alias the Reader's buffer.
func (fr *Reader) RawNext() (Frame, []byte, error) {
	total, err := fr.header()
	if err != nil {
		return Frame{}, nil, err
	}
	// The length is the peer's word: grow the buffer only as the bytes
	// actually arrive (doubling), so a header that promises a large frame
	// and then stops costs at most twice what was sent.
	have := HeaderSize
	for have < total {
		if have == len(fr.buf) {
			nb := make([]byte, min(total, 2*len(fr.buf)))
			copy(nb, fr.buf[:have])
			fr.buf = nb
		}
		m, err := io.ReadFull(fr.r, fr.buf[have:min(total, len(fr.buf))])
		have += m
		if err != nil {
			return Frame{}, nil, bodyErr(err)
		}
	}
	raw := fr.buf[:total]
	return Frame{Kind: Kind(raw[HeaderSize]), Payload: raw[HeaderSize+1:]}, raw, nil
}

// RawNextInto is RawNext reading the frame straight into the buffer that
// alloc returns for its whole length (at least that long), sparing a
// relay the copy it would make of RawNext's result. Frame and raw alias
// that buffer. The length is checked against the maximum, but the buffer
// is taken before the bytes arrive: use it only for a trusted peer (the
// relay forwarding the leader's frames), and RawNext for anyone else.
func (fr *Reader) RawNextInto(alloc func(n int) []byte) (Frame, []byte, error) {
	total, err := fr.header()
	if err != nil {
		return Frame{}, nil, err
	}
	raw := alloc(total)[:total]
	copy(raw, fr.buf[:HeaderSize])
	if _, err := io.ReadFull(fr.r, raw[HeaderSize:]); err != nil {
		return Frame{}, nil, bodyErr(err)
	}
	return Frame{Kind: Kind(raw[HeaderSize]), Payload: raw[HeaderSize+1:]}, raw, nil
}

// header reads a frame's length prefix into fr.buf and returns the frame's
// whole length, header included, once it is within the maximum.
func (fr *Reader) header() (int, error) {
	if _, err := io.ReadFull(fr.r, fr.buf[:HeaderSize]); err != nil {
		return 0, err
	}
	n := binary.BigEndian.Uint32(fr.buf[:HeaderSize])
	if n == 0 || n > uint32(fr.max) {
		return 0, fmt.Errorf("%w: %d bytes (max %d)", ErrFrameTooLarge, n, fr.max)
	}
	return HeaderSize + int(n), nil
}

// bodyErr is the error for a stream that ends inside a frame's body.
func bodyErr(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// AppendFrame appends a whole frame (header, kind, payload) to dst.
func AppendFrame(dst []byte, kind Kind, payload []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(payload)+1))
	dst = append(dst, byte(kind))
	return append(dst, payload...)
}

// WriteFrame writes one frame to w. It refuses frames over MaxFrameSize.
func WriteFrame(w io.Writer, kind Kind, payload []byte) error {
	if len(payload)+1 > MaxFrameSize {
		return fmt.Errorf("%w: %d bytes", ErrFrameTooLarge, len(payload)+1)
	}
	var hdr [HeaderSize + 1]byte
	binary.BigEndian.PutUint32(hdr[:4], uint32(len(payload)+1))
	hdr[4] = byte(kind)
	if _, err := w.Write(hdr[:]); err != nil {
		return err
	}
	_, err := w.Write(payload)
	return err
}

// Hello is the follower's opening frame.
type Hello struct {
	Magic   uint32
	Version uint16
	Start   wal.LSN
	Flags   byte
	Name    string
	// Timeline is the follower's timeline (0 on the wire's old form,
	// which means timeline 1).
	Timeline uint32
}

// Hello flags.
const (
	HelloWantBackup byte = 1 << 0 // the follower asks for a base backup
)

// Encode returns the Hello payload.
func (h Hello) Encode() []byte {
	b := binary.BigEndian.AppendUint32(nil, h.Magic)
	b = binary.BigEndian.AppendUint16(b, h.Version)
	b = binary.BigEndian.AppendUint64(b, uint64(h.Start))
	b = append(b, h.Flags, byte(len(h.Name)))
	b = append(b, h.Name...)
	if h.Timeline > 1 {
		b = binary.BigEndian.AppendUint32(b, h.Timeline)
	}
	return b
}

// DecodeHello parses a Hello payload. It checks shape only; the caller
// checks magic and version so it can refuse with the right reason.
func DecodeHello(p []byte) (Hello, error) {
	if len(p) < 16 {
		return Hello{}, fmt.Errorf("%w: hello of %d bytes", ErrMalformed, len(p))
	}
	h := Hello{
		Magic:   binary.BigEndian.Uint32(p[0:4]),
		Version: binary.BigEndian.Uint16(p[4:6]),
		Start:   wal.LSN(binary.BigEndian.Uint64(p[6:14])),
		Flags:   p[14],
	}
	n := int(p[15])
	if n > MaxNameLen {
		return Hello{}, fmt.Errorf("%w: %d bytes (max %d)", ErrNameTooLong, n, MaxNameLen)
	}
	if n == 0 || (len(p) != 16+n && len(p) != 16+n+4) {
		return Hello{}, fmt.Errorf("%w: hello name length %d in %d bytes", ErrMalformed, n, len(p))
	}
	h.Name = string(p[16 : 16+n])
	h.Timeline = 1
	if len(p) == 16+n+4 {
		h.Timeline = binary.BigEndian.Uint32(p[16+n:])
		if h.Timeline == 0 {
			return Hello{}, fmt.Errorf("%w: hello on timeline 0", ErrMalformed)
		}
	}
	return h, nil
}

// Welcome is the leader's acceptance of a Hello.
type Welcome struct {
	Flushed     wal.LSN
	SegmentSize int64
	Oldest      wal.LSN
	// Timeline is the leader's timeline (1 on the old form) and History
	// the switches that led to it, oldest first.
	Timeline uint32
	History  []Switch
}

// Switch is one entry of a timeline history: Timeline ended at Fork.
type Switch struct {
	Timeline uint32
	Fork     wal.LSN
	Reason   string // at most 255 bytes on the wire
}

// MaxSwitches bounds a Welcome's history.
const MaxSwitches = 255

// Encode returns the Welcome payload. A history longer than MaxSwitches
// sends its newest switches.
func (w Welcome) Encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(w.Flushed))
	b = binary.BigEndian.AppendUint64(b, uint64(w.SegmentSize))
	b = binary.BigEndian.AppendUint64(b, uint64(w.Oldest))
	if w.Timeline <= 1 && len(w.History) == 0 {
		return b
	}
	hist := w.History
	if len(hist) > MaxSwitches {
		hist = hist[len(hist)-MaxSwitches:]
	}
	b = binary.BigEndian.AppendUint32(b, w.Timeline)
	b = append(b, byte(len(hist)))
	for _, s := range hist {
		b = binary.BigEndian.AppendUint32(b, s.Timeline)
		b = binary.BigEndian.AppendUint64(b, uint64(s.Fork))
		r := s.Reason
		if len(r) > 255 {
			r = r[:255]
		}
		b = append(b, byte(len(r)))
		b = append(b, r...)
	}
	return b
}

// DecodeWelcome parses a Welcome payload.
func DecodeWelcome(p []byte) (Welcome, error) {
	if len(p) < 24 {
		return Welcome{}, fmt.Errorf("%w: welcome of %d bytes", ErrMalformed, len(p))
	}
	w := Welcome{
		Flushed:     wal.LSN(binary.BigEndian.Uint64(p[0:8])),
		SegmentSize: int64(binary.BigEndian.Uint64(p[8:16])),
		Oldest:      wal.LSN(binary.BigEndian.Uint64(p[16:24])),
		Timeline:    1,
	}
	rest := p[24:]
	if len(rest) == 0 {
		return w, nil
	}
	if len(rest) < 5 {
		return Welcome{}, fmt.Errorf("%w: welcome of %d bytes", ErrMalformed, len(p))
	}
	w.Timeline = binary.BigEndian.Uint32(rest)
	n := int(rest[4])
	rest = rest[5:]
	if w.Timeline == 0 {
		return Welcome{}, fmt.Errorf("%w: welcome on timeline 0", ErrMalformed)
	}
	for i := 0; i < n; i++ {
		if len(rest) < 13 || len(rest) < 13+int(rest[12]) {
			return Welcome{}, fmt.Errorf("%w: welcome history entry %d cut short", ErrMalformed, i+1)
		}
		s := Switch{Timeline: binary.BigEndian.Uint32(rest), Fork: wal.LSN(binary.BigEndian.Uint64(rest[4:12]))}
		rl := int(rest[12])
		s.Reason = string(rest[13 : 13+rl])
		rest = rest[13+rl:]
		w.History = append(w.History, s)
	}
	if len(rest) != 0 {
		return Welcome{}, fmt.Errorf("%w: %d bytes after the welcome's history", ErrMalformed, len(rest))
	}
	return w, nil
}

// Refuse is the leader's refusal, with a reason a person can read.
type Refuse struct {
	Code   byte
	Reason string
}

// Encode returns the Refuse payload.
func (r Refuse) Encode() []byte { return append([]byte{r.Code}, r.Reason...) }

// DecodeRefuse parses a Refuse payload.
func DecodeRefuse(p []byte) (Refuse, error) {
	if len(p) < 1 {
		return Refuse{}, fmt.Errorf("%w: empty refusal", ErrMalformed)
	}
	return Refuse{Code: p[0], Reason: string(p[1:])}, nil
}

// DataHeaderSize is the size of a Data payload's header: first and end LSN.
const DataHeaderSize = 16

// AppendDataHeader starts a Data payload covering [first, end).
func AppendDataHeader(dst []byte, first, end wal.LSN) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(first))
	return binary.BigEndian.AppendUint64(dst, uint64(end))
}

// DataRange returns the LSN range a Data payload claims to cover.
func DataRange(p []byte) (first, end wal.LSN, err error) {
	if len(p) < DataHeaderSize {
		return 0, 0, fmt.Errorf("%w: data frame of %d bytes", ErrMalformed, len(p))
	}
	return wal.LSN(binary.BigEndian.Uint64(p[0:8])), wal.LSN(binary.BigEndian.Uint64(p[8:16])), nil
}

// CorruptData flips one bit inside the first record of a Data payload, in its
// key, so that the record's CRC-32C no longer matches. It reports whether it
// found a record to corrupt.
func CorruptData(p []byte) bool {
	i := DataHeaderSize + wal.HeaderSize
	if len(p) <= i+wal.TrailerSize {
		return false
	}
	p[i] ^= 0x10
	return true
}

// Keepalive is the leader's heartbeat.
type Keepalive struct {
	Flushed wal.LSN
	TimeNS  int64
	Reply   bool
}

// Encode returns the Keepalive payload.
func (k Keepalive) Encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(k.Flushed))
	b = binary.BigEndian.AppendUint64(b, uint64(k.TimeNS))
	return append(b, boolByte(k.Reply))
}

// DecodeKeepalive parses a Keepalive payload.
func DecodeKeepalive(p []byte) (Keepalive, error) {
	if len(p) != 17 {
		return Keepalive{}, fmt.Errorf("%w: keepalive of %d bytes", ErrMalformed, len(p))
	}
	return Keepalive{
		Flushed: wal.LSN(binary.BigEndian.Uint64(p[0:8])),
		TimeNS:  int64(binary.BigEndian.Uint64(p[8:16])),
		Reply:   p[16] != 0,
	}, nil
}

// Status is the follower's report of its three positions.
type Status struct {
	Write, Flush, Replay wal.LSN
	TimeNS               int64
	Reply                bool
}

// Encode returns the Status payload.
func (s Status) Encode() []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(s.Write))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Flush))
	b = binary.BigEndian.AppendUint64(b, uint64(s.Replay))
	b = binary.BigEndian.AppendUint64(b, uint64(s.TimeNS))
	return append(b, boolByte(s.Reply))
}

// DecodeStatus parses a Status payload.
func DecodeStatus(p []byte) (Status, error) {
	if len(p) != 33 {
		return Status{}, fmt.Errorf("%w: status of %d bytes", ErrMalformed, len(p))
	}
	return Status{
		Write:  wal.LSN(binary.BigEndian.Uint64(p[0:8])),
		Flush:  wal.LSN(binary.BigEndian.Uint64(p[8:16])),
		Replay: wal.LSN(binary.BigEndian.Uint64(p[16:24])),
		TimeNS: int64(binary.BigEndian.Uint64(p[24:32])),
		Reply:  p[32] != 0,
	}, nil
}

// EncodeResend returns a Resend payload.
func EncodeResend(from wal.LSN) []byte { return binary.BigEndian.AppendUint64(nil, uint64(from)) }

// DecodeResend parses a Resend payload.
func DecodeResend(p []byte) (wal.LSN, error) {
	if len(p) != 8 {
		return 0, fmt.Errorf("%w: resend of %d bytes", ErrMalformed, len(p))
	}
	return wal.LSN(binary.BigEndian.Uint64(p)), nil
}

// BackupChunk is one piece of a base backup: a store image consistent at
// LSN, sent in order.
type BackupChunk struct {
	LSN    wal.LSN
	Offset int64
	Total  int64
	Last   bool
	Data   []byte
}

// BackupChunkHeader is the size of a Backup payload before its data.
const BackupChunkHeader = 25

// Encode returns the Backup payload.
func (c BackupChunk) Encode() []byte {
	b := make([]byte, 0, BackupChunkHeader+len(c.Data))
	b = binary.BigEndian.AppendUint64(b, uint64(c.LSN))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Offset))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Total))
	b = append(b, boolByte(c.Last))
	return append(b, c.Data...)
}

// DecodeBackupChunk parses a Backup payload. Data aliases p.
func DecodeBackupChunk(p []byte) (BackupChunk, error) {
	if len(p) < BackupChunkHeader {
		return BackupChunk{}, fmt.Errorf("%w: backup chunk of %d bytes", ErrMalformed, len(p))
	}
	c := BackupChunk{
		LSN:    wal.LSN(binary.BigEndian.Uint64(p[0:8])),
		Offset: int64(binary.BigEndian.Uint64(p[8:16])),
		Total:  int64(binary.BigEndian.Uint64(p[16:24])),
		Last:   p[24] != 0,
		Data:   p[BackupChunkHeader:],
	}
	if c.Offset < 0 || c.Total < 0 || c.Offset > c.Total || int64(len(c.Data)) > c.Total-c.Offset {
		return BackupChunk{}, fmt.Errorf("%w: backup chunk at %d+%d of %d", ErrMalformed, c.Offset, len(c.Data), c.Total)
	}
	return c, nil
}

// FrameLSN returns the LSN a relay shows for a frame: the first LSN of a data
// frame, the flush LSN of a status, the leader's LSN of a keepalive, the
// backup LSN of a backup chunk, the start of a hello or resend. Zero when the
// frame carries none or is malformed.
func FrameLSN(f Frame) (first, end wal.LSN) {
	p := f.Payload
	switch f.Kind {
	case KindData:
		first, end, _ = DataRange(p)
		return first, end
	case KindStatus:
		if s, err := DecodeStatus(p); err == nil {
			return s.Flush, s.Flush
		}
	case KindKeepalive:
		if k, err := DecodeKeepalive(p); err == nil {
			return k.Flushed, k.Flushed
		}
	case KindBackup:
		if len(p) >= 8 {
			l := wal.LSN(binary.BigEndian.Uint64(p[0:8]))
			return l, l
		}
	case KindHello:
		if h, err := DecodeHello(p); err == nil {
			return h.Start, h.Start
		}
	case KindResend:
		if l, err := DecodeResend(p); err == nil {
			return l, l
		}
	}
	return 0, 0
}

func boolByte(b bool) byte {
	if b {
		return 1
	}
	return 0
}
