package pg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// watch starts a watcher with controls over a local cluster.
func watch(t *testing.T, l *Local) *Watcher {
	t.Helper()
	cfg := Config{Control: true, Primary: connConfig(t, l.ConnString(PrimaryName))}
	for _, s := range l.Standbys() {
		cfg.Standbys = append(cfg.Standbys, connConfig(t, l.ConnString(s)))
	}
	w, err := Watch(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

func connConfig(t *testing.T, s string) *pgx.ConnConfig {
	t.Helper()
	c, err := pgx.ParseConfig(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// do runs a command as the palette would: parsed from its text.
func do(t *testing.T, w *Watcher, line string) {
	t.Helper()
	c, err := cluster.ParseCommand(line)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Do(c); err != nil {
		t.Fatalf("%s: %v", line, err)
	}
}

// onServer runs fn with a connection to one server of the local cluster.
func onServer(t *testing.T, l *Local, server string, fn func(ctx context.Context, c *pgx.Conn)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, l.ConnString(server))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close(context.Background())
	fn(ctx, c)
}

// sql runs statements on one server of the local cluster.
func sql(t *testing.T, l *Local, server string, stmts ...string) {
	t.Helper()
	onServer(t, l, server, func(ctx context.Context, c *pgx.Conn) {
		for _, s := range stmts {
			if _, err := c.Exec(ctx, s); err != nil {
				t.Fatalf("%s on %s: %v", s, server, err)
			}
		}
	})
}

// waitSnap waits until ok holds for a snapshot; the deadline only guards
// against a hang. On failure it shows the followers and the last events.
func waitSnap(t *testing.T, w *Watcher, what string, ok func(s *cluster.Snapshot) bool) cluster.Snapshot {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for {
		s := w.Snapshot(0)
		if ok(&s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited for %s; the snapshot:\n%s", what, dump(&s))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func dump(s *cluster.Snapshot) string {
	var b strings.Builder
	L := &s.Leader
	fmt.Fprintf(&b, "leader %s TL%d insert %s flush %s record end %s oldest %s waiting %d sync %s\n",
		L.Addr, L.Timeline, L.InsertLSN, L.FlushLSN, L.RecordEndLSN, L.OldestLSN, L.WaitingCommits, L.Sync)
	for _, f := range s.Followers {
		fmt.Fprintf(&b, "%d %s %s inferred=%v stale=%v paused=%v TL%d sent %s write %s flush %s replay %s lag %s/%s/%s sync %s slot %+v err %q\n",
			f.Index, f.Name, f.State, f.Inferred, f.Stale, f.ReplayPaused, f.Timeline, f.SentLSN, f.WriteLSN, f.FlushLSN, f.ReplayLSN,
			f.WriteLag, f.FlushLag, f.ReplayLag, f.SyncState, f.Slot, f.LastError)
	}
	evs := s.Events[max(len(s.Events)-60, 0):]
	for _, e := range evs {
		fmt.Fprintf(&b, "  %6.1fs %-10s %-10s %s %s\n", e.World.Seconds(), e.Follower, e.Kind, e.LSN, e.Text)
	}
	return b.String()
}

func follower(s *cluster.Snapshot, name string) *cluster.FollowerStatus {
	for i := range s.Followers {
		if s.Followers[i].Name == name {
			return &s.Followers[i]
		}
	}
	return nil
}

// caughtUp reports whether f has replayed the last complete record.
func caughtUp(s *cluster.Snapshot, f *cluster.FollowerStatus) bool {
	end := s.Leader.FlushLSN
	if s.Leader.RecordEndLSN != 0 {
		end = s.Leader.RecordEndLSN
	}
	return f != nil && f.State == cluster.StateStreaming && f.ReplayLSN >= end && f.ReplayLag.Idle
}

func hasEvent(s *cluster.Snapshot, follower string, kind cluster.EventKind, text string) bool {
	return slices.ContainsFunc(s.Events, func(e cluster.Event) bool {
		return e.Follower == follower && e.Kind == kind && strings.Contains(e.Text, text)
	})
}

// TestWatchControls drives a real primary and two standbys (the first
// with a slot) through pause, resume, cut, restore, a sync rule held up by
// a paused standby, and a promotion, checking the snapshot at each step.
func TestWatchControls(t *testing.T) {
	t.Parallel() // its own cluster in a directory of its own; the sockets are named there
	l := startLocal(t, 2, 1)
	if got := strings.Join(l.Running(), ","); got != "primary,follower-1,follower-2" {
		t.Fatalf("running: %s", got)
	}
	w := watch(t, l)

	s := waitSnap(t, w, "two streaming standbys, caught up", func(s *cluster.Snapshot) bool {
		return len(s.Followers) == 2 && caughtUp(s, follower(s, "follower-1")) && caughtUp(s, follower(s, "follower-2"))
	})
	f1, f2 := follower(&s, "follower-1"), follower(&s, "follower-2")
	if f1.Index != 1 || f2.Index != 2 || !f1.Slot.Enabled || f1.Slot.WALStatus != "reserved" || f2.Slot.Enabled ||
		s.Leader.Timeline != 1 || f1.Timeline != 1 || f1.SyncState != "async" || s.Source.Name != SourceName || s.Source.Observes(cluster.ObsFrames) {
		t.Fatalf("the first snapshot is wrong:\n%s", dump(&s))
	}

	// Watching needs no more than pg_monitor: all but the record types
	// (pg_walinspect wants more), and no controls.
	sql(t, l, PrimaryName, "CREATE ROLE watcher LOGIN IN ROLE pg_monitor")
	mcfg := Config{Primary: connConfig(t, l.ConnString(PrimaryName)+" user=watcher")}
	for _, s := range l.Standbys() {
		mcfg.Standbys = append(mcfg.Standbys, connConfig(t, l.ConnString(s)+" user=watcher"))
	}
	mw, err := Watch(mcfg)
	if err != nil {
		t.Fatal(err)
	}
	ms := waitSnap(t, mw, "the monitor's view", func(s *cluster.Snapshot) bool {
		return len(s.Followers) == 2 && caughtUp(s, follower(s, "follower-1")) && follower(s, "follower-1").Slot.Enabled &&
			follower(s, "follower-2").Timeline == 1 && hasEvent(s, "", cluster.EvInfo, "pg_read_server_files")
	})
	if err := mw.Do(cluster.Command{Verb: cluster.VerbPause, Follower: "follower-1"}); err != ErrControlsOff {
		t.Errorf("a watch-only watcher ran a command: %v\n%s", err, dump(&ms))
	}
	mw.Close()

	// Pause replay on follower-1: it goes on receiving and flushing, its
	// replay stops, and its replay_lag grows.
	do(t, w, "pause follower-1")
	s = waitSnap(t, w, "follower-1 paused", func(s *cluster.Snapshot) bool { return follower(s, "follower-1").ReplayPaused })
	pausedAt := follower(&s, "follower-1").ReplayLSN
	do(t, w, "write 200")
	s = waitSnap(t, w, "follower-1 flushing the burst, not replaying it", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-1")
		return s.Leader.FlushLSN > pausedAt && f.FlushLSN >= s.Leader.FlushLSN && f.ReplayLag.Known && !f.ReplayLag.Idle
	})
	if f := follower(&s, "follower-1"); f.ReplayLSN != pausedAt {
		t.Fatalf("follower-1 replayed from %s to %s while paused:\n%s", pausedAt, f.ReplayLSN, dump(&s))
	}
	lag := follower(&s, "follower-1").ReplayLag.D
	s = waitSnap(t, w, "follower-1's replay_lag growing", func(s *cluster.Snapshot) bool {
		return follower(s, "follower-1").ReplayLag.D > lag
	})
	if !caughtUp(&s, follower(&s, "follower-2")) && follower(&s, "follower-2").ReplayLSN == follower(&s, "follower-1").ReplayLSN {
		t.Fatalf("follower-2 did not replay the burst:\n%s", dump(&s))
	}
	if !hasEvent(&s, "follower-1", cluster.EvCommand, "SELECT pg_wal_replay_pause()") {
		t.Fatalf("no event shows the SQL of pause:\n%s", dump(&s))
	}

	do(t, w, "resume follower-1")
	waitSnap(t, w, "follower-1 resumed and caught up", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-1")
		return !f.ReplayPaused && caughtUp(s, f)
	})

	// Cut follower-2: primary_conninfo cleared, its row gone; writes pass it by.
	do(t, w, "cut follower-2")
	s = waitSnap(t, w, "follower-2 cut", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-2")
		return f.State == cluster.StateCut && f.Link.Cut && !f.Link.Connected
	})
	cutAt := follower(&s, "follower-2").FlushLSN
	do(t, w, "write 100")
	s = waitSnap(t, w, "the burst on follower-1 only", func(s *cluster.Snapshot) bool {
		return s.Leader.FlushLSN > cutAt && caughtUp(s, follower(s, "follower-1"))
	})
	if f := follower(&s, "follower-2"); f.FlushLSN != cutAt || f.State != cluster.StateCut {
		t.Fatalf("follower-2 moved while cut:\n%s", dump(&s))
	}
	do(t, w, "restore follower-2")
	waitSnap(t, w, "follower-2 restored and caught up", func(s *cluster.Snapshot) bool {
		return caughtUp(s, follower(s, "follower-2"))
	})

	// A sync rule both standbys must meet, with follower-1 paused: the
	// commit waits, and completes when replay resumes.
	do(t, w, "sync remote_apply 2")
	waitSnap(t, w, "the sync rule in force", func(s *cluster.Snapshot) bool {
		return s.Leader.Sync == cluster.SyncRule{Mode: cluster.SyncRemoteApply, N: 2} && follower(s, "follower-1").SyncState == "quorum"
	})
	do(t, w, "pause follower-1")
	waitSnap(t, w, "follower-1 paused", func(s *cluster.Snapshot) bool { return follower(s, "follower-1").ReplayPaused })
	do(t, w, "write 1")
	waitSnap(t, w, "a commit waiting", func(s *cluster.Snapshot) bool { return s.Leader.WaitingCommits == 1 })
	do(t, w, "resume follower-1")
	s = waitSnap(t, w, "the commit done", func(s *cluster.Snapshot) bool {
		return s.Leader.WaitingCommits == 0 && hasEvent(s, "", cluster.EvSync, "no commit waits")
	})
	do(t, w, "sync off")
	waitSnap(t, w, "sync off", func(s *cluster.Snapshot) bool { return s.Leader.Sync.Mode == cluster.SyncOff })

	// Promote follower-2: it is the primary on timeline 2, and follower-1,
	// re-pointed at it, streams from it (through a slot made for it).
	primaryAddr := s.Leader.Addr
	do(t, w, "promote follower-2")
	s = waitSnap(t, w, "follower-1 streaming from the new primary on timeline 2", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-1")
		return s.Leader.Timeline == 2 && len(s.Followers) == 1 && f != nil && f.Timeline == 2 && f.State == cluster.StateStreaming && f.Slot.Enabled
	})
	if s.Leader.Addr == primaryAddr || !hasEvent(&s, "follower-1", cluster.EvCommand, "ALTER SYSTEM SET primary_conninfo") {
		t.Fatalf("the promotion is not shown:\n%s", dump(&s))
	}
	do(t, w, "write 50")
	waitSnap(t, w, "follower-1 replaying the new primary's writes", func(s *cluster.Snapshot) bool {
		return caughtUp(s, follower(s, "follower-1")) && s.Leader.Timeline == 2
	})

	// Commands with no real counterpart are refused, saying why.
	for _, line := range []string{"corrupt follower-1", "latency all 100ms", "crash follower-1", "freeze"} {
		c, _ := cluster.ParseCommand(line)
		if err := w.Do(c); err == nil || len(err.Error()) < 40 {
			t.Errorf("%s: want a refusal that says why, got %v", line, err)
		}
	}
	s = w.Snapshot(0)
	if !hasEvent(&s, "follower-1", cluster.EvRefused, "corrupt follower-1: walship does not sit on the wire") {
		t.Errorf("no event keeps the whole refusal:\n%s", dump(&s))
	}
}

// switchWAL writes a row and switches to a new WAL segment n times: the
// primary's WAL moves on by n segments. With checkpoint, a checkpoint then
// removes what no slot or wal_keep_size holds. It returns the insert LSN
// after.
func switchWAL(t *testing.T, l *Local, n int, checkpoint bool) wal.LSN {
	t.Helper()
	stmts := []string{"CREATE TABLE IF NOT EXISTS filler (v text)"}
	for range n {
		stmts = append(stmts, "INSERT INTO filler VALUES ('x')", "SELECT pg_switch_wal()")
	}
	if checkpoint {
		stmts = append(stmts, "CHECKPOINT")
	}
	sql(t, l, PrimaryName, stmts...)
	var lsn string
	onServer(t, l, PrimaryName, func(ctx context.Context, c *pgx.Conn) {
		if err := c.QueryRow(ctx, "SELECT pg_current_wal_insert_lsn()::text").Scan(&lsn); err != nil {
			t.Fatal(err)
		}
	})
	v, err := wal.ParseLSN(lsn)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestWatchFallOffAndSlotLost lets a cut standby without a slot fall off
// the primary's retained WAL (wal_keep_size 0), and a cut standby's slot
// pass max_slot_wal_keep_size until it is lost, checking the snapshot at
// each step: wal_status, the WAL the primary keeps, and "needs base
// backup", marked as inferred.
func TestWatchFallOffAndSlotLost(t *testing.T) {
	t.Parallel() // its own cluster in a directory of its own; the sockets are named there
	l := startLocal(t, 2, 1, "wal_keep_size = 0", "min_wal_size = 2MB", "max_wal_size = 4MB", "max_slot_wal_keep_size = 8MB")
	w := watch(t, l)
	waitSnap(t, w, "two streaming standbys", func(s *cluster.Snapshot) bool {
		return len(s.Followers) == 2 && caughtUp(s, follower(s, "follower-1")) && caughtUp(s, follower(s, "follower-2"))
	})

	// follower-2 has no slot: cut, it falls off as the WAL it needs goes.
	do(t, w, "cut follower-2")
	s := waitSnap(t, w, "follower-2 cut", func(s *cluster.Snapshot) bool { return follower(s, "follower-2").State == cluster.StateCut })
	need := follower(&s, "follower-2").FlushLSN
	// follower-1's slot must pass the switches first, or it holds the WAL.
	at := switchWAL(t, l, 4, false)
	waitSnap(t, w, "follower-1's slot past the switches", func(s *cluster.Snapshot) bool {
		return follower(s, "follower-1").Slot.RestartLSN >= at
	})
	sql(t, l, PrimaryName, "CHECKPOINT")
	s = waitSnap(t, w, "the WAL follower-2 needs removed", func(s *cluster.Snapshot) bool { return s.Leader.OldestLSN > need })
	do(t, w, "restore follower-2")
	s = waitSnap(t, w, "follower-2 needing a base backup", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-2")
		return f.State == cluster.StateNeedsBackup && f.Inferred && strings.HasPrefix(f.LastError, "inferred:")
	})
	if !hasEvent(&s, "follower-2", cluster.EvWALRemoved, "inferred") {
		t.Fatalf("no event says follower-2 needs a base backup:\n%s", dump(&s))
	}

	// follower-1's slot holds WAL for it while it is cut, until the WAL
	// behind it passes max_slot_wal_keep_size: then the slot is lost.
	do(t, w, "cut follower-1")
	waitSnap(t, w, "follower-1 cut", func(s *cluster.Snapshot) bool { return follower(s, "follower-1").State == cluster.StateCut })
	seen := []string{"reserved"}
	note := func(s *cluster.Snapshot) {
		if st := follower(s, "follower-1").Slot.WALStatus; seen[len(seen)-1] != st {
			seen = append(seen, st)
		}
	}
	for i := 0; i < 20 && seen[len(seen)-1] != "lost"; i++ {
		at := switchWAL(t, l, 1, true)
		note(ptr(waitSnap(t, w, "a poll after the switch", func(s *cluster.Snapshot) bool { return s.Leader.InsertLSN >= at })))
	}
	s = waitSnap(t, w, "follower-1's slot lost", func(s *cluster.Snapshot) bool {
		note(s)
		f := follower(s, "follower-1")
		return f.Slot.Lost && f.Slot.WALStatus == "lost"
	})
	if seen[0] != "reserved" || seen[len(seen)-1] != "lost" || len(seen) < 3 {
		t.Fatalf("wal_status went %v; want reserved, then extended or unreserved, then lost:\n%s", seen, dump(&s))
	}
	for _, st := range seen[1 : len(seen)-1] {
		if st != "extended" && st != "unreserved" {
			t.Fatalf("wal_status went %v:\n%s", seen, dump(&s))
		}
	}
	do(t, w, "restore follower-1")
	s = waitSnap(t, w, "follower-1 needing a base backup", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-1")
		return f.State == cluster.StateNeedsBackup && f.Inferred && strings.Contains(f.LastError, "slot follower_1 was lost")
	})
	if !hasEvent(&s, "", cluster.EvSlot, "slot follower_1 wal_status") || !hasEvent(&s, "", cluster.EvSlot, "→ lost") {
		t.Fatalf("no events show the slot's wal_status:\n%s", dump(&s))
	}
	t.Log(dump(&s))
}

func ptr[T any](v T) *T { return &v }

// TestCloseUndoes: what walship changed on the servers is put back when
// it quits. A cut standby's primary_conninfo exists only in the watcher
// once cut has cleared it (ALTER SYSTEM rewrote postgresql.auto.conf);
// a paused replay and a changed sync rule or wal_keep_size would stay,
// with nothing on screen to say so. Settings that came from
// postgresql.conf are reset (out of postgresql.auto.conf again), one set
// with ALTER SYSTEM before walship changed it is set back.
func TestCloseUndoes(t *testing.T) {
	t.Parallel() // its own cluster in a directory of its own; the sockets are named there
	l := startLocal(t, 1, 0)
	setting := func(server, name string) (value, source string) {
		onServer(t, l, server, func(ctx context.Context, c *pgx.Conn) {
			if err := c.QueryRow(ctx, "SELECT current_setting(name), coalesce(sourcefile, '') FROM pg_settings WHERE name = $1", name).Scan(&value, &source); err != nil {
				t.Fatal(err)
			}
		})
		return value, filepath.Base(source)
	}
	sql(t, l, PrimaryName, "ALTER SYSTEM SET synchronous_commit = 'local'", "SELECT pg_reload_conf()")
	waitFor(t, "synchronous_commit local", func() bool { v, _ := setting(PrimaryName, "synchronous_commit"); return v == "local" })
	conninfo, _ := setting("follower-1", "primary_conninfo")
	keep, keepFile := setting(PrimaryName, "wal_keep_size")
	names, namesFile := setting(PrimaryName, "synchronous_standby_names")

	w := watch(t, l)
	waitSnap(t, w, "follower-1 streaming", func(s *cluster.Snapshot) bool { return caughtUp(s, follower(s, "follower-1")) })
	// Keys pressed quickly run their commands at once: the settings are
	// still remembered once each, as they were before.
	var wg sync.WaitGroup
	for _, mode := range []cluster.SyncMode{cluster.SyncOn, cluster.SyncRemoteWrite, cluster.SyncLocal} {
		wg.Go(func() {
			if err := w.Do(cluster.Command{Verb: cluster.VerbSync, Mode: mode, N: 1}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	for _, c := range []string{"pause follower-1", "sync remote_apply 1", "wal-keep 1MiB", "cut follower-1"} {
		do(t, w, c)
	}
	waitSnap(t, w, "follower-1 cut and paused", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-1")
		return f.State == cluster.StateCut && f.ReplayPaused && s.Leader.Sync.Mode == cluster.SyncRemoteApply && s.Leader.WALKeep == 1<<20
	})
	done, err := w.Undo()
	if err != nil {
		t.Fatal(err)
	}
	if len(done) != 5 {
		t.Errorf("Undo did %d things, want 5 (resume, three settings, restore):\n%s", len(done), UndoLines(done))
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the settings put back", func() bool {
		c, _ := setting(PrimaryName, "synchronous_commit")
		k, kf := setting(PrimaryName, "wal_keep_size")
		n, nf := setting(PrimaryName, "synchronous_standby_names")
		ci, _ := setting("follower-1", "primary_conninfo")
		return c == "local" && k == keep && kf == keepFile && n == names && nf == namesFile && ci == conninfo
	})
	onServer(t, l, "follower-1", func(ctx context.Context, c *pgx.Conn) {
		var state string
		if err := c.QueryRow(ctx, "SELECT pg_get_wal_replay_pause_state()").Scan(&state); err != nil || state != "not paused" {
			t.Errorf("follower-1's replay: %q, %v; want not paused", state, err)
		}
	})
}

// waitFor waits until ok holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(45 * time.Second)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("waited for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestWatchNeedsRewind promotes a standby that had stopped receiving
// while the other went on replaying the old primary's writes: that one
// replayed past where the new timeline forked off, so PostgreSQL keeps it
// in recovery, never streaming ("forked off ... before current recovery
// point", in its log only). walship says it needs pg_rewind, inferred.
func TestWatchNeedsRewind(t *testing.T) {
	l := startLocal(t, 2, 0)
	w := watch(t, l)
	waitSnap(t, w, "two streaming standbys", func(s *cluster.Snapshot) bool {
		return len(s.Followers) == 2 && caughtUp(s, follower(s, "follower-1")) && caughtUp(s, follower(s, "follower-2"))
	})
	do(t, w, "cut follower-2")
	s := waitSnap(t, w, "follower-2 cut", func(s *cluster.Snapshot) bool { return follower(s, "follower-2").State == cluster.StateCut })
	forkAt := follower(&s, "follower-2").ReplayLSN
	do(t, w, "write 500")
	waitSnap(t, w, "follower-1 past follower-2", func(s *cluster.Snapshot) bool {
		return follower(s, "follower-1").ReplayLSN > forkAt && caughtUp(s, follower(s, "follower-1"))
	})
	do(t, w, "promote follower-2")
	s = waitSnap(t, w, "follower-1 needing a rewind", func(s *cluster.Snapshot) bool {
		f := follower(s, "follower-1")
		return s.Leader.Timeline == 2 && f != nil && f.State == StateNeedsRewind && f.Inferred
	})
	if f := follower(&s, "follower-1"); !strings.Contains(f.LastError, "pg_rewind") || !hasEvent(&s, "follower-2", cluster.EvRecovery, "timeline 2 forked off at") {
		t.Fatalf("the rewind is not explained:\n%s", dump(&s))
	}
	// It stays so: PostgreSQL does not take it onto timeline 2, however
	// often it tries (it streams timeline 1 up to the fork from the new
	// primary each time, in catchup, then is refused). Each refusal is a
	// line in follower-1's log; it is watched through five of them.
	logPath := filepath.Join(l.Dir, "follower-1.log")
	const tries = 5
	deadline := time.Now().Add(time.Minute)
	for {
		log, err := os.ReadFile(logPath)
		if err != nil {
			t.Fatal(err)
		}
		s = w.Snapshot(0)
		if f := follower(&s, "follower-1"); f.State != StateNeedsRewind {
			t.Fatalf("follower-1 left needs rewind:\n%s", dump(&s))
		}
		if n := strings.Count(string(log), "before current recovery point"); n >= tries {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("follower-1 was not refused %d times in a minute; its log:\n%s", tries, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
