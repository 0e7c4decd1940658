package tui

import (
	"testing"

	"walship/scenario"
)

// TestPointsAfterFailover: a point at the leader marks the primary's
// column, not the old leader's block (listed with the followers as
// leader once it rejoins); old-leader marks that block.
func TestPointsAfterFailover(t *testing.T) {
	points := [scenario.MaxPoints]scenario.Point{{Subject: "leader", Field: "flush"}}
	if m := pointsFor(&points, "leader"); m != 0 {
		t.Errorf("point leader flush marks the old leader's block: %b", m)
	}
	if m := leaderMarks(&points); m == 0 {
		t.Error("point leader flush does not mark the primary's column")
	}
	points = [scenario.MaxPoints]scenario.Point{{Subject: "old-leader", Field: "replay"}, {Subject: "follower-2"}}
	if m := pointsFor(&points, "leader"); m != markReplay {
		t.Errorf("point old-leader replay marks %b on the old leader's block, want %b", m, markReplay)
	}
	if m := pointsFor(&points, "follower-2"); m != markName {
		t.Errorf("point follower-2 marks %b, want %b", m, markName)
	}
	if m := leaderMarks(&points); m != 0 {
		t.Errorf("point old-leader marks the primary's column: %b", m)
	}
}
