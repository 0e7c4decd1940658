package wal

import (
	"io"
	"testing"
)

func benchRecord() Record {
	return Record{LSN: 12345, Op: OpSet, Key: []byte("key-000001"), Value: make([]byte, 100)}
}

func BenchmarkEncode(b *testing.B) {
	r := benchRecord()
	buf := make([]byte, 0, 256)
	b.ReportAllocs()
	b.SetBytes(int64(r.Size()))
	for b.Loop() {
		buf = AppendRecord(buf[:0], r)
	}
}

func BenchmarkDecode(b *testing.B) {
	enc := AppendRecord(nil, benchRecord())
	b.ReportAllocs()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, _, err := DecodeRecord(enc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCRC(b *testing.B) {
	data := make([]byte, 4096)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		Checksum(data)
	}
}

// BenchmarkAppend appends 100-byte values and syncs every 1000 records
// (NoSync: the cost measured is encoding, buffering and write(2)).
func BenchmarkAppend(b *testing.B) { benchAppend(b, true) }

// BenchmarkAppendFsync is BenchmarkAppend with real fsyncs every 1000
// records (group commit).
func BenchmarkAppendFsync(b *testing.B) { benchAppend(b, false) }

func benchAppend(b *testing.B, noSync bool) {
	l, _, err := Open(Options{Dir: b.TempDir(), NoSync: noSync})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	key, val := []byte("key-000001"), make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(Overhead + len(key) + len(val)))
	for i := 0; b.Loop(); i++ {
		if _, err := l.Append(OpSet, key, val); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 999 {
			if _, err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkAppendBatch appends 64 records per call, as the leader does for
// a bench writer.
func BenchmarkAppendBatch(b *testing.B) {
	l, _, err := Open(Options{Dir: b.TempDir(), NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	key, val := []byte("key-000001"), make([]byte, 100)
	batch := make([]Record, 64)
	b.ReportAllocs()
	b.SetBytes(int64(len(batch) * (Overhead + len(key) + len(val))))
	for i := 0; b.Loop(); i++ {
		for j := range batch {
			batch[j] = Record{Op: OpSet, Key: key, Value: val}
		}
		if err := l.AppendBatch(batch); err != nil {
			b.Fatal(err)
		}
		if i%16 == 15 {
			if _, err := l.Sync(); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// BenchmarkReader reads 100-byte-value records back, across segments.
func BenchmarkReader(b *testing.B) {
	// 100,000 records of 133 bytes: 13 MB, more than the in-memory tail,
	// so "files" reads the page cache and "memory" is given a tail that
	// holds everything.
	for _, src := range []string{"memory", "files"} {
		for _, how := range []string{"next", "run"} {
			b.Run(src+"/"+how, func(b *testing.B) {
				opts := Options{Dir: b.TempDir(), NoSync: true}
				if src == "memory" {
					opts.Recent = 32 << 20
				}
				l, _, err := Open(opts)
				if err != nil {
					b.Fatal(err)
				}
				defer l.Close()
				key, val := []byte("key-000001"), make([]byte, 100)
				const n = 100000
				for i := 0; i < n; i++ {
					l.Append(OpSet, key, val)
				}
				l.Sync()
				if src == "files" {
					l.recent.reset()
				}
				r, _ := l.NewReader(0)
				var recs []Record
				b.ReportAllocs()
				records := 0
				for b.Loop() {
					var err error
					if how == "next" {
						_, err = r.Next(l.Written())
						records++
					} else {
						_, recs, err = r.Run(l.Written(), 64<<10, recs[:0])
						records += len(recs)
					}
					if err == io.EOF {
						r.Close()
						r, _ = l.NewReader(0)
						continue
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				r.Close()
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(max(records, 1)), "ns/record")
			})
		}
	}
}
