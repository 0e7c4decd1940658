package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/exp/golden"

	"walship/engine/cluster"
	"walship/engine/pg"
	"walship/theme"
	"walship/tui/internal/fake"
)

// pgRecorder is a fake controller that refuses commands as engine/pg's
// Watcher does: those with no real counterpart, or all of them with
// controls off.
type pgRecorder struct {
	*fake.Recorder
	control bool
}

func (r pgRecorder) Refuses(v cluster.Verb) bool { return !r.control || pg.Refusal(v) != "" }

// newPGTestModel is newTestModel over a pgRecorder.
func newPGTestModel(t testing.TB, snap cluster.Snapshot, w, h int, control bool) (*Model, *fake.Recorder) {
	t.Helper()
	rec := fake.NewRecorder(snap)
	m, err := New(pgRecorder{rec, control}, Options{Theme: "mono"})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0)})
	return m, rec
}

// pgFixture is a snapshot as engine/pg fills it: no frames, no link
// settings, a flush LSN past the last complete record, one follower
// with bytes in flight, one paused, one inferred to need a base backup
// and one whose report is stale.
func pgFixture() cluster.Snapshot {
	lag := func(d time.Duration) cluster.Lag { return cluster.Lag{D: d, Known: true} }
	idle := cluster.Lag{Idle: true, Known: true}
	return cluster.Snapshot{
		World: 12 * time.Second, Speed: 1,
		Source: cluster.Source{Name: "PostgreSQL", Unobservable: cluster.ObsFrames | cluster.ObsCRC | cluster.ObsLink | cluster.ObsApplyCost | cluster.ObsKeys},
		Leader: cluster.LeaderStatus{
			Addr: "unix:5432", InsertLSN: 0x3002000, FlushLSN: 0x3002000, RecordEndLSN: 0x3001FD8, OldestLSN: 0x2000000,
			Segments: 2, SegmentSize: 1 << 20, WALKeep: 16 << 20, Slots: true, Timeline: 1,
			Rate: 15, TargetRate: 5, Sync: cluster.SyncRule{Mode: cluster.SyncLocal}, Commits: 900,
		},
		Followers: []cluster.FollowerStatus{
			{Name: "follower-1", Index: 1, State: cluster.StateStreaming, SyncState: "async", Timeline: 1,
				SentLSN: 0x3002000, WriteLSN: 0x3001800, FlushLSN: 0x3001800, ReplayLSN: 0x3001800,
				WriteLag: lag(2 * time.Millisecond), FlushLag: lag(3 * time.Millisecond), ReplayLag: lag(3 * time.Millisecond),
				Link: cluster.LinkStatus{Connected: true},
				Slot: cluster.SlotStatus{Enabled: true, RestartLSN: 0x3001800, WALStatus: "extended", SafeWAL: 3 << 20, SafeWALKnown: true}},
			{Name: "follower-2", Index: 2, State: cluster.StateStreaming, SyncState: "async", Timeline: 1, ReplayPaused: true,
				SentLSN: 0x3002000, WriteLSN: 0x3002000, FlushLSN: 0x3002000, ReplayLSN: 0x3000000,
				WriteLag: idle, FlushLag: idle, ReplayLag: lag(9500 * time.Millisecond), Link: cluster.LinkStatus{Connected: true}},
			{Name: "follower-3", Index: 3, State: cluster.StateNeedsBackup, Inferred: true, Timeline: 1,
				SentLSN: 0x1800000, WriteLSN: 0x1800000, FlushLSN: 0x1800000, ReplayLSN: 0x1800000,
				LastError: "inferred: it needs WAL from 0/1800000, and the primary keeps WAL only from 0/2000000"},
			{Name: "follower-4", Index: 4, State: cluster.StateStreaming, SyncState: "async", Timeline: 1, Stale: true,
				SentLSN: 0x3001FD8, WriteLSN: 0x3001FD8, FlushLSN: 0x3001FD8, ReplayLSN: 0x3001FD8,
				WriteLag: idle, FlushLag: idle, ReplayLag: idle, Link: cluster.LinkStatus{Connected: true}},
		},
		Events: []cluster.Event{
			{Seq: 1, World: time.Second, Follower: "follower-2", Kind: cluster.EvCommand, Text: "SELECT pg_wal_replay_pause()"},
			{Seq: 2, World: 2 * time.Second, Kind: cluster.EvInfo, Text: "WAL 0/3000000–0/3001FD8: 6 records: (Heap/INSERT, Btree/INSERT_LEAF, Transaction/COMMIT)×2"},
		},
		LastEvent: 2,
	}
}

// TestGoldenPGScreen draws a PostgreSQL snapshot: the lanes say the link
// is not observable and draw the bytes in flight as a band, the info rows
// show the slot and what is not observable, the inferred state is marked.
func TestGoldenPGScreen(t *testing.T) {
	for _, c := range []struct {
		name  string
		w, h  int
		blind string // what the lanes say of the link
	}{{"80x24", 80, 24, "unobserved"}, {"120x36", 120, 36, "not observable"}} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newPGTestModel(t, pgFixture(), c.w, c.h, true)
			got := screen(m)
			for _, want := range []string{"PRIMARY", "timeline", "(inferred)", bandGlyph, c.blind, "TL1", "stale"} {
				if !strings.Contains(got, want) {
					t.Errorf("no %q on the screen:\n%s", want, got)
				}
			}
			golden.RequireEqual(t, got)
		})
	}
}

// TestSourceDrawing checks the pieces a screen capture cannot: the band
// covers the lane only while bytes are in flight, a stale follower's
// numbers and bars are muted, "caught up" means replay of the last
// complete record, and the in-process engine's drawing is unchanged.
func TestSourceDrawing(t *testing.T) {
	snap := pgFixture()
	f1 := snap.Followers[0]
	band := draw(40, func(r *row) { inFlightLane(r, mono, &f1, 40) })
	if !strings.Contains(band, "2KiB in flight") || !strings.Contains(band, bandGlyph) {
		t.Errorf("band for 2KiB in flight: %q", band)
	}
	f1.SentLSN = f1.WriteLSN
	if idle := draw(40, func(r *row) { inFlightLane(r, mono, &f1, 40) }); strings.Contains(idle, bandGlyph) {
		t.Errorf("a band with nothing in flight: %q", idle)
	}

	dark := theme.NewStyles(theme.Dark())
	p := followerPanel{st: dark, leader: &snap.Leader, src: &snap.Source}
	stale, fresh := followerView{f: snap.Followers[3]}, followerView{f: snap.Followers[1]}
	if p.numPaint(&stale) != dark.Muted || p.barPaint(&stale, 0) != &dark.Muted {
		t.Error("a stale follower's numbers and bars are not muted")
	}
	if p.numPaint(&fresh) != dark.Text || p.barPaint(&fresh, 2) != &dark.Replay {
		t.Error("a follower reporting on time is muted")
	}
	if b := p.behind(snap.Followers[3].ReplayLSN); b != 0 {
		t.Errorf("replay at the last complete record is %d bytes behind, want caught up", b)
	}
	if b := p.behind(snap.Leader.RecordEndLSN - 8); b != 8 {
		t.Errorf("8 bytes short of the last complete record: %d behind", b)
	}

	for _, c := range []struct {
		w    int
		want string
	}{{60, "link latency not observable in PostgreSQL's views"}, {30, "link latency not observable"}, {11, "unobserved"}} {
		if got := notObservable(&snap.Source, "link latency", c.w); got != c.want {
			t.Errorf("notObservable in %d cells = %q, want %q", c.w, got, c.want)
		}
	}
}

// TestPGKeys: over a real cluster the footer and the help list only the
// keys whose commands can run, and the others do nothing; watching
// without controls leaves help and quit. (They listed x, k, b, [, ], a,
// d and space, which walship pg refuses.)
func TestPGKeys(t *testing.T) {
	m, rec := newPGTestModel(t, pgFixture(), 120, 36, true)
	footer := lastLine(screen(m))
	for _, want := range []string{"p pause", "c cut", "? help", "q quit"} {
		if !strings.Contains(footer, want) {
			t.Errorf("the footer has no %q: %q", want, footer)
		}
	}
	for _, refused := range []string{"corrupt", "crash", "freeze"} {
		if strings.Contains(footer, refused) {
			t.Errorf("the footer offers %q: %q", refused, footer)
		}
	}
	press(t, m, "?")
	help := screen(m)
	for _, want := range []string{"pause/resume replay", "cut/restore link", "write a burst", "cycle synchronous_commit", "write rate up"} {
		if !strings.Contains(help, want) {
			t.Errorf("the help has no %q:\n%s", want, help)
		}
	}
	for _, refused := range []string{"corrupt next frame", "crash/restart", "base backup", "latency up", "add follower", "remove follower", "freeze/unfreeze", "slower time"} {
		if strings.Contains(help, refused) {
			t.Errorf("the help offers %q:\n%s", refused, help)
		}
	}
	press(t, m, "esc", "x", "k", "b", "]", "a", "d", " ", "<", "p")
	if got := rec.Commands(); len(got) != 1 || got[0] != "pause follower-1" {
		t.Errorf("commands sent: %q, want only pause follower-1", got)
	}

	watchOnly, rec := newPGTestModel(t, pgFixture(), 120, 36, false)
	if footer := lastLine(screen(watchOnly)); strings.Contains(footer, "pause") || !strings.Contains(footer, "q quit") {
		t.Errorf("watching only, the footer is %q", footer)
	}
	press(t, watchOnly, "p", "c", "w", "s")
	if got := rec.Commands(); len(got) != 0 {
		t.Errorf("watching only, keys sent %q", got)
	}
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

// TestPGLeaderHonest: the primary unreachable, its panel says its values
// are the last seen; with no rights to pg_walinspect the record rate is
// not observable (not 0/s); the commits are walship's INSERTs.
func TestPGLeaderHonest(t *testing.T) {
	snap := pgFixture()
	snap.Leader.Stale = true
	snap.Source.Unobservable |= cluster.ObsRecords
	m, _ := newPGTestModel(t, snap, 120, 36, true)
	got := screen(m)
	lines := strings.Split(got, "\n")
	if !strings.Contains(lines[0], "WAL records not observable") {
		t.Errorf("the status line: %q", lines[0])
	}
	if !strings.Contains(lines[1], "PRIMARY  stale") || !strings.Contains(got, "INSERTs  900") {
		t.Errorf("the primary's panel:\n%s", got)
	}
	dark := theme.NewStyles(theme.Dark())
	if leaderPaint(dark, &snap.Leader, dark.Bold) != dark.Muted {
		t.Error("a stale primary's values are not muted")
	}
	snap.Leader.Stale = false
	if leaderPaint(dark, &snap.Leader, dark.Bold) != dark.Bold {
		t.Error("a primary that answers is muted")
	}
	// Watching only, walship writes nothing, and other clients' commits
	// are not observable.
	snap.Source.Unobservable |= cluster.ObsCommits
	watchOnly, _ := newPGTestModel(t, snap, 80, 24, false)
	if got := screen(watchOnly); !strings.Contains(got, "commits  unobserved") {
		t.Errorf("watching only, the commits row:\n%s", got)
	}
}
