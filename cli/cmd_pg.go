package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	tea "charm.land/bubbletea/v2"
	"github.com/jackc/pgx/v5"
	"github.com/spf13/cobra"

	"walship/engine/cluster"
	"walship/engine/pg"
	"walship/scenario"
	"walship/theme"
	"walship/tui"
)

// newPGCmd is `walship pg`: the same screen over a real PostgreSQL
// primary and its streaming standbys.
func newPGCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "pg",
		Short: "The same screen over a real PostgreSQL cluster",
		Long: "walship pg draws a real PostgreSQL primary and its streaming standbys on the\n" +
			"same screen as walship's own engine, from PostgreSQL's views: pg_stat_replication,\n" +
			"pg_replication_slots, pg_stat_wal_receiver, pg_last_wal_*_lsn(), pg_walinspect.\n" +
			"What those views do not show (frames in flight, CRC failures, link latency,\n" +
			"per-record apply cost) is said, never invented.",
		Args: noArgs,
	}
	cmd.AddCommand(newPGWatchCmd(), newPGDemoCmd(), newPGReapCmd())
	return cmd
}

// pgWatchOptions are watch's connection flags, as psql takes them.
type pgWatchOptions struct {
	host, port, user, dbname string
	standbys                 []string
	control                  bool
	theme                    string
}

func newPGWatchCmd() *cobra.Command {
	var o pgWatchOptions
	cmd := &cobra.Command{
		Use:   "watch",
		Short: "Watch a running primary and its standbys",
		Long: "Watch a running primary (the connection flags and PG* environment variables work\n" +
			"as psql's do; -d also takes a connection string or URI) and, optionally, each\n" +
			"standby (--standby, once per standby: a connection string that takes the\n" +
			"primary's host, port, user and database for the keys it leaves out). Without a\n" +
			"connection to a standby, it is seen only as the primary sees it.\n\n" +
			"Watching needs nothing but pg_monitor rights. Record types need pg_walinspect\n" +
			"on the primary and superuser or pg_read_server_files rights. --control lets\n" +
			"the keys and the command palette run SQL: pause and resume replay, cut and\n" +
			"restore (primary_conninfo), sync rules, INSERTs into walship_rows, checkpoint,\n" +
			"promote. Each statement is shown in the event log.",
		Example: "  walship pg watch -h db1 -U monitor --standby host=db2 --standby host=db3\n" +
			"  PGHOST=/tmp/sock walship pg watch -p 5432 --standby port=5433 --control\n" +
			"  walship pg watch -d postgres://monitor@db1/postgres",
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			th, err := themeFlag(o.theme)
			if err != nil {
				return err
			}
			cfg, err := o.config()
			if err != nil {
				return err
			}
			if err := checkTerminal(""); err != nil {
				return err
			}
			if os.Getenv(guardedEnv) == "" {
				return runGuarded(cmd.Context(), guardedKept) // see guard.go
			}
			w, err := pg.Watch(cfg)
			if err != nil {
				return err
			}
			err = runPGTUI(cmd.Context(), w, tui.Options{Theme: th})
			// Put back what walship changed on the servers, and say so;
			// what it cannot is said, with the SQL that does it by hand
			// (after an interrupt too, which the error handler reports
			// alone).
			done, cerr := w.Undo()
			if msg := pg.UndoLines(done); msg != "" {
				fmt.Fprintln(cmd.ErrOrStderr(), msg)
			}
			if cerr == nil {
				cerr = w.Close()
			} else {
				w.Close()
			}
			if cerr != nil {
				if cmd.Context().Err() != nil {
					fmt.Fprintln(cmd.ErrOrStderr(), "walship pg watch:", cerr)
				} else if err == nil {
					err = cerr
				}
			}
			return err
		},
	}
	f := cmd.Flags()
	// psql's -h is the host, so help is --help only.
	f.Bool("help", false, "help for watch")
	f.StringVarP(&o.host, "host", "h", "", "the primary's host or socket directory (PGHOST)")
	f.StringVarP(&o.port, "port", "p", "", "the primary's port (PGPORT)")
	f.StringVarP(&o.user, "username", "U", "", "user name (PGUSER)")
	f.StringVarP(&o.dbname, "dbname", "d", "", "database name, or a connection string or URI (PGDATABASE)")
	f.StringArrayVar(&o.standbys, "standby", nil, `a standby's connection string, e.g. "host=db2" or "port=5433" (repeat per standby)`)
	f.BoolVar(&o.control, "control", false, "let keys and commands run SQL on the servers (needs superuser)")
	f.StringVar(&o.theme, "theme", theme.Auto, themeUsage)
	registerCompletions(cmd)
	return cmd
}

// config builds the connections: the primary's from -d (a database name,
// connection string or URI) with -h, -p and -U on top and PG* variables
// under; each standby's from its string, taking the primary's host, port,
// user, database and password for the keys it leaves out.
func (o pgWatchOptions) config() (pg.Config, error) {
	cfg := pg.Config{Control: o.control}
	base := ""
	if strings.Contains(o.dbname, "=") || strings.Contains(o.dbname, "://") {
		base = o.dbname // a connection string, as psql -d takes one
	}
	primary, err := pgx.ParseConfig(base)
	if err != nil {
		return cfg, badFlag("dbname", o.dbname, "a database name, a connection string or a URI ("+err.Error()+")")
	}
	if base == "" && o.dbname != "" {
		primary.Database = o.dbname
	}
	if o.host != "" {
		primary.Host, primary.Fallbacks = o.host, nil
	}
	if o.port != "" {
		p, err := strconv.ParseUint(o.port, 10, 16)
		if err != nil || p == 0 {
			return cfg, badFlag("port", o.port, "a port number")
		}
		primary.Port, primary.Fallbacks = uint16(p), nil
	}
	if o.user != "" {
		primary.User = o.user
	}
	cfg.Primary = primary
	for _, s := range o.standbys {
		c, err := pg.StandbyConnConfig(s, primary)
		if err != nil {
			return cfg, badFlag("standby", s, "a connection string or URI ("+err.Error()+")")
		}
		cfg.Standbys = append(cfg.Standbys, c)
	}
	return cfg, nil
}

type pgDemoOptions struct {
	standbys int
	bindir   string
	rate     int
	theme    string
	scenario string // a lesson written for PostgreSQL (backends pg), or its engine lesson's name
}

func newPGDemoCmd() *cobra.Command {
	var o pgDemoOptions
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Start a local primary and standbys, and watch them with controls",
		Long: "Start a local PostgreSQL primary and N streaming standbys (the first through a\n" +
			"physical slot) from the installed server programs, in a temporary directory, on\n" +
			"Unix sockets only, and watch them with controls on. On exit, also on Ctrl+C,\n" +
			"SIGTERM or a crash of walship, the servers are stopped and the directory removed.\n" +
			"As root, the servers run as the postgres user (PostgreSQL refuses root).\n\n" +
			"--scenario plays a lesson written for PostgreSQL (walship scenarios lists them;\n" +
			"basic, paused-replay, sync-commit and base-backup name their PostgreSQL versions).",
		Example: "  walship pg demo\n  walship pg demo --standbys 3 --rate 20 --theme high-contrast\n" +
			"  walship pg demo --scenario paused-replay",
		Args:         noArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			th, err := themeFlag(o.theme)
			if err != nil {
				return err
			}
			if o.standbys < 1 || o.standbys > cluster.MaxFollowers {
				return badFlag("standbys", o.standbys, fmt.Sprintf("1 to %d standbys", cluster.MaxFollowers))
			}
			if o.rate < 0 || o.rate > 10_000 {
				return badFlag("rate", o.rate, "0 to 10000 rows a second")
			}
			var sc *scenario.Scenario
			if o.scenario != "" {
				// Its mistakes are usage errors, said before any server starts.
				if sc, err = loadScenario(o.scenario, scenario.BackendPG); err != nil {
					return err
				}
			}
			bin, err := pg.FindBinaries(o.bindir)
			if err != nil {
				return err
			}
			if err := checkTerminal(""); err != nil {
				return err
			}
			if os.Getenv(guardedEnv) == "" {
				// The servers die with the child (Pdeathsig) and the
				// reaper removes their directory; the guard puts the
				// terminal back.
				return runGuarded(cmd.Context(), guardedKept)
			}
			return runPGDemo(cmd.Context(), o, bin, th, sc)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.standbys, "standbys", 2, fmt.Sprintf("standbys to start (1-%d); the first streams through a slot", cluster.MaxFollowers))
	f.StringVar(&o.bindir, "bindir", "", "directory of initdb, postgres and pg_basebackup (default: pg_config --bindir)")
	f.IntVar(&o.rate, "rate", 5, "rows a second to INSERT, one commit each (0: only when asked)")
	f.StringVar(&o.theme, "theme", theme.Auto, themeUsage)
	f.StringVar(&o.scenario, "scenario", "", "play a lesson written for PostgreSQL: a built-in name (see walship scenarios) or a scenario file")
	registerCompletions(cmd)
	return cmd
}

func runPGDemo(ctx context.Context, o pgDemoOptions, bin pg.Binaries, th string, sc *scenario.Scenario) (err error) {
	// ctx ends on Ctrl+C, SIGTERM or a closed terminal (see interrupts),
	// which stops the start or the screen; the cleanup below runs either
	// way, and the reaper runs it after a crash of walship.
	standbys := o.standbys
	if sc != nil {
		standbys = max(standbys, sc.Followers)
	}
	// On the terminal as it happens (the guard holds standard error until
	// the end).
	progress := func(s string) { fmt.Fprintln(os.Stdout, "walship pg demo: "+s) }
	w, stop, err := startPGDemo(ctx, bin, standbys, progress)
	if err != nil {
		return err
	}
	defer func() {
		if serr := stop(); err == nil {
			err = serr
		}
	}()
	if o.rate > 0 {
		if err := w.Do(cluster.Command{Verb: cluster.VerbRate, N: int64(o.rate)}); err != nil {
			return err
		}
	}
	// Lessons: the one asked for, and the picker (l) for the others
	// written for PostgreSQL. A real cluster cannot be checkpointed and
	// taken back, so going back to a chapter is refused, saying so.
	lessons := scenario.NewLessons(w, scenario.WithBackend(scenario.BackendPG))
	defer lessons.Close()
	opts := tui.Options{Theme: th, Lessons: scenario.BuiltinsFor(scenario.BackendPG), StartLesson: lessons.Start, Hint: sc == nil}
	if sc != nil {
		opts.Lesson = lessons.Play(sc)
	}
	return runPGTUI(ctx, w, opts)
}

// startPGDemo starts a local primary and standbys (the first through a
// slot), with a reaper that stops them and removes their directory should
// walship die, and watches them with controls on. stop does it all when
// walship ends as it should. Progress is told each step.
func startPGDemo(ctx context.Context, bin pg.Binaries, standbys int, progress func(string)) (w *pg.Watcher, stop func() error, err error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("finding walship's own binary for the reaper: %w", err)
	}
	var release func()
	l, err := pg.StartLocal(ctx, pg.LocalConfig{
		Binaries: bin,
		Standbys: standbys,
		Slots:    1,
		Progress: progress,
		OnDir: func(dir string) error {
			release, err = pg.SpawnReaper(dir, []string{exe, "pg", "reap", dir})
			return err
		},
	})
	if err == nil {
		w, err = watchLocal(l)
		if err != nil {
			l.Close()
		}
	}
	if err != nil {
		if release != nil {
			release()
		}
		if ctx.Err() != nil {
			return nil, nil, errors.New("walship pg: stopped while starting; the servers are stopped and their directory removed")
		}
		return nil, nil, err
	}
	return w, func() error {
		w.Close() // what it would put back goes with the servers
		err := l.Close()
		release()
		return err
	}, nil
}

// watchLocal watches a local cluster's primary and standbys with
// controls on.
func watchLocal(l *pg.Local) (*pg.Watcher, error) {
	cfg := pg.Config{Control: true}
	for _, name := range append([]string{pg.PrimaryName}, l.Standbys()...) {
		c, err := pgx.ParseConfig(l.ConnString(name))
		if err != nil {
			return nil, err
		}
		if name == pg.PrimaryName {
			cfg.Primary = c
		} else {
			cfg.Standbys = append(cfg.Standbys, c)
		}
	}
	return pg.Watch(cfg)
}

// runPGTUI runs the screen over w until the user quits or ctx ends (a
// signal: then the program ends normally and the caller cleans up).
func runPGTUI(ctx context.Context, w *pg.Watcher, opts tui.Options) error {
	opts.Context = ctx
	err := tui.Run(w, opts)
	if ctx.Err() != nil || errors.Is(err, tea.ErrInterrupted) {
		return nil
	}
	return err
}

func newPGReapCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "reap DIR",
		Short:  "Stop the servers under DIR and remove it once stdin closes (walship pg demo runs it)",
		Args:   cobra.ExactArgs(1),
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			signal.Ignore(os.Interrupt, syscall.SIGHUP, syscall.SIGTERM)
			return pg.Reap(os.Stdin, args[0])
		},
	}
}
