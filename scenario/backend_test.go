package scenario

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
)

// TestBackends: a backends line says what a scenario is written for; a
// scenario without one is the engine's; on the wrong backend it is
// refused, and a built-in's name finds its variant for the backend.
func TestBackends(t *testing.T) {
	for src, want := range map[string]Backend{
		"rate 0":                           BackendEngine,
		"backends pg\nrate 0":              BackendPG,
		"backends engine pg\nrate 0":       BackendEngine | BackendPG,
		"title \"t\"\nbackends PG\nrate 0": BackendPG,
	} {
		if sc := mustParse(t, src); sc.Backends != want {
			t.Errorf("%q: backends %s, want %s", src, sc.Backends, want)
		}
	}
	for _, tc := range []struct {
		src  string
		line int
		col  int
		msg  string
	}{
		{"backends", 1, 9, "expected a backend: engine (walship's own) or pg (PostgreSQL)"},
		{"backends mysql", 1, 10, `not "mysql"`},
		{"backends pg pg", 1, 13, "pg is named twice"},
		{"backends pg\nbackends engine", 2, 1, "only one backends line"},
		{"rate 0\nbackends pg", 2, 1, "at the top of the file"},
		{"at 1s backends pg", 1, 7, "cannot be timed"},
	} {
		_, err := Parse("t.scn", []byte(tc.src))
		var se *SyntaxError
		if !errors.As(err, &se) || se.Line != tc.line || se.Column != tc.col || !strings.Contains(se.Msg, tc.msg) {
			t.Errorf("%q: %v, want %d:%d %q", tc.src, err, tc.line, tc.col, tc.msg)
		}
	}

	// basic on PostgreSQL is basic-pg; crc has no variant.
	for name, want := range map[string]string{"basic": "basic-pg.scn", "basic-pg": "basic-pg.scn", "base-backup": "base-backup-pg.scn"} {
		if sc, err := LoadFor(name, BackendPG); err != nil || sc.File != want {
			t.Errorf("LoadFor(%s, pg): %v, %v; want %s", name, sc, err, want)
		}
	}
	if _, err := LoadFor("crc", BackendPG); err == nil || !strings.Contains(err.Error(), "basic-pg, paused-replay-pg, sync-commit-pg, base-backup-pg") {
		t.Errorf("LoadFor(crc, pg): %v; want a refusal naming the lessons for PostgreSQL", err)
	}
	if _, err := LoadFor("basic-pg", BackendEngine); err == nil || !strings.Contains(err.Error(), "written for PostgreSQL, not for walship's own engine") {
		t.Errorf("LoadFor(basic-pg, engine): %v", err)
	}
	for _, info := range BuiltinsFor(BackendPG) {
		if !strings.HasSuffix(info.Name, "-pg") {
			t.Errorf("%s is listed for PostgreSQL", info.Name)
		}
	}
	for _, info := range BuiltinsFor(BackendEngine) {
		if strings.HasSuffix(info.Name, "-pg") {
			t.Errorf("%s is listed for the engine", info.Name)
		}
	}

	f := newFake(1)
	var out bytes.Buffer
	if err := RunHeadless(context.Background(), f, mustParse(t, "rate 0"), &out, f.opts(WithBackend(BackendPG))...); err == nil || len(f.commands()) > 0 {
		t.Errorf("an engine scenario played on PostgreSQL: %v, %v", err, f.commandTexts())
	}
	pgLesson := mustParse(t, "backends pg\nrate 0")
	if err := RunHeadless(context.Background(), f, pgLesson, &out, f.opts(WithBackend(BackendPG), WithSpeed(8))...); err == nil || !strings.Contains(err.Error(), "real time") {
		t.Errorf("a PostgreSQL lesson at speed 8: %v", err)
	}
	p := NewPlayer(f, pgLesson, f.opts()...)
	defer p.Close()
	if st := waitState(t, p, "the refusal", func(s LessonState) bool { return s.Done }); !strings.Contains(st.Failed, "written for PostgreSQL") {
		t.Errorf("a PostgreSQL lesson played on the engine: %+v", st)
	}
}

// TestHoldsInRealTime: on PostgreSQL nothing can slow or freeze the
// servers, so a held moment waits for its conditions, checks them as
// expect lines, and holds nothing.
func TestHoldsInRealTime(t *testing.T) {
	f := newFake(1)
	f.script = func(at time.Duration, s *cluster.Snapshot) {
		if at >= 2*time.Second {
			s.Followers[0].CRCFailures = 1
		}
	}
	sc := mustParse(t, `backends pg
chapter "A"
say "watch"
rate 10
slow 1/8 until follower-1 crc-failures rises within 5s
freeze when follower-1 crc-failures >= 1
slow 1/4
write 1
slow 1/2 until follower-1 paused within 1s
`)
	var out bytes.Buffer
	err := RunHeadless(context.Background(), f, sc, &out, f.opts(WithBackend(BackendPG))...)
	var se *StepError
	if !errors.As(err, &se) || se.Line != 9 {
		t.Fatalf("got %v, want line 9 to fail\n%s", err, out.String())
	}
	checkTimes(t, f, []done{{0, "rate 10"}, {2 * time.Second, "write 1"}})
}

// TestWALStatusAndMatches: wal-status checks a slot's wal_status; matches
// leader is the last complete record replayed where the flush LSN ends
// inside a record, and keys count only where the source sees them.
func TestWALStatusAndMatches(t *testing.T) {
	s := cluster.Snapshot{
		Source: cluster.Source{Name: "PostgreSQL", Unobservable: cluster.ObsKeys},
		Leader: cluster.LeaderStatus{FlushLSN: 0x2000, RecordEndLSN: 0x1FD8, Keys: 0},
		Followers: []cluster.FollowerStatus{
			{Name: "follower-1", State: cluster.StateCut, ReplayLSN: 0x1FD8, Slot: cluster.SlotStatus{Enabled: true, WALStatus: "extended"}},
			{Name: "follower-2", State: cluster.StateStreaming, ReplayLSN: 0x1F00},
		},
	}
	for _, tc := range []struct {
		expect string
		ok     bool
		seen   string
	}{
		{"follower-1 wal-status extended", true, "follower-1 slot wal_status extended (state cut)"},
		{"follower-1 wal-status not lost", true, "follower-1 slot wal_status extended (state cut)"},
		{"follower-1 wal-status reserved", false, "follower-1 slot wal_status extended (state cut)"},
		{"follower-2 wal-status reserved", false, "follower-2 has no slot with a wal_status (state streaming)"},
		{"follower-1 matches leader", true, "follower-1 replay 0/1FD8, leader flush 0/2000, its last complete record ending at 0/1FD8 (state cut)"},
		{"follower-2 matches leader", false, "follower-2 replay 0/1F00, leader flush 0/2000, its last complete record ending at 0/1FD8 (state streaming)"},
	} {
		ok, seen := mustParse(t, "expect "+tc.expect).Setup[0].Expect.Check(&s)
		if ok != tc.ok || seen != tc.seen {
			t.Errorf("expect %s: %v %q, want %v %q", tc.expect, ok, seen, tc.ok, tc.seen)
		}
	}
	for _, bad := range []string{"expect follower-1 wal-status", "expect follower-1 wal-status fine", "expect not wal-status lost"} {
		if _, err := Parse("t.scn", []byte(bad)); !errors.Is(err, ErrSyntax) {
			t.Errorf("%q: %v, want a syntax error", bad, err)
		}
	}
}
