package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"slices"

	"walship/engine/wal"
)

// Image encodes the store, consistent at the returned LSN (its applied
// LSN), in the frozen format described in the package doc (version
// ImageVersion, with each key's version LSN).
func (s *Store) Image() (data []byte, lsn wal.LSN) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	order := make([]int, 0, s.count)
	size := imageHeaderSize + imageTrailerSize
	for i := range s.ents.len() {
		if e := s.ents.at(i); e.klen >= 0 {
			order = append(order, i)
			size += imageEntryHeader + int(e.klen) + int(e.vlen)
		}
	}
	slices.SortFunc(order, func(a, b int) int {
		return bytes.Compare(s.key(s.ents.at(a)), s.key(s.ents.at(b)))
	})
	b := make([]byte, imageHeaderSize, size)
	copy(b, ImageMagic)
	b[4] = ImageVersion
	binary.BigEndian.PutUint64(b[5:13], uint64(s.applied))
	binary.BigEndian.PutUint32(b[13:17], uint32(len(order)))
	for _, i := range order {
		e := s.ents.at(i)
		b = binary.BigEndian.AppendUint16(b, uint16(e.klen))
		b = binary.BigEndian.AppendUint32(b, uint32(e.vlen))
		b = binary.BigEndian.AppendUint64(b, uint64(e.lsn))
		b = append(b, s.arena.span(e.off, int(e.klen)+int(e.vlen))...)
	}
	b = binary.BigEndian.AppendUint32(b, wal.Checksum(b))
	return b, s.applied
}

// Restore decodes an image written by Image, of version 2 or 1, and
// returns the store and the LSN it is consistent at. A version 1 image
// has no version LSNs: every key's is 0 (unknown). Everything is validated
// (CRC, magic, version, lengths, strictly increasing keys, no trailing
// bytes); errors wrap ErrCorrupt. Nothing is allocated from an untrusted
// length beyond len(data).
func Restore(data []byte) (*Store, wal.LSN, error) {
	if len(data) < imageHeaderSize+imageTrailerSize {
		return nil, 0, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	body := data[:len(data)-imageTrailerSize]
	if got, want := wal.Checksum(body), binary.BigEndian.Uint32(data[len(body):]); got != want {
		return nil, 0, fmt.Errorf("%w: CRC mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	if string(body[:4]) != ImageMagic {
		return nil, 0, fmt.Errorf("%w: bad magic %q", ErrCorrupt, body[:4])
	}
	entryHeader := imageEntryHeader
	switch body[4] {
	case ImageVersion:
	case ImageVersion1:
		entryHeader = imageEntryV1
	default:
		return nil, 0, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, body[4])
	}
	lsn := wal.LSN(binary.BigEndian.Uint64(body[5:13]))
	count := int(binary.BigEndian.Uint32(body[13:17]))
	rest := body[imageHeaderSize:]
	if maxCount := len(rest) / (entryHeader + 1); count > maxCount {
		return nil, 0, fmt.Errorf("%w: %d entries cannot fit in %d bytes", ErrCorrupt, count, len(rest))
	}
	// count is now bounded by len(data), and so is every size below.
	s := &Store{applied: lsn}
	s.init(count)
	var prev []byte
	for i := 0; i < count; i++ {
		off := len(body) - len(rest)
		if len(rest) < entryHeader {
			return nil, 0, fmt.Errorf("%w: entry %d at offset %d: truncated header", ErrCorrupt, i, off)
		}
		klen := int(binary.BigEndian.Uint16(rest[0:2]))
		vlen := int(binary.BigEndian.Uint32(rest[2:6]))
		var version wal.LSN
		if entryHeader == imageEntryHeader {
			version = wal.LSN(binary.BigEndian.Uint64(rest[6:14]))
		}
		rest = rest[entryHeader:]
		if klen == 0 || klen > wal.MaxKeySize || vlen > wal.MaxValueSize || klen+vlen > len(rest) {
			return nil, 0, fmt.Errorf("%w: entry %d at offset %d: key %d bytes, value %d bytes, %d left", ErrCorrupt, i, off, klen, vlen, len(rest))
		}
		k, v := rest[:klen], rest[klen:klen+vlen]
		if i > 0 && bytes.Compare(k, prev) <= 0 {
			return nil, 0, fmt.Errorf("%w: entry %d at offset %d: key %q out of order", ErrCorrupt, i, off, k)
		}
		// Keys are strictly increasing, so each is new: find only locates
		// the empty slot.
		kh := maphash.Bytes(s.seed, k)
		pos, _ := find(s, kh, k)
		s.insert(pos, kh, k, v, version)
		prev = k
		rest = rest[klen+vlen:]
	}
	if len(rest) != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes after the last entry", ErrCorrupt, len(rest))
	}
	return s, lsn, nil
}
