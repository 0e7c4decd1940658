package tui

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestEndToEndStaleReads plays the stale-reads lesson in tmux as a
// presenter would, at 120x36 and at 80x24, and looks at the reads on
// screen: the STALE read while replay is paused, both anomalies by name,
// and the waiting read that says how long it waited.
func TestEndToEndStaleReads(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	captions := lessonCaptions(t, "stale-reads")
	bin := buildWalship(t)
	for _, size := range []struct{ w, h int }{{120, 36}, {80, 24}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			t.Parallel()
			s := startTmux(t, tmux, bin, size.w, size.h, "--scenario", "stale-reads")
			s.waitFor("the lesson waiting for the first chapter", 15*time.Second, func(sc string) bool {
				return strings.Contains(sc, "press n for chapter 1")
			})
			// What the reads show after each step, on one row of the screen.
			wants := []string{
				`follower-1 balance = "100"`,
				"", // pause, and the write of 50
				`follower-1 balance = "100" @0/`,
				"STALE  leader @0/",
				"READ-YOUR-WRITES",
				"",
				`follower-2 ryw-probe = "write-3"`,
				"MONOTONIC READS",
				`follower-1 balance = "50" @0/`,
				"waited ",
			}
			if len(wants) != len(captions) {
				t.Fatalf("%d captions in the lesson, %d steps checked", len(captions), len(wants))
			}
			for i, want := range wants {
				s.press("n")
				s.waitFor(fmt.Sprintf("step %d with %q", i+1, want), 30*time.Second, func(sc string) bool {
					if strings.Contains(sc, "expectation failed") {
						t.Fatalf("at step %d:\n%s", i+1, sc)
					}
					ready := strings.Contains(sc, "▶ press n") || strings.Contains(sc, "lesson complete")
					// Compared without spaces: a caption may wrap after a hyphen.
					caption := strings.ReplaceAll(shownCaption(sc), " ", "") == strings.ReplaceAll(captions[i], " ", "")
					return ready && caption && (want == "" || onOneRow(sc, want))
				})
			}
		})
	}
}

// onOneRow reports whether want is within one row of screen.
func onOneRow(screen, want string) bool {
	for _, l := range strings.Split(screen, "\n") {
		if strings.Contains(l, want) {
			return true
		}
	}
	return false
}
