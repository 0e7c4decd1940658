package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/theme"
)

// The golden files are plain text: every component is drawn with the mono
// theme and stripped of escapes, so they do not depend on the terminal's
// colour profile. Rewrite them with: go test ./tui/ -run Golden -update

var mono = theme.NewStyles(theme.Mono())

func draw(w int, fn func(r *row)) string {
	var b strings.Builder
	r := newRow(&b, w)
	fn(&r)
	r.fill()
	if r.n != w {
		panic("row width mismatch")
	}
	return plain(b.String())
}

func TestGoldenBars(t *testing.T) {
	sc := scale{lo: 0x1000, hi: 0x2000}
	removed := scale{lo: 0x1000, hi: 0x2000, oldest: 0x1400}
	var out strings.Builder
	for _, c := range []struct {
		name string
		sc   scale
		v    wal.LSN
		bm   *barMarks
	}{
		{"empty", sc, 0x1000, nil},
		{"below the scale", sc, 0x800, nil},
		{"a quarter", sc, 0x1400, nil},
		{"an eighth of a cell past half", sc, 0x1000 + 0x800 + 0x10, nil},
		{"full", sc, 0x2000, nil},
		{"past the end", sc, 0x2400, nil},
		{"fell off retained WAL", removed, 0x1100, nil},
		{"retained, half", removed, 0x1800, nil},
		{"crashed: the tail to 3/4 lost", sc, 0x1800, &barMarks{lostTo: 0x1C00}},
		{"sync ticks: reached 1/4, waiting 3/4", sc, 0x1800, &barMarks{ticks: []tick{
			{0x1400, mono.Glyphs.Watermark, &mono.Accent}, {0x1C00, mono.Glyphs.Waiting, &mono.Warn}}}},
	} {
		line := draw(40, func(r *row) { bar(r, mono, c.sc, c.v, 32, &mono.Write, c.bm) })
		out.WriteString(line[:len(line)-1] + "| " + c.name + "\n")
	}
	golden.RequireEqual(t, out.String())
}

func TestGoldenLane(t *testing.T) {
	frames := []cluster.Frame{
		{Dir: cluster.ToFollower, Kind: "data", Pos: 0},
		{Dir: cluster.ToFollower, Kind: "data", Pos: 0.3},
		{Dir: cluster.ToFollower, Kind: "data", Pos: 0.5, Corrupt: true},
		{Dir: cluster.ToFollower, Kind: "keepalive", Pos: 0.7},
		{Dir: cluster.ToFollower, Kind: "backup", Pos: 0.9},
		{Dir: cluster.ToFollower, Kind: "keepalive", Pos: 1}, // hidden under nothing: last cell
		{Dir: cluster.ToLeader, Kind: "status", Pos: 0.1},
		{Dir: cluster.ToLeader, Kind: "resend", Pos: 0.5},
		{Dir: cluster.ToLeader, Kind: "status", Pos: 1},
	}
	scratch := make([]byte, 64)
	var out strings.Builder
	for _, c := range []struct {
		name string
		dir  cluster.Direction
		cut  bool
	}{
		{"down: data, corrupt, keepalive, backup", cluster.ToFollower, false},
		{"up: status, resend", cluster.ToLeader, false},
		{"down, cut", cluster.ToFollower, true},
		{"up, cut", cluster.ToLeader, true},
	} {
		line := draw(30, func(r *row) { lane(r, mono, frames, c.dir, c.cut, 30, scratch) })
		out.WriteString(line[:len(line)-1] + "| " + c.name + "\n")
	}
	golden.RequireEqual(t, out.String())
}

func TestGoldenFollowerPanel(t *testing.T) {
	snap := fixture()
	sc := targetScale(&snap)
	needs := snap.Followers[2]
	needs.Name, needs.Index, needs.State = "follower-4", 4, cluster.StateNeedsBackup
	needs.Link = cluster.LinkStatus{Latency: 300e6, Connected: true}
	needs.WriteLSN, needs.FlushLSN, needs.ReplayLSN = 0x300, 0x300, 0x300
	backing := needs
	backing.Name, backing.Index, backing.State = "follower-5", 5, cluster.StateBackup
	backing.Backup = cluster.BackupStatus{Active: true, LSN: 0x1200, Done: 3 << 10, Total: 8 << 10}
	crashed := snap.Followers[0]
	crashed.Name, crashed.Index, crashed.State = "follower-6", 6, cluster.StateStopped
	crashed.LastError = "crashed: unflushed tail lost"

	pausedCRC := snap.Followers[1]
	pausedCRC.CRCFailures = 1

	sc.lo = min(sc.lo, 0x300)
	for _, c := range []struct {
		name   string
		f      cluster.FollowerStatus
		sel    bool
		flash  bool
		w, h   int
		frames int
	}{
		{"streaming selected", snap.Followers[0], true, false, 60, 6, 0},
		{"paused", snap.Followers[1], false, false, 60, 6, 0},
		{"cut with crc failures", snap.Followers[2], false, false, 60, 6, 0},
		{"crc flash", snap.Followers[2], false, true, 60, 6, 0},
		{"needs base backup", needs, false, false, 60, 6, 0},
		{"base backup in progress", backing, false, false, 60, 6, 0},
		{"stopped", crashed, false, false, 60, 6, 0},
		{"wide", snap.Followers[1], true, false, 96, 7, 0},
		{"compact stacked", snap.Followers[1], false, false, 46, 3, 0},
		{"crc flash at 80x24, paused, selected", pausedCRC, true, true, 46, 5, 0},
		{"compact stacked, lagging", snap.Followers[0], true, false, 46, 3, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := followerPanel{st: mono, leader: &snap.Leader, sc: sc}
			p.SetSize(c.w, c.h)
			v := followerView{f: c.f, selected: c.sel, flash: c.flash}
			var out strings.Builder
			for y := range c.h {
				out.WriteString(draw(c.w, func(r *row) { p.row(r, &v, y) }))
			}
			golden.RequireEqual(t, out.String())
		})
	}
}

func TestGoldenHelp(t *testing.T) {
	m, _ := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, "?")
	golden.RequireEqual(t, screen(m))
}

func TestGoldenScreen(t *testing.T) {
	for _, c := range []struct {
		name string
		w, h int
	}{{"80x24", 80, 24}, {"120x36", 120, 36}, {"200x50", 200, 50}} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := newTestModel(t, fixture(), c.w, c.h, "mono")
			got := screen(m)
			checkScreenSize(t, got, c.w, c.h)
			golden.RequireEqual(t, got)
		})
	}
}
