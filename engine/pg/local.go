package pg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"walship/engine/cluster"
)

// LocalConfig configures a local cluster: a primary and its streaming
// standbys, started from the installed binaries in a fresh directory.
type LocalConfig struct {
	Binaries Binaries
	Standbys int // 1 to cluster.MaxFollowers
	Slots    int // the first Slots standbys each stream through a physical slot

	// Parent is where the cluster's directory is made ("" = os.TempDir()).
	Parent string
	// SegmentMB is wal_segment_size in MiB (initdb --wal-segsize); 0 is 1,
	// small so that retention is visible.
	SegmentMB int
	// Settings are postgresql.conf lines added after walship's own, e.g.
	// "fsync = off" for tests.
	Settings []string
	// Timeout bounds each server's start (0: 60s; a loaded machine is slow).
	Timeout time.Duration
	// Progress, when set, is told each step as it starts.
	Progress func(string)
	// OnDir, when set, is called once the directory exists, before any
	// server starts: the place to arrange its removal should this process
	// die (see SpawnReaper). An error stops the start.
	OnDir func(dir string) error
}

// Local is a running local cluster. Its servers are children of this
// process, so that they die with it: each postmaster gets SIGQUIT (an
// immediate shutdown) when this process ends, even by SIGKILL (see
// Pdeathsig). Close stops them and removes the directory.
type Local struct {
	// Dir holds the data directories, the server logs and the sockets.
	Dir   string
	bin   Binaries
	cred  *serverUser  // the postgres user when run as root; nil: ourselves
	nodes []*localNode // the primary first
}

type localNode struct {
	name    string // primary, follower-1, ...
	port    int
	dataDir string
	logPath string
	slot    string // physical slot it streams through, "" for none
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the postmaster has exited
}

// dirPrefix starts the name of every local cluster's directory; the
// reaper removes no other.
const dirPrefix = "walship-pg-"

// PrimaryName is the name of a local cluster's primary.
const PrimaryName = "primary"

// basePort is the primary's port; standby n has basePort+n. Ports only
// name the sockets in the private directory (listen_addresses is empty),
// so two clusters never collide.
const basePort = 5432

// StartLocal makes a directory, runs initdb for the primary and starts it,
// then takes a base backup for each standby (one after the other, as
// parallel backups raced for WAL) and starts it, and waits until every
// standby streams. On any failure it stops what it started and removes the
// directory.
func StartLocal(ctx context.Context, cfg LocalConfig) (l *Local, err error) {
	if cfg.Standbys < 1 || cfg.Standbys > cluster.MaxFollowers {
		return nil, fmt.Errorf("pg: %d standbys: want 1 to %d", cfg.Standbys, cluster.MaxFollowers)
	}
	if cfg.SegmentMB == 0 {
		cfg.SegmentMB = 1
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if err := localSupported(); err != nil {
		return nil, err
	}
	cred, err := serverCredential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(cfg.Parent, dirPrefix)
	if err != nil {
		return nil, fmt.Errorf("pg: %w", err)
	}
	l = &Local{Dir: dir, bin: cfg.Binaries, cred: cred}
	defer func() {
		if err != nil {
			l.Close()
			l = nil
		}
	}()
	// The socket path is the directory plus /.s.PGSQL.NNNN; Unix allows 107 bytes.
	if len(dir)+len("/.s.PGSQL.5432") > 100 {
		return l, fmt.Errorf("pg: the directory %s is too long for a Unix socket path: set TMPDIR to a shorter one", dir)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.uid), int(cred.gid)); err != nil {
			return l, fmt.Errorf("pg: %w", err)
		}
	}
	if cfg.OnDir != nil {
		if err := cfg.OnDir(dir); err != nil {
			return l, err
		}
	}
	progress := func(s string) {
		if cfg.Progress != nil {
			cfg.Progress(s)
		}
	}

	primary := l.addNode(PrimaryName, basePort)
	progress("initdb " + primary.dataDir)
	if out, err := l.run(ctx, "initdb", "-D", primary.dataDir, "-U", "postgres", "-A", "trust", "-N",
		"--no-instructions", "--no-locale", "-E", "UTF8", "--wal-segsize="+strconv.Itoa(cfg.SegmentMB)); err != nil {
		return l, fmt.Errorf("pg: initdb: %w\n%s", err, out)
	}
	conf := []string{
		"listen_addresses = ''",
		"unix_socket_directories = " + quoteLiteral(dir),
		"port = " + strconv.Itoa(basePort),
		"cluster_name = " + quoteLiteral(PrimaryName),
		"max_connections = 30",
		"shared_buffers = 16MB",
		fmt.Sprintf("wal_keep_size = %dMB", 16*cfg.SegmentMB),
		// Small, as the segments are, so that a slot's wal_status shows
		// reserved, extended and lost after seconds of writing, not hours.
		fmt.Sprintf("min_wal_size = %dMB", 2*cfg.SegmentMB),
		fmt.Sprintf("max_wal_size = %dMB", 8*cfg.SegmentMB),
		fmt.Sprintf("max_slot_wal_keep_size = %dMB", 16*cfg.SegmentMB),
		"wal_receiver_status_interval = 1s",
		"wal_retrieve_retry_interval = 1s", // cut, restore and re-point reconnect within a second
	}
	if err := appendConf(primary.dataDir, append(conf, cfg.Settings...)); err != nil {
		return l, err
	}
	progress("starting the primary")
	if err := l.startNode(ctx, primary, cfg.Timeout); err != nil {
		return l, err
	}
	for i := 1; i <= cfg.Standbys; i++ {
		s := l.addNode(fmt.Sprintf("follower-%d", i), basePort+i)
		args := []string{"-D", s.dataDir, "-h", dir, "-p", strconv.Itoa(basePort), "-U", "postgres",
			"-X", "stream", "-c", "fast", "-R", "-N", "-d", "application_name=" + s.name}
		if i <= cfg.Slots {
			s.slot = fmt.Sprintf("follower_%d", i)
			args = append(args, "-C", "-S", s.slot)
		}
		progress("pg_basebackup " + s.dataDir)
		if out, err := l.run(ctx, "pg_basebackup", args...); err != nil {
			return l, fmt.Errorf("pg: pg_basebackup for %s: %w\n%s", s.name, err, out)
		}
		if err := appendConf(s.dataDir, []string{"port = " + strconv.Itoa(s.port), "cluster_name = " + quoteLiteral(s.name)}); err != nil {
			return l, err
		}
		progress("starting " + s.name)
		if err := l.startNode(ctx, s, cfg.Timeout); err != nil {
			return l, err
		}
	}
	progress("waiting for the standbys to stream")
	if err := l.waitStreaming(ctx, cfg.Standbys, cfg.Timeout); err != nil {
		return l, err
	}
	return l, nil
}

// serverUser is the user and group the servers run as.
type serverUser struct{ uid, gid uint32 }

// serverCredential is who the servers run as: PostgreSQL refuses root, so
// as root they run as the postgres user; otherwise as ourselves (nil).
func serverCredential() (*serverUser, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pg: running as root, and PostgreSQL refuses to run as root; there is no postgres user to run it as (%v): create one, or run walship as a normal user", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pg: the postgres user has ids %s:%s, not numbers", u.Uid, u.Gid)
	}
	return &serverUser{uid: uint32(uid), gid: uint32(gid)}, nil
}

func (l *Local) addNode(name string, port int) *localNode {
	n := &localNode{name: name, port: port, dataDir: filepath.Join(l.Dir, name), logPath: filepath.Join(l.Dir, name+".log")}
	l.nodes = append(l.nodes, n)
	return n
}

// command is one of the server programs, as the server user, dying with
// us, and killed when ctx ends.
func (l *Local) command(ctx context.Context, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, l.bin.Path(name), args...)
	cmd.Dir = l.Dir
	env := []string{"HOME=" + l.Dir, "LC_ALL=C"}
	for _, e := range os.Environ() {
		// PG* variables (PGDATA, PGPORT, PGHOST...) would redirect the tools.
		if !strings.HasPrefix(e, "PG") && !strings.HasPrefix(e, "HOME=") && !strings.HasPrefix(e, "LC_ALL=") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	cmd.SysProcAttr = serverProcAttr(l.cred)
	return cmd
}

// run runs a program to its end and returns its output.
func (l *Local) run(ctx context.Context, name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := l.command(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// startNode starts n's postmaster and waits until it takes connections.
func (l *Local) startNode(ctx context.Context, n *localNode, timeout time.Duration) error {
	logf, err := os.OpenFile(n.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	defer logf.Close()
	// The server's life is Close's to end, not a context's.
	cmd := l.command(context.Background(), "postgres", "-D", n.dataDir)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("pg: starting %s: %w", n.name, err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(n.exited) }()

	deadline := time.Now().Add(timeout)
	cc, err := pgx.ParseConfig(l.ConnString(n.name))
	if err != nil {
		return err
	}
	var last error
	for {
		select {
		case <-n.exited:
			return fmt.Errorf("pg: %s exited while starting; its log %s ends:\n%s", n.name, n.logPath, tail(n.logPath, 12))
		case <-ctx.Done():
			return ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pg: %s did not take connections within %s (%v); its log %s ends:\n%s", n.name, timeout, last, n.logPath, tail(n.logPath, 12))
		}
		actx, cancel := context.WithTimeout(ctx, 2*time.Second)
		c, err := pgx.ConnectConfig(actx, cc)
		cancel()
		if err == nil {
			c.Close(context.Background())
			return nil
		}
		last = err
		time.Sleep(50 * time.Millisecond)
	}
}

// waitStreaming waits until n standbys stream from the primary.
func (l *Local) waitStreaming(ctx context.Context, n int, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	c, err := pgx.Connect(ctx, l.ConnString(PrimaryName))
	if err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	defer c.Close(context.Background())
	for {
		var got int
		err := c.QueryRow(ctx, "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").Scan(&got)
		if err != nil {
			return fmt.Errorf("pg: waiting for %d standbys to stream: %w", n, err)
		}
		if got >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("pg: %d of %d standbys stream after %s", got, n, timeout)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// ConnString is a libpq connection string for the named server
// (PrimaryName or follower-N) as the postgres superuser.
func (l *Local) ConnString(name string) string {
	for _, n := range l.nodes {
		if n.name == name {
			return conninfo{{"host", l.Dir}, {"port", strconv.Itoa(n.port)}, {"user", "postgres"},
				{"dbname", "postgres"}, {"application_name", "walship"}, {"connect_timeout", "5"}}.String()
		}
	}
	return ""
}

// Standbys are the standbys' names, in order.
func (l *Local) Standbys() []string {
	var names []string
	for _, n := range l.nodes[1:] {
		names = append(names, n.name)
	}
	return names
}

// Running reports the names of the servers still running.
func (l *Local) Running() []string {
	var names []string
	for _, n := range l.nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.exited:
		default:
			names = append(names, n.name)
		}
	}
	return names
}

// Close stops every server at once (SIGQUIT: an immediate shutdown, as
// pg_ctl -m immediate stop), waits for each to exit (SIGKILL to its
// process group after 10s) and removes the directory. It is safe to call
// more than once.
func (l *Local) Close() error {
	for _, n := range l.nodes {
		if n.cmd != nil {
			quitServer(n.cmd.Process.Pid)
		}
	}
	var errs []error
	for _, n := range l.nodes {
		if n.cmd == nil {
			continue
		}
		select {
		case <-n.exited:
		case <-time.After(10 * time.Second):
			killGroup(n.cmd.Process.Pid)
			select {
			case <-n.exited:
			case <-time.After(10 * time.Second):
				errs = append(errs, fmt.Errorf("pg: %s (pid %d) did not exit after SIGKILL", n.name, n.cmd.Process.Pid))
			}
		}
	}
	if l.Dir != "" {
		if err := os.RemoveAll(l.Dir); err != nil {
			errs = append(errs, fmt.Errorf("pg: %w", err))
		}
	}
	return errors.Join(errs...)
}

// appendConf adds lines to a data directory's postgresql.conf.
func appendConf(dataDir string, lines []string) error {
	f, err := os.OpenFile(filepath.Join(dataDir, "postgresql.conf"), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	_, err = f.WriteString("\n# walship pg\n" + strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pg: %w", err)
	}
	return nil
}

// tail is the last n lines of a file, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
