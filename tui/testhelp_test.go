package tui

import (
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"walship/engine/cluster"
	"walship/tui/internal/fake"
)

// fixture is a fixed snapshot: a leader and three followers in different
// states, with frames in flight on follower-1's link.
func fixture() cluster.Snapshot {
	lag := func(d time.Duration) cluster.Lag { return cluster.Lag{D: d, Known: true} }
	idle := cluster.Lag{D: 20 * time.Millisecond, Idle: true, Known: true}
	link := func(i int) cluster.LinkStatus {
		return cluster.LinkStatus{Addr: "127.0.0.1:600" + string(rune('0'+i)), Latency: 300 * time.Millisecond, Connected: true, BytesDown: 4096, BytesUp: 1024}
	}
	s := cluster.Snapshot{
		World: 12 * time.Second, Speed: 1,
		Leader: cluster.LeaderStatus{
			Addr: "127.0.0.1:5432", InsertLSN: 0x1200, FlushLSN: 0x1200, OldestLSN: 0x400,
			Segments: 2, SegmentSize: 16 << 10, WALKeep: 128 << 10, Keys: 70, Records: 96,
			Rate: 4, TargetRate: 4, Sync: cluster.SyncRule{Mode: cluster.SyncOff, N: 1}, Commits: 96,
		},
		Followers: []cluster.FollowerStatus{
			{Name: "follower-1", Index: 1, State: cluster.StateStreaming, SyncState: "async",
				SentLSN: 0x1200, WriteLSN: 0x11A0, FlushLSN: 0x1170, ReplayLSN: 0x1140,
				WriteLag: lag(320 * time.Millisecond), FlushLag: lag(480 * time.Millisecond), ReplayLag: lag(560 * time.Millisecond),
				ApplyDelay: 80 * time.Millisecond, FlushDelay: 150 * time.Millisecond, Link: link(1), Keys: 68},
			{Name: "follower-2", Index: 2, State: cluster.StateStreaming, SyncState: "async", ReplayPaused: true,
				SentLSN: 0x1200, WriteLSN: 0x1200, FlushLSN: 0x1200, ReplayLSN: 0xA00,
				WriteLag: idle, FlushLag: idle, ReplayLag: lag(9500 * time.Millisecond),
				ApplyDelay: 80 * time.Millisecond, FlushDelay: 150 * time.Millisecond, Link: link(2), Keys: 40},
			{Name: "follower-3", Index: 3, State: cluster.StateCut, SyncState: "async",
				SentLSN: 0x900, WriteLSN: 0x900, FlushLSN: 0x900, ReplayLSN: 0x900,
				WriteLag: lag(4 * time.Second), FlushLag: lag(4 * time.Second), ReplayLag: lag(4 * time.Second),
				Link: cluster.LinkStatus{Cut: true, Latency: 300 * time.Millisecond}, CRCFailures: 2, Resends: 2, Keys: 30},
		},
		Frames: []cluster.Frame{
			{ID: 1, Follower: "follower-1", Index: 1, Dir: cluster.ToFollower, Kind: "data", LSN: 0x11A0, EndLSN: 0x11D0, Pos: 0.25},
			{ID: 2, Follower: "follower-1", Index: 1, Dir: cluster.ToFollower, Kind: "data", LSN: 0x11D0, EndLSN: 0x1200, Pos: 0.6, Corrupt: true},
			{ID: 3, Follower: "follower-1", Index: 1, Dir: cluster.ToLeader, Kind: "status", LSN: 0x11A0, Pos: 0.5},
			{ID: 4, Follower: "follower-2", Index: 2, Dir: cluster.ToLeader, Kind: "keepalive", Pos: 0.9},
		},
		Events: []cluster.Event{
			{Seq: 1, World: time.Second, Follower: "follower-1", Kind: cluster.EvConnect, LSN: 0, Text: "connected, streaming from 0/0"},
			{Seq: 2, World: 5 * time.Second, Follower: "follower-2", Kind: cluster.EvCommand, Text: "pause follower-2"},
			{Seq: 3, World: 8 * time.Second, Follower: "follower-3", Kind: cluster.EvCRC, LSN: 0x8D0, Text: "record CRC mismatch"},
		},
		LastEvent: 3,
	}
	return s
}

// newTestModel builds a model over a Recorder serving snap, sized w x h,
// with the snapshot already taken in.
func newTestModel(t testing.TB, snap cluster.Snapshot, w, h int, themeName string) (*Model, *fake.Recorder) {
	t.Helper()
	rec := fake.NewRecorder(snap)
	m, err := New(rec, Options{Theme: themeName})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0)})
	return m, rec
}

// screen is the model's view as plain text, trailing blanks trimmed.
func screen(m *Model) string { return plain(m.View().Content) }

func plain(s string) string {
	lines := strings.Split(ansi.Strip(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n") + "\n"
}
