// Package kv is the hash-table store that WAL records are replayed into.
//
// A Store maps keys to values, applies SET and DEL records, remembers the
// LSN it has applied up to, and keeps an order-independent digest of its
// contents so two stores can be compared in O(1).
//
// # Snapshot format (frozen: sent as a base backup)
//
// All integers are big-endian.
//
//	offset  size  field
//	0       4     magic "WSKV"
//	4       1     version (1)
//	5       8     LSN the snapshot is consistent at
//	13      4     entry count
//	17      ...   entries, in increasing key order, each:
//	                2  key length (1..wal.MaxKeySize)
//	                4  value length (0..wal.MaxValueSize)
//	                k  key
//	                v  value
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// These values are part of the base-backup format: don't change them.
package kv

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"

	"walship/engine/wal"
)

// Frozen snapshot constants.
const (
	SnapshotMagic   = "WSKV"
	SnapshotVersion = 1
	snapHeaderSize  = 4 + 1 + 8 + 4
	snapEntryHeader = 2 + 4
	snapTrailerSize = 4
)

// ErrCorrupt means snapshot bytes are not a valid snapshot.
var ErrCorrupt = errors.New("kv: corrupt snapshot")

// Store is a map from keys to values. It is safe for concurrent use. Apply
// copies values in and may overwrite a stored value in place under the
// lock; Get returns a copy, so no stored bytes are ever shared.
type Store struct {
	mu      sync.RWMutex
	m       map[string]*entry
	applied wal.LSN
	digest  uint64 // sum of pairHash over all pairs
	warm    uint64 // sink for ApplyBatch's lookahead, so it is not optimized away
}

// entry holds a value and its pairHash with its key, so a SET or DEL
// updates the digest without hashing the old value again; a SET of an
// existing key swaps v without touching the map key.
type entry struct {
	v []byte
	h uint64
}

// New returns an empty store.
func New() *Store { return &Store{m: make(map[string]*entry)} }

// pairHash mixes one (key, value) pair into 64 bits, eight bytes at a time
// (multiply and xor-shift, finished with splitmix64). The digest is the sum
// of these over all pairs, so it does not depend on the order pairs were
// applied in, and a SET or DEL updates it in O(1).
func pairHash[K string | []byte](key K, value []byte) uint64 {
	h := uint64(len(key))*0x9e3779b97f4a7c15 ^ uint64(len(value))
	h = hashBytes(h, []byte(key))
	h = hashBytes(h^0xff51afd7ed558ccd, value)
	h ^= h >> 30
	h *= 0xbf58476d1ce4e5b9
	h ^= h >> 27
	h *= 0x94d049bb133111eb
	h ^= h >> 31
	return h
}

func hashBytes(h uint64, b []byte) uint64 {
	const m = 0xc6a4a7935bd1e995
	for len(b) >= 8 {
		h = (h ^ binary.LittleEndian.Uint64(b)) * m
		h ^= h >> 29
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	h = (h ^ tail ^ uint64(len(b))<<56) * m
	return h ^ h>>29
}

// Apply applies a SET or DEL record and records r.End() — the position just
// past r, like PostgreSQL's replay_lsn — as the applied LSN. Key and value
// are copied. Records with other ops change nothing but the applied LSN.
func (s *Store) Apply(r wal.Record) {
	s.mu.Lock()
	s.applyLocked(r)
	s.mu.Unlock()
}

// ApplyBatch applies records in order, as Apply would one by one, under
// one lock: readers see none or all of the batch.
func (s *Store) ApplyBatch(rs []wal.Record) {
	if len(rs) == 0 {
		return
	}
	s.mu.Lock()
	for i := 0; i < len(rs); i += warmAhead {
		w := rs[i:min(i+warmAhead, len(rs))]
		// Look the next few keys up before applying them: the lookups are
		// independent, so their cache misses overlap instead of queueing.
		var x uint64
		for _, r := range w {
			if e := s.m[string(r.Key)]; e != nil {
				x += e.h
			}
		}
		s.warm = x
		for _, r := range w {
			s.applyLocked(r)
		}
	}
	s.mu.Unlock()
}

// warmAhead is how many keys ApplyBatch looks up ahead of applying them.
const warmAhead = 16

func (s *Store) applyLocked(r wal.Record) {
	switch r.Op {
	case wal.OpSet:
		if e, ok := s.m[string(r.Key)]; ok {
			h := pairHash(r.Key, r.Value)
			s.digest += h - e.h
			e.h = h
			if n := len(r.Value); cap(e.v) >= n && cap(e.v)-n <= n/4+16 {
				// Overwrite in place: no slice of e.v outlives the lock
				// (Get and copyMap copy), so a steady workload over a
				// bounded key space allocates nothing here.
				e.v = append(e.v[:0], r.Value...)
			} else {
				e.v = cloneValue(r.Value)
			}
		} else {
			v := cloneValue(r.Value)
			h := pairHash(r.Key, v)
			s.m[string(r.Key)] = &entry{v: v, h: h}
			s.digest += h
		}
	case wal.OpDel:
		if e, ok := s.m[string(r.Key)]; ok {
			s.digest -= e.h
			delete(s.m, string(r.Key))
		}
	}
	s.applied = r.End()
}

// cloneValue copies a value; an empty value is empty, never nil.
func cloneValue(b []byte) []byte {
	if len(b) == 0 {
		return []byte{}
	}
	return bytes.Clone(b)
}

// Get returns a copy of the value of key (Apply may overwrite the stored
// bytes in place).
func (s *Store) Get(key string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if e, ok := s.m[key]; ok {
		return cloneValue(e.v), true
	}
	return nil, false
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return len(s.m)
}

// AppliedLSN returns the end of the last applied record (0 for a new store),
// or the LSN a restored snapshot was consistent at.
func (s *Store) AppliedLSN() wal.LSN {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Digest returns an order-independent digest of the (key, value) pairs.
// Equal contents give equal digests.
func (s *Store) Digest() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.digest
}

// Keys returns the keys in increasing order.
func (s *Store) Keys() []string {
	s.mu.RLock()
	keys := make([]string, 0, len(s.m))
	for k := range s.m {
		keys = append(keys, k)
	}
	s.mu.RUnlock()
	sort.Strings(keys)
	return keys
}

// copyMap returns a copy of the map, values included (Apply may overwrite
// stored bytes in place), so two stores can be compared without holding
// both locks.
func (s *Store) copyMap() map[string][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := make(map[string][]byte, len(s.m))
	for k, e := range s.m {
		m[k] = cloneValue(e.v)
	}
	return m
}

// Diff compares s (the leader) with o (a follower) and returns "" when they
// hold the same pairs, else the first difference in key order, e.g.
// `key "k17": leader "abc", follower missing`.
func (s *Store) Diff(o *Store) string {
	if s == o {
		return ""
	}
	a, b := s.copyMap(), o.copyMap()
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	for _, k := range keys {
		va, oka := a[k]
		vb, okb := b[k]
		if oka && okb && bytes.Equal(va, vb) {
			continue
		}
		return fmt.Sprintf("key %q: leader %s, follower %s", k, show(va, oka), show(vb, okb))
	}
	return ""
}

// show quotes a value for Diff, shortening long ones.
func show(v []byte, ok bool) string {
	if !ok {
		return "missing"
	}
	const max = 40
	if len(v) > max {
		return fmt.Sprintf("%q... (%d bytes)", v[:max], len(v))
	}
	return fmt.Sprintf("%q", v)
}

// Snapshot encodes the store, consistent at the returned LSN (its applied
// LSN), in the frozen format described in the package doc.
func (s *Store) Snapshot() (data []byte, lsn wal.LSN) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	keys := make([]string, 0, len(s.m))
	size := snapHeaderSize + snapTrailerSize
	for k, e := range s.m {
		keys = append(keys, k)
		size += snapEntryHeader + len(k) + len(e.v)
	}
	sort.Strings(keys)
	b := make([]byte, snapHeaderSize, size)
	copy(b, SnapshotMagic)
	b[4] = SnapshotVersion
	binary.BigEndian.PutUint64(b[5:13], uint64(s.applied))
	binary.BigEndian.PutUint32(b[13:17], uint32(len(keys)))
	for _, k := range keys {
		v := s.m[k].v
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(v)))
		b = append(b, k...)
		b = append(b, v...)
	}
	b = binary.BigEndian.AppendUint32(b, wal.Checksum(b))
	return b, s.applied
}

// Restore decodes a snapshot written by Snapshot and returns the store and
// the LSN it is consistent at. Everything is validated (CRC, magic, version,
// lengths, strictly increasing keys, no trailing bytes); errors wrap
// ErrCorrupt. Nothing is allocated from an untrusted length beyond len(data).
func Restore(data []byte) (*Store, wal.LSN, error) {
	if len(data) < snapHeaderSize+snapTrailerSize {
		return nil, 0, fmt.Errorf("%w: %d bytes is shorter than the header", ErrCorrupt, len(data))
	}
	body := data[:len(data)-snapTrailerSize]
	if got, want := wal.Checksum(body), binary.BigEndian.Uint32(data[len(body):]); got != want {
		return nil, 0, fmt.Errorf("%w: CRC mismatch (stored %08x, computed %08x)", ErrCorrupt, want, got)
	}
	if string(body[:4]) != SnapshotMagic {
		return nil, 0, fmt.Errorf("%w: bad magic %q", ErrCorrupt, body[:4])
	}
	if body[4] != SnapshotVersion {
		return nil, 0, fmt.Errorf("%w: unsupported version %d", ErrCorrupt, body[4])
	}
	lsn := wal.LSN(binary.BigEndian.Uint64(body[5:13]))
	count := int(binary.BigEndian.Uint32(body[13:17]))
	rest := body[snapHeaderSize:]
	if maxCount := len(rest) / (snapEntryHeader + 1); count > maxCount {
		return nil, 0, fmt.Errorf("%w: %d entries cannot fit in %d bytes", ErrCorrupt, count, len(rest))
	}
	s := &Store{m: make(map[string]*entry, count), applied: lsn}
	var prev string
	for i := 0; i < count; i++ {
		off := len(body) - len(rest)
		if len(rest) < snapEntryHeader {
			return nil, 0, fmt.Errorf("%w: entry %d at offset %d: truncated header", ErrCorrupt, i, off)
		}
		klen := int(binary.BigEndian.Uint16(rest[0:2]))
		vlen := int(binary.BigEndian.Uint32(rest[2:6]))
		rest = rest[snapEntryHeader:]
		if klen == 0 || klen > wal.MaxKeySize || vlen > wal.MaxValueSize || klen+vlen > len(rest) {
			return nil, 0, fmt.Errorf("%w: entry %d at offset %d: key %d bytes, value %d bytes, %d left", ErrCorrupt, i, off, klen, vlen, len(rest))
		}
		k := string(rest[:klen])
		if i > 0 && k <= prev {
			return nil, 0, fmt.Errorf("%w: entry %d at offset %d: key %q out of order", ErrCorrupt, i, off, k)
		}
		v := bytes.Clone(rest[klen : klen+vlen])
		if v == nil {
			v = []byte{}
		}
		h := pairHash(k, v)
		s.m[k] = &entry{v: v, h: h}
		s.digest += h
		prev = k
		rest = rest[klen+vlen:]
	}
	if len(rest) != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes after the last entry", ErrCorrupt, len(rest))
	}
	return s, lsn, nil
}
