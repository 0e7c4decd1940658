package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"walship/engine/cluster"
	"walship/theme"
	"walship/tui"
)

// tuiOptions are the root command's flags. The defaults are tuned for a
// room: frames visibly travel, writes come at a pace a person can follow,
// fsync and replay costs separate the three bars, and small segments make
// retention visible. Zero for any cost shows the raw engine.
type tuiOptions struct {
	followers   int
	rate        float64
	latency     time.Duration
	sync        string
	walKeep     string
	slots       bool
	theme       string
	seed        int64
	applyDelay  time.Duration
	flushDelay  time.Duration
	segmentSize string
	data        string
	// scenario string // --scenario NAME|FILE: owned by the scenario work (see below)
}

func newTUICmd() *cobra.Command {
	var o tuiOptions
	cmd := &cobra.Command{
		Use:   "walship",
		Short: "Watch write-ahead-log replication happen, live in your terminal",
		Long: "walship runs a leader and several followers in one process, joined by real TCP\n" +
			"sockets on loopback, and draws every frame on the wire, every CRC failure and\n" +
			"each follower's received, flushed and replayed positions.\n\n" +
			"Keys: 1-9 select a follower, p pause replay, c cut the link, x corrupt a frame,\n" +
			"k crash, b base backup, space freeze time, : type a command, ? all keys, q quit.\n" +
			"NO_COLOR=1 draws without colour; every state is still spelled out.",
		Example: "  walship\n" +
			"  walship --followers 5 --latency 500ms --sync \"remote_apply 1\"\n" +
			"  walship --theme high-contrast        # for a projector\n" +
			"  walship --latency 0 --apply-delay 0 --flush-delay 0 --rate 500   # the raw engine",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, th, err := o.config()
			if err != nil {
				return err
			}
			return runTUI(cfg, tui.Options{Theme: th})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.followers, "followers", 3, "followers to start (1-9)")
	f.Float64Var(&o.rate, "rate", 4, "workload records per second of world time (0: only when asked)")
	f.DurationVar(&o.latency, "latency", 300*time.Millisecond, "one-way link latency")
	f.StringVar(&o.sync, "sync", "off", `synchronous_commit: off, local, remote_write, on or remote_apply, with ANY N ("remote_apply 1")`)
	f.StringVar(&o.walKeep, "wal-keep", "128KiB", "WAL the leader keeps behind its end (wal_keep_size)")
	f.BoolVar(&o.slots, "slots", false, "a replication slot per follower pins the WAL it still needs")
	f.StringVar(&o.theme, "theme", "dark", "colours: "+strings.Join(theme.Names(), ", ")+" (NO_COLOR forces mono)")
	f.Int64Var(&o.seed, "seed", 1, "seed for the workload and the links' jitter")
	f.DurationVar(&o.applyDelay, "apply-delay", 80*time.Millisecond, "replay cost per record on followers")
	f.DurationVar(&o.flushDelay, "flush-delay", 150*time.Millisecond, "extra cost of each follower fsync")
	f.StringVar(&o.segmentSize, "segment-size", "16KiB", "WAL segment size")
	f.StringVar(&o.data, "data", "", "data directory to keep (default: a temporary one, removed on exit)")

	// --scenario NAME|FILE goes here: the scenario engineer adds the flag,
	// builds a scenario.Lesson from it and passes it as tui.Options.Lesson
	// (and, for --record, wraps stdout in tui.Options.Output).
	return cmd
}

// config checks the flags and turns them into a cluster configuration and
// a theme name. Every error names the flag and what it wants.
func (o tuiOptions) config() (cluster.Config, string, error) {
	var cfg cluster.Config
	if o.followers < 1 || o.followers > 9 {
		return cfg, "", fmt.Errorf("bad --followers %d: want 1 to 9 followers", o.followers)
	}
	if o.rate < 0 || o.rate > 1_000_000 {
		return cfg, "", fmt.Errorf("bad --rate %g: want 0 to 1000000 records per second", o.rate)
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"--latency", o.latency}, {"--apply-delay", o.applyDelay}, {"--flush-delay", o.flushDelay}} {
		if d.v < 0 || d.v > time.Hour {
			return cfg, "", fmt.Errorf("bad %s %s: want a duration from 0 to 1h, like 300ms", d.name, d.v)
		}
	}
	sc, err := cluster.ParseCommand("sync " + o.sync)
	if err != nil {
		return cfg, "", fmt.Errorf(`bad --sync %q: want off, local, remote_write, on or remote_apply, optionally with ANY N ("remote_apply 1")`, o.sync)
	}
	keep, err := cluster.ParseSize(o.walKeep)
	if err != nil {
		return cfg, "", fmt.Errorf("bad --wal-keep %q: want a size like 128KiB or 1MiB", o.walKeep)
	}
	seg, err := cluster.ParseSize(o.segmentSize)
	if err != nil || seg < 8<<10 {
		return cfg, "", fmt.Errorf("bad --segment-size %q: want a size of at least 8KiB, like 16KiB or 1MiB", o.segmentSize)
	}
	name := o.theme
	if _, err := theme.ByName(name); err != nil {
		return cfg, "", fmt.Errorf("bad --theme %q: want one of %s", o.theme, strings.Join(theme.Names(), ", "))
	}
	if os.Getenv("NO_COLOR") != "" {
		name = "mono"
	}
	cfg = cluster.Config{
		Dir:         o.data,
		Followers:   o.followers,
		SegmentSize: seg,
		WALKeep:     keep,
		Slots:       o.slots,
		Sync:        cluster.SyncRule{Mode: sc.Mode, N: int(sc.N)},
		Rate:        o.rate,
		Latency:     o.latency,
		ApplyDelay:  o.applyDelay,
		FlushDelay:  o.flushDelay,
		Seed:        o.seed,
	}
	return cfg, name, nil
}

// runTUI starts the cluster, runs the UI over it and closes it.
func runTUI(cfg cluster.Config, opts tui.Options) (err error) {
	c, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := c.Close(); err == nil {
			err = cerr
		}
	}()
	if err := c.Start(); err != nil {
		return err
	}
	return tui.Run(c, opts)
}
