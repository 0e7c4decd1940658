package tui

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Where the failover lesson's screens show what it is about: a timeline
// (TL 2), and the old leader's block among the followers, streaming on
// timeline 2.
var (
	timeline2Re  = regexp.MustCompile(`\bTL ?2\b`)
	oldLeaderRe  = regexp.MustCompile(`(?i)\b0 leader\b.*\bstreaming\b.*\bTL ?2\b`)
	promotedOnTL = "primary on timeline 2"
	// The primary's column and the timeline lines above it.
	leaderTL2Re   = regexp.MustCompile(`LEADER\s+TL 2\b`)
	primaryNameRe = regexp.MustCompile(`follower-1 \(primary\)`)
	historyRe     = regexp.MustCompile(`TL1 → TL2 at [0-9A-F]+/[0-9A-F]+: follower-1 promoted`)
	noneLostRe    = regexp.MustCompile(`\b0 acknowledged commits lost\b`)
)

// TestEndToEndFailoverLesson plays the failover lesson in tmux as a presenter
// would, reading each caption and pressing n: no expectation fails; once
// follower-1 is promoted the screen shows timeline 2 and the event log
// says so; at the end the old leader is on screen as a follower,
// streaming on timeline 2; the lesson ends and walship exits cleanly.
func TestEndToEndFailoverLesson(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("plays the failover lesson in real time")
	}
	tmux := tmuxPath(t)
	captions := lessonCaptions(t, "failover")
	bin := buildWalship(t)
	s := startTmux(t, tmux, bin, 120, 36, "--scenario", "failover")
	s.waitFor("the lesson waiting for the first chapter", 15*time.Second, func(sc string) bool {
		return strings.Contains(sc, "LESSON") && strings.Contains(sc, "press n for chapter 1")
	})
	sawTL2, sawOldLeader := false, false
	for i, want := range captions {
		s.press("n")
		s.waitFor(fmt.Sprintf("caption %d", i+1), 30*time.Second, func(sc string) bool { return shownCaption(sc) == want })
		shown := s.waitFor(fmt.Sprintf("step %d to be ready", i+1), 90*time.Second, func(sc string) bool {
			return strings.Contains(sc, "▶ press n") || strings.Contains(sc, "lesson complete") || strings.Contains(sc, "expectation failed")
		})
		if strings.Contains(shown, "expectation failed") {
			t.Fatalf("at caption %d:\n%s", i+1, shown)
		}
		switch {
		case strings.HasPrefix(want, "follower-1 is the primary on timeline 2"):
			// The world is frozen here: the primary's column says TL 2 and
			// who leads, the timeline history and the lost count are up.
			for _, what := range []*regexp.Regexp{leaderTL2Re, primaryNameRe, historyRe, noneLostRe} {
				if !what.MatchString(shown) {
					t.Errorf("follower-1 promoted, but %s is not on screen:\n%s", what, shown)
				}
			}
			if !strings.Contains(shown, promotedOnTL) {
				t.Errorf("follower-1 promoted, but the event log does not say %q:\n%s", promotedOnTL, shown)
			}
		case strings.HasPrefix(want, "follower-2 and follower-3 re-point"):
			sawTL2 = true
			s.waitFor("TL 2 on screen", 30*time.Second, func(sc string) bool { return timeline2Re.MatchString(sc) })
		case i == len(captions)-1:
			sawOldLeader = true
			if !oldLeaderRe.MatchString(shown) {
				t.Errorf("the old leader is not on screen as a follower streaming on timeline 2:\n%s", shown)
			}
		}
	}
	if !sawTL2 || !sawOldLeader {
		t.Fatalf("the lesson's captions changed: the promotion step (%v) or the last step (%v) was not found", sawTL2, sawOldLeader)
	}
	s.press("n")
	s.waitFor("the end of the lesson", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "lesson complete") })
	s.press("q")
	end := s.waitFor("walship to quit", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "walship exited:") })
	if !strings.Contains(end, "walship exited: 0") {
		t.Fatalf("walship did not exit cleanly:\n%s", end)
	}
}
