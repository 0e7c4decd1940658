package kv

import (
	"bytes"
	"fmt"
	"hash/maphash"
	"sort"

	"walship/engine/wal"
)

// Get returns a copy of the value of key (Apply may overwrite the stored
// bytes in place).
func (s *Store) Get(key string) ([]byte, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.count == 0 {
		return nil, false
	}
	if _, i := find(s, maphash.String(s.seed, key), key); i >= 0 {
		return bytes.Clone(s.value(s.ents.at(i))), true // never nil: a span of a block
	}
	return nil, false
}

// Version is one key as a store holds it, read under one lock with the
// store's applied LSN.
type Version struct {
	Value []byte // a copy; nil when not found
	Found bool
	// LSN is where the record that wrote the value starts: the version
	// read (0 when not found, or unknown: restored from a version 1 image).
	LSN wal.LSN
	// Applied is the store's applied LSN when it was read (AppliedLSN).
	Applied wal.LSN
}

// GetVersion returns key's value with its version LSN and the store's
// applied LSN, all read at one moment, so a reader can tell how old what
// it read is.
func (s *Store) GetVersion(key string) Version {
	s.mu.RLock()
	defer s.mu.RUnlock()
	v := Version{Applied: s.applied}
	if s.count == 0 {
		return v
	}
	if _, i := find(s, maphash.String(s.seed, key), key); i >= 0 {
		e := s.ents.at(i)
		v.Value, v.Found, v.LSN = bytes.Clone(s.value(e)), true, e.lsn
	}
	return v
}

// Len returns the number of keys.
func (s *Store) Len() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.count
}

// AppliedLSN returns the end of the last applied record (0 for a new store),
// or the LSN a restored image was consistent at.
func (s *Store) AppliedLSN() wal.LSN {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.applied
}

// Digest returns an order-independent digest of the (key, value) pairs:
// the sum of their pairHash. Equal contents give equal digests. It hashes
// every pair, so it costs O(size of the store).
func (s *Store) Digest() uint64 {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var d uint64
	for i := range s.ents.len() {
		if e := s.ents.at(i); e.klen >= 0 {
			d += pairHash(s.key(e), s.value(e))
		}
	}
	return d
}

// Keys returns the keys in increasing order.
func (s *Store) Keys() []string {
	s.mu.RLock()
	keys := make([]string, 0, s.count)
	for i := range s.ents.len() {
		if e := s.ents.at(i); e.klen >= 0 {
			keys = append(keys, string(s.key(e)))
		}
	}
	s.mu.RUnlock()
	sort.Strings(keys)
	return keys
}

// copyMap returns a copy of the pairs as a map, so two stores can be
// compared without holding both locks.
func (s *Store) copyMap() map[string][]byte {
	s.mu.RLock()
	defer s.mu.RUnlock()
	m := make(map[string][]byte, s.count)
	for i := range s.ents.len() {
		if e := s.ents.at(i); e.klen >= 0 {
			m[string(s.key(e))] = bytes.Clone(s.value(e))
		}
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
