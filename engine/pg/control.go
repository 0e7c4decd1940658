package pg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"walship/engine/cluster"
)

// Commands mapped to real operations. Each runs as SQL on its own short
// connection (the poll goroutine keeps its own), and each statement is an
// event before it runs, so the screen teaches the SQL behind the key.

// ErrControlsOff is what Do says when the watcher only watches.
var ErrControlsOff = errors.New("controls are off: walship pg watch only reads the views; start it with --control to run SQL on the servers")

// Refusal says why walship pg refuses a command that has no real
// counterpart ("" when it has one).
func Refusal(v cluster.Verb) string {
	switch v {
	case cluster.VerbCorrupt:
		return "walship does not sit on the wire between real servers, so it cannot corrupt a frame (and PostgreSQL's views show no frames or CRC failures)"
	case cluster.VerbLatency, cluster.VerbBandwidth, cluster.VerbSlice:
		return "walship does not sit on the link between real servers: latency, bandwidth and slicing need a proxy (such as toxiproxy) between standby and primary"
	case cluster.VerbCrash, cluster.VerbRestart:
		return "walship pg does not kill or start servers: stop one with pg_ctl -m immediate stop and start it again with pg_ctl start"
	case cluster.VerbBackup:
		return "a base backup is pg_basebackup into an empty data directory on the standby's host; walship pg does not rebuild data directories"
	case cluster.VerbApplyDelay, cluster.VerbFlushDelay:
		return "replay and fsync cost are PostgreSQL's own and not observable per record (recovery_min_apply_delay delays by time, not per record)"
	case cluster.VerbAdd, cluster.VerbRemove:
		return "adding or removing a standby is pg_basebackup and a server of its own; walship pg watches the standbys it was given"
	case cluster.VerbFreeze, cluster.VerbUnfreeze, cluster.VerbSpeed:
		return "real servers run in real time: their clock cannot be slowed down or frozen"
	case cluster.VerbSlots:
		return "slots are made one per standby (pg_create_physical_replication_slot, or pg_basebackup -C -S) and dropped with pg_drop_replication_slot; there is no switch for all of them"
	case cluster.VerbRead, cluster.VerbProbe:
		return "walship pg does not read keys on the servers: on a real standby a read is your own SELECT, and pg_last_wal_replay_lsn() says how far it has replayed"
	case cluster.VerbSet, cluster.VerbDel:
		return "walship pg writes rows into walship_rows with write N and rate N; there is no key-value store to set keys in"
	}
	return ""
}

// Refuses reports whether Do refuses every command of verb v: one with
// no real counterpart, or any with controls off. The UI shows only the
// keys whose commands can run.
func (w *Watcher) Refuses(v cluster.Verb) bool { return !w.cfg.Control || Refusal(v) != "" }

// Do implements cluster.Controller: it runs the SQL a command maps to,
// or refuses it with a sentence saying why.
func (w *Watcher) Do(cmd cluster.Command) error {
	if !w.cfg.Control {
		return ErrControlsOff
	}
	if why := Refusal(cmd.Verb); why != "" {
		// The footer has room for the start of it; the log keeps it whole.
		w.emit(cluster.Event{Kind: cluster.EvRefused, Follower: cmd.Follower, Text: cmd.String() + ": " + why})
		return errors.New(why)
	}
	w.emit(cluster.Event{Kind: cluster.EvCommand, Follower: cmd.Follower, Text: cmd.String()})
	switch cmd.Verb {
	case cluster.VerbPause, cluster.VerbResume:
		return w.eachStandby(cmd.Follower, func(n *node, name string) error {
			return w.setReplayPaused(n, name, cmd.Verb == cluster.VerbPause)
		})
	case cluster.VerbCut:
		return w.eachStandby(cmd.Follower, w.cut)
	case cluster.VerbRestore:
		return w.eachStandby(cmd.Follower, w.restore)
	case cluster.VerbSync:
		return w.setSync(cmd.Mode, int(cmd.N))
	case cluster.VerbRate:
		return w.work.setRate(float64(cmd.N))
	case cluster.VerbWrite:
		return w.work.burst(cmd.N)
	case cluster.VerbCheckpoint:
		return w.execSQL(w.currentPrimary(), "", "CHECKPOINT")
	case cluster.VerbWALKeep:
		p := w.currentPrimary()
		if err := w.remember(p, "wal_keep_size"); err != nil {
			return err
		}
		kb := strconv.FormatInt(cmd.N>>10, 10) + "kB"
		return w.alterSystem(p, "", "wal_keep_size", kb, kb)
	case cluster.VerbPromote:
		return w.promote(cmd.Follower)
	}
	return fmt.Errorf("%s: walship pg does not know this command", cmd.Verb)
}

func (w *Watcher) currentPrimary() *node {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.primary
}

// target resolves a follower as a command names it (its name, or
// follower-N for the one shown as N) to the standby connection that
// reaches it.
func (w *Watcher) target(name string) (*node, string, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var m *member
	for _, x := range w.tr.members {
		if x.name == name {
			m = x
		}
	}
	if i, ok := cluster.FollowerIndex(name); ok && m == nil {
		for _, x := range w.tr.members {
			if x.index == i {
				m = x
			}
		}
	}
	if m == nil {
		return nil, "", fmt.Errorf("no follower %s", name)
	}
	for _, n := range w.standbys {
		if n.id == m.node {
			return n, m.name, nil
		}
	}
	return nil, "", fmt.Errorf("walship has no connection to %s (it is seen only in the primary's pg_stat_replication): give one with --standby", m.name)
}

// eachStandby runs fn for the follower named, or for every follower
// walship has a connection to ("all").
func (w *Watcher) eachStandby(name string, fn func(n *node, name string) error) error {
	if name != "all" {
		n, shown, err := w.target(name)
		if err != nil {
			return err
		}
		return fn(n, shown)
	}
	type target struct {
		n    *node
		name string
	}
	var ts []target
	w.mu.Lock()
	for _, m := range w.tr.members {
		for _, n := range w.standbys {
			if n.id == m.node {
				ts = append(ts, target{n, m.name})
			}
		}
	}
	w.mu.Unlock()
	if len(ts) == 0 {
		return errors.New("walship has no connection to any standby: give them with --standby")
	}
	var errs []error
	for _, t := range ts {
		errs = append(errs, fn(t.n, t.name))
	}
	return errors.Join(errs...)
}

// connect opens a connection for one command.
func connect(ctx context.Context, n *node) (*pgx.Conn, error) {
	c, err := pgx.ConnectConfig(ctx, n.cfg)
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", n.addr, err)
	}
	return c, nil
}

// execSQL runs one statement on n, shown first as an event (for the
// follower named, "" for the primary). Errors are events too.
func (w *Watcher) execSQL(n *node, name, sql string) error {
	return w.execShown(n, name, sql, sql)
}

// execShown runs sql, showing shown (sql with a password masked).
func (w *Watcher) execShown(n *node, name, sql, shown string) error {
	w.emit(cluster.Event{Kind: cluster.EvCommand, Follower: name, Text: shown})
	ctx, cancel := context.WithTimeout(w.ctx, commandTimeout)
	defer cancel()
	c, err := connect(ctx, n)
	if err == nil {
		_, err = c.Exec(ctx, sql)
		c.Close(context.Background())
	}
	if err != nil {
		w.emit(cluster.Event{Kind: cluster.EvError, Follower: name, Text: err.Error()})
	}
	return err
}

// query runs fn on a connection of its own to n, without showing it
// (reading a setting before changing it).
func (w *Watcher) query(n *node, fn func(ctx context.Context, c *pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(w.ctx, commandTimeout)
	defer cancel()
	c, err := connect(ctx, n)
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	return fn(ctx, c)
}

// queryString runs a one-value query on n without showing it.
func (w *Watcher) queryString(n *node, sql string, args ...any) (string, error) {
	var s string
	err := w.query(n, func(ctx context.Context, c *pgx.Conn) error { return c.QueryRow(ctx, sql, args...).Scan(&s) })
	return s, err
}

// alterSystem is ALTER SYSTEM SET name = 'value', then a reload.
func (w *Watcher) alterSystem(n *node, who, name, value, shownValue string) error {
	if err := w.execShown(n, who, "ALTER SYSTEM SET "+name+" = "+quoteLiteral(value),
		"ALTER SYSTEM SET "+name+" = "+quoteLiteral(shownValue)); err != nil {
		return err
	}
	return w.execSQL(n, who, "SELECT pg_reload_conf()")
}

// cut clears the standby's primary_conninfo and reloads: its WAL
// receiver stops and it asks for no more. The old value is kept for
// restore.
func (w *Watcher) cut(n *node, name string) error {
	ci, err := w.queryString(n, "SELECT current_setting('primary_conninfo')")
	if err != nil {
		return fmt.Errorf("reading %s's primary_conninfo: %w", name, err)
	}
	if ci == "" {
		return fmt.Errorf("%s is already cut: its primary_conninfo is empty", name)
	}
	w.mu.Lock()
	w.saved[name] = ci
	w.mu.Unlock()
	return w.alterSystem(n, name, "primary_conninfo", "", "")
}

// restore puts back the primary_conninfo cut cleared, and reloads. A
// standby that streams is left alone: there is nothing to restore.
func (w *Watcher) restore(n *node, name string) error {
	w.mu.Lock()
	ci, ok := w.saved[name]
	w.mu.Unlock()
	if !ok {
		cur, err := w.queryString(n, "SELECT current_setting('primary_conninfo')")
		switch {
		case err != nil:
			return fmt.Errorf("reading %s's primary_conninfo: %w", name, err)
		case cur != "":
			return nil // not cut
		}
		return fmt.Errorf("%s was not cut by walship: there is no primary_conninfo to restore", name)
	}
	if err := w.alterSystem(n, name, "primary_conninfo", ci, maskConninfo(ci)); err != nil {
		return err
	}
	w.mu.Lock()
	delete(w.saved, name)
	w.mu.Unlock()
	return nil
}

func maskConninfo(s string) string {
	ci, err := parseConninfo(s)
	if err != nil {
		return "(a connection string)"
	}
	return ci.masked()
}

// syncStandbyNames is synchronous_standby_names for the rule: ANY n of
// the standbys named, or empty for off and local.
func syncStandbyNames(mode cluster.SyncMode, n int, names []string) string {
	if mode <= cluster.SyncLocal || len(names) == 0 {
		return ""
	}
	q := make([]string, len(names))
	for i, s := range names {
		q[i] = quoteIdent(s)
	}
	return fmt.Sprintf("ANY %d (%s)", n, strings.Join(q, ", "))
}

// setSync sets synchronous_commit and synchronous_standby_names on the
// primary, naming every standby it knows, and reloads.
func (w *Watcher) setSync(mode cluster.SyncMode, n int) error {
	w.mu.Lock()
	var names []string
	for _, m := range w.tr.members {
		names = append(names, m.name)
	}
	p := w.primary
	w.mu.Unlock()
	if mode > cluster.SyncLocal && n > len(names) {
		return fmt.Errorf("sync ANY %d: there are only %d standbys", n, len(names))
	}
	if err := w.remember(p, "synchronous_commit", "synchronous_standby_names"); err != nil {
		return err
	}
	if err := w.execSQL(p, "", "ALTER SYSTEM SET synchronous_commit = "+quoteLiteral(mode.String())); err != nil {
		return err
	}
	if err := w.execSQL(p, "", "ALTER SYSTEM SET synchronous_standby_names = "+quoteLiteral(syncStandbyNames(mode, n, names))); err != nil {
		return err
	}
	return w.execSQL(p, "", "SELECT pg_reload_conf()")
}

// promote runs pg_promote() on a standby and waits for it; then the
// watcher takes it as the primary, and every other standby it reaches is
// re-pointed at it (a slot made for those that stream through one).
func (w *Watcher) promote(name string) error {
	n, name, err := w.target(name)
	if err != nil {
		return err
	}
	if err := w.execSQL(n, name, "SELECT pg_promote(true, 60)"); err != nil {
		return err
	}
	fk, ferr := w.forkPoint(n, name)
	if ferr != nil {
		w.emit(cluster.Event{Kind: cluster.EvInfo, Follower: name, Text: "cannot read where the new timeline forked off (" + ferr.Error() +
			"): walship cannot tell which standbys went past it and need pg_rewind"})
	}
	others := w.takePrimary(n, name, fk)
	if w.work != nil {
		w.work.reconnect()
	}

	var errs []error
	for _, s := range others {
		errs = append(errs, w.repoint(s, n))
	}
	return errors.Join(errs...)
}

// takePrimary makes standby n (shown as name) the primary the watcher
// polls, and returns the other standbys. Each of them is to follow the
// new timeline from fk (when its lsn is known).
func (w *Watcher) takePrimary(n *node, name string, fk fork) []*node {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.primary
	w.primary = n
	w.standbys = slices.DeleteFunc(slices.Clone(w.standbys), func(s *node) bool { return s == n })
	w.gen++
	if i := slices.IndexFunc(w.tr.members, func(m *member) bool { return m.node == n.id }); i >= 0 {
		w.tr.drop(w.tr.members[i])
	}
	// Out of recovery, it has no replay to resume and no primary to follow.
	delete(w.paused, name)
	delete(w.saved, name)
	w.tr.slots = map[string]string{} // the new primary's slots are news, the old one's not dropped
	w.addEventLocked(cluster.Event{Kind: cluster.EvRecovery, Follower: name, Text: fmt.Sprintf(
		"%s is the primary now, on a new timeline. The old primary %s still runs and takes writes: PostgreSQL does not fence it (stop it, or pg_rewind it into a standby); walship no longer watches it",
		name, old.addr)})
	if fk.lsn != 0 {
		w.addEventLocked(cluster.Event{Kind: cluster.EvRecovery, Follower: name, LSN: fk.lsn, Text: fmt.Sprintf(
			"timeline %d forked off at %s (pg_wal/%08X.history): a standby that replayed past it cannot follow timeline %d", fk.tli, fk.lsn, fk.tli, fk.tli)})
		for _, m := range w.tr.members {
			w.tr.forks[m.name] = fk
		}
	}
	return slices.Clone(w.standbys)
}

// forkPoint reads where promoted standby n's new timeline forked off the
// old one: the switch point on the last line of its timeline history file.
func (w *Watcher) forkPoint(n *node, name string) (fork, error) {
	fk := fork{promoted: name}
	var history string
	err := w.query(n, func(ctx context.Context, c *pgx.Conn) error {
		var file string
		if err := c.QueryRow(ctx, "SELECT pg_walfile_name(pg_current_wal_lsn())").Scan(&file); err != nil {
			return err
		}
		fk.tli = timeline(file)
		return c.QueryRow(ctx, "SELECT pg_read_file($1)", fmt.Sprintf("pg_wal/%08X.history", fk.tli)).Scan(&history)
	})
	if err == nil {
		fk.lsn, err = switchPoint(history)
	}
	return fk, err
}

// repoint points standby s at the new primary p: the same
// primary_conninfo with p's host and port.
func (w *Watcher) repoint(s, p *node) error {
	name := w.nameOf(s)
	ctx, cancel := context.WithTimeout(w.ctx, commandTimeout)
	defer cancel()
	c, err := connect(ctx, s)
	if err != nil {
		return fmt.Errorf("re-pointing %s at the new primary: %w", name, err)
	}
	var cur, slot string
	err = c.QueryRow(ctx, "SELECT current_setting('primary_conninfo'), current_setting('primary_slot_name')").Scan(&cur, &slot)
	c.Close(context.Background())
	if err != nil {
		return fmt.Errorf("re-pointing %s at the new primary: %w", name, err)
	}
	w.mu.Lock()
	saved, cut := w.saved[name]
	w.mu.Unlock()
	if cut {
		cur = saved
	}
	ci, err := parseConninfo(cur)
	if err != nil {
		return fmt.Errorf("re-pointing %s: %w", name, err)
	}
	ci = ci.without("hostaddr").with("host", p.cfg.Host).with("port", strconv.Itoa(int(p.cfg.Port)))
	if slot != "" {
		if err := w.execSQL(p, "", "SELECT pg_create_physical_replication_slot("+quoteLiteral(slot)+", true) WHERE NOT EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = "+quoteLiteral(slot)+")"); err != nil {
			return err
		}
	}
	if cut {
		w.mu.Lock()
		w.saved[name] = ci.String()
		w.mu.Unlock()
		w.emit(cluster.Event{Kind: cluster.EvInfo, Follower: name, Text: "stays cut; restore points it at the new primary"})
		return nil
	}
	return w.alterSystem(s, name, "primary_conninfo", ci.String(), ci.masked())
}

func (w *Watcher) nameOf(n *node) string {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, m := range w.tr.members {
		if m.node == n.id {
			return m.name
		}
	}
	return n.addr
}
