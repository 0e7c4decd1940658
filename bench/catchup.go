package bench

import (
	"context"
	"fmt"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// CatchUpResult is the catch-up run's measurement.
type CatchUpResult struct {
	LoadRate    float64       // records/s the leader wrote throughout
	Cut         time.Duration // how long the link was cut
	Backlog     int64         // WAL bytes follower-1 had to replay when the link came back
	Reconnect   time.Duration // restore until follower-1 was streaming again (its reconnect backoff)
	CatchUp     time.Duration // reconnect until follower-1 had replayed the backlog
	RecordSize  int
	PeakRSS     int64
	Live        int64
	StoresMatch bool
}

// BacklogRecords is the backlog in records.
func (c CatchUpResult) BacklogRecords() float64 { return float64(c.Backlog) / float64(c.RecordSize) }

// RecordsPerSec is the backlog replayed per second once reconnected.
func (c CatchUpResult) RecordsPerSec() float64 {
	if c.CatchUp <= 0 {
		return 0
	}
	return c.BacklogRecords() / c.CatchUp.Seconds()
}

// benchCatchUp cuts follower-1 for cfg.CutFor under a steady load and
// measures how fast it replays the backlog once the link is back.
func benchCatchUp(ctx context.Context, cfg *Config, dir string) (CatchUpResult, error) {
	res := CatchUpResult{LoadRate: cfg.LoadRate, Cut: cfg.CutFor, RecordSize: benchRecordSize(cfg.ValueSize)}
	ccfg := cfg.clusterConfig(dir)
	// Keep what the cut follower will need, with room to spare.
	need := int64(cfg.LoadRate*(cfg.CutFor.Seconds()+30)) * int64(res.RecordSize)
	ccfg.WALKeep = max(ccfg.WALKeep, need)
	ResetPeakRSS()
	c, err := cluster.New(ccfg)
	if err != nil {
		return res, err
	}
	defer c.Close()
	if err := waitStreaming(ctx, c, cfg.Followers); err != nil {
		return res, err
	}
	target := cluster.FollowerName(1)
	cfg.progress("catch-up: load %.0f records/s; cutting %s for %v", cfg.LoadRate, target, cfg.CutFor)

	// A paced writer: every millisecond, catch up with rate × elapsed.
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func(stop <-chan struct{}) {
		rec := newBenchRecord(cfg.Keys, cfg.ValueSize)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		start := time.Now()
		i := 0
		for {
			select {
			case <-stop:
				werr <- nil
				return
			case <-t.C:
			}
			due := int(cfg.LoadRate * time.Since(start).Seconds())
			for ; i < due; i++ {
				rec.fill(i)
				if _, err := c.Leader().Append(wal.OpSet, rec.key, rec.value); err != nil {
					werr <- err
					return
				}
			}
		}
	}(stop)
	stopWriter := func() error {
		if stop == nil {
			return nil
		}
		close(stop)
		stop = nil
		return <-werr
	}
	defer stopWriter()

	sleep := func(d time.Duration) error {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(d):
			return nil
		}
	}
	if err := sleep(time.Second); err != nil { // warm up
		return res, err
	}
	if err := c.Do(cluster.Command{Verb: cluster.VerbCut, Follower: target}); err != nil {
		return res, err
	}
	if err := sleep(cfg.CutFor); err != nil {
		return res, err
	}
	backlogEnd := c.Leader().Log().End()
	from := c.Follower(target).Status().Positions.Replay
	res.Backlog = int64(backlogEnd - from)
	restored := time.Now()
	if err := c.Do(cluster.Command{Verb: cluster.VerbRestore, Follower: target}); err != nil {
		return res, err
	}
	cfg.progress("catch-up: restored; %s has %s of WAL to replay", target, cluster.FormatSize(res.Backlog))
	s := c.Follower(target)
	if err := waitFor(ctx, c, cfg.Timeout, target+" to reconnect", func() bool { return s.Status().Connected }); err != nil {
		return res, err
	}
	reconnected := time.Now()
	res.Reconnect = reconnected.Sub(restored)
	if err := waitFor(ctx, c, cfg.Timeout, target+" to catch up", func() bool { return s.Status().Positions.Replay >= backlogEnd }); err != nil {
		return res, fmt.Errorf("%w (%s)", err, whyBehind(c))
	}
	res.CatchUp = time.Since(reconnected)
	if err := stopWriter(); err != nil {
		return res, err
	}
	end := c.Leader().Log().End()
	if err := waitFor(ctx, c, cfg.Timeout, "followers to replay", func() bool { return replayedAll(c, c.Names(), end, false) }); err != nil {
		return res, err
	}
	res.StoresMatch = storesMatch(c, c.Names())
	res.PeakRSS, res.Live = PeakRSS(), liveHeap()
	if cfg.MemProfile != nil {
		cfg.MemProfile()
	}
	return res, nil
}
