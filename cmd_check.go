package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/scenario"
)

type checkOptions struct {
	followers int
	records   int
	data      string
	timeout   time.Duration
	segment   string
	chaos     int64
	verbose   bool
	scenario  string
	speed     float64
}

func newCheckCmd() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run a headless replication check and verify every follower",
		Long: "check starts a leader and followers on loopback, writes records, waits until\n" +
			"every follower has replayed them, then rebuilds each follower's store from its\n" +
			"own WAL files and compares it with the leader's. It exits non-zero when any\n" +
			"follower differs.",
		Example:      "  walship check --followers 3 --records 20000",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runCheck(cmd.Context(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.followers, "followers", 1, "followers to start (1-9)")
	f.IntVar(&o.records, "records", 5, "records the leader writes")
	f.StringVar(&o.data, "data", "", "data directory to keep (default: a temporary one, removed after)")
	f.DurationVar(&o.timeout, "timeout", defaultCheckTimeout, "how long followers may take to converge")
	f.StringVar(&o.segment, "segment-size", "1MiB", "size of each WAL segment file")
	f.Int64Var(&o.chaos, "chaos", -1, "run a seeded fault schedule (the nemesis) with this seed (0 or more)")
	f.BoolVar(&o.verbose, "verbose", false, "print each chaos command as it runs")
	f.StringVar(&o.scenario, "scenario", "", "play a scenario headless (a built-in name or a file) and check its expect lines")
	f.Float64Var(&o.speed, "speed", 1, "with --scenario: the world's speed (8 plays a lesson 8 times as fast; 1/64 to 64)")
	return cmd
}

// defaultCheckTimeout is how long followers may take to converge unless
// --timeout says otherwise.
const defaultCheckTimeout = 2 * time.Minute

// errCheckFailed makes the exit status non-zero after the report was printed.
var errCheckFailed = errors.New("check failed: a follower differs from the leader")

func runCheck(ctx context.Context, out io.Writer, o checkOptions) error {
	if o.followers < 1 || o.followers > cluster.MaxFollowers {
		return fmt.Errorf("--followers must be 1..%d, not %d", cluster.MaxFollowers, o.followers)
	}
	if o.records < 0 || o.records > 100_000_000 {
		return fmt.Errorf("--records must be 0..100000000, not %d", o.records)
	}
	seg, err := cluster.ParseSize(o.segment)
	if err != nil {
		return fmt.Errorf("--segment-size: %w", err)
	}
	if seg < wal.MaxRecordSize {
		return fmt.Errorf("--segment-size must be at least %s (the largest record), not %s", cluster.FormatSize(wal.MaxRecordSize), o.segment)
	}
	if o.timeout <= 0 {
		return fmt.Errorf("--timeout must be positive, not %v", o.timeout)
	}
	if o.chaos < -1 {
		return fmt.Errorf("--chaos takes a seed of 0 or more, not %d", o.chaos)
	}
	if o.speed != 0 && (o.speed < 1.0/64 || o.speed > 64) { // 0: not set, as written
		return fmt.Errorf("--speed must be 1/64..64, not %g", o.speed)
	}
	if o.speed != 0 && o.speed != 1 && o.scenario == "" {
		return fmt.Errorf("--speed goes with --scenario")
	}
	if o.scenario != "" {
		if o.chaos >= 0 {
			return fmt.Errorf("--scenario and --chaos do not go together")
		}
		return runCheckScenario(ctx, out, o)
	}
	cfg := cluster.Config{
		Dir: o.data, Followers: o.followers, SegmentSize: seg,
		WALKeep: 1 << 40, // keep everything: check is about replication, not retention
	}
	var steps []chaosStep
	if o.chaos >= 0 {
		if steps, err = chaosSchedule(o.chaos, o.followers, o.records); err != nil {
			return err
		}
		// Small segments and little retention, so a follower can fall off;
		// followers that do take a base backup by themselves.
		cfg.SegmentSize, cfg.WALKeep, cfg.AutoBackup = chaosSegment, chaosWALKeep, true
		cfg.Seed = o.chaos
	}
	c, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var injected map[string]int
	if steps != nil {
		var verbose io.Writer
		if o.verbose {
			verbose = out
		}
		if injected, err = runChaos(wctx, c, steps, verbose); err != nil {
			return err
		}
	} else {
		for i := range o.records {
			key := fmt.Appendf(nil, "key-%08d", i)
			val := fmt.Appendf(nil, "value-%08d", i)
			if _, err := c.Put(key, val); err != nil {
				return err
			}
		}
		if err := c.WaitConverged(wctx); err != nil {
			return err
		}
	}
	leaderRecords := c.Snapshot(^uint64(0)).Leader.Records
	vs, err := c.Verify()
	if err != nil {
		return err
	}
	ok := true
	for _, v := range vs {
		printVerification(out, v, leaderRecords)
		ok = ok && v.Match()
	}
	if injected != nil {
		fmt.Fprintln(out, chaosSummary(o.chaos, injected))
	}
	if !ok {
		return errCheckFailed
	}
	return nil
}

// printVerification prints the four-line block of DESIGN.md for one
// follower.
func printVerification(out io.Writer, v cluster.Verification, shipped uint64) {
	fmt.Fprintf(out, "leader: shipped %d records to %s\n", shipped, v.Name)
	crc := "CRC OK"
	if v.CRCFailures > 0 {
		crc = fmt.Sprintf("%d CRC failures caught and resent", v.CRCFailures)
	}
	recv := fmt.Sprintf("%s: received %d records, %s", v.Name, v.Received, crc)
	if v.Backups > 0 {
		recv += fmt.Sprintf(", %d base backup(s)", v.Backups)
	}
	fmt.Fprintln(out, recv)
	fmt.Fprintf(out, "%s: store has %d keys\n", v.Name, v.StoreKeys)
	if v.Match() {
		fmt.Fprintf(out, "leader: follower WAL replay matches — %d/%d keys identical\n", v.Identical, v.LeaderKeys)
		return
	}
	why := v.Diff
	switch {
	case why != "":
	case v.Violations > 0:
		why = fmt.Sprintf("%d broken position invariants", v.Violations)
	case v.FileKeys != v.LeaderKeys:
		why = fmt.Sprintf("its files hold %d keys", v.FileKeys)
	}
	fmt.Fprintf(out, "leader: follower WAL replay DIFFERS — %d/%d keys identical: %s\n", v.Identical, v.LeaderKeys, why)
}

// runCheckScenario plays a scenario with no terminal: chapters don't wait,
// every expect line is checked, and the first that failed is the error.
func runCheckScenario(ctx context.Context, out io.Writer, o checkOptions) error {
	sc, err := scenario.Load(o.scenario)
	if err != nil {
		return err
	}
	c, err := cluster.New(cluster.Config{
		Dir: o.data, Followers: max(o.followers, sc.Followers),
		// Small segments and little retention, as in the UI, so the
		// retention lessons behave as they do on screen.
		SegmentSize: 16 << 10, WALKeep: 128 << 10,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	return scenario.RunHeadless(rctx, c, sc, out, scenario.WithSpeed(o.speed))
}
