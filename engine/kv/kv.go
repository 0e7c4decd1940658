// Package kv is the hash-table store that WAL records are replayed into.
//
// A Store maps keys to values, applies SET and DEL records, remembers the
// LSN it has applied up to, and computes an order-independent digest of its
// contents so two stores can be compared.
//
// # Layout
//
// Replay touches every key at random, so the store is laid out to take as
// few cache misses per record as possible and to hold no pointers (the
// garbage collector has nothing to scan however many keys there are):
//
//   - slots is an open-addressing table with linear probing, a power of two
//     long and at most 3/4 full. A slot is 0 when empty, else the upper 32
//     bits of the key's hash above the index+1 of its entry. Those 32 bits
//     also give the key's home slot, so the table grows and a DEL shifts a
//     probe run back (no tombstones) without reading any entry, and most
//     mismatches are rejected without leaving the table.
//   - ents holds one 32-byte entry per key: where its key and value live
//     in the arena, and the LSN of the record that wrote the value (its
//     version). Entries of deleted keys are marked free (klen < 0) and
//     reused. Entries live in pages of 4,096 that never move, so adding a
//     key never copies the others (the first page grows from small).
//   - arena holds each pair's key bytes immediately followed by its value
//     bytes, in blocks that never move, so a growing store allocates one
//     block at a time, copies nothing and leaves no garbage behind (a pair
//     never spans two blocks). Blocks double from 256 bytes up to 1 MiB,
//     so a small store stays small. A SET that fits in the value's space
//     overwrites it in place; a bigger value moves the pair to the arena's
//     end. Bytes no live pair uses (moved or deleted pairs, the unused tail
//     of a shrunk value or of a block) are dead; when they are over half
//     the arena, and over a small floor, the live pairs are copied into
//     fresh blocks, so whatever the mix of SETs and DELs the arena stays
//     within about twice the live bytes (or the live bytes plus the
//     floor). The slots and entries keep the size of the most keys the
//     store has held.
//
// Key hashes come from hash/maphash with a seed per store; they never leave
// the store. The digest uses its own fixed hash (pairHash), so equal
// contents give equal digests in every store. It is computed when asked
// for, not kept up to date: only tests and the benchmark's final check
// compare stores, and hashing every pair on every SET cost each replayed
// record about a tenth of its apply.
//
// # Image format (frozen: sent as a base backup)
//
// All integers are big-endian. Image writes version 2; Restore reads
// versions 1 and 2.
//
//	offset  size  field
//	0       4     magic "WSKV"
//	4       1     version (2; 1 in images written before version LSNs)
//	5       8     LSN the image is consistent at
//	13      4     entry count
//	17      ...   entries, in increasing key order, each:
//	                2  key length (1..wal.MaxKeySize)
//	                4  value length (0..wal.MaxValueSize)
//	                8  version LSN: where the record that wrote the value
//	                   starts (version 2 only; 0 when unknown)
//	                k  key
//	                v  value
//	end-4   4     CRC-32C (Castagnoli) of every byte before it
//
// A version 1 entry has no version LSN: a store restored from one holds
// 0 (unknown) for every key until it is written again. These values are
// part of the base-backup and checkpoint formats: don't change them; a
// new layout takes a new version, and Restore keeps reading the old ones.
package kv

import (
	"encoding/binary"
	"errors"
	"hash/maphash"
	"math"
	"sync"

	"walship/engine/wal"
)

// Frozen image constants.
const (
	ImageMagic = "WSKV"
	// ImageVersion is the version Image writes.
	ImageVersion = 2
	// ImageVersion1 is the first layout, without version LSNs; Restore
	// still reads it.
	ImageVersion1    = 1
	imageHeaderSize  = 4 + 1 + 8 + 4
	imageEntryHeader = 2 + 4 + 8 // version 2
	imageEntryV1     = 2 + 4
	imageTrailerSize = 4
)

// ErrCorrupt means bytes are not a valid store image.
var ErrCorrupt = errors.New("kv: corrupt store image")

// Table tuning.
const (
	// minSlots is the smallest slot table.
	minSlots = 8
	// compactFloor is how many dead arena bytes are tolerated whatever the
	// arena's size, so a small store is not compacted over and over.
	compactFloor = 1 << 20
	// warmAhead is how many keys ApplyBatch looks up ahead of applying them.
	warmAhead = 16
)

// Store is a map from keys to values (see the package doc for its layout).
// It is safe for concurrent use. Apply copies keys and values into the
// store's arena and may overwrite stored bytes in place under the lock; Get
// returns a copy, so no stored bytes are ever shared. The zero Store is
// empty and ready to use, like one from New.
type Store struct {
	mu    sync.RWMutex
	seed  maphash.Seed
	slots []uint64 // 0, or hash>>32<<32 | entry index+1; len is a power of two
	ents  entries
	free  []uint32 // indexes of free entries in ents
	arena arena    // key then value bytes of each pair, plus dead bytes
	count int      // live keys
	live  int      // sum of klen+vlen over live keys; the rest of arena.used is dead
	// minDead is the floor on dead bytes before a compaction (compactFloor;
	// tests lower it to force compactions).
	minDead int
	// compactions counts arena compactions, for tests.
	compactions int

	applied wal.LSN
	warm    uint64 // sink for ApplyBatch's lookahead, so it is not optimized away
}

// entry describes one pair and holds no pointers. The pair is at
// arena[off:off+klen+vlen], key first; the value may grow in place up to
// vcap bytes. lsn is the pair's version: where the record that wrote the
// value starts (0: unknown, from a version 1 image).
type entry struct {
	off              int
	lsn              wal.LSN
	klen, vlen, vcap int32 // klen < 0 marks a free entry
}

// Entry pages: a page holds entPageSize entries.
const (
	entPageShift = 12
	entPageSize  = 1 << entPageShift
)

// entries is a list of entries in pages that never move: adding one never
// copies the others. Filling a store from empty used to spend two fifths
// of its time growing one slice of entries, copying it into freshly
// faulted memory. Only the first page grows (from small, up to
// entPageSize), so a small store stays small.
type entries struct {
	pages [][]entry // each full at entPageSize but the last
}

// at returns entry i (i < len()).
func (t *entries) at(i int) *entry { return &t.pages[i>>entPageShift][i&(entPageSize-1)] }

// len is the number of entries, free ones included.
func (t *entries) len() int {
	if len(t.pages) == 0 {
		return 0
	}
	return (len(t.pages)-1)*entPageSize + len(t.pages[len(t.pages)-1])
}

// add appends e and returns its index.
func (t *entries) add(e entry) int {
	last := len(t.pages) - 1
	switch {
	case last < 0:
		t.pages = append(t.pages, make([]entry, 0, 16))
		last = 0
	case len(t.pages[last]) == entPageSize:
		t.pages = append(t.pages, make([]entry, 0, entPageSize))
		last++
	case len(t.pages[last]) == cap(t.pages[last]):
		// Only the first page is ever short of entPageSize.
		grown := make([]entry, len(t.pages[last]), min(2*cap(t.pages[last]), entPageSize))
		copy(grown, t.pages[last])
		t.pages[last] = grown
	}
	t.pages[last] = append(t.pages[last], e)
	return last<<entPageShift | (len(t.pages[last]) - 1)
}

// blockShift sets the arena's largest block size, and how offsets are
// split into a block's index and a position in it.
const (
	blockShift = 20
	blockSize  = 1 << blockShift
	// firstBlock is the size of the arena's first block; each new block
	// is twice the last, up to blockSize.
	firstBlock = 256
)

// arena is where pairs live: blocks that never move. An offset is a
// block's index above the position in it.
type arena struct {
	blocks [][]byte
	used   int // bytes handed out: pairs, dead bytes and abandoned block tails
}

// span returns the n bytes at off, which lie in one block.
func (a *arena) span(off, n int) []byte {
	b := a.blocks[off>>blockShift]
	i := off & (blockSize - 1)
	return b[i : i+n : i+n]
}

// place appends key then value and returns their offset. A pair that does
// not fit in the last block starts a new one, twice the size of the last
// (up to blockSize), so a store's first blocks are small and nothing is
// ever copied; a pair bigger than a block gets a block of its own.
func (a *arena) place(key, value []byte) int {
	n := len(key) + len(value)
	last := len(a.blocks) - 1
	if last < 0 || len(a.blocks[last])+n > cap(a.blocks[last]) {
		c := firstBlock
		if last >= 0 {
			a.used += cap(a.blocks[last]) - len(a.blocks[last])
			c = min(2*cap(a.blocks[last]), blockSize)
		}
		a.blocks = append(a.blocks, make([]byte, 0, max(c, n)))
		last++
	}
	b := a.blocks[last]
	off := last<<blockShift | len(b)
	a.blocks[last] = append(append(b, key...), value...)
	a.used += n
	return off
}

// size is the bytes the blocks hold, for tests.
func (a *arena) size() int {
	n := 0
	for _, b := range a.blocks {
		n += cap(b)
	}
	return n
}

// home is the slot a key's probe run starts at, from the upper half of its
// maphash (the slot's tag). Masking takes the tag's low bits, so within a
// probe run the tags still differ in their upper bits.
func home(tag uint32, mask uint64) uint64 { return uint64(tag) & mask }

// tagOf is the upper half of a key's maphash, kept in its slot.
func tagOf(kh uint64) uint32 { return uint32(kh >> 32) }

// slotTag is the tag a full slot holds.
func slotTag(sl uint64) uint32 { return uint32(sl >> 32) }

// New returns an empty store.
func New() *Store {
	s := &Store{}
	s.init(0)
	return s
}

// init sets up an empty table sized for n keys.
func (s *Store) init(n int) {
	size := minSlots
	for size/4*3 < n {
		size *= 2
	}
	s.seed = maphash.MakeSeed()
	s.slots = make([]uint64, size)
	s.minDead = compactFloor
}

// pairHash mixes one (key, value) pair into 64 bits, eight bytes at a time
// (multiply and xor-shift, finished with splitmix64). The digest is the sum
// of these over all pairs, so it does not depend on the order pairs were
// applied in.
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

// key returns the stored key of a live entry.
func (s *Store) key(e *entry) []byte { return s.arena.span(e.off, int(e.klen)) }

// value returns the stored value of a live entry.
func (s *Store) value(e *entry) []byte {
	return s.arena.span(e.off+int(e.klen), int(e.vlen))
}

// find looks key (whose maphash is kh) up. It returns the key's slot and
// entry index, or, when the key is absent, the empty slot that ends its
// probe run and -1.
func find[K string | []byte](s *Store, kh uint64, key K) (pos uint64, idx int) {
	mask := uint64(len(s.slots) - 1)
	tag := tagOf(kh)
	for pos = home(tag, mask); ; pos = (pos + 1) & mask {
		sl := s.slots[pos]
		if sl == 0 {
			return pos, -1
		}
		if slotTag(sl) != tag {
			continue
		}
		i := int(uint32(sl)) - 1
		e := s.ents.at(i)
		if int(e.klen) == len(key) && string(s.arena.span(e.off, len(key))) == string(key) {
			return pos, i
		}
	}
}

// Apply applies a SET or DEL record and records r.End() — the position just
// past r, like PostgreSQL's replay_lsn — as the applied LSN. Key and value
// are copied. Records with other ops change nothing but the applied LSN.
func (s *Store) Apply(r wal.Record) {
	s.mu.Lock()
	if s.slots == nil {
		s.init(0)
	}
	s.applyOp(maphash.Bytes(s.seed, r.Key), r)
	s.applied = r.End()
	s.mu.Unlock()
}

// applyOp applies r's SET or DEL; kh is its key's maphash. The caller
// holds the write lock and sets applied.
func (s *Store) applyOp(kh uint64, r wal.Record) {
	switch r.Op {
	case wal.OpSet:
		s.set(kh, r.Key, r.Value, r.LSN)
	case wal.OpDel:
		s.del(kh, r.Key)
	}
}

// ApplyBatch applies records in order, as Apply would one by one, under
// one lock: readers see none or all of the batch.
//
// When the store is bigger than the caches, applying a record takes three
// dependent cache misses (slot, entry, pair). So for each window of
// warmAhead records ApplyBatch first loads the slots of all its keys, then
// their entries, then their pairs, and only then applies them: each stage
// is a short loop of independent loads, so its misses overlap instead of
// queueing one after another. The loads are only hints, summed into s.warm so
// they are not optimized away: applying does the real lookup, so a key
// whose slot was not its home, or a window whose data moved because an
// earlier record grew the table or compacted the arena, is merely slower.
func (s *Store) ApplyBatch(rs []wal.Record) {
	if len(rs) == 0 {
		return
	}
	s.mu.Lock()
	if s.slots == nil {
		s.init(0)
	}
	var khs [warmAhead]uint64
	var es [warmAhead]*entry
	for i := 0; i < len(rs); i += warmAhead {
		w := rs[i:min(i+warmAhead, len(rs))]
		for j, r := range w {
			khs[j] = maphash.Bytes(s.seed, r.Key)
		}
		var x uint64
		mask := uint64(len(s.slots) - 1)
		for j := range w {
			x += s.slots[home(tagOf(khs[j]), mask)]
		}
		for j := range w {
			es[j] = nil
			if sl := s.slots[home(tagOf(khs[j]), mask)]; sl != 0 && slotTag(sl) == tagOf(khs[j]) {
				es[j] = s.ents.at(int(uint32(sl) - 1))
				x += uint64(es[j].off)
			}
		}
		for _, e := range es[:len(w)] {
			// Each cache line of the pair, up to four: applying reads the
			// key and writes the value.
			if e != nil {
				pair := s.arena.span(e.off, min(int(e.klen)+int(e.vlen), 4*64))
				for p := 0; p < len(pair); p += 64 {
					x += uint64(pair[p])
				}
			}
		}
		s.warm = x
		for j, r := range w {
			s.applyOp(khs[j], r)
		}
	}
	s.applied = rs[len(rs)-1].End() // no reader sees the middle of a batch
	s.mu.Unlock()
}

// set stores value under key, whose maphash is kh, as the version
// written by the record at lsn. The caller holds the write lock.
func (s *Store) set(kh uint64, key, value []byte, lsn wal.LSN) {
	if len(key) > math.MaxInt32 || len(value) > math.MaxInt32 {
		panic("kv: key or value too large")
	}
	pos, i := find(s, kh, key)
	if i < 0 {
		s.insert(pos, kh, key, value, lsn)
		return
	}
	e := s.ents.at(i)
	e.lsn = lsn
	n := len(value)
	if n <= int(e.vcap) {
		// Fits where the old value was: overwrite in place, which a
		// steady workload over a bounded key space always does.
		copy(s.arena.span(e.off+int(e.klen), n), value)
		s.live += n - int(e.vlen)
		shrunk := n < int(e.vlen)
		e.vlen = int32(n)
		if shrunk {
			s.maybeCompact()
		}
		return
	}
	// Too big: move the pair to the end; its old bytes are dead.
	s.live -= int(e.klen) + int(e.vlen)
	e.off = s.arena.place(key, value)
	e.vlen, e.vcap = int32(n), int32(n)
	s.live += len(key) + n
	s.maybeCompact()
}

// insert adds a new pair, the version written at lsn, whose probe run
// ends at the empty slot pos.
func (s *Store) insert(pos, kh uint64, key, value []byte, lsn wal.LSN) {
	e := entry{
		off: s.arena.place(key, value), lsn: lsn,
		klen: int32(len(key)), vlen: int32(len(value)), vcap: int32(len(value)),
	}
	var i int
	if n := len(s.free); n > 0 {
		i = int(s.free[n-1])
		s.free = s.free[:n-1]
		*s.ents.at(i) = e
	} else {
		if s.ents.len() >= math.MaxUint32-1 {
			panic("kv: too many keys")
		}
		i = s.ents.add(e)
	}
	s.live += len(key) + len(value)
	s.slots[pos] = uint64(tagOf(kh))<<32 | uint64(i+1)
	s.count++
	if s.count > len(s.slots)/4*3 {
		s.grow()
	}
}

// del deletes key, whose maphash is kh. The caller holds the write lock.
func (s *Store) del(kh uint64, key []byte) {
	pos, i := find(s, kh, key)
	if i < 0 {
		return
	}
	e := s.ents.at(i)
	s.live -= int(e.klen) + int(e.vlen)
	*e = entry{klen: -1}
	s.free = append(s.free, uint32(i))
	s.count--
	s.removeSlot(pos)
	s.maybeCompact()
}

// removeSlot empties slot pos by backward-shift deletion: each later slot
// of the probe run moves back into the hole when its key's home slot is
// not between the hole and it, so every key stays reachable from its home
// without tombstones.
func (s *Store) removeSlot(pos uint64) {
	mask := uint64(len(s.slots) - 1)
	hole := pos
	for j := (pos + 1) & mask; ; j = (j + 1) & mask {
		sl := s.slots[j]
		if sl == 0 {
			break
		}
		h := home(slotTag(sl), mask)
		if (j-h)&mask >= (j-hole)&mask {
			s.slots[hole] = sl
			hole = j
		}
	}
	s.slots[hole] = 0
}

// grow doubles the slot table. Each slot keeps its value and moves to the
// home its tag gives in the bigger table.
func (s *Store) grow() {
	slots := make([]uint64, 2*len(s.slots))
	// Write every page before the loop reads any: fresh memory from the OS
	// is read-faulted to a shared zero page and then faulted again on the
	// first write. Clearing first took BenchmarkFill from about 650 to
	// 555 ns/key on this virtual machine.
	clear(slots)
	mask := uint64(len(slots) - 1)
	for _, sl := range s.slots {
		if sl == 0 {
			continue
		}
		p := home(slotTag(sl), mask)
		for slots[p] != 0 {
			p = (p + 1) & mask
		}
		slots[p] = sl
	}
	s.slots = slots
}

// maybeCompact compacts the arena once dead bytes are over half of it and
// over the floor: the copy costs O(live), paid for by the at least as many
// dead bytes written since the last one.
func (s *Store) maybeCompact() {
	if dead := s.arena.used - s.live; dead > s.minDead && dead > s.arena.used/2 {
		s.compact()
	}
}

// compact copies the live pairs, tightly, into fresh blocks.
func (s *Store) compact() {
	var a arena
	for i := range s.ents.len() {
		e := s.ents.at(i)
		if e.klen < 0 {
			continue
		}
		e.off = a.place(s.arena.span(e.off, int(e.klen)+int(e.vlen)), nil)
		e.vcap = e.vlen
	}
	s.arena = a
	s.compactions++
}
