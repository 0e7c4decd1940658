package tui

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// crashEndings are the ways a crash event's sentence ends (see the
// cluster's crashText): reading one means the whole sentence is on screen.
var crashEndings = []string{"cut the rest", "they are lost", "though never fsynced", "all of it survives"}

// TestEndToEndSmallScreen drives the real binary at 80x24, a teacher's
// large font, in the ordinary and the presenter layout: a corrupted frame
// shows its CRC badge at once (within a second of the first sign of the
// failure on screen, a generous guard), and a crash's explanation is read
// whole, not cut.
func TestEndToEndSmallScreen(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux is required for the end-to-end test (apt-get install tmux): ", err)
	}
	bin := buildWalship(t)
	for _, c := range []struct {
		name string
		args []string
	}{{"ordinary", nil}, {"presenter", []string{"--room"}}} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"--latency", "100ms", "--rate", "20"}, c.args...)
			s := startTmux(t, tmux, bin, 80, 24, args...)
			s.waitFor("three followers streaming", 15*time.Second, func(sc string) bool {
				return strings.Contains(sc, "3 follower-3") && strings.Count(strings.ToLower(sc), "streaming") >= 3
			})

			s.keys("1", "x")
			var first time.Time
			s.waitFor("a CRC failure on follower-1", 15*time.Second, func(sc string) bool {
				badge := strings.Contains(block(sc, 1), "✖ CRC")
				if first.IsZero() && (badge || strings.Contains(sc, "crc-failure")) {
					first = time.Now()
				}
				if !first.IsZero() && !badge && time.Since(first) > time.Second {
					t.Fatalf("the CRC failure is on screen but follower-1 has no badge after %v:\n%s", time.Since(first), sc)
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
