package bench

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// TestBenchSmall runs every phase of Bench small, so the race detector
// (CI runs the engine with -race) sees the bench and baseline goroutines.
// It checks what was measured, never how fast.
func TestBenchSmall(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clusters")
	}
	res, err := Run(context.Background(), Config{
		Dir: t.TempDir(), Followers: 2, Records: 5_000, Keys: 500, Writers: 2,
		PausedFollower: true, SegmentSize: 1 << 20, BatchBytes: 32 << 10, WALKeep: 2 << 20,
		Baseline: true, CutFor: 300 * time.Millisecond, LoadRate: 5_000, Timeout: time.Minute,
	})
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case res.Counted != 1 || !res.StoresMatch:
		t.Errorf("counted %d followers, stores match %v", res.Counted, res.StoresMatch)
	case res.Elapsed <= 0 || res.WALBytes < int64(res.Records*res.RecordSize):
		t.Errorf("elapsed %v, WAL bytes %d for %d records", res.Elapsed, res.WALBytes, res.Records)
	case res.PausedBacklog <= 0:
		t.Errorf("paused follower has no backlog: %d", res.PausedBacklog)
	case res.Baseline == nil || res.Baseline.Elapsed <= 0 || res.Ratio() <= 0:
		t.Errorf("baseline %+v", res.Baseline)
	case res.CatchUp == nil || res.CatchUp.Backlog <= 0 || !res.CatchUp.StoresMatch:
		t.Errorf("catch-up %+v", res.CatchUp)
	}
}

// TestWarmPageCache checks that the warm-up leaves nothing behind and
// reports a directory it cannot write to.
func TestWarmPageCache(t *testing.T) {
	dir := t.TempDir()
	if err := warmPageCache(context.Background(), dir, 3<<20+5); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("warm-up left %d file(s) behind", len(left))
	}
	if err := warmPageCache(context.Background(), filepath.Join(dir, "missing"), 1<<20); err == nil {
		t.Error("warm-up in a missing directory did not fail")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := warmPageCache(ctx, dir, 1<<20); err != context.Canceled {
		t.Errorf("cancelled warm-up: %v", err)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("cancelled warm-up left %d file(s) behind", len(left))
	}
}

// BenchmarkClusterRelay streams b.N records through the whole cluster:
// leader, a relay per follower (no faults set), three followers, no fsync;
// timed until every follower has replayed them. Compare with
// ship.BenchmarkShip3 (no relays) for the relay's share.
func BenchmarkClusterRelay(b *testing.B) {
	cfg := Config{Followers: 3, NoFsync: true}
	cfg.defaults()
	c, err := cluster.New(cfg.clusterConfig(b.TempDir()))
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
		if end, err = c.Leader().Append(wal.OpSet, rec.key, rec.value); err != nil {
			b.Fatal(err)
		}
	}
	if err := waitFor(context.Background(), c, time.Minute, "replay", func() bool { return replayedAll(c, c.Names(), end, false) }); err != nil {
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
