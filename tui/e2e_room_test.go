package tui

import (
	"strings"
	"testing"
	"time"
)

// crashEndings are the ways a crash event's sentence ends (see the
// cluster's crashText): reading one means the whole sentence is on screen.
var crashEndings = []string{"cut the rest", "they are lost", "though never fsynced", "all of it survives"}

// TestEndToEndSmallScreen drives the real binary at 80x24, a teacher's
// large font, in the ordinary and the presenter layout: a corrupted frame
// shows its CRC badge at once (with the failure's event), and a crash's
// explanation is read whole, not cut.
func TestEndToEndSmallScreen(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	bin := buildWalship(t)
	for _, c := range []struct {
		name string
		args []string
	}{{"ordinary", nil}, {"presenter", []string{"--room"}}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"--latency", "100ms", "--rate", "20"}, c.args...)
			s := startTmux(t, tmux, bin, 80, 24, args...)
			s.waitFor("three followers streaming", 15*time.Second, func(sc string) bool {
				return strings.Contains(sc, "3 follower-3") && strings.Count(strings.ToLower(sc), "streaming") >= 3
			})

			s.keys("1", "x")
			// The badge comes with the failure's event, from the same
			// snapshot: a screen drawn again and again with the event and
			// without the badge has dropped it (captures, not seconds, so
			// a slow machine cannot fail it).
			without := 0
			s.waitFor("a CRC failure on follower-1", 15*time.Second, func(sc string) bool {
				badge := strings.Contains(block(sc, 1), "✖ CRC")
				if !badge && strings.Contains(sc, "crc-failure") {
					if without++; without >= 5 {
						t.Fatalf("the CRC failure is on screen but follower-1 has no badge in %d captures:\n%s", without, sc)
					}
				}
				return badge
			})

			s.keys("k")
			sc := s.waitFor("the crash explained whole", 15*time.Second, func(sc string) bool {
				f := flat(sc)
				if !strings.Contains(f, "crashed") {
					return false
				}
				for _, end := range crashEndings {
					if strings.Contains(f, end) {
						return true
					}
				}
				return false
			})
			if !strings.Contains(block(sc, 1), "STOPPED") {
				t.Errorf("follower-1 not shown STOPPED:\n%s", sc)
			}
			s.keys("q")
		})
	}
}
