package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"time"

	"github.com/charmbracelet/x/term"
	"github.com/spf13/cobra"

	"walship/engine/cluster"
	"walship/scenario"
	"walship/session"
	"walship/theme"
	"walship/tui"
)

// tuiOptions are the root command's flags. Their defaults are
// cluster.Room's, tuned for a room.
type tuiOptions struct {
	followers    int
	rate         float64
	latency      time.Duration
	sync         string
	walKeep      string
	slots        bool
	theme        string
	room         bool // the presenter layout
	seed         int64
	applyDelay   time.Duration
	flushDelay   time.Duration
	segmentSize  string
	segmentSet   bool // --segment-size given: a kept --data directory must match it
	data         string
	scenario     string // a built-in lesson's name or a scenario file
	record       string // asciicast v2 file to write
	session      string // session file to write (walship replay plays it)
	saveScenario string // scenario file to write the live commands to
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
			"k crash, b base backup, space freeze time, : type a command, l pick a lesson,\n" +
			"? all keys, q quit.\n" +
			"NO_COLOR=1 draws without colour (unless --theme names one); every state is\n" +
			"still spelled out.",
		Example: "  walship\n" +
			"  walship --followers 5 --latency 500ms --sync \"remote_apply 1\"\n" +
			"  walship --room --theme high-contrast   # for a projector\n" +
			"  walship --latency 0 --apply-delay 0 --flush-delay 0 --rate 500   # the raw engine",
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.segmentSet = cmd.Flags().Changed("segment-size")
			cfg, th, err := o.config()
			if err != nil {
				return err
			}
			if err := checkTerminal(headless); err != nil {
				return err
			}
			// The UI runs in a child process under a guard that restores
			// the terminal and removes the data however the child ends
			// (guard.go); this is the guard unless guardedEnv says it is
			// the child.
			if os.Getenv(guardedEnv) == "" {
				// Read the scenario before the UI starts: its mistakes are
				// usage errors, said on the plain terminal.
				if o.scenario != "" {
					if _, err := loadScenario(o.scenario, scenario.BackendEngine); err != nil {
						return err
					}
				}
				return runGuardedUI(cmd.Context(), o.data)
			}
			if os.Getenv(guardedEnv) == guardedTemp {
				// The guard's temporary directory: the guard removes it
				// too, unless it was killed (see lifelineEnv).
				defer os.RemoveAll(o.data)
			}
			return runTUI(cmd.Context(), cfg, tui.Options{Theme: th, Room: o.room}, o)
		},
	}
	f := cmd.Flags()
	room := cluster.Room()
	f.IntVar(&o.followers, "followers", room.Followers, fmt.Sprintf("followers to start (1-%d)", cluster.MaxFollowers))
	f.Float64Var(&o.rate, "rate", room.Rate, "workload records per second of world time (0: only when asked)")
	f.DurationVar(&o.latency, "latency", room.Latency, "latency of each link, one way")
	f.StringVar(&o.sync, "sync", room.Sync.String(), `sync commit rule (synchronous_commit): off, local, remote_write, on or remote_apply, with ANY N ("remote_apply 1")`)
	f.StringVar(&o.walKeep, "wal-keep", cluster.FormatSize(room.WALKeep), "bytes of WAL the leader keeps behind its end (wal_keep_size)")
	f.BoolVar(&o.slots, "slots", room.Slots, "a replication slot per follower pins the WAL it still needs")
	f.StringVar(&o.theme, "theme", theme.Auto, themeUsage)
	f.BoolVar(&o.room, "room", false, "start in the presenter layout (z toggles it): fewer numbers, tall bars, large badges")
	f.Int64Var(&o.seed, "seed", room.Seed, "seed for the workload and the links' jitter")
	f.DurationVar(&o.applyDelay, "apply-delay", room.ApplyDelay, "replay cost per record on followers")
	f.DurationVar(&o.flushDelay, "flush-delay", room.FlushDelay, "extra cost of each follower fsync")
	f.StringVar(&o.segmentSize, "segment-size", cluster.FormatSize(room.SegmentSize), "size of each WAL segment file")
	f.StringVar(&o.data, "data", "", "data directory to keep (default: a temporary one, removed on exit)")

	f.StringVar(&o.scenario, "scenario", "", "play a lesson: a built-in name (see walship scenarios) or a scenario file")
	f.StringVar(&o.record, "record", "", "record the session as an asciicast v2 file (asciinema play FILE)")
	f.StringVar(&o.session, "record-session", "", "record the session as data, to play at any size and theme and scrub through (walship replay FILE)")
	f.StringVar(&o.saveScenario, "save-scenario", "", "on exit, write the commands done live as a scenario file that replays them")
	registerCompletions(cmd)
	return cmd
}

// config checks the flags and turns them into a cluster configuration and
// a theme name. Every error names the flag, the value and what it wants.
func (o tuiOptions) config() (cluster.Config, string, error) {
	var cfg cluster.Config
	if err := checkFollowers(o.followers); err != nil {
		return cfg, "", err
	}
	if o.rate < 0 || o.rate > 1_000_000 {
		return cfg, "", badFlag("rate", o.rate, "0 to 1000000 records per second")
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"latency", o.latency}, {"apply-delay", o.applyDelay}, {"flush-delay", o.flushDelay}} {
		if d.v < 0 || d.v > time.Hour {
			return cfg, "", badFlag(d.name, d.v, "a duration from 0 to 1h, like 300ms")
		}
	}
	rule, err := parseSync(o.sync)
	if err != nil {
		return cfg, "", err
	}
	keep, err := parseSize("wal-keep", o.walKeep)
	if err != nil {
		return cfg, "", err
	}
	if keep == 0 {
		keep = cluster.NoWALKeep // zero means zero, as wal_keep_size = 0
	}
	if rule.Remote() && rule.N > o.followers && o.scenario == "" && o.data == "" {
		// A rule no set of followers can meet blocks every commit, silently.
		return cfg, "", badFlag("sync", o.sync, fmt.Sprintf("at most ANY %d with --followers %d: ANY %d can never be met, so every commit would wait forever",
			o.followers, o.followers, rule.N))
	}
	seg, err := parseSegmentSize(o.segmentSize)
	if err != nil {
		return cfg, "", err
	}
	name, err := themeFlag(o.theme)
	if err != nil {
		return cfg, "", err
	}
	cfg = cluster.Room()
	cfg.Dir, cfg.Followers, cfg.SegmentSize, cfg.WALKeep, cfg.Slots, cfg.Sync = o.data, o.followers, seg, keep, o.slots, rule
	cfg.Rate, cfg.Latency, cfg.ApplyDelay, cfg.FlushDelay, cfg.Seed = o.rate, o.latency, o.applyDelay, o.flushDelay, o.seed
	// A kept --data directory keeps its own segment size unless one was
	// asked for.
	cfg.AdoptSegmentSize = !o.segmentSet
	return cfg, name, nil
}

// checkTerminal refuses what walship cannot draw on: no terminal at all,
// or TERM=dumb, which cannot move its cursor. otherwise ends the advice
// (", or use ..."), "" when there is no other way.
func checkTerminal(otherwise string) error {
	if os.Getenv("TERM") == "dumb" {
		return usagef("TERM=dumb: this terminal cannot move its cursor, so walship cannot draw on it; run it in a terminal such as xterm%s", otherwise)
	}
	if !term.IsTerminal(os.Stdout.Fd()) || !term.IsTerminal(os.Stdin.Fd()) {
		return usagef("walship draws in a terminal, and this is not one: run it in a terminal%s", otherwise)
	}
	return nil
}

// headless is the root's advice when there is no terminal.
const headless = ", or use walship check for a headless run"

// runTUI starts the cluster, runs the UI over it (playing a scenario,
// recording the screen and the commands when asked) and closes it.
func runTUI(ctx context.Context, cfg cluster.Config, opts tui.Options, o tuiOptions) (err error) {
	opts.Context = ctx // a signal ends the program through Bubble Tea, which restores the terminal
	var sc *scenario.Scenario
	if o.scenario != "" {
		if sc, err = loadScenario(o.scenario, scenario.BackendEngine); err != nil {
			return err
		}
		cfg.Followers = max(cfg.Followers, sc.Followers)
	}
	// Open the output files first: a bad path should fail before the
	// screen is taken over.
	var castFile, saveFile, sessionFile *os.File
	if o.session != "" {
		if sessionFile, err = os.Create(o.session); err != nil {
			return fmt.Errorf("--record-session: %w", err)
		}
		defer sessionFile.Close()
	}
	if o.record != "" {
		if castFile, err = os.Create(o.record); err != nil {
			return fmt.Errorf("--record: %w", err)
		}
		defer castFile.Close()
	}
	if o.saveScenario != "" {
		if saveFile, err = os.Create(o.saveScenario); err != nil {
			return fmt.Errorf("--save-scenario: %w", err)
		}
		defer saveFile.Close()
	}

	// A World: a cluster a lesson can checkpoint as each chapter begins
	// and take back to such a checkpoint.
	w, err := cluster.NewWorld(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := w.Close(); err == nil {
			err = cerr
		}
	}()
	if err := w.Start(); err != nil {
		return err
	}
	var ctrl cluster.Controller = w
	var rec *scenario.Recorder
	if saveFile != nil {
		rec = scenario.NewRecorder(w)
		ctrl = rec
	}
	// Lessons: the one asked for, and the picker (l) for the others.
	lessons := scenario.NewLessons(ctrl, scenario.WithRewinder(w))
	defer lessons.Close()
	if sc != nil {
		opts.Lesson = lessons.Play(sc)
	}
	opts.Lessons, opts.StartLesson, opts.Hint = scenario.BuiltinsFor(scenario.BackendEngine), lessons.Start, sc == nil
	uiCtrl := ctrl
	if sessionFile != nil {
		srec, err := recordSession(sessionFile, ctrl, &opts, sc)
		if err != nil {
			return fmt.Errorf("--record-session: %w", err)
		}
		uiCtrl = srec
		defer func() {
			if cerr := srec.Close(); err == nil && cerr != nil {
				err = fmt.Errorf("--record-session: %w", cerr)
			}
		}()
	}
	if castFile != nil {
		stopCast := startCast(castFile, &opts, sc)
		defer func() {
			if cerr := stopCast(); err == nil && cerr != nil {
				err = fmt.Errorf("--record: %w", cerr)
			}
		}()
	}
	err = tui.Run(uiCtrl, opts)
	if p := w.Fatal(); p != nil {
		// The UI quit because the engine stopped; the stack is for a bug report.
		err = fmt.Errorf("%w\n%s", p, p.Stack)
	}
	if rec != nil {
		if werr := rec.WriteScenario(saveFile); werr != nil && err == nil {
			err = fmt.Errorf("--save-scenario: %w", werr)
		}
	}
	return err
}

// recordSession starts writing the session to f as data: every snapshot
// the UI is shown, and the lesson's captions (the one playing and any the
// picker starts). The UI is to run over the returned controller.
func recordSession(f *os.File, ctrl cluster.Controller, opts *tui.Options, sc *scenario.Scenario) (*session.Recorder, error) {
	w, h, err := term.GetSize(os.Stdout.Fd())
	if err != nil {
		w, h = 0, 0
	}
	info, ok := debug.ReadBuildInfo()
	meta := session.Meta{Started: time.Now().UnixNano(), Program: "walship " + versionOf("", info, ok), Width: w, Height: h}
	if sc != nil {
		meta.Title = sc.Title
	}
	sw, err := session.NewWriter(f, meta)
	if err != nil {
		return nil, err
	}
	rec := session.NewRecorder(ctrl, sw)
	opts.Lesson = rec.Lesson(opts.Lesson)
	if start := opts.StartLesson; start != nil {
		opts.StartLesson = func(name string) (scenario.Lesson, error) {
			l, err := start(name)
			return rec.Lesson(l), err
		}
	}
	return rec, nil
}

// startCast records everything drawn to the terminal into f as an
// asciicast, following the terminal's size as it changes. It returns the
// function that finishes the file.
func startCast(f *os.File, opts *tui.Options, sc *scenario.Scenario) func() error {
	w, h, err := term.GetSize(os.Stdout.Fd())
	if err != nil || w <= 0 || h <= 0 {
		w, h = 120, 36
	}
	title := "walship"
	if sc != nil {
		title = "walship: " + sc.Title
	}
	cast := scenario.NewCastWriter(f, w, h, title)
	opts.Output = tui.Tee(os.Stdout, cast)
	opts.Marker = func(label string) { cast.Marker(label) }

	winch := make(chan os.Signal, 1)
	notifyResize(winch)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case <-done:
				return
			case <-winch:
				if w, h, err := term.GetSize(os.Stdout.Fd()); err == nil {
					cast.Resize(w, h)
				}
			}
		}
	}()
	return func() error {
		signal.Stop(winch)
		close(done)
		<-stopped
		return cast.Close()
	}
}
