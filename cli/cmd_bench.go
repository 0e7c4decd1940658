package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"walship/bench"
	"walship/engine/cluster"
)

type benchOptions struct {
	followers      int
	records        int
	valueSize      int
	keys           int
	writers        int
	commitEvery    int
	sync           string
	fsync          string
	pausedFollower bool
	data           string
	segment        string
	batch          string
	walKeep        string
	baseline       bool
	warm           bool
	cutSeconds     float64
	loadRate       float64
	cpuProfile     string
	memProfile     string
	trace          string
	timeout        time.Duration
	quiet          bool
	format         string
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure replication throughput, lag and memory against a bare shipper",
		Long: "bench starts a leader and followers on loopback with no latency and large data\n" +
			"frames, has the leader append records as fast as it can, and times how long it\n" +
			"takes until every follower has replayed them. It prints records/s and MB/s,\n" +
			"write/flush/replay lag percentiles, fsyncs, peak RSS, and the same records sent\n" +
			"by a bare shipper (framed records over as many TCP connections, appended to\n" +
			"files with the same group fsync, nothing else) for comparison.\n\n" +
			"Data goes to a temporary directory under --data (removed afterwards). Stores\n" +
			"hold at most --keys keys, so memory stays bounded however many records run.\n\n" +
			"--format=go prints the figures as Go benchmark lines, for benchstat:\n" +
			"run it a few times into old.txt and new.txt and compare them.",
		Example: "  walship bench\n" +
			"  walship bench --paused-follower\n" +
			"  walship bench --cut-seconds 10\n" +
			"  walship bench --sync 'remote_apply 1' --writers 4\n" +
			"  for i in 1 2 3 4 5 6; do walship bench --quiet --format=go; done > new.txt; benchstat old.txt new.txt",
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			progress := cmd.ErrOrStderr()
			if o.quiet {
				progress = nil
			}
			return runBench(cmd.Context(), cmd.OutOrStdout(), progress, o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.followers, "followers", 3, fmt.Sprintf("followers (1-%d)", cluster.MaxFollowers))
	f.IntVar(&o.records, "records", 1_000_000, "records the leader writes")
	f.IntVar(&o.valueSize, "value-size", 100, "value bytes per record")
	f.IntVar(&o.keys, "keys", 100_000, "key space: record i sets key i mod keys (bounds the stores' memory)")
	f.IntVar(&o.writers, "writers", 1, "goroutines appending on the leader at once")
	f.IntVar(&o.commitEvery, "commit-every", 1000, "with --sync other than off, records per commit wait")
	f.StringVar(&o.sync, "sync", "off", `commit rule: off, local, remote_write, on or remote_apply, and N ("remote_apply 1")`)
	f.StringVar(&o.fsync, "fsync", "on", "fsync policy: on (group-commit fsync on leader, followers and baseline) or off (none)")
	f.BoolVar(&o.pausedFollower, "paused-follower", false, "keep follower-1's replay paused the whole run")
	f.StringVar(&o.data, "data", "", "directory for the run's data (default: the system temp directory)")
	f.StringVar(&o.segment, "segment-size", "16MiB", "size of each WAL segment file")
	f.StringVar(&o.batch, "batch", "256KiB", "bytes of WAL per data frame (and per baseline write)")
	f.StringVar(&o.walKeep, "wal-keep", "64MiB", "the leader's wal_keep_size: bounds its disk")
	f.BoolVar(&o.baseline, "baseline", true, "also run the bare-shipper baseline")
	f.BoolVar(&o.warm, "warm", true, "before each phase, write and delete a scratch file as large as its WAL, so every phase starts on warm memory")
	f.Float64Var(&o.cutSeconds, "cut-seconds", 0, "also cut follower-1 this long under load and time its catch-up")
	f.Float64Var(&o.loadRate, "load-rate", 100_000, "records per second the leader writes during the catch-up run")
	f.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the walship run to this file")
	f.StringVar(&o.memProfile, "memprofile", "", "write a heap profile at the end of the walship run to this file")
	f.StringVar(&o.trace, "trace", "", "write an execution trace of the walship run to this file (go tool trace)")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long followers may take in each phase")
	f.BoolVar(&o.quiet, "quiet", false, "no progress lines on stderr")
	f.StringVar(&o.format, "format", "text", "report format: text, or go (Go benchmark lines that benchstat reads)")
	registerCompletions(cmd)
	return cmd
}

// benchFormats are the values --format takes.
var benchFormats = []string{"text", "go"}

func (o benchOptions) config() (bench.Config, error) {
	var cfg bench.Config
	if err := checkFollowers(o.followers); err != nil {
		return cfg, err
	}
	switch {
	case o.records < 1:
		return cfg, badFlag("records", o.records, "at least 1 record")
	case o.valueSize < 0:
		return cfg, badFlag("value-size", o.valueSize, "0 or more bytes")
	case o.keys < 1:
		return cfg, badFlag("keys", o.keys, "at least 1 key")
	case o.writers < 1 || o.writers > 64:
		return cfg, badFlag("writers", o.writers, "1 to 64 writers")
	case o.pausedFollower && o.followers < 2:
		return cfg, usagef("--paused-follower needs at least 2 followers (the others are timed)")
	case o.cutSeconds < 0:
		return cfg, badFlag("cut-seconds", o.cutSeconds, "0 or more seconds")
	case o.loadRate <= 0:
		return cfg, badFlag("load-rate", o.loadRate, "a positive number of records per second")
	case !slices.Contains(benchFormats, o.format):
		return cfg, badFlag("format", o.format, strings.Join(benchFormats, " or "))
	}
	rule, err := parseSync(o.sync)
	if err != nil {
		return cfg, err
	}
	if rule.Remote() && rule.N > o.followers-btoi(o.pausedFollower) && rule.Mode == cluster.SyncRemoteApply {
		return cfg, usagef("--sync %q can never be met: a paused follower does not replay", o.sync)
	}
	if rule.Remote() && rule.N > o.followers {
		return cfg, usagef("--sync %q needs more than %d followers", o.sync, o.followers)
	}
	var noFsync bool
	switch o.fsync {
	case "on":
	case "off":
		noFsync = true
	default:
		return cfg, badFlag("fsync", o.fsync, "on or off")
	}
	var seg, batch, keep int64
	for _, s := range []struct {
		flag, text string
		n          *int64
	}{{"segment-size", o.segment, &seg}, {"batch", o.batch, &batch}, {"wal-keep", o.walKeep, &keep}} {
		n, err := parseSize(s.flag, s.text)
		if err != nil {
			return cfg, err
		}
		*s.n = n
	}
	return bench.Config{
		Dir: o.data, Followers: o.followers, Records: o.records, ValueSize: o.valueSize,
		Keys: o.keys, Writers: o.writers, Sync: rule, CommitEvery: o.commitEvery,
		NoFsync: noFsync, PausedFollower: o.pausedFollower,
		SegmentSize: seg, BatchBytes: int(batch), WALKeep: keep,
		Baseline: o.baseline, NoWarm: !o.warm,
		CutFor: time.Duration(o.cutSeconds * float64(time.Second)), LoadRate: o.loadRate,
		Timeout: o.timeout,
	}, nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func runBench(ctx context.Context, out, progress io.Writer, o benchOptions) error {
	cfg, err := o.config()
	if err != nil {
		return err
	}
	cfg.Progress = progress
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		cfg.CPUProfile = func() func() {
			if err := pprof.StartCPUProfile(f); err != nil {
				fmt.Fprintln(progress, "cpuprofile:", err)
				return func() {}
			}
			return pprof.StopCPUProfile
		}
	}
	if o.trace != "" {
		f, err := os.Create(o.trace)
		if err != nil {
			return err
		}
		defer f.Close()
		prev := cfg.CPUProfile
		cfg.CPUProfile = func() func() {
			stopPrev := func() {}
			if prev != nil {
				stopPrev = prev()
			}
			if err := trace.Start(f); err != nil {
				fmt.Fprintln(progress, "trace:", err)
				return stopPrev
			}
			return func() { trace.Stop(); stopPrev() }
		}
	}
	if o.memProfile != "" {
		cfg.MemProfile = func() {
			f, err := os.Create(o.memProfile)
			if err != nil {
				fmt.Fprintln(progress, "memprofile:", err)
				return
			}
			defer f.Close()
			pprof.Lookup("heap").WriteTo(f, 0)
		}
	}
	if ctx == nil {
		ctx = context.Background()
	}
	res, err := bench.Run(ctx, cfg)
	if err != nil {
		return err
	}
	if o.format == "go" {
		printBenchGo(out, res)
	} else {
		printBench(out, res)
	}
	if !res.StoresMatch || (res.CatchUp != nil && !res.CatchUp.StoresMatch) {
		return fmt.Errorf("bench: a follower's store differs from the leader's")
	}
	return nil
}

func printBench(out io.Writer, r bench.Result) {
	c := r.Config
	fsync := "group fsync"
	if c.NoFsync {
		fsync = "no fsync"
	}
	fmt.Fprintf(out, "walship bench: %d followers, %s records of %d bytes (%d-byte values, %s keys), sync %s, %s, %s frames\n",
		c.Followers, count(float64(c.Records)), r.RecordSize, c.ValueSize, count(float64(c.Keys)), c.Sync, fsync, cluster.FormatSize(int64(c.BatchBytes)))
	who := fmt.Sprintf("every follower (%d)", r.Counted)
	if c.PausedFollower {
		who = fmt.Sprintf("%d followers; follower-1's replay paused", r.Counted)
	}
	fmt.Fprintf(out, "  replicated  %s records/s, %.1f MB/s WAL (%.1f MB/s keys+values): %s records in %s, replayed on %s\n",
		count(r.RecordsPerSec()), r.MBPerSec(), r.PayloadMBPerSec(), count(float64(r.Records)), secs(r.Elapsed), who)
	fmt.Fprintf(out, "  leader      appends alone took %s (%s records/s)\n", secs(r.WriteTime), count(float64(r.Records)/r.WriteTime.Seconds()))
	fmt.Fprintf(out, "  cpu         %s user+system (%.2f cores busy), %.1f µs per record replicated\n",
		secs(r.CPU), r.CPU.Seconds()/r.Elapsed.Seconds(), float64(r.CPU.Microseconds())/float64(r.Records))
	fmt.Fprintf(out, "  lag         write p50 %s p99 %s | flush p50 %s p99 %s | replay p50 %s p99 %s  (pg_stat_replication sampled every 5ms, %d samples)\n",
		ms(r.WriteLag.P50), ms(r.WriteLag.P99), ms(r.FlushLag.P50), ms(r.FlushLag.P99), ms(r.ReplayLag.P50), ms(r.ReplayLag.P99), r.ReplayLag.Samples)
	if c.NoFsync {
		fmt.Fprintf(out, "  fsync       none (--fsync off)\n")
	} else {
		el := r.Elapsed.Seconds()
		fmt.Fprintf(out, "  fsync       leader %.0f/s, %s records per fsync; followers %.0f/s each, %s records per fsync\n",
			float64(r.LeaderFsyncs)/el, count(perOp(r.Records, r.LeaderFsyncs)),
			float64(r.FollowerFsyncs)/el/float64(c.Followers), count(perOp(r.Records*c.Followers, r.FollowerFsyncs)))
	}
	fmt.Fprintf(out, "  peak RSS    %s (Go heap live at the last GC: %s)\n", mib(r.PeakRSS), mib(r.Live))
	if c.PausedFollower {
		fmt.Fprintf(out, "  paused      follower-1 flushed everything after %s; %s received and not replayed, on its disk\n",
			secs(r.PausedFlushed), cluster.FormatSize(r.PausedBacklog))
	}
	match := "every timed follower's store matches the leader's (digest)"
	if !r.StoresMatch {
		match = "A FOLLOWER'S STORE DIFFERS FROM THE LEADER'S"
	}
	fmt.Fprintf(out, "  stores      %s\n", match)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(out, "  baseline    %s records/s, %.1f MB/s per connection: the same records framed bare over %d TCP connections into files, %s fsyncs, in %s; cpu %.1f µs per record\n",
			count(b.RecordsPerSec()), b.MBPerSec(), b.Conns, count(float64(b.Fsyncs)), secs(b.Elapsed), float64(b.CPU.Microseconds())/float64(b.Records))
		fmt.Fprintf(out, "  ratio       walship/baseline %.2f\n", r.Ratio())
	}
	if cu := r.CatchUp; cu != nil {
		fmt.Fprintf(out, "  catch-up    follower-1 cut %s under %s records/s: backlog %s records (%s)\n",
			secs(cu.Cut), count(cu.LoadRate), count(cu.BacklogRecords()), cluster.FormatSize(cu.Backlog))
		fmt.Fprintf(out, "              reconnected %s after restore, replayed the backlog %s later: %s records/s = %.2f x bench rate; peak RSS %s (live %s)\n",
			secs(cu.Reconnect), secs(cu.CatchUp), count(cu.RecordsPerSec()), cu.RecordsPerSec()/r.RecordsPerSec(), mib(cu.PeakRSS), mib(cu.Live))
	}
	for _, u := range r.Unwarmed {
		fmt.Fprintf(out, "  note        ran unwarmed, so its figures may be lower: %s\n", u)
	}
}

// printBenchGo prints the figures as Go benchmark lines (see
// golang.org/x/perf/benchfmt): one line per phase, each record one
// iteration, so ns/op is nanoseconds per replicated record and benchstat
// compares runs of the same configuration across builds.
func printBenchGo(out io.Writer, r bench.Result) {
	c := r.Config
	fmt.Fprintf(out, "goos: %s\ngoarch: %s\npkg: walship\n", runtime.GOOS, runtime.GOARCH)
	name := fmt.Sprintf("followers=%d/records=%d/value=%d/sync=%s/fsync=%t",
		c.Followers, c.Records, c.ValueSize, strings.ReplaceAll(c.Sync.String(), " ", "_"), !c.NoFsync)
	if c.PausedFollower {
		name += "/paused-follower"
	}
	procs := runtime.GOMAXPROCS(0)
	perRecord := func(d time.Duration, n int) float64 { return float64(d.Nanoseconds()) / float64(n) }
	fmt.Fprintf(out, "BenchmarkReplicate/%s-%d\t%d\t%.1f ns/op\t%.2f MB/s\t%.0f records/s\t%.1f cpu-ns/record"+
		"\t%d write-lag-p50-ns\t%d write-lag-p99-ns\t%d flush-lag-p50-ns\t%d flush-lag-p99-ns\t%d replay-lag-p50-ns\t%d replay-lag-p99-ns\t%d peak-rss-bytes\n",
		name, procs, r.Records, perRecord(r.Elapsed, r.Records), r.MBPerSec(), r.RecordsPerSec(), perRecord(r.CPU, r.Records),
		r.WriteLag.P50, r.WriteLag.P99, r.FlushLag.P50, r.FlushLag.P99, r.ReplayLag.P50, r.ReplayLag.P99, r.PeakRSS)
	if b := r.Baseline; b != nil {
		fmt.Fprintf(out, "BenchmarkBaseline/%s-%d\t%d\t%.1f ns/op\t%.2f MB/s\t%.0f records/s\t%.1f cpu-ns/record\n",
			name, procs, b.Records, perRecord(b.Elapsed, b.Records), b.MBPerSec(), b.RecordsPerSec(), perRecord(b.CPU, b.Records))
	}
	if cu := r.CatchUp; cu != nil {
		fmt.Fprintf(out, "BenchmarkCatchUp/%s/cut=%s-%d\t%.0f\t%.0f records/s\t%d reconnect-ns\t%d peak-rss-bytes\n",
			name, cu.Cut, procs, cu.BacklogRecords(), cu.RecordsPerSec(), cu.Reconnect.Nanoseconds(), cu.PeakRSS)
	}
}

func perOp(n int, ops uint64) float64 {
	if ops == 0 {
		return 0
	}
	return float64(n) / float64(ops)
}

// count prints 1234567.8 as 1,234,568.
func count(f float64) string {
	s := strconv.FormatInt(int64(f+0.5), 10)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

func secs(d time.Duration) string { return fmt.Sprintf("%.2fs", d.Seconds()) }

func ms(d time.Duration) string {
	if d < 10*time.Millisecond {
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%dms", d.Milliseconds())
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
