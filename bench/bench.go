// Package bench measures walship: Run replicates a million records from
// the leader to its followers through the real relays and reports
// throughput, lag, fsyncs and memory (walship bench), against the
// bare-shipper baseline of RunBaseline, measured in the same run with the
// same records. It drives a cluster through its API only, as the UI
// does, and lives apart from it so that the engine carries no
// benchmark. Benchmarks for go test -bench are in its tests.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	"walship/engine/cluster"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// Config sets up a throughput run (walship bench). Zero fields take
// the defaults in parentheses.
type Config struct {
	Dir       string // where the run's data goes (a temporary directory); removed afterwards
	Followers int    // (3)
	Records   int    // records the leader writes (1,000,000)
	ValueSize int    // value bytes per record (100)
	// Keys is the key space: record i sets key i mod Keys (100,000). The
	// stores hold at most Keys keys, which bounds their memory.
	Keys int
	// Writers are goroutines appending on the leader at once (1).
	Writers int
	// Sync is the commit rule. With anything but off, each writer waits
	// for its commit every CommitEvery records.
	Sync        cluster.SyncRule
	CommitEvery int  // (1000)
	NoFsync     bool // no fsync anywhere (walship and the baseline)
	// PausedFollower keeps follower-1's replay paused the whole run: its
	// received WAL piles up on its disk. It is left out of the replay
	// throughput and the replay lag.
	PausedFollower bool
	SegmentSize    int64 // WAL segment size (16 MiB)
	BatchBytes     int   // WAL bytes per data frame (256 KiB)
	WALKeep        int64 // leader's wal_keep_size (64 MiB)
	Baseline       bool  // also run the bare-shipper baseline
	// NoWarm skips the page-cache warm-up before each phase (see
	// warmPageCache).
	NoWarm bool
	// CutFor, when positive, adds a catch-up run: a fresh cluster under a
	// steady load of LoadRate records/s (100,000) has follower-1's link
	// cut for CutFor, then restored, and the time it takes follower-1 to
	// replay the backlog is measured.
	CutFor   time.Duration
	LoadRate float64
	Timeout  time.Duration // bound on each phase's wait for followers (5m)
	// Progress, when set, receives a line per phase.
	Progress io.Writer
	// CPUProfile, when set, is started after setup and stopped before
	// the baseline, so the profile covers the walship run only.
	CPUProfile func() (stop func())
	// MemProfile, when set, is called when the walship run is done, before
	// its cluster closes, and again at the end of the catch-up run.
	MemProfile func()
}

func (b *Config) defaults() {
	if b.Followers <= 0 {
		b.Followers = 3
	}
	if b.Records <= 0 {
		b.Records = 1_000_000
	}
	if b.ValueSize <= 0 {
		b.ValueSize = 100
	}
	if b.Keys <= 0 {
		b.Keys = 100_000
	}
	if b.Writers <= 0 {
		b.Writers = 1
	}
	if b.CommitEvery <= 0 {
		b.CommitEvery = 1000
	}
	if b.SegmentSize <= 0 {
		b.SegmentSize = 16 << 20
	}
	if b.BatchBytes <= 0 {
		b.BatchBytes = 256 << 10
	}
	if b.WALKeep <= 0 {
		b.WALKeep = 64 << 20
	}
	if b.LoadRate <= 0 {
		b.LoadRate = 100_000
	}
	if b.Timeout <= 0 {
		b.Timeout = 5 * time.Minute
	}
	if b.Sync.N <= 0 {
		b.Sync.N = 1
	}
}

// Percentiles are p50 and p99 of a set of samples.
type Percentiles struct {
	P50, P99 time.Duration
	Samples  int
}

func percentiles(d []time.Duration) Percentiles {
	if len(d) == 0 {
		return Percentiles{}
	}
	slices.Sort(d)
	at := func(q float64) time.Duration { return d[min(int(q*float64(len(d))), len(d)-1)] }
	return Percentiles{P50: at(0.50), P99: at(0.99), Samples: len(d)}
}

// Result is what one walship bench run measured.
type Result struct {
	Config     Config // with defaults filled in
	RecordSize int    // encoded WAL record size
	Records    int
	WALBytes   int64         // LSN bytes the leader wrote (records and segment gaps)
	WriteTime  time.Duration // the leader's appends alone
	Elapsed    time.Duration // first append to the last counted follower's replay
	// Counted followers: the ones whose replay is timed (all but a paused one).
	Counted int

	WriteLag, FlushLag, ReplayLag Percentiles

	LeaderFsyncs   uint64
	FollowerFsyncs uint64 // all followers
	StoresMatch    bool   // every counted follower's store digest equals the leader's
	// PausedFlushed is when the paused follower had flushed everything
	// (it receives and fsyncs; only replay is paused).
	PausedFlushed time.Duration
	PausedBacklog int64 // bytes received but not replayed by the paused follower at the end

	PeakRSS int64         // bytes (VmHWM) during the walship run
	Live    int64         // Go heap live at the last GC before the run ended
	CPU     time.Duration // user+system CPU of the process during the timed run

	Baseline *BaselineResult
	CatchUp  *CatchUpResult

	// Unwarmed names the phases whose page-cache warm-up failed (they ran
	// anyway, on whatever memory there was), with the error.
	Unwarmed []string
}

// RecordsPerSec is records replicated (replayed on every counted follower)
// per second.
func (r Result) RecordsPerSec() float64 { return float64(r.Records) / r.Elapsed.Seconds() }

// MBPerSec is WAL megabytes (10^6 bytes) replicated per second.
func (r Result) MBPerSec() float64 { return float64(r.WALBytes) / 1e6 / r.Elapsed.Seconds() }

// PayloadMBPerSec is key and value megabytes replicated per second.
func (r Result) PayloadMBPerSec() float64 {
	return float64(r.Records) * float64(r.RecordSize-wal.Overhead) / 1e6 / r.Elapsed.Seconds()
}

// Ratio is walship's records/s over the baseline's (0 without a baseline).
func (r Result) Ratio() float64 {
	if r.Baseline == nil || r.Baseline.Elapsed <= 0 {
		return 0
	}
	return r.RecordsPerSec() / r.Baseline.RecordsPerSec()
}

// benchKeyDigits makes every key the same length, so every record has the
// same size.
const benchKeyDigits = 9

// benchRecord fills key and value for record i: key "k" + i mod keys in
// fixed width, value ValueSize bytes starting with i.
type benchRecord struct {
	keys  int
	key   []byte
	value []byte
}

func newBenchRecord(keys, valueSize int) *benchRecord {
	r := &benchRecord{keys: keys, key: make([]byte, 1+benchKeyDigits), value: make([]byte, valueSize)}
	r.key[0] = 'k'
	for i := range r.value {
		r.value[i] = 'a' + byte(i%26)
	}
	return r
}

func (r *benchRecord) fill(i int) {
	k := i % r.keys
	for j := benchKeyDigits; j >= 1; j-- {
		r.key[j] = '0' + byte(k%10)
		k /= 10
	}
	v := uint64(i)
	for j := 0; j < 8 && j < len(r.value); j++ {
		r.value[j] = 'A' + byte(v&15)
		v >>= 4
	}
}

func benchRecordSize(valueSize int) int { return wal.Overhead + 1 + benchKeyDigits + valueSize }

func (b *Config) progress(format string, args ...any) {
	if b.Progress != nil {
		fmt.Fprintf(b.Progress, format+"\n", args...)
	}
}

// Bench runs walship bench: a cluster with no latency and large frames, the
// leader appending as fast as it can, timed until every follower (but a
// paused one) has replayed everything; then, if asked, the bare-shipper
// baseline and the catch-up run.
func Run(ctx context.Context, cfg Config) (Result, error) {
	cfg.defaults()
	res := Result{Config: cfg, RecordSize: benchRecordSize(cfg.ValueSize), Records: cfg.Records}
	if cfg.Followers > cluster.MaxFollowers {
		return res, fmt.Errorf("followers must be 1..%d, not %d", cluster.MaxFollowers, cfg.Followers)
	}
	if res.RecordSize > wal.MaxRecordSize {
		return res, fmt.Errorf("value size %d makes records over %d bytes", cfg.ValueSize, wal.MaxRecordSize)
	}
	root, cleanup, err := benchDir(cfg.Dir)
	if err != nil {
		return res, err
	}
	defer cleanup()

	// Each phase starts with the previous one's files gone and the page
	// cache written back, so none pays for another's writeback, and with
	// the previous one's memory collected and returned to the OS, so its
	// peak RSS is its own. It also starts with as much warm free memory as
	// its logs will take, so no phase runs on memory an earlier one just
	// gave back while another runs on cold memory.
	warmBytes := min(int64(cfg.Followers+1)*int64(cfg.Records)*int64(res.RecordSize), maxWarmBytes)
	phase := func(name string) (string, error) {
		if !cfg.NoWarm {
			cfg.progress("%s: warming %s of page cache", name, cluster.FormatSize(warmBytes))
			// Only an aid to measuring: a phase that cannot be warmed
			// (a small disk, say) runs anyway, and the report says so.
			if err := warmPageCache(ctx, root, warmBytes); err != nil {
				if ctx.Err() != nil {
					return "", ctx.Err()
				}
				cfg.progress("%s: %v; running it unwarmed", name, err)
				res.Unwarmed = append(res.Unwarmed, fmt.Sprintf("%s (%v)", name, err))
			}
		}
		syncFS()
		debug.FreeOSMemory()
		return filepath.Join(root, name), nil
	}
	done := func(name string) { os.RemoveAll(filepath.Join(root, name)) }

	dir, err := phase("walship")
	if err != nil {
		return res, err
	}
	err = benchWalship(ctx, &cfg, &res, dir)
	done("walship")
	if err != nil {
		return res, err
	}
	if cfg.Baseline {
		dir, err := phase("baseline")
		if err != nil {
			return res, err
		}
		cfg.progress("baseline: %d records to %d connections", cfg.Records, cfg.Followers)
		b, err := RunBaseline(ctx, BaselineConfig{
			Dir: dir, Conns: cfg.Followers, Records: cfg.Records,
			ValueSize: cfg.ValueSize, Keys: cfg.Keys, NoFsync: cfg.NoFsync, BatchBytes: cfg.BatchBytes,
		})
		done("baseline")
		if err != nil {
			return res, fmt.Errorf("baseline: %w", err)
		}
		res.Baseline = &b
	}
	if cfg.CutFor > 0 {
		dir, err := phase("catchup")
		if err != nil {
			return res, err
		}
		cu, err := benchCatchUp(ctx, &cfg, dir)
		done("catchup")
		if err != nil {
			return res, fmt.Errorf("catch-up run: %w", err)
		}
		res.CatchUp = &cu
	}
	return res, nil
}

// maxWarmBytes bounds the page-cache warm-up: past it, every phase meets
// cold memory alike.
const maxWarmBytes = 1 << 30

// warmPageCache writes n bytes to a scratch file in dir and removes it,
// leaving that much memory freshly freed. Removed before it is written
// back, the file usually costs no disk writes; past the kernel's dirty
// page threshold some of it is written back, which only makes the warm-up
// slower. On a virtual machine whose balloon driver reports free pages to
// the host, memory that has lain free for a few seconds is taken back, and
// touching it again costs a fault in the host: page-cache writes into it
// measured about 0.3 GB/s here against 4 GB/s into memory freed a moment
// before. Without the warm-up the baseline, which runs just after walship
// frees its files, ran on warm memory while walship ran on cold, and the
// baseline swung between 2.1M and 4.5M records/s.
func warmPageCache(ctx context.Context, dir string, n int64) error {
	f, err := os.CreateTemp(dir, "warm-")
	if err != nil {
		return fmt.Errorf("page-cache warm-up: %w", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	chunk := make([]byte, 1<<20)
	for left := n; left > 0; left -= int64(len(chunk)) {
		if err := ctx.Err(); err != nil {
			return err
		}
		if _, err := f.Write(chunk[:min(int64(len(chunk)), left)]); err != nil {
			return fmt.Errorf("page-cache warm-up: %w", err)
		}
	}
	return nil
}

// benchDir makes the run's directory under dir (or a temporary one) and
// returns a function that removes it.
func benchDir(dir string) (string, func(), error) {
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", nil, fmt.Errorf("data directory: %w", err)
		}
	}
	root, err := os.MkdirTemp(dir, "walship-bench-")
	if err != nil {
		return "", nil, err
	}
	return root, func() { os.RemoveAll(root) }, nil
}

func (b *Config) clusterConfig(dir string) cluster.Config {
	return cluster.Config{
		Dir: dir, Followers: b.Followers, SegmentSize: b.SegmentSize, WALKeep: b.WALKeep,
		Sync: b.Sync, NoFsync: b.NoFsync, BatchBytes: b.BatchBytes,
		// A slot per follower: however far the writer outruns a follower,
		// the follower is never cut off from the WAL it still needs, which
		// would end the run in a base backup instead of a measurement.
		// The WAL it pins is on disk, not in memory.
		Slots: true,
		// Followers report at least this often when idle; under load they
		// report as positions move (every 2ms at most).
		StatusInterval: 100 * time.Millisecond,
	}
}

// waitStreaming waits until every follower is connected.
func waitStreaming(ctx context.Context, c *cluster.Cluster, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		k := 0
		for _, p := range c.Leader().Followers() {
			if p.Connected {
				k++
			}
		}
		if k >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d followers connected", k, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lagSampler samples the leader's lag tracker (what pg_stat_replication
// shows) every few milliseconds. An idle position counts as zero lag.
type lagSampler struct {
	c        *cluster.Cluster
	skipRepl map[string]bool // followers left out of replay lag
	w, f, r  []time.Duration
	stop     chan struct{}
	done     chan struct{}
}

const lagSampleEvery = 5 * time.Millisecond

func startLagSampler(c *cluster.Cluster, skipReplay map[string]bool) *lagSampler {
	s := &lagSampler{c: c, skipRepl: skipReplay, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(lagSampleEvery)
		defer t.Stop()
		for {
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
			for _, p := range c.Leader().Followers() {
				if !p.Connected {
					continue
				}
				s.w = append(s.w, lagValue(p.WriteLag))
				s.f = append(s.f, lagValue(p.FlushLag))
				if !s.skipRepl[p.Name] {
					s.r = append(s.r, lagValue(p.ReplayLag))
				}
			}
		}
	}()
	return s
}

func lagValue(l replica.Lag) time.Duration {
	if l.Idle || !l.Known {
		return 0
	}
	return l.D
}

func (s *lagSampler) finish() (w, f, r Percentiles) {
	close(s.stop)
	<-s.done
	return percentiles(s.w), percentiles(s.f), percentiles(s.r)
}

// benchBatch is how many records a bench writer appends at once.
const benchBatch = 64

// writeRecords appends records [0, n) with cfg.Writers goroutines, waiting
// for commits as the sync rule says. It stops early when stop closes.
func writeRecords(c *cluster.Cluster, cfg *Config, n int, stop <-chan struct{}) error {
	p := c.Leader()
	wait := cfg.Sync.Mode != cluster.SyncOff
	errs := make(chan error, cfg.Writers)
	var wg sync.WaitGroup
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := newBenchRecord(cfg.Keys, cfg.ValueSize)
			// Records go in batches, as a client's multi-row
			// transaction would: one lock of the log and the store per
			// batch. A batch never runs past a commit wait.
			batch := make([]wal.Record, 0, benchBatch)
			kv := make([]byte, 0, benchBatch*(len(rec.key)+len(rec.value)))
			var end wal.LSN
			since := 0
			for i := w; i < n; i += cfg.Writers {
				rec.fill(i)
				k := len(kv)
				kv = append(kv, rec.key...)
				v := len(kv)
				kv = append(kv, rec.value...)
				batch = append(batch, wal.Record{Op: wal.OpSet, Key: kv[k:v:v], Value: kv[v:len(kv):len(kv)]})
				since++
				commit := wait && since >= cfg.CommitEvery
				if len(batch) < benchBatch && !commit && i+cfg.Writers < n {
					continue
				}
				var err error
				if end, err = p.AppendBatch(batch); err != nil {
					errs <- err
					return
				}
				batch, kv = batch[:0], kv[:0]
				select {
				case <-stop: // interrupted: under off nothing else waits
					return
				default:
				}
				if commit {
					if !p.WaitCommit(end, stop) {
						return
					}
					since = 0
				}
			}
			if wait && since > 0 {
				p.WaitCommit(end, stop)
			}
		}()
	}
	wg.Wait()
	close(errs)
	return <-errs
}

// replayedAll reports whether every named follower has replayed up to end.
func replayedAll(c *cluster.Cluster, names []string, end wal.LSN, flushOnly bool) bool {
	for _, n := range names {
		s := c.Follower(n)
		if s == nil {
			return false
		}
		pos := s.Status().Positions
		at := pos.Replay
		if flushOnly {
			at = pos.Flush
		}
		if at < end {
			return false
		}
	}
	return true
}

// storesMatch reports whether the named followers' stores all have the
// leader's digest.
func storesMatch(c *cluster.Cluster, names []string) bool {
	want := c.Leader().Store().Digest()
	for _, n := range names {
		if c.Follower(n).Store().Digest() != want {
			return false
		}
	}
	return true
}

// waitFor polls cond every millisecond until it holds, the timeout passes,
// or a WAL in c fails (a full disk, say), which no wait would mend.
func waitFor(ctx context.Context, c *cluster.Cluster, timeout time.Duration, what string, cond func() bool) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	for i := 0; !cond(); i++ {
		// A log's error sits under its append lock: look every 100 polls.
		if i%100 == 99 {
			if err := c.WALFailure(); err != nil {
				return fmt.Errorf("waiting for %s: %w", what, err)
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("timed out waiting for %s", what)
		case <-t.C:
		}
	}
	return nil
}

func benchWalship(ctx context.Context, cfg *Config, res *Result, dir string) error {
	ResetPeakRSS()
	c, err := cluster.New(cfg.clusterConfig(dir))
	if err != nil {
		return err
	}
	defer c.Close()
	names := c.Names()
	paused := ""
	if cfg.PausedFollower {
		paused = names[0]
		if err := c.Do(cluster.Command{Verb: cluster.VerbPause, Follower: paused}); err != nil {
			return err
		}
	}
	if err := waitStreaming(ctx, c, len(names)); err != nil {
		return err
	}
	var counted []string
	for _, n := range names {
		if n != paused {
			counted = append(counted, n)
		}
	}
	res.Counted = len(counted)
	if len(counted) == 0 {
		return errors.New("no follower left to time: --paused-follower needs at least 2 followers")
	}
	stopProfile := func() {}
	if cfg.CPUProfile != nil {
		stopProfile = sync.OnceFunc(cfg.CPUProfile())
		defer stopProfile()
	}
	cfg.progress("walship: %d records of %d bytes to %d followers", cfg.Records, res.RecordSize, len(names))
	lsync0 := c.Leader().Log().Syncs()
	var fsync0 uint64
	for _, n := range names {
		fsync0 += c.Follower(n).Syncs()
	}
	start0 := c.Leader().Log().End()
	lags := startLagSampler(c, map[string]bool{paused: true})
	cpu0 := processCPU()
	t0 := time.Now()
	stop := make(chan struct{})
	defer close(stop)
	if err := writeRecords(c, cfg, cfg.Records, stop); err != nil {
		lags.finish()
		return err
	}
	res.WriteTime = time.Since(t0)
	end := c.Leader().Log().End()
	err = waitFor(ctx, c, cfg.Timeout, "followers to replay", func() bool { return replayedAll(c, counted, end, false) })
	res.Elapsed = time.Since(t0)
	res.CPU = processCPU() - cpu0
	res.WriteLag, res.FlushLag, res.ReplayLag = lags.finish()
	if err != nil {
		return fmt.Errorf("%w (%s)", err, whyBehind(c))
	}
	stopProfile()
	res.WALBytes = int64(end - start0)
	if paused != "" {
		if err := waitFor(ctx, c, cfg.Timeout, "the paused follower to flush", func() bool { return replayedAll(c, []string{paused}, end, true) }); err != nil {
			return err
		}
		res.PausedFlushed = time.Since(t0)
		pos := c.Follower(paused).Status().Positions
		res.PausedBacklog = int64(pos.Write - pos.Replay)
	}
	res.LeaderFsyncs = c.Leader().Log().Syncs() - lsync0
	for _, n := range names {
		res.FollowerFsyncs += c.Follower(n).Syncs()
	}
	res.FollowerFsyncs -= fsync0
	res.PeakRSS, res.Live = PeakRSS(), liveHeap()
	res.StoresMatch = storesMatch(c, counted)
	if cfg.MemProfile != nil {
		cfg.MemProfile()
	}
	cfg.progress("walship: done in %v; closing", res.Elapsed.Round(time.Millisecond))
	return nil
}

func whyBehind(c *cluster.Cluster) string {
	_, why := c.Converged()
	return why
}
