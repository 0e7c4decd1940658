package kv

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/maphash"
	"math/rand/v2"
	"slices"
	"testing"

	"walship/engine/wal"
)

// checkTable verifies the store's internal invariants: every live entry
// has exactly one slot, reachable from its home without crossing an empty
// slot; slots hold the high half of the key's hash; the free list is
// exactly the free entries; the byte accounting is right; no two pairs'
// arena ranges overlap; the load is at most 3/4.
func checkTable(t *testing.T, s *Store) {
	t.Helper()
	if n := len(s.slots); n&(n-1) != 0 || n < minSlots {
		t.Fatalf("%d slots: not a power of two >= %d", n, minSlots)
	}
	if s.count > len(s.slots)/4*3 {
		t.Fatalf("%d keys in %d slots: over 3/4 full", s.count, len(s.slots))
	}
	mask := uint64(len(s.slots) - 1)
	seen := make([]bool, s.ents.len())
	used := 0
	for pos, sl := range s.slots {
		if sl == 0 {
			continue
		}
		used++
		i := int(uint32(sl)) - 1
		if i < 0 || i >= s.ents.len() || s.ents.at(i).klen < 0 || seen[i] {
			t.Fatalf("slot %d = %x: bad, free or repeated entry", pos, sl)
		}
		seen[i] = true
		e := s.ents.at(i)
		kh := maphash.Bytes(s.seed, s.key(e))
		if slotTag(sl) != tagOf(kh) {
			t.Fatalf("slot %d: tag does not match the key's hash", pos)
		}
		for p := home(slotTag(sl), mask); p != uint64(pos); p = (p + 1) & mask {
			if s.slots[p] == 0 {
				t.Fatalf("slot %d: empty slot %d between it and its home", pos, p)
			}
		}
	}
	if used != s.count {
		t.Fatalf("%d used slots, count %d", used, s.count)
	}
	free := make([]bool, s.ents.len())
	for _, i := range s.free {
		if int(i) >= s.ents.len() || s.ents.at(int(i)).klen >= 0 || free[i] {
			t.Fatalf("free list holds %d: out of range, live or repeated", i)
		}
		free[i] = true
	}
	type span struct{ lo, hi int }
	var spans []span
	live := 0
	var digest uint64
	for i := range s.ents.len() {
		e := s.ents.at(i)
		if e.klen < 0 {
			if !free[i] {
				t.Fatalf("entry %d free but not on the free list", i)
			}
			continue
		}
		if !seen[i] {
			t.Fatalf("live entry %d has no slot", i)
		}
		if e.vlen < 0 || e.vcap < e.vlen || e.off < 0 || e.off>>blockShift >= len(s.arena.blocks) ||
			e.off&(blockSize-1)+int(e.klen)+int(e.vcap) > len(s.arena.blocks[e.off>>blockShift]) {
			t.Fatalf("entry %d: off %d klen %d vlen %d vcap %d, %d blocks", i, e.off, e.klen, e.vlen, e.vcap, len(s.arena.blocks))
		}
		digest += pairHash(s.key(e), s.value(e))
		live += int(e.klen) + int(e.vlen)
		spans = append(spans, span{e.off, e.off + int(e.klen) + int(e.vcap)})
	}
	if live != s.live {
		t.Fatalf("live bytes %d, accounted %d", live, s.live)
	}
	if d := s.Digest(); digest != d {
		t.Fatalf("Digest %x, sum of entries %x", d, digest)
	}
	slices.SortFunc(spans, func(a, b span) int { return a.lo - b.lo })
	for i := 1; i < len(spans); i++ {
		// Pairs in different blocks never overlap, even where a pair
		// bigger than a block runs past the next block's offset.
		sameBlock := spans[i].lo>>blockShift == spans[i-1].lo>>blockShift
		if sameBlock && spans[i].lo < spans[i-1].hi && spans[i].lo < spans[i].hi {
			t.Fatalf("arena ranges %v and %v overlap", spans[i-1], spans[i])
		}
	}
}

// modelImage encodes m, with the version LSNs vers, in the frozen image
// format of the given version (1 has no version LSNs), independently of
// the Store, so the store's image bytes can be checked against it.
func modelImage(m map[string][]byte, vers map[string]wal.LSN, lsn wal.LSN, version byte) []byte {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b := []byte(ImageMagic)
	b = append(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(lsn))
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint16(b, uint16(len(k)))
		b = binary.BigEndian.AppendUint32(b, uint32(len(m[k])))
		if version >= 2 {
			b = binary.BigEndian.AppendUint64(b, uint64(vers[k]))
		}
		b = append(b, k...)
		b = append(b, m[k]...)
	}
	return binary.BigEndian.AppendUint32(b, wal.Checksum(b))
}

// compareModel checks every observable of s against the model m, whose
// keys' version LSNs are vers.
func compareModel(t *testing.T, s *Store, m map[string][]byte, vers map[string]wal.LSN, lsn wal.LSN) {
	t.Helper()
	checkTable(t, s)
	if s.Len() != len(m) {
		t.Fatalf("Len %d, model %d", s.Len(), len(m))
	}
	if s.AppliedLSN() != lsn {
		t.Fatalf("AppliedLSN %v, want %v", s.AppliedLSN(), lsn)
	}
	var digest uint64
	keys := make([]string, 0, len(m))
	for k, v := range m {
		digest += pairHash(k, v)
		keys = append(keys, k)
		got, ok := s.Get(k)
		if !ok || !bytes.Equal(got, v) || got == nil {
			t.Fatalf("Get(%q) = %q, %v; want %q", k, got, ok, v)
		}
		if gv := s.GetVersion(k); !gv.Found || !bytes.Equal(gv.Value, v) || gv.LSN != vers[k] || gv.Applied != lsn {
			t.Fatalf("GetVersion(%q) = %+v; want %q @%v applied %v", k, gv, v, vers[k], lsn)
		}
	}
	for _, k := range []string{"absent", "s-1", "L-1"} {
		if _, ok := m[k]; !ok {
			if v, ok := s.Get(k); ok {
				t.Fatalf("Get(%q) = %q, want absent", k, v)
			}
			if gv := s.GetVersion(k); gv.Found || gv.LSN != 0 || gv.Value != nil {
				t.Fatalf("GetVersion(%q) = %+v, want absent", k, gv)
			}
		}
	}
	if s.Digest() != digest {
		t.Fatalf("Digest %x, model %x", s.Digest(), digest)
	}
	slices.Sort(keys)
	if got := s.Keys(); !slices.Equal(got, keys) {
		t.Fatalf("Keys differ from the model: %d vs %d keys", len(got), len(keys))
	}
	data, slsn := s.Image()
	if slsn != lsn || !bytes.Equal(data, modelImage(m, vers, lsn, ImageVersion)) {
		t.Fatal("Image differs from the model's encoding")
	}
	r, rlsn, err := Restore(data)
	if err != nil {
		t.Fatalf("Restore: %v", err)
	}
	checkTable(t, r)
	if rlsn != lsn || r.Len() != len(m) || r.Digest() != digest || r.Diff(s) != "" || s.Diff(r) != "" {
		t.Fatalf("restored store differs: lsn %v len %d diff %q", rlsn, r.Len(), r.Diff(s))
	}
	if again, _ := r.Image(); !bytes.Equal(again, data) {
		t.Fatal("image of the restored store differs")
	}
	// A version 1 image of the same pairs restores them with unknown (0)
	// version LSNs.
	r1, r1lsn, err := Restore(modelImage(m, vers, lsn, ImageVersion1))
	if err != nil {
		t.Fatalf("Restore of a version 1 image: %v", err)
	}
	if r1lsn != lsn || r1.Digest() != digest || r1.Diff(s) != "" {
		t.Fatalf("version 1 image restored differs: lsn %v diff %q", r1lsn, r1.Diff(s))
	}
	for k := range m {
		if gv := r1.GetVersion(k); gv.LSN != 0 {
			t.Fatalf("version 1 image: %q has version LSN %v, want 0 (unknown)", k, gv.LSN)
		}
		break
	}
}

// TestModel applies random SETs and DELs to a Store and to a plain map and
// compares them after every batch: keys from a small space (so values of
// one key grow and shrink often) and from a large one (so the table grows
// and entries are freed and reused), values of 0 to 300 bytes, applied
// through Apply and through ApplyBatch. It runs once with the usual
// compaction floor and once with none, so the arena is compacted often.
// TestModelManyKeys crosses pages of entries and arena blocks of every
// size: thousands of keys, SETs and DELs at random, values now and then up
// to wal.MaxValueSize.
func TestModelManyKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 9))
	s := New()
	m := map[string][]byte{}
	vers := map[string]wal.LSN{}
	var end wal.LSN
	batch := make([]wal.Record, 0, 64)
	for i := range 30_000 {
		r := wal.Record{LSN: wal.LSN(i) * 10, Op: wal.OpSet, Key: fmt.Appendf(nil, "k%d", rng.IntN(6000))}
		if rng.IntN(5) == 0 {
			r.Op = wal.OpDel
		} else {
			n := rng.IntN(64)
			if rng.IntN(200) == 0 {
				n = rng.IntN(wal.MaxValueSize + 1)
			}
			r.Value = make([]byte, n)
			for j := range r.Value {
				r.Value[j] = byte(rng.Uint32())
			}
		}
		switch r.Op {
		case wal.OpSet:
			m[string(r.Key)] = r.Value
			vers[string(r.Key)] = r.LSN
		case wal.OpDel:
			delete(m, string(r.Key))
			delete(vers, string(r.Key))
		}
		end = r.End()
		batch = append(batch, r)
		if len(batch) == cap(batch) || rng.IntN(10) == 0 {
			s.ApplyBatch(batch)
			batch = batch[:0]
		}
	}
	s.ApplyBatch(batch)
	compareModel(t, s, m, vers, end)
	if s.ents.len() <= entPageSize || len(s.arena.blocks) < 12 {
		t.Fatalf("%d entries in %d blocks: the test no longer crosses pages and block sizes", s.ents.len(), len(s.arena.blocks))
	}
}

func TestModel(t *testing.T) {
	for _, floor := range []int{compactFloor, 0} {
		t.Run(fmt.Sprintf("floor=%d", floor), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(floor), 7))
			s := New()
			s.minDead = floor
			m := map[string][]byte{}
			vers := map[string]wal.LSN{}
			var lsn, end wal.LSN
			var grows int
			randRecord := func() wal.Record {
				var k string
				if rng.IntN(2) == 0 {
					k = fmt.Sprintf("s%d", rng.IntN(20))
				} else {
					// Key lengths vary too, up to 33 bytes.
					n := rng.IntN(800)
					k = fmt.Sprintf("L%d-%s", n, bytes.Repeat([]byte{'x'}, n%29))
				}
				lsn += wal.LSN(rng.IntN(1000))
				switch x := rng.IntN(100); {
				case x < 30:
					return wal.Record{LSN: lsn, Op: wal.OpDel, Key: []byte(k)}
				case x < 32:
					return wal.Record{LSN: lsn, Op: wal.Op(7), Key: []byte(k), Value: []byte("ignored")}
				default:
					v := make([]byte, rng.IntN(301))
					for i := range v {
						v[i] = byte(rng.Uint32())
					}
					return wal.Record{LSN: lsn, Op: wal.OpSet, Key: []byte(k), Value: v}
				}
			}
			model := func(r wal.Record) {
				switch r.Op {
				case wal.OpSet:
					m[string(r.Key)] = bytes.Clone(append([]byte{}, r.Value...))
					vers[string(r.Key)] = r.LSN
				case wal.OpDel:
					delete(m, string(r.Key))
					delete(vers, string(r.Key))
				}
				end = r.End()
			}
			for round := 0; round < 300; round++ {
				slots := len(s.slots)
				batch := make([]wal.Record, 1+rng.IntN(100))
				for i := range batch {
					batch[i] = randRecord()
					model(batch[i])
				}
				if rng.IntN(2) == 0 {
					s.ApplyBatch(batch)
				} else {
					for _, r := range batch {
						s.Apply(r)
					}
				}
				// The caller's buffers may be reused: the store copied them.
				for _, r := range batch {
					clear(r.Key)
					clear(r.Value)
				}
				if len(s.slots) > slots {
					grows++
				}
				if floor != 0 && round%10 == 0 {
					// Without a floor compactions happen on their own.
					s.mu.Lock()
					s.compact()
					s.mu.Unlock()
				}
				compareModel(t, s, m, vers, end)
			}
			if grows < 5 {
				t.Errorf("the table grew only %d times", grows)
			}
			if floor == 0 && s.compactions < 3 {
				t.Errorf("the arena was compacted only %d times", s.compactions)
			}
			// Delete everything, then refill: freed entries are reused.
			var batch []wal.Record
			for k := range m {
				batch = append(batch, wal.Record{LSN: lsn, Op: wal.OpDel, Key: []byte(k)})
			}
			s.ApplyBatch(batch)
			clear(m)
			clear(vers)
			end = batch[len(batch)-1].End()
			compareModel(t, s, m, vers, end)
			if s.Digest() != 0 {
				t.Fatalf("empty store digest %x", s.Digest())
			}
			ents := s.ents.len()
			for i := 0; i < ents; i++ {
				r := wal.Record{LSN: lsn, Op: wal.OpSet, Key: fmt.Appendf(nil, "r%d", i), Value: []byte("v")}
				s.Apply(r)
				model(r)
			}
			compareModel(t, s, m, vers, end)
			if s.ents.len() != ents {
				t.Fatalf("refilling %d keys grew the entries from %d to %d", ents, ents, s.ents.len())
			}
		})
	}
}

// TestEmptyKeyAndZeroStore: Apply does not assume keys are non-empty, and
// the zero Store works like New's.
func TestEmptyKeyAndZeroStore(t *testing.T) {
	var s Store
	if _, ok := s.Get(""); ok || s.Len() != 0 {
		t.Fatal("zero store not empty")
	}
	s.Apply(set(0, "", "empty key"))
	s.ApplyBatch([]wal.Record{set(10, "a", ""), set(20, "", "again")})
	if v, ok := s.Get(""); !ok || string(v) != "again" {
		t.Fatalf(`Get("") = %q, %v`, v, ok)
	}
	if v, ok := s.Get("a"); !ok || v == nil || len(v) != 0 {
		t.Fatalf(`Get("a") = %q, %v`, v, ok)
	}
	checkTable(t, &s)
	if got := s.Keys(); !slices.Equal(got, []string{"", "a"}) {
		t.Fatalf("Keys = %q", got)
	}
	s.Apply(del(30, ""))
	if _, ok := s.Get(""); ok || s.Len() != 1 || s.Digest() != pairHash("a", nil) {
		t.Fatal("DEL of the empty key")
	}
	checkTable(t, &s)
}

// TestMemoryBounded overwrites 10,000 keys 200 times with values of 10 and
// then 200 bytes. Each growth moves every pair to the arena's end and each
// shrink leaves 190 dead bytes per key; compaction must keep the arena
// within a small multiple of the live bytes (at most 10,000 × 209 ≈ 2 MB).
func TestMemoryBounded(t *testing.T) {
	const keys = 10_000
	s := New()
	batch := make([]wal.Record, keys)
	var maxCap int
	for round := 0; round < 200; round++ {
		val := make([]byte, 10+190*(round%2))
		for i := range batch {
			batch[i] = wal.Record{Op: wal.OpSet, Key: fmt.Appendf(nil, "key-%05d", i), Value: val}
		}
		s.ApplyBatch(batch)
		maxCap = max(maxCap, s.arena.size())
	}
	checkTable(t, s)
	// Dead bytes stay under max(half the arena, the floor), so the arena's
	// length is at most max(2 × live, live + 1 MiB) ≈ 4.2 MB; the last
	// block's unused room adds at most a block on top.
	const bound = 6 << 20
	if maxCap > bound {
		t.Errorf("arena capacity reached %d bytes, bound %d", maxCap, bound)
	}
	if s.compactions == 0 {
		t.Error("never compacted")
	}
	if s.ents.len() != keys || len(s.slots) > 16384 {
		t.Errorf("%d entries, %d slots for %d keys", s.ents.len(), len(s.slots), keys)
	}
	t.Logf("max arena capacity %d bytes, %d compactions", maxCap, s.compactions)
}

// TestApplyNoAllocs: overwriting existing keys with values that fit
// allocates nothing.
func TestApplyNoAllocs(t *testing.T) {
	s := New()
	batch := make([]wal.Record, 100)
	for i := range batch {
		batch[i] = wal.Record{Op: wal.OpSet, Key: fmt.Appendf(nil, "k%d", i), Value: make([]byte, 100)}
	}
	s.ApplyBatch(batch)
	if n := testing.AllocsPerRun(100, func() { s.ApplyBatch(batch) }); n != 0 {
		t.Errorf("ApplyBatch: %v allocs per run", n)
	}
	short := wal.Record{Op: wal.OpSet, Key: []byte("k7"), Value: make([]byte, 50)}
	if n := testing.AllocsPerRun(100, func() { s.Apply(short); s.Apply(batch[7]) }); n != 0 {
		t.Errorf("Apply: %v allocs per run", n)
	}
}
