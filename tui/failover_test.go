package tui

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/session"
	"walship/theme"
)

// failoverFixtures are the screens of a failover, built on fixture():
// its leader at 0/1200, follower-1 flushed to 0/1170 (the highest flush
// but follower-2's), follower-2 paused with its WAL at 0/1200.
func failoverFixtures() []struct {
	name string
	snap cluster.Snapshot
	want []string // what the screen must say, at every size
} {
	type fx = struct {
		name string
		snap cluster.Snapshot
		want []string
	}
	base := func() cluster.Snapshot {
		s := fixture()
		s.Leader.Name, s.Leader.State, s.Leader.Timeline = cluster.LeaderName, cluster.PrimaryUp, 1
		for i := range s.Followers {
			s.Followers[i].Timeline = 1
		}
		return s
	}
	noPrimary := func(s *cluster.Snapshot) {
		for i := range s.Followers {
			f := &s.Followers[i]
			if f.State == cluster.StateStreaming {
				f.State, f.SyncState = cluster.StateNoPrimary, ""
				f.WriteLag, f.FlushLag, f.ReplayLag = cluster.Lag{}, cluster.Lag{}, cluster.Lag{}
				f.Link.Connected = false
			}
		}
		s.Frames = nil
	}
	// After the switch: follower-1 leads on TL 2 from 0/1170; follower-2's
	// WAL went past it; the old leader is back as follower index 0.
	switched := func() cluster.Snapshot {
		s := base()
		s.Leader.Name, s.Leader.Timeline = "follower-1", 2
		s.Leader.InsertLSN, s.Leader.FlushLSN, s.Leader.ReplayLSN = 0x1300, 0x1300, 0x1300
		s.History = []cluster.TimelineSwitch{{Timeline: 1, ForkLSN: 0x1170, Reason: "follower-1 promoted: highest flush LSN 0/1170"}}
		f2 := s.Followers[1]
		f2.State, f2.ForkLSN, f2.SyncState = cluster.StateNeedsRewind, 0x1170, ""
		f2.Link.Connected = false
		f3 := s.Followers[2]
		s.Followers = []cluster.FollowerStatus{f2, f3}
		s.Frames = nil
		s.Events = append(s.Events,
			cluster.Event{Seq: 4, World: 9 * time.Second, Kind: cluster.EvCrash, Text: "leader crashed: unflushed tail lost"},
			cluster.Event{Seq: 5, World: 10 * time.Second, Follower: "follower-1", Kind: cluster.EvPromote, LSN: 0x1170, Text: "failover: follower-1 has the highest flush LSN 0/1170"},
			cluster.Event{Seq: 6, World: 10 * time.Second, Follower: "follower-1", Kind: cluster.EvTimeline, LSN: 0x1170, Text: "timeline 2 forks from timeline 1 at 0/1170"},
			cluster.Event{Seq: 7, World: 11 * time.Second, Follower: "follower-2", Kind: cluster.EvRewind, LSN: 0x1170, Text: "WAL past the fork: needs rewind"})
		s.LastEvent = 7
		return s
	}
	down := base()
	down.Leader.State = cluster.PrimaryDown
	noPrimary(&down)

	// As the engine shows it: the primary's name is the old one's until
	// the promoted node opens, and that node is listed, promoting.
	promoting := base()
	noPrimary(&promoting)
	promoting.Leader.State = cluster.PrimaryPromoting
	promoting.Leader.InsertLSN, promoting.Leader.FlushLSN, promoting.Leader.ReplayLSN = 0x11A0, 0x1170, 0x1140
	promoting.Followers[0].State = cluster.PrimaryPromoting

	tl2 := switched()

	rewinding := switched()
	old := cluster.FollowerStatus{Name: cluster.LeaderName, Index: 0, State: cluster.StateRewinding, Timeline: 1,
		WriteLSN: 0x1200, FlushLSN: 0x1200, ReplayLSN: 0x1200, ForkLSN: 0x1170}
	rewinding.Followers = append([]cluster.FollowerStatus{old}, rewinding.Followers...)
	rewinding.Followers[1].State = cluster.StateStreaming // it took a base backup meanwhile
	rewinding.Followers[1].ForkLSN, rewinding.Followers[1].Timeline = 0, 2

	// follower-3, cut far behind, promoted by hand: what the others had
	// past 0/900 is gone, and they need a rewind.
	lost := switched()
	lost.Leader.Name = "follower-3"
	f1 := fixture().Followers[0]
	f1.State, f1.ForkLSN, f1.SyncState, f1.Timeline = cluster.StateNeedsRewind, 0x900, "", 1
	f1.Link.Connected = false
	lost.Followers = []cluster.FollowerStatus{f1, lost.Followers[0]}
	lost.Followers[1].ForkLSN = 0x900
	lost.History[0] = cluster.TimelineSwitch{Timeline: 1, ForkLSN: 0x900, Reason: "follower-3 promoted by hand"}
	lost.Lost = []cluster.LostWrites{{Timeline: 2, ForkLSN: 0x900, Promoted: "follower-3", Rule: cluster.SyncRule{Mode: cluster.SyncOff, N: 1},
		From: 0x900, To: 0x1200, Count: 37, Keys: []string{"key-00012", "key-00013", "key-00014"}}}

	fenced := switched()
	fenced.Fenced = []cluster.FencedPrimary{{Name: cluster.LeaderName, Timeline: 1, InsertLSN: 0x1480, FlushLSN: 0x1480, Commits: 12}}

	return []fx{
		{"leader down", down, []string{"LEADER DOWN", "writes refused", "no primary"}},
		{"promoting", promoting, []string{"PROMOTING", "follower-1", "0/1140 → 0/1170", "leader follower-1 promoting"}},
		{"TL 2 with history, needs rewind", tl2, []string{"TL 2", "TL1 → TL2 at 0/1170", "follower-1 promoted", "NEEDS REWIND", "0 acknowledged commits lost"}},
		{"rewinding old leader", rewinding, []string{"REWINDING", "0 leader"}},
		{"lost writes", lost, []string{"LOST", "37 acknowledged commits (0/900..0/1200) under off", "key-00012"}},
		{"fenced split", fenced, []string{"SPLIT", "leader is a primary on TL 1, fenced: no follower follows it; 12 commits taken there"}},
	}
}

// TestGoldenFailover draws each state of a failover at 120x36 and 80x24
// (mono, as the other goldens), and in every theme checks the screen's
// size and its words.
func TestGoldenFailover(t *testing.T) {
	for _, c := range failoverFixtures() {
		for _, size := range []struct{ w, h int }{{120, 36}, {80, 24}} {
			name := c.name + " " + strconv.Itoa(size.w) + "x" + strconv.Itoa(size.h)
			t.Run(name, func(t *testing.T) {
				for _, th := range theme.Names() {
					m, _ := newTestModel(t, c.snap, size.w, size.h, th)
					got := screen(m)
					checkScreenSize(t, got, size.w, size.h)
					for _, want := range c.want {
						if size.w == 80 && !fitsAt80(want) {
							continue
						}
						if !strings.Contains(got, want) {
							t.Errorf("theme %s: the screen lacks %q:\n%s", th, want, got)
						}
					}
					if th == "mono" {
						golden.RequireEqual(t, got)
					}
				}
			})
		}
	}
}

// fitsAt80: the long sentences of the band are cut at 80 columns.
func fitsAt80(s string) bool { return width(s) <= 40 }

// TestNoPrimaryShowsNoLag: with the leader down a follower's lag is not
// measured, and the screen must not say 0ms (nor idle).
func TestNoPrimaryShowsNoLag(t *testing.T) {
	s := failoverFixtures()[0].snap
	s.Followers[0].ReplayLag = cluster.Lag{Known: true} // a stale zero from the engine
	m, _ := newTestModel(t, s, 120, 36, "mono")
	bars := 0
	for _, l := range strings.Split(screen(m), "\n") {
		// The bar rows of the two followers with no primary (follower-3 is cut).
		if !strings.Contains(l, "█") || strings.Contains(l, "0/900") {
			continue
		}
		bars++
		if f := strings.Fields(l); f[len(f)-1] != "-" {
			t.Errorf("no primary, yet a lag: %q", l)
		}
	}
	if bars != 6 {
		t.Errorf("%d bar rows checked, want 6", bars)
	}
}

// TestFailoverKeys: K crashes the leader and restarts it once it is down
// (or after a failover, while the old leader is not running), F fails
// over, O promotes the selected follower; the help lists them.
func TestFailoverKeys(t *testing.T) {
	fx := failoverFixtures()
	for _, c := range []struct {
		name string
		snap cluster.Snapshot
		keys []string
		want []string
	}{
		{"up", fixture(), []string{"K", "F"}, []string{"crash leader", "failover"}},
		{"down", fx[0].snap, []string{"K"}, []string{"restart leader"}},
		{"after a failover, the old leader down", fx[2].snap, []string{"K"}, []string{"restart leader"}},
		{"after a failover, the old leader a follower", fx[3].snap, []string{"K"}, []string{"crash leader"}},
		{"after a failover, the old leader fenced", fx[5].snap, []string{"K"}, []string{"restart leader"}},
		{"the old leader's row: k does not crash the primary", fx[3].snap, []string{"2", "0", "k"}, nil},
		{"0 selects the old leader's row", fx[3].snap, []string{"2", "0", "p"}, []string{"pause leader"}},
		{"promote the selected", fixture(), []string{"2", "O"}, []string{"promote follower-2"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, rec := newTestModel(t, c.snap, 120, 36, "mono")
			press(t, m, c.keys...)
			if got := rec.Commands(); !slices.Equal(got, c.want) {
				t.Errorf("sent %q, want %q", got, c.want)
			}
		})
	}
	m, _ := newTestModel(t, fixture(), 120, 36, "mono")
	press(t, m, "?")
	for _, want := range []string{"crash/restart leader", "failover (highest flush)", "promote follower"} {
		if !strings.Contains(screen(m), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

// TestFailoverLayoutFollowsFollowers: a follower promoted away and the old
// leader's row appearing re-lay the screen: each screen is whole.
func TestFailoverLayoutFollowsFollowers(t *testing.T) {
	fx := failoverFixtures()
	m, rec := newTestModel(t, fixture(), 80, 24, "mono")
	for _, c := range fx {
		rec.SetSnapshot(c.snap)
		m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0)})
		got := screen(m)
		checkScreenSize(t, got, 80, 24)
		if m.lay.bannerH != bannerRows(&c.snap) {
			t.Errorf("%s: a banner of %d rows, want %d", c.name, m.lay.bannerH, bannerRows(&c.snap))
		}
		if n := len(c.snap.Followers); m.lay.blocks != min(n, m.lay.blocks) || len(m.views) != n {
			t.Errorf("%s: %d views for %d followers", c.name, len(m.views), n)
		}
	}
}

// TestFailoverEventPaints: a lost commit is an error, a rewind trouble, a
// promotion and a timeline switch news; a lost commit says most.
func TestFailoverEventPaints(t *testing.T) {
	st := theme.NewStyles(theme.Dark())
	e := eventLog{st: st}
	for _, c := range []struct {
		k    cluster.EventKind
		want theme.Paint
	}{{cluster.EvLost, st.Error}, {cluster.EvRewind, st.Warn}, {cluster.EvPromote, st.Accent}, {cluster.EvTimeline, st.Accent}} {
		if got := e.kindPaint(c.k); got != c.want {
			t.Errorf("%s drawn in %q, want %q", c.k, got.Pre, c.want.Pre)
		}
	}
	if severity(cluster.EvLost) <= severity(cluster.EvPromote) || severity(cluster.EvPromote) <= severity(cluster.EvTimeline) {
		t.Error("lost must say more than a promotion, a promotion more than its timeline")
	}
}

// failoverStory is a failover told as snapshots a second or so apart:
// the leader crashes, follower-1 is promoted (its replay catching up to
// its flush), the others follow TL 2 or need a rewind, the old leader
// rewinds and rejoins; then it is started as a primary again, fenced.
func failoverStory() []cluster.Snapshot {
	fx := failoverFixtures()
	var story []cluster.Snapshot
	at := func(s cluster.Snapshot, world time.Duration) {
		s.World = world
		story = append(story, s)
	}
	at(fixture(), 12*time.Second)
	at(fx[0].snap, 13*time.Second)
	for i, replay := range []uint64{0x1140, 0x1150, 0x1160, 0x1170} {
		s := fx[1].snap
		s.Leader.ReplayLSN = wal.LSN(replay)
		at(s, 14*time.Second+time.Duration(i)*300*time.Millisecond)
	}
	at(fx[2].snap, 16*time.Second)
	at(fx[3].snap, 17*time.Second)
	rejoined := fx[3].snap
	rejoined.Followers = slices.Clone(rejoined.Followers)
	rejoined.Followers[0].State, rejoined.Followers[0].ForkLSN, rejoined.Followers[0].Timeline = cluster.StateStreaming, 0, 2
	rejoined.Followers[0].WriteLSN, rejoined.Followers[0].FlushLSN, rejoined.Followers[0].ReplayLSN = 0x1300, 0x1300, 0x1300
	at(rejoined, 19*time.Second)
	at(fx[5].snap, 21*time.Second)
	return story
}

// TestFailoverRecorded: a recorded failover plays back as it was drawn
// (the session format keeps the history, lost writes and fenced
// primaries). WALSHIP_FAILOVER_SESSION=FILE keeps the recording, to play
// with walship replay FILE.
func TestFailoverRecorded(t *testing.T) {
	story := failoverStory()
	var buf bytes.Buffer
	w, err := session.NewWriter(&buf, session.Meta{Program: "walship test", Title: "failover", Width: 120, Height: 36})
	if err != nil {
		t.Fatal(err)
	}
	for i := range story {
		if err := w.Snapshot(story[i].World-story[0].World, &story[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(story[len(story)-1].World - story[0].World + time.Second); err != nil {
		t.Fatal(err)
	}
	if path := os.Getenv("WALSHIP_FAILOVER_SESSION"); path != "" {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rec, err := session.Read(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.History.Len(); n != len(story) {
		t.Fatalf("%d snapshots read back, want %d", n, len(story))
	}
	for i := range story {
		got := rec.History.Snapshot(i)
		want := story[i]
		want.Events = nil
		if !sameSnapshot(&got, &want) {
			t.Errorf("snapshot %d differs after the round trip:\n got %+v %+v %+v\nwant %+v %+v %+v", i,
				got.History, got.Lost, got.Fenced, want.History, want.Lost, want.Fenced)
		}
	}
}

// TestGoldenFailoverRoom: the presenter layout (z) shows the promotion
// and the timeline too.
func TestGoldenFailoverRoom(t *testing.T) {
	for _, c := range failoverFixtures() {
		if c.name != "promoting" && c.name != "lost writes" {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			m, _ := newTestModel(t, c.snap, 80, 24, "mono")
			press(t, m, "z")
			got := screen(m)
			checkScreenSize(t, got, 80, 24)
			golden.RequireEqual(t, got)
		})
	}
}
