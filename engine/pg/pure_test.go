package pg

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

func TestConninfo(t *testing.T) {
	ci, err := parseConninfo(`user=postgres host = '/tmp/a dir' password='it\'s' application_name=follower-1 port=5432`)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ci.get("host"); v != "/tmp/a dir" {
		t.Errorf("host %q", v)
	}
	if v, _ := ci.get("password"); v != "it's" {
		t.Errorf("password %q", v)
	}
	moved := ci.without("hostaddr").with("host", "/tmp/b").with("port", "5434")
	want := `user=postgres host=/tmp/b password='it\'s' application_name=follower-1 port=5434`
	if got := moved.String(); got != want {
		t.Errorf("re-pointed: %s\nwant        %s", got, want)
	}
	back, err := parseConninfo(moved.String())
	if err != nil || back.String() != moved.String() {
		t.Errorf("round trip: %v %s", err, back)
	}
	if got := moved.masked(); strings.Contains(got, "it") || !strings.Contains(got, "password=****") {
		t.Errorf("masked: %s", got)
	}
	for _, bad := range []string{"host", "host='open", "=x"} {
		if _, err := parseConninfo(bad); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
	if quoteLiteral("it's") != "'it''s'" || quoteIdent(`a"b`) != `"a""b"` {
		t.Error("SQL quoting")
	}
}

func TestRuns(t *testing.T) {
	k := func(s string) []string { return strings.Fields(s) }
	for _, c := range []struct{ in, want string }{
		{"A", "A"},
		{"A A A", "A×3"},
		{"H B C H B C H B C", "(H, B, C)×3"},
		{"X H B H B H B C", "X, (H, B)×3, C"},
		{"A B A C", "A, B, A, C"},
	} {
		if got := runsText(k(c.in), 1000); got != c.want {
			t.Errorf("runsText(%s) = %s, want %s", c.in, got, c.want)
		}
	}
	if got := runsText(k("A B C D E F G H"), 5); !strings.HasSuffix(got, "… 5 more") {
		t.Errorf("cut: %s", got)
	}
	var l recordLog
	l.add(0x100, 0x200, inspected{records: []walRecord{{kind: "Heap/INSERT"}, {kind: "Transaction/COMMIT"}}, total: 2})
	l.add(0x200, 0x300, inspected{records: []walRecord{{kind: "Heap/INSERT"}, {kind: "Transaction/COMMIT"}}, total: 2})
	if l.shape() != "Heap/INSERT,Transaction/COMMIT;" {
		t.Errorf("shape %q", l.shape())
	}
	if got := l.summary(); got != "WAL 0/100–0/300: 4 records: (Heap/INSERT, Transaction/COMMIT)×2" {
		t.Errorf("summary %q", got)
	}
	if !l.empty() {
		t.Error("summary did not reset the log")
	}
}

func TestRetained(t *testing.T) {
	files := []string{
		"000000010000000000000003", "000000010000000000000004", "000000010000000000000005",
		"000000010000000000000009", // recycled, waiting past the insert position
		"00000002.history", "000000010000000000000002.partial", "archive_status",
	}
	n, oldest := retained(files, 0x5000A0, 1<<20)
	if n != 3 || oldest != 0x300000 {
		t.Errorf("retained = %d from %s, want 3 from 0/300000", n, oldest)
	}
	if got := segmentName(2, 0x1_0300_0000, 16<<20); got != "000000020000000100000003" {
		t.Errorf("segmentName = %s", got)
	}
	if timeline("0000000A0000000000000003") != 10 {
		t.Error("timeline")
	}
}

func TestSyncRule(t *testing.T) {
	for _, c := range []struct {
		commit, names string
		want          cluster.SyncRule
	}{
		{"on", "", cluster.SyncRule{Mode: cluster.SyncLocal}},
		{"off", "", cluster.SyncRule{Mode: cluster.SyncOff}},
		{"remote_apply", `ANY 2 ("follower-1", "follower-2")`, cluster.SyncRule{Mode: cluster.SyncRemoteApply, N: 2}},
		{"on", "FIRST 1 (a, b)", cluster.SyncRule{Mode: cluster.SyncOn, N: 1}},
		{"remote_write", "a, b", cluster.SyncRule{Mode: cluster.SyncRemoteWrite, N: 1}},
		{"on", "2 (a, b, c)", cluster.SyncRule{Mode: cluster.SyncOn, N: 2}},
		{"on", "*", cluster.SyncRule{Mode: cluster.SyncOn, N: 1}},
	} {
		if got := syncRule(c.commit, c.names); got != c.want {
			t.Errorf("syncRule(%s, %s) = %v, want %v", c.commit, c.names, got, c.want)
		}
	}
	if got := syncStandbyNames(cluster.SyncOn, 1, []string{"follower-1", "s2"}); got != `ANY 1 ("follower-1", "s2")` {
		t.Errorf("names %s", got)
	}
	if syncStandbyNames(cluster.SyncLocal, 1, []string{"a"}) != "" {
		t.Error("local names a standby")
	}
}

// A tracker fed plain observations, no server: indices stay put, a
// standby seen first in pg_stat_replication joins its connection, a
// report older than the status interval is stale, a standby behind the
// oldest retained WAL needs a base backup (inferred), and every change is
// an event.
func TestTrackerBuild(t *testing.T) {
	lsn := func(v wal.LSN) *wal.LSN { return &v }
	secs := func(v float64) *float64 { return &v }
	primary := func(rows ...replRow) primaryObs {
		return primaryObs{insert: 0x3002000, flush: 0x3002000, walFile: "000000010000000000000003", segSize: 1 << 20,
			syncCommit: "on", replication: rows, maxSlotWAL: -1,
			walFiles: []string{"00000001000000000000002F", "000000010000000000000030"},
			slots:    []slotRow{{name: "follower_1", active: true, activePID: ptrTo(int32(11)), restartLSN: lsn(0x3002000), walStatus: "reserved"}}}
	}
	row := func(pid int32, name string, at wal.LSN, replyAge float64) replRow {
		return replRow{pid: pid, appName: name, state: "streaming", syncState: "async",
			sent: lsn(at), write: lsn(at), flush: lsn(at), replay: lsn(at), replyAge: secs(replyAge)}
	}
	standby := func(name string, at wal.LSN) standbyObs {
		return standbyObs{inRecovery: true, receive: lsn(at), replay: lsn(at), pauseState: "not paused",
			conninfo: "host=/tmp port=5432 application_name=" + name, statusInterval: time.Second,
			receiver: &receiverRow{status: "streaming", receivedTLI: 1, written: lsn(at), flushed: lsn(at)}}
	}
	tr := newTracker()

	// Poll 1: follower-2's connection fails; follower-3 has no connection.
	p := poll{primaryAddr: "unix:5432",
		primary: primary(row(11, "follower-1", 0x3002000, 0.2), row(12, "follower-2", 0x3002000, 0.2), row(13, "follower-3", 0x3002000, 0.3)),
		standbys: []standbyPoll{{id: 1, addr: "unix:5433", obs: standby("follower-1", 0x3002000)},
			{id: 2, addr: "unix:5434", obs: standbyObs{err: errRetryLater}}}}
	_, fs, evs := tr.build(&p)
	names := func(fs []cluster.FollowerStatus) string {
		var s []string
		for _, f := range fs {
			s = append(s, f.Name+"#"+string(rune('0'+f.Index))+":"+f.State)
		}
		return strings.Join(s, " ")
	}
	if got := names(fs); got != "follower-1#1:streaming unix:5434#2:unreachable follower-2#3:streaming follower-3#4:streaming" {
		t.Fatalf("poll 1: %s", got)
	}
	if !fs[0].Slot.Enabled || fs[0].Slot.WALStatus != "reserved" || fs[2].Slot.Enabled {
		t.Errorf("slots: %+v / %+v", fs[0].Slot, fs[2].Slot)
	}
	if fs[1].LastError == "" || !fs[1].Stale {
		t.Errorf("the unreachable standby: %+v", fs[1])
	}
	if len(evs) == 0 {
		t.Error("no events for a first sight")
	}

	// Poll 2: follower-2 answers (and is one with the follower-2 of
	// pg_stat_replication, under the lower index), follower-1's report is
	// old, follower-3 leaves pg_stat_replication.
	p.primary = primary(row(11, "follower-1", 0x3002000, 2.5), row(12, "follower-2", 0x3002000, 0.2))
	p.standbys[1].obs = standby("follower-2", 0x3002000)
	_, fs, evs = tr.build(&p)
	if got := names(fs); got != "follower-1#1:streaming follower-2#2:streaming" {
		t.Fatalf("poll 2: %s", got)
	}
	if !fs[0].Stale || fs[1].Stale {
		t.Errorf("stale: %v %v", fs[0].Stale, fs[1].Stale)
	}
	if !hasText(evs, "follower-3", "left pg_stat_replication") || !hasText(evs, "follower-1", "older than its status interval") {
		t.Errorf("poll 2 events: %v", evs)
	}

	// Poll 3: follower-2 leaves the row behind (not streaming), needing
	// WAL from segment 0x10 while the primary keeps from 0x2F.
	p.primary = primary(row(11, "follower-1", 0x3002000, 0.1))
	sb := standby("follower-2", 0x1000100)
	sb.receiver = nil
	p.standbys[1].obs = sb
	_, fs, evs = tr.build(&p)
	f2 := fs[1]
	if f2.State != cluster.StateNeedsBackup || !f2.Inferred || !strings.Contains(f2.LastError, "segment 000000010000000000000010") {
		t.Errorf("follower-2: %s inferred=%v %q", f2.State, f2.Inferred, f2.LastError)
	}
	if !hasText(evs, "follower-2", "needs base backup") {
		t.Errorf("poll 3 events: %v", evs)
	}
	if fs[1].Index != 2 || fs[0].Index != 1 {
		t.Errorf("indices moved: %d %d", fs[0].Index, fs[1].Index)
	}
}

func hasText(evs []cluster.Event, follower, text string) bool {
	for _, e := range evs {
		if e.Follower == follower && strings.Contains(e.Text, text) {
			return true
		}
	}
	return false
}

func ptrTo[T any](v T) *T { return &v }

// TestTakePrimary: promoting any standby, first or last, leaves the
// others to watch and re-point (dropping a member while ranging over the
// members once panicked under the watcher's lock).
func TestTakePrimary(t *testing.T) {
	for promoted := 1; promoted <= 3; promoted++ {
		w := &Watcher{tr: newTracker(), start: time.Now()}
		w.primary = &node{id: 0, addr: "unix:5432"}
		for id := 1; id <= 3; id++ {
			w.standbys = append(w.standbys, &node{id: id})
			w.tr.memberFor(id, fmt.Sprintf("follower-%d", id))
		}
		others := w.takePrimary(w.standbys[promoted-1], fmt.Sprintf("follower-%d", promoted), fork{})
		if len(others) != 2 || len(w.standbys) != 2 || len(w.tr.members) != 2 || w.primary.id != promoted || w.gen != 1 {
			t.Errorf("promoting %d: %d others, %d standbys, %d members, primary %d", promoted, len(others), len(w.standbys), len(w.tr.members), w.primary.id)
		}
		for _, m := range w.tr.members {
			if m.node == promoted {
				t.Errorf("promoting %d: still a follower", promoted)
			}
		}
	}
}

// TestUnreachablePrimaryIsOneEvent: while the primary is down, the polls
// alternate between a failed connection and the wait before the next try
// (errRetryLater); that is one outage, one event, and the standby's panel
// keeps the reason instead of flickering between the two. (Each poll was
// an event: two or three a second pushed everything else out of the log.)
func TestUnreachablePrimaryIsOneEvent(t *testing.T) {
	tr := newTracker()
	refused := errors.New("failed to connect to `host=/tmp user=postgres database=postgres`: dial error (dial unix /tmp/.s.PGSQL.5432: connect: no such file or directory)")
	ok := primaryObs{insert: 0x3000, flush: 0x3000, walFile: "000000010000000000000000", segSize: 1 << 20, syncCommit: "on", maxSlotWAL: -1}
	p := poll{primaryAddr: "unix:5432", primary: ok,
		standbys: []standbyPoll{{id: 1, addr: "unix:5433", obs: standbyObs{err: refused}}}}
	tr.build(&p)
	var errs []cluster.Event
	var shown []string
	for i := range 6 {
		err := refused
		if i%2 == 1 {
			err = errRetryLater
		}
		p.primary = primaryObs{err: err}
		p.standbys[0].obs = standbyObs{err: err}
		L, fs, evs := tr.build(&p)
		if !L.Stale || L.FlushLSN != 0x3000 {
			t.Errorf("the unreachable primary's panel: stale %v, flush %s; want its last values, marked stale", L.Stale, L.FlushLSN)
		}
		for _, e := range evs {
			if e.Kind == cluster.EvError {
				errs = append(errs, e)
			}
		}
		shown = append(shown, fs[0].LastError)
	}
	if len(errs) != 1 || !strings.Contains(errs[0].Text, "no such file") {
		t.Errorf("%d error events, want 1 naming the cause: %v", len(errs), errs)
	}
	for _, s := range shown {
		if !strings.Contains(s, "no such file") {
			t.Errorf("the standby's panel says %q, want the cause each poll: %q", s, shown)
			break
		}
	}
	p.primary = ok
	if L, _, evs := tr.build(&p); !hasText(evs, "", "answers again") || L.Stale {
		t.Errorf("no event when the primary answers again, or still stale (%v): %v", L.Stale, evs)
	}
}

// TestNeedsRewind: after a promotion, a standby told to follow the new
// timeline that had replayed past its fork never streams (PostgreSQL
// says why in its log only): it is shown as needing pg_rewind, inferred.
// One that had not, streams, and is not.
func TestNeedsRewind(t *testing.T) {
	history := "1\t0/3000A28\tno recovery target specified\n"
	fk, err := switchPoint(history)
	if err != nil || fk != 0x3000A28 {
		t.Fatalf("switchPoint(%q) = %s, %v", history, fk, err)
	}
	if _, err := switchPoint("# nothing\n"); err == nil {
		t.Error("a history with no switch point was read")
	}
	if fk, err := switchPoint("1\t0/3000A28\tx\n2\t0/5000000\tno recovery target specified\n"); err != nil || fk != 0x5000000 {
		t.Errorf("timeline 3's history: %s, %v; want the last line's 0/5000000", fk, err)
	}

	tr := newTracker()
	primary := primaryObs{insert: 0x3100000, flush: 0x3100000, walFile: "000000020000000000000003", segSize: 1 << 20, syncCommit: "on", maxSlotWAL: -1}
	standby := func(name string, replay wal.LSN) standbyObs {
		restartedAt := replay / (1 << 20) * (1 << 20) // a WAL receiver that restarted reports where it asked to stream from
		return standbyObs{inRecovery: true, receive: &restartedAt, replay: &replay, pauseState: "not paused",
			conninfo: "host=/tmp port=5433 application_name=" + name, statusInterval: time.Second}
	}
	p := poll{primaryAddr: "unix:5433", primary: primary, standbys: []standbyPoll{
		{id: 1, addr: "unix:5434", obs: standby("follower-1", 0x3000A28)},  // at the fork: it can follow
		{id: 2, addr: "unix:5435", obs: standby("follower-2", 0x30F0000)}}} // past it
	tr.build(&p)
	for _, m := range tr.members {
		tr.forks[m.name] = fork{lsn: 0x3000A28, tli: 2, promoted: "follower-3"}
	}
	// Each asks the new primary for its timeline's history: a row in
	// startup, refused for the one past the fork, which stays as it is.
	p.primary.replication = []replRow{{pid: 7, appName: "follower-1", state: "startup"}, {pid: 8, appName: "follower-2", state: "startup"}}
	_, fs, evs := tr.build(&p)
	if fs[0].State == StateNeedsRewind || fs[1].State != StateNeedsRewind || !fs[1].Inferred ||
		!strings.Contains(fs[1].LastError, "pg_rewind") || !strings.Contains(fs[1].LastError, "0/3000A28") {
		t.Fatalf("states %q, %q (%q)", fs[0].State, fs[1].State, fs[1].LastError)
	}
	if !hasText(evs, fs[1].Name, "needs rewind (inferred") {
		t.Errorf("no event says it needs a rewind: %v", evs)
	}
	if fs[1].ReplayLag.Known || fs[1].ReplayLSN > fs[1].FlushLSN {
		t.Errorf("a standby on the old timeline: replay_lag %+v, replay %s past flush %s", fs[1].ReplayLag, fs[1].ReplayLSN, fs[1].FlushLSN)
	}
	// Each tries again: it streams the old timeline up to the fork from
	// the new primary, in catchup, and is refused; the first receives on
	// the new timeline: it is following.
	p.primary.replication[1].state = "catchup"
	p.standbys[1].obs.receiver = &receiverRow{status: "streaming", receivedTLI: 1}
	p.primary.replication[0].state = "streaming"
	p.standbys[0].obs.receiver = &receiverRow{status: "streaming", receivedTLI: 2}
	_, fs, _ = tr.build(&p)
	if fs[0].State != cluster.StateStreaming || fs[1].State != StateNeedsRewind || tr.forks[fs[0].Name] != (fork{}) {
		t.Errorf("the standby at the fork: %q, fork still kept: %v", fs[0].State, tr.forks)
	}
}
