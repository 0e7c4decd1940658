package kv

import (
	"fmt"
	"testing"

	"walship/engine/wal"
)

// filledStore returns a store holding n keys, each set to a 100-byte value,
// with the keys and a value buffer for the benchmark to reuse.
func filledStore(n int) (*Store, [][]byte, []byte) {
	s := New()
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%09d", i)
	}
	val := make([]byte, 100)
	for i, k := range keys {
		s.Apply(wal.Record{LSN: wal.LSN(i), Op: wal.OpSet, Key: k, Value: val})
	}
	return s, keys, val
}

// BenchmarkApplyKeySpace applies SETs of 100-byte values over key spaces
// of growing size: 1,000 keys fit in the CPU caches, 100,000 (walship
// bench's default) do not, which is what a replaying follower sees.
func BenchmarkApplyKeySpace(b *testing.B) {
	for _, n := range []int{1_000, 100_000} {
		b.Run(fmt.Sprintf("keys=%d", n), func(b *testing.B) {
			s, keys, val := filledStore(n)
			b.ReportAllocs()
			b.SetBytes(int64(wal.Overhead + len(keys[0]) + len(val)))
			for i := 0; b.Loop(); i++ {
				val[0] = byte(i)
				s.Apply(wal.Record{LSN: wal.LSN(i), Op: wal.OpSet, Key: keys[i%n], Value: val})
			}
		})
	}
}

// BenchmarkApplyBatch applies SETs over 100,000 keys in batches of 256, as
// a follower's replay does.
func BenchmarkApplyBatch(b *testing.B) {
	const n = 100_000
	s, keys, val := filledStore(n)
	batch := make([]wal.Record, 256)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		for j := range batch {
			batch[j] = wal.Record{LSN: wal.LSN(i), Op: wal.OpSet, Key: keys[i%n], Value: val}
			i++
		}
		s.ApplyBatch(batch)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(i), "ns/record")
}
