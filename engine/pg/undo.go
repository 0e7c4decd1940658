package pg

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// What walship changes on the servers it puts back when it quits (Undo,
// which Close runs): an operator who paused a standby's replay, changed
// the sync rule or cut a standby from walship, then quit, would otherwise
// find the cluster left that way, with nothing on screen to say so. The
// table walship_rows and its rows stay: they are data, not a setting.

// setting is a server setting walship changed, as it was before.
type setting struct {
	n     *node
	name  string
	value string // current_setting(name) before walship's first change
	// auto: the value came from postgresql.auto.conf (ALTER SYSTEM), so
	// it is set back; otherwise ALTER SYSTEM RESET lets the configuration
	// file (or the default) rule again.
	auto bool
}

// setReplayPaused pauses or resumes replay on standby n, and remembers
// which standbys walship paused.
func (w *Watcher) setReplayPaused(n *node, name string, pause bool) error {
	fn := "pg_wal_replay_resume"
	if pause {
		fn = "pg_wal_replay_pause"
	}
	if err := w.execSQL(n, name, "SELECT "+fn+"()"); err != nil {
		return err
	}
	w.mu.Lock()
	if pause {
		w.paused[name] = true
	} else {
		delete(w.paused, name)
	}
	w.mu.Unlock()
	return nil
}

// remember keeps what the named settings of n are before walship first
// changes them. Commands run concurrently (each key's in its own
// goroutine): the first value kept is the one read before any change,
// since a change comes only after its own command has kept its value.
func (w *Watcher) remember(n *node, names ...string) error {
	known := func(name string) bool {
		return slices.ContainsFunc(w.settings, func(s setting) bool { return s.n == n && s.name == name })
	}
	for _, name := range names {
		w.mu.Lock()
		had := known(name)
		w.mu.Unlock()
		if had {
			continue
		}
		s := setting{n: n, name: name}
		err := w.query(n, func(ctx context.Context, c *pgx.Conn) error {
			// sourcefile is NULL without the rights to see it: then the
			// value is set back, which keeps it whatever its source.
			return c.QueryRow(ctx, `SELECT current_setting(name), source = 'configuration file'
 AND coalesce(sourcefile LIKE '%postgresql.auto.conf', true) FROM pg_settings WHERE name = $1`, name).Scan(&s.value, &s.auto)
		})
		if err != nil {
			return fmt.Errorf("reading %s before changing it: %w", name, err)
		}
		w.mu.Lock()
		if !known(name) {
			w.settings = append(w.settings, s)
		}
		w.mu.Unlock()
	}
	return nil
}

// Undo puts back what walship changed on the servers: it resumes the
// replay it paused, sets the settings it changed (the sync rule,
// wal_keep_size) back to what they were, and restores the standbys it
// cut. It returns a line for each, and an error naming what it could not
// put back, with the SQL that does it by hand. Close runs it; calling it
// first lets a caller show the lines. It runs once.
func (w *Watcher) Undo() (done []string, err error) {
	w.mu.Lock()
	if w.undone || w.ctx.Err() != nil {
		w.mu.Unlock()
		return nil, nil
	}
	w.undone = true
	paused := slices.Sorted(maps.Keys(w.paused))
	settings := slices.Clone(w.settings)
	cut := slices.Sorted(maps.Keys(w.saved))
	w.mu.Unlock()

	var errs []error
	for _, name := range paused {
		n, shown, err := w.target(name)
		if err == nil {
			err = w.setReplayPaused(n, shown, false)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: replay is still paused (%v): resume it with SELECT pg_wal_replay_resume()", name, err))
			continue
		}
		done = append(done, name+": replay resumed (SELECT pg_wal_replay_resume())")
	}

	// Settings, node by node, one reload each.
	for len(settings) > 0 {
		n := settings[0].n
		var these []setting
		settings = slices.DeleteFunc(settings, func(s setting) bool {
			if s.n == n {
				these = append(these, s)
			}
			return s.n == n
		})
		reload := false
		for _, s := range these {
			sql := "ALTER SYSTEM RESET " + s.name
			if s.auto {
				sql = "ALTER SYSTEM SET " + s.name + " = " + quoteLiteral(s.value)
			}
			if err := w.execSQL(n, "", sql); err != nil {
				errs = append(errs, fmt.Errorf("%s on %s is still walship's (%v): put it back with ALTER SYSTEM SET %s = %s and SELECT pg_reload_conf()",
					s.name, n.addr, err, s.name, quoteLiteral(s.value)))
				continue
			}
			reload = true
			done = append(done, fmt.Sprintf("%s: %s back to %s (%s)", n.addr, s.name, quoteLiteral(s.value), sql))
		}
		if reload {
			if err := w.execSQL(n, "", "SELECT pg_reload_conf()"); err != nil {
				errs = append(errs, fmt.Errorf("%s: SELECT pg_reload_conf() failed (%v): run it by hand", n.addr, err))
			}
		}
	}

	for _, name := range cut {
		n, shown, err := w.target(name)
		if err == nil {
			err = w.restore(n, shown)
		}
		if err != nil {
			w.mu.Lock()
			ci := w.saved[name]
			w.mu.Unlock()
			errs = append(errs, fmt.Errorf("%s is still cut (%v): restore it with ALTER SYSTEM SET primary_conninfo = %s and SELECT pg_reload_conf()",
				name, err, quoteLiteral(maskConninfo(ci))))
			continue
		}
		done = append(done, name+": primary_conninfo restored")
	}
	return done, errors.Join(errs...)
}

// UndoLines is Undo's report as one text for a person: what walship put
// back on the servers ("" when it changed nothing).
func UndoLines(done []string) string {
	if len(done) == 0 {
		return ""
	}
	return "walship put back what it changed on the servers:\n  " + strings.Join(done, "\n  ")
}
