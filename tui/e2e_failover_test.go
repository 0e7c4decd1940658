package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEndToEndFailover drives a failover with its keys over the real
// in-process cluster in tmux, at 120x36 and 80x24: K crashes the leader
// (LEADER DOWN, followers with no primary), F fails over (TL 2 and its
// history, and what was lost, said either way), K brings the old leader
// back: it rewinds if it must and rejoins as the follower listed 0.
func TestEndToEndFailover(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	bin := buildWalship(t)
	for _, size := range []struct{ w, h int }{{120, 36}, {80, 24}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			t.Parallel()
			s := startTmux(t, tmux, bin, size.w, size.h)
			s.waitFor("the leader and three followers streaming", 15*time.Second, func(sc string) bool {
				return strings.Contains(sc, "LEADER") && strings.Contains(sc, "3 follower-3") && strings.Contains(sc, "streaming")
			})

			s.keys("K")
			s.waitFor("the leader down", 10*time.Second, func(sc string) bool {
				return strings.Contains(sc, "LEADER DOWN") && strings.Contains(sc, "writes refused") && strings.Contains(sc, "no primary")
			})

			s.keys("F")
			s.waitFor("timeline 2, its history and what was lost", 20*time.Second, func(sc string) bool {
				return strings.Contains(sc, "TL 2") && strings.Contains(sc, "TL1 → TL2 at") &&
					(strings.Contains(sc, "LOST") || strings.Contains(sc, "0 acknowledged commits lost")) &&
					promotedLeads(sc) && !strings.Contains(sc, "LEADER DOWN")
			})

			s.keys("K")
			s.waitFor("the old leader rejoined on TL 2", 30*time.Second, func(sc string) bool {
				for _, l := range strings.Split(sc, "\n") {
					if strings.Contains(l, "0 leader") && strings.Contains(l, "streaming") && strings.Contains(l, "TL2") {
						return true
					}
				}
				return false
			})

			s.keys("q")
			sc := s.waitFor("walship to quit on q", 10*time.Second, func(sc string) bool {
				return strings.Contains(sc, "walship exited:")
			})
			if !strings.Contains(sc, "walship exited: 0") {
				t.Fatalf("walship did not exit cleanly:\n%s", sc)
			}
		})
	}
}

// promotedLeads reports whether the leader's column names a follower
// under its title: a promoted node leads.
func promotedLeads(screen string) bool {
	lines := strings.Split(screen, "\n")
	for i, l := range lines[:max(len(lines)-1, 0)] {
		if strings.HasPrefix(l, " LEADER") {
			return strings.HasPrefix(lines[i+1], " follower-")
		}
	}
	return false
}
