package kv

import (
	"fmt"
	"runtime/debug"
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

// BenchmarkFill fills an empty store with 100,000 keys, as every store does
// in the first tenth of a walship bench run. Memory is handed back to the
// OS before each fill, as the bench does before it starts, so the fill
// pays for faulting its pages in: on the virtual machines walship is
// measured on, that is most of its cost.
func BenchmarkFill(b *testing.B) {
	const n = 100_000
	keys := make([][]byte, n)
	for i := range keys {
		keys[i] = fmt.Appendf(nil, "k%09d", i)
	}
	val := make([]byte, 100)
	batch := make([]wal.Record, 256)
	for b.Loop() {
		b.StopTimer()
		debug.FreeOSMemory()
		b.StartTimer()
		s := New()
		for i := 0; i < n; i += len(batch) {
			m := min(len(batch), n-i)
			for j := range m {
				batch[j] = wal.Record{LSN: wal.LSN(i + j), Op: wal.OpSet, Key: keys[i+j], Value: val}
			}
			s.ApplyBatch(batch[:m])
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/key")
}
