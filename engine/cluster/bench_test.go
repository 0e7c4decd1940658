package cluster

import (
	"context"
	"testing"
	"time"

	"walship/engine/wal"
)

// BenchmarkClusterRelay streams b.N records through the whole cluster:
// leader, a relay per follower (no faults set), three followers, no fsync;
// timed until every follower has replayed them. Compare with
// ship.BenchmarkShip3 (no relays) for the relay's share.
func BenchmarkClusterRelay(b *testing.B) {
	cfg := BenchConfig{Followers: 3, NoFsync: true}
	cfg.defaults()
	c, err := New(cfg.clusterConfig(b.TempDir()))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := waitStreaming(context.Background(), c, 3); err != nil {
		b.Fatal(err)
	}
	rec := newBenchRecord(cfg.Keys, cfg.ValueSize)
	b.ReportAllocs()
	b.SetBytes(int64(benchRecordSize(cfg.ValueSize)))
	var end wal.LSN
	for i := 0; b.Loop(); i++ {
		rec.fill(i)
		if end, err = c.primary.Append(wal.OpSet, rec.key, rec.value); err != nil {
			b.Fatal(err)
		}
	}
	if err := waitFor(context.Background(), time.Minute, "replay", func() bool { return replayedAll(c, c.Names(), end, false) }); err != nil {
		b.Fatal(err)
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkBaseline is the bare shipper alone: records/s into three files
// over three connections, no fsync.
func BenchmarkBaseline(b *testing.B) {
	b.ReportAllocs()
	b.SetBytes(int64(baseFrameHeader + 1 + benchKeyDigits + 100))
	res, err := RunBaseline(context.Background(), BaselineConfig{
		Dir: b.TempDir(), Conns: 3, Records: b.N, ValueSize: 100, Keys: 100_000, NoFsync: true, BatchBytes: 256 << 10,
	})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(res.RecordsPerSec(), "records/s")
}
