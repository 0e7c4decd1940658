package scenario

import (
	"strings"
	"testing"

	"walship/engine/cluster"
)

func TestParseFailoverExpects(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Expect
	}{
		{"expect leader state primary", Expect{Subject: "leader", Field: "state", State: cluster.PrimaryUp}},
		{"expect leader state not down", Expect{Subject: "leader", Field: "state", Not: true, State: cluster.PrimaryDown}},
		{"expect leader state promoting", Expect{Subject: "leader", Field: "state", State: cluster.PrimaryPromoting}},
		{"expect leader name follower-1", Expect{Subject: "leader", Field: "name", State: "follower-1"}},
		{"expect leader name 2", Expect{Subject: "leader", Field: "name", State: "follower-2"}},
		{"expect leader name not leader", Expect{Subject: "leader", Field: "name", Not: true, State: "leader"}},
		{"expect leader timeline = 2", Expect{Subject: "leader", Field: "timeline", Op: OpEq, Value: Operand{N: 2}}},
		{"expect timeline > 1", Expect{Subject: "leader", Field: "timeline", Op: OpGt, Value: Operand{N: 1}}},
		{"expect leader replay < flush", Expect{Subject: "leader", Field: "replay", Op: OpLt, Value: Operand{Subject: "leader", Field: "flush"}}},
		{"expect lost = 0", Expect{Subject: "leader", Field: "lost", Op: OpEq}},
		{"expect leader lost > 0", Expect{Subject: "leader", Field: "lost", Op: OpGt}},
		{"expect fenced = 1", Expect{Subject: "leader", Field: "fenced", Op: OpEq, Value: Operand{N: 1}}},
		{"expect follower-2 timeline = 2", Expect{Subject: "follower-2", Field: "timeline", Op: OpEq, Value: Operand{N: 2}}},
		{"expect all timeline = leader", Expect{Subject: "all", Field: "timeline", Op: OpEq, Value: Operand{Subject: "leader", Field: "timeline"}}},
		{"expect follower-2 state \"needs rewind\"", Expect{Subject: "follower-2", Field: "state", State: cluster.StateNeedsRewind}},
		{"expect follower-2 state needs rewind", Expect{Subject: "follower-2", Field: "state", State: cluster.StateNeedsRewind}},
		{"expect all state \"no primary\"", Expect{Subject: "all", Field: "state", State: cluster.StateNoPrimary}},
		{"expect 3 state rewinding", Expect{Subject: "follower-3", Field: "state", State: cluster.StateRewinding}},
		{"expect follower-1 state promoting", Expect{Subject: "follower-1", Field: "state", State: cluster.StatePromoting}},
		{"expect follower-3 fork > 0", Expect{Subject: "follower-3", Field: "fork", Op: OpGt}},
		{"expect old-leader state streaming", Expect{Subject: "old-leader", Field: "state", State: cluster.StateStreaming}},
		{"expect old-leader matches leader", Expect{Subject: "old-leader", Field: "matches"}},
		{"expect old-leader timeline = leader", Expect{Subject: "old-leader", Field: "timeline", Op: OpEq, Value: Operand{Subject: "leader", Field: "timeline"}}},
	} {
		sc, err := Parse("f.scn", []byte(tc.line))
		if err != nil {
			t.Errorf("%s: %v", tc.line, err)
			continue
		}
		got := *sc.Setup[0].Expect
		tc.want.Within = DefaultWithin
		if got != tc.want {
			t.Errorf("%s:\n got %+v\nwant %+v", tc.line, got, tc.want)
		}
	}
}

func TestParseFailoverErrors(t *testing.T) {
	for _, tc := range []struct {
		line string
		msg  string
	}{
		{"expect leader state streaming", `expected a leader state (primary, down, promoting), not "streaming"`},
		{"expect follower-1 state primary", `expected a state (`},
		{"expect leader name", "expected a node's name (leader, follower-N)"},
		{"expect leader name follower-x", `expected a node's name (leader, follower-N), not "follower-x"`},
		{"expect leader timeline = 0/10", "expected a whole number"},
		{"expect leader name = follower-1", `not "= follower-1"`},
		{"expect lost", "expected a comparison"},
		{"expect old-leader rises", "expected a follower field"},
		{"expect all fork rises", "not all"},
		{"point old-leader lane\npoint old-leader nonsense", "expected a field of the follower"},
	} {
		_, err := Parse("f.scn", []byte(tc.line))
		if err == nil || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: error %v, want one with %q", tc.line, err, tc.msg)
		}
	}
}

func TestCheckFailover(t *testing.T) {
	s := cluster.Snapshot{
		Leader: cluster.LeaderStatus{Name: "follower-1", State: cluster.PrimaryPromoting, Timeline: 1,
			FlushLSN: 0x3000, ReplayLSN: 0x2000},
		Followers: []cluster.FollowerStatus{
			{Name: "follower-2", State: cluster.StateNeedsRewind, Timeline: 1, ForkLSN: 0x2800, ReplayLSN: 0x2900},
			{Name: "leader", Index: 0, State: cluster.StateStreaming, Timeline: 2, ReplayLSN: 0x3000},
		},
		Lost:   []cluster.LostWrites{{Count: 3}, {Count: 4}},
		Fenced: []cluster.FencedPrimary{{Name: "leader", Timeline: 1}},
	}
	for _, tc := range []struct {
		expect string
		ok     bool
		seen   string
	}{
		{"leader state promoting", true, "leader state promoting (follower-1, timeline 1)"},
		{"leader state primary", false, "leader state promoting (follower-1, timeline 1)"},
		{"leader name follower-1", true, "leader name follower-1 (state promoting, timeline 1)"},
		{"leader name not follower-1", false, "leader name follower-1 (state promoting, timeline 1)"},
		{"leader replay < flush", true, "leader replay 0/2000, leader flush 0/3000"},
		{"leader timeline = 2", false, "leader timeline 1"},
		{"lost = 7", true, "leader lost 7"},
		{"fenced > 0", true, "leader fenced 1"},
		{"follower-2 state \"needs rewind\"", true, "follower-2 state needs rewind"},
		{"follower-2 fork = 0/2800", true, "follower-2 fork 0/2800 (state needs rewind)"},
		{"follower-2 timeline = leader", true, "follower-2 timeline 1, leader timeline 1 (state needs rewind)"},
		{"old-leader timeline = 2", true, "leader timeline 2 (state streaming)"},
		{"old-leader state streaming", true, "leader state streaming"},
		{"all timeline = 2", false, "follower-2 timeline 1 (state needs rewind)"},
		{"follower-1 state streaming", false, "no follower-1 in the cluster"},
	} {
		sc := mustParse(t, "expect "+tc.expect)
		ok, seen := sc.Setup[0].Expect.Check(&s)
		if ok != tc.ok || seen != tc.seen {
			t.Errorf("expect %s: %v %q, want %v %q", tc.expect, ok, seen, tc.ok, tc.seen)
		}
	}
	// A source that does not report the primary's state reads as up; one
	// that does not name it cannot be checked by name.
	var bare cluster.Snapshot
	if ok, _ := mustParse(t, "expect leader state primary").Setup[0].Expect.Check(&bare); !ok {
		t.Error("a leader with no state reported is not read as primary")
	}
	if ok, seen := mustParse(t, "expect leader name leader").Setup[0].Expect.Check(&bare); ok || seen != "the source does not name the leader" {
		t.Errorf("unnamed leader: %v %q", ok, seen)
	}
	// No old leader among the followers until it rejoins.
	if ok, seen := mustParse(t, "expect old-leader state streaming").Setup[0].Expect.Check(&cluster.Snapshot{}); ok || seen != "no old-leader in the cluster" {
		t.Errorf("no old leader: %v %q", ok, seen)
	}
}

func TestPointOldLeader(t *testing.T) {
	sc := mustParse(t, "point old-leader replay")
	if pt := sc.Setup[0].Point; pt != (Point{Subject: oldLeader, Field: "replay"}) {
		t.Errorf("point old-leader replay = %+v", pt)
	}
}
