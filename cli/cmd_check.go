package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"walship/engine/cluster"
	"walship/engine/pg"
	"walship/nemesis"
	"walship/scenario"
)

type checkOptions struct {
	followers    int
	records      int
	data         string
	timeout      time.Duration
	segment      string
	segSet       bool // --segment-size given: a kept --data directory must match it
	chaos        int64
	verbose      bool
	scenario     string
	json         bool
	speed        float64
	pg           bool   // play --scenario on a local PostgreSQL cluster
	bindir       string // with pg: where the server programs are
	followersSet bool   // --followers given
	sync         string // --sync: synchronous_commit and ANY N
}

func newCheckCmd() *cobra.Command {
	var o checkOptions
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Run a headless replication check and verify every follower",
		Long: "check starts a leader and followers on loopback, writes records, waits until\n" +
			"every follower has replayed them, then rebuilds each follower's store from its\n" +
			"own WAL files and compares it with the leader's. It exits 1 when any\n" +
			"follower differs or an expect line fails.\n\n" +
			"With --chaos, a seeded schedule of faults runs while the leader writes, a\n" +
			"failover among them: the leader crashes, the follower with the highest flush\n" +
			"LSN is promoted, and the old leader rejoins after a rewind. Every follower must\n" +
			"end on the primary's timeline and, under --sync on or remote_apply, no\n" +
			"acknowledged commit may be lost.\n\n" +
			"With --json, standard output holds one JSON document (per follower, per expect\n" +
			"line with its file:line, per fault kind) and the usual lines go to standard error.\n\n" +
			"With --pg, --scenario plays a lesson written for PostgreSQL on a local primary\n" +
			"and standbys, started as walship pg demo starts them (--followers standbys, 2\n" +
			"unless the lesson asks for more), then stopped and removed.",
		Example: "  walship check --followers 3 --records 20000\n" +
			"  walship check --chaos 7 --followers 3 --records 20000\n" +
			"  walship check --chaos 7 --followers 3 --records 20000 --sync \"on 1\"\n" +
			"  walship check --scenario crc --json\n" +
			"  walship check --pg --scenario paused-replay",
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.segSet = cmd.Flags().Changed("segment-size")
			o.followersSet = cmd.Flags().Changed("followers")
			if !o.json {
				return runCheck(cmd.Context(), cmd.OutOrStdout(), nil, o)
			}
			return runCheck(cmd.Context(), cmd.ErrOrStderr(), cmd.OutOrStdout(), o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.followers, "followers", 1, fmt.Sprintf("followers to start (1-%d)", cluster.MaxFollowers))
	f.IntVar(&o.records, "records", 5, "records the leader writes")
	f.StringVar(&o.data, "data", "", "data directory to keep (default: a temporary one, removed after)")
	f.DurationVar(&o.timeout, "timeout", defaultCheckTimeout, "how long followers may take to converge")
	f.StringVar(&o.segment, "segment-size", "1MiB", "size of each WAL segment file")
	f.Int64Var(&o.chaos, "chaos", -1, "run a seeded fault schedule (the nemesis) with this seed (0 or more)")
	f.BoolVar(&o.verbose, "verbose", false, "print each chaos command as it runs")
	f.StringVar(&o.scenario, "scenario", "", "play a scenario headless (a built-in name or a file) and check its expect lines")
	f.BoolVar(&o.json, "json", false, "write one JSON document with every result to standard output (the usual lines go to standard error)")
	f.Float64Var(&o.speed, "speed", 1, "with --scenario: the world's speed (8 plays a lesson 8 times as fast; 1/64 to 64)")
	f.BoolVar(&o.pg, "pg", false, "with --scenario: play it on a local PostgreSQL primary and standbys (as walship pg demo starts them)")
	f.StringVar(&o.sync, "sync", "", `synchronous_commit and ANY N: off, local, remote_write, on, remote_apply ("on 1"); off when not given`)
	f.StringVar(&o.bindir, "bindir", "", "with --pg: directory of initdb, postgres and pg_basebackup (default: pg_config --bindir)")
	registerCompletions(cmd)
	return cmd
}

// defaultCheckTimeout is how long followers may take to converge unless
// --timeout says otherwise.
const defaultCheckTimeout = 2 * time.Minute

// errCheckFailed makes the exit status non-zero after the report was printed.
var errCheckFailed = errors.New("check failed: a follower differs from the leader")

// runCheck runs walship check. The usual lines go to out; when js is not
// nil, one JSON document with every result goes there too, whatever
// happened.
func runCheck(ctx context.Context, out, js io.Writer, o checkOptions) error {
	var rep checkReport
	err := check(ctx, out, o, &rep)
	if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("did not finish within --timeout %s (%w)", o.timeout, err)
	}
	if js != nil {
		rep.finish(err)
		if jerr := rep.write(js); err == nil {
			err = jerr
		}
	}
	return err
}

func check(ctx context.Context, out io.Writer, o checkOptions, rep *checkReport) error {
	if err := checkFollowers(o.followers); err != nil {
		return err
	}
	if o.records < 0 || o.records > 100_000_000 {
		return badFlag("records", o.records, "0 to 100000000 records")
	}
	seg, err := parseSegmentSize(o.segment)
	if err != nil {
		return err
	}
	if o.timeout <= 0 {
		return badFlag("timeout", o.timeout, "a positive duration, like 2m")
	}
	if o.chaos < -1 {
		return badFlag("chaos", o.chaos, "a seed of 0 or more")
	}
	if o.speed != 0 && (o.speed < 1.0/64 || o.speed > 64) { // 0: not set, as written
		return badFlag("speed", o.speed, "a speed from 1/64 to 64, like 8")
	}
	if o.speed != 0 && o.speed != 1 && o.scenario == "" {
		return usagef("--speed goes with --scenario")
	}
	var rule cluster.SyncRule // off when --sync is not given
	if o.sync != "" {
		if rule, err = parseSync(o.sync); err != nil {
			return err
		}
	}
	if o.sync != "" && (o.pg || o.scenario != "") {
		return usagef("--sync goes with a plain check or --chaos: a scenario sets its own")
	}
	if o.pg {
		return runCheckPG(ctx, out, o, rep)
	}
	if o.bindir != "" {
		return usagef("--bindir goes with --pg")
	}
	if o.scenario != "" {
		if o.chaos >= 0 {
			return usagef("--scenario and --chaos do not go together")
		}
		return runCheckScenario(ctx, out, o, seg, rep)
	}
	cfg := cluster.Config{
		Dir: o.data, Followers: o.followers, SegmentSize: seg, AdoptSegmentSize: !o.segSet,
		WALKeep: 1 << 40, // keep everything: check is about replication, not retention
		Sync:    rule,
	}
	var ops []nemesis.Op
	if o.chaos >= 0 {
		if ops, err = nemesis.Schedule(o.chaos, nemesis.Settings{Followers: o.followers, Records: o.records}); err != nil {
			return badFlag("records", o.records, fmt.Sprintf("at least %d records with --chaos", nemesis.MinRecords()))
		}
		// Small segments and little retention, so a follower can fall off;
		// followers that do take a base backup by themselves.
		cfg.SegmentSize, cfg.WALKeep, cfg.AutoBackup = nemesis.SegmentSize, nemesis.WALKeep, true
		cfg.Seed = o.chaos
	}
	c, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	wctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	var injected nemesis.Tally
	if ops != nil {
		var verbose io.Writer
		if o.verbose {
			verbose = out
		}
		if injected, err = nemesis.Run(wctx, c, ops, verbose); err != nil {
			return err
		}
	} else {
		for i := range o.records {
			if i%1024 == 0 && wctx.Err() != nil {
				return wctx.Err()
			}
			key := fmt.Appendf(nil, "key-%08d", i)
			val := fmt.Appendf(nil, "value-%08d", i)
			if _, err := c.Put(key, val); err != nil {
				return err
			}
		}
	}
	if err := c.WaitConverged(wctx); err != nil {
		return err
	}
	final := c.Snapshot(^uint64(0))
	leaderRecords := final.Leader.Records
	vs, err := c.Verify()
	if err != nil {
		return err
	}
	ok := true
	for _, v := range vs {
		printVerification(out, v, leaderRecords)
		rep.addFollower(v, leaderRecords)
		ok = ok && v.Match()
	}
	if injected != nil {
		fmt.Fprintf(out, "chaos seed %d: %s\n", o.chaos, injected)
		rep.Chaos = newChaosReport(o.chaos, injected)
		verdict, ferr := checkFailover(final, rule, injected["failover"] > 0)
		fmt.Fprintf(out, "chaos seed %d: %s\n", o.chaos, verdict)
		rep.Chaos.addFailover(final, ferr)
		if ferr != nil {
			return ferr
		}
	}
	if !ok {
		return errCheckFailed
	}
	return nil
}

// errFailoverCheck makes the exit status non-zero when the cluster did
// not come through a failover as it must.
var errFailoverCheck = errors.New("check failed")

// checkFailover judges how the cluster came through its failovers, from
// the snapshot taken once the followers converged: every follower on the
// primary's timeline (past 1 when failedOver), no old primary left
// running fenced, and, under on or remote_apply, no acknowledged commit
// lost. It returns a line that says what it saw, and an error saying
// what is wrong.
func checkFailover(s cluster.Snapshot, rule cluster.SyncRule, failedOver bool) (string, error) {
	tl := s.Leader.Timeline
	var lost uint64
	for _, l := range s.Lost {
		lost += l.Count
	}
	verdict := fmt.Sprintf("%s leads on timeline %d", s.Leader.Name, tl)
	if n := len(s.History); n > 0 {
		verdict += fmt.Sprintf(" (forked at %s)", s.History[n-1].ForkLSN)
	}
	verdict += fmt.Sprintf("; %d acknowledged commits lost under %s", lost, rule)
	var off []string
	for _, f := range s.Followers {
		if f.Timeline != tl {
			off = append(off, fmt.Sprintf("%s on timeline %d (%s)", f.Name, f.Timeline, f.State))
		}
	}
	var fenced []string
	for _, f := range s.Fenced {
		fenced = append(fenced, fmt.Sprintf("%s on timeline %d", f.Name, f.Timeline))
	}
	switch {
	case failedOver && tl < 2:
		return verdict, fmt.Errorf("%w: a failover ran, but the primary %s is still on timeline %d", errFailoverCheck, s.Leader.Name, tl)
	case len(off) > 0:
		return verdict, fmt.Errorf("%w: not every follower follows the primary's timeline %d: %s", errFailoverCheck, tl, strings.Join(off, ", "))
	case len(fenced) > 0:
		return verdict, fmt.Errorf("%w: an old primary still runs fenced: %s", errFailoverCheck, strings.Join(fenced, ", "))
	case lost > 0 && rule.Mode >= cluster.SyncOn:
		var what []string
		for _, l := range s.Lost {
			what = append(what, fmt.Sprintf("%d on promoting %s to timeline %d (%s..%s: %s)", l.Count, l.Promoted, l.Timeline, l.From, l.To, strings.Join(l.Keys, ", ")))
		}
		return verdict, fmt.Errorf("%w: LOST %d acknowledged commits under %s, which must lose none: %s", errFailoverCheck, lost, rule, strings.Join(what, "; "))
	}
	return verdict + fmt.Sprintf("; every follower on timeline %d", tl), nil
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
func runCheckScenario(ctx context.Context, out io.Writer, o checkOptions, seg int64, rep *checkReport) error {
	sc, err := loadScenario(o.scenario, scenario.BackendEngine)
	if err != nil {
		return err
	}
	// The room's segments and retention, as in the UI, so the retention
	// lessons behave as they do on screen; the lessons set their own pace.
	room := cluster.Room()
	if !o.segSet {
		seg = room.SegmentSize
	}
	c, err := cluster.New(cluster.Config{
		Dir: o.data, Followers: max(o.followers, sc.Followers),
		SegmentSize: seg, AdoptSegmentSize: !o.segSet, WALKeep: room.WALKeep,
	})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		return err
	}
	return playHeadless(ctx, out, c, sc, o.timeout, rep, scenario.WithSpeed(o.speed))
}

// playHeadless plays sc over ctrl with no terminal within timeout,
// checking every expect line into rep.
func playHeadless(ctx context.Context, out io.Writer, ctrl cluster.Controller, sc *scenario.Scenario, timeout time.Duration, rep *checkReport, opts ...scenario.Option) error {
	rep.Scenario = &scenarioReport{File: sc.File, Title: sc.Title, Expects: []expectReport{}}
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return scenario.RunHeadlessResults(rctx, ctrl, sc, out, rep.Scenario.add, opts...)
}

// runCheckPG plays a lesson written for PostgreSQL headless: it starts a
// local primary and standbys as walship pg demo does, watches them with
// controls on, plays the lesson, and stops and removes everything.
func runCheckPG(ctx context.Context, out io.Writer, o checkOptions, rep *checkReport) (err error) {
	switch {
	case o.scenario == "":
		return usagef("--pg goes with --scenario: it plays a lesson on PostgreSQL")
	case o.chaos >= 0:
		return usagef("--pg and --chaos do not go together: walship pg does not inject faults on the wire")
	case o.data != "":
		return usagef("--pg and --data do not go together: the servers' directory is temporary")
	case o.segSet:
		return usagef("--pg and --segment-size do not go together: the local primary has 1MiB segments")
	case o.speed != 0 && o.speed != 1:
		return badFlag("speed", o.speed, "1 with --pg: PostgreSQL runs in real time")
	}
	sc, err := loadScenario(o.scenario, scenario.BackendPG)
	if err != nil {
		return err
	}
	bin, err := pg.FindBinaries(o.bindir)
	if err != nil {
		return err
	}
	standbys := max(sc.Followers, 2) // as walship pg demo starts
	if o.followersSet {
		standbys = max(sc.Followers, o.followers)
	}
	w, stop, err := startPGDemo(ctx, bin, standbys, func(s string) { fmt.Fprintln(out, "pg: "+s) })
	if err != nil {
		return err
	}
	defer func() {
		if serr := stop(); err == nil {
			err = serr
		}
	}()
	return playHeadless(ctx, out, w, sc, o.timeout, rep, scenario.WithBackend(scenario.BackendPG))
}
