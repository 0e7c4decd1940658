package tui

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"walship/engine/pg"
)

// TestEndToEndPGDemo runs `walship pg demo` in tmux: a real primary and
// two standbys start, the keyboard pauses follower-1's replay, and the
// screen shows PAUSED and a replay lag that grows. After q, no server of
// the demo is left running and its directory is gone. It skips when the
// PostgreSQL server programs are not installed.
func TestEndToEndPGDemo(t *testing.T) {
	if _, err := pg.FindBinaries(""); errors.Is(err, pg.ErrNoBinaries) {
		t.Skip("PostgreSQL server binaries are not installed (Debian: apt-get install postgresql); ", err)
	}
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux is required for the end-to-end test (apt-get install tmux): ", err)
	}
	bin := buildWalship(t)
	s := &tmuxSession{t: t, bin: tmux, socket: fmt.Sprintf("walship-e2e-pg-%d", os.Getpid()), target: "e2e"}
	if out, err := s.tmux("-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "120", "-y", "36",
		"env", "TERM=xterm-256color", "NO_COLOR=", "sh", "-c",
		`"$0" pg demo; echo "walship exited: $?"; sleep 600`, bin); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { s.tmux("kill-server") })

	s.waitFor("the primary and two streaming standbys", 90*time.Second, func(sc string) bool {
		return strings.Contains(sc, "PRIMARY") && strings.Contains(block(sc, 2), "streaming")
	})
	s.keys("1", "p")
	sc := s.waitFor("follower-1 paused", 15*time.Second, func(sc string) bool {
		return strings.Contains(block(sc, 1), "PAUSED")
	})
	first := replayLag(t, block(sc, 1))
	s.waitFor("follower-1's replay_lag growing", 20*time.Second, func(sc string) bool {
		return replayLag(t, block(sc, 1)) > first
	})

	s.keys("q")
	sc = s.waitFor("walship to quit", 30*time.Second, func(sc string) bool { return strings.Contains(sc, "walship exited:") })
	if !strings.Contains(sc, "walship exited: 0") {
		t.Fatalf("walship did not exit cleanly:\n%s", sc)
	}
	m := regexp.MustCompile(`(/\S*/walship-pg-\d+)/primary`).FindStringSubmatch(sc)
	if m == nil {
		t.Fatalf("the demo's directory is not on the screen:\n%s", sc)
	}
	out, err := exec.Command("pgrep", "-a", "-f", m[1]).Output()
	if err == nil {
		t.Errorf("servers left running:\n%s", out)
	}
	if _, err := os.Stat(m[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there (%v)", m[1], err)
	}
}

var replayRowRe = regexp.MustCompile(`replay(?:_lsn)?\s+\S+\s+[0-9A-F]+/[0-9A-F]+\s+\S+\s+(?:behind\s+)?(?:replay_lag\s+)?(\S+)`)

// replayLag reads the replay lag from a follower's block (0 for idle or
// unknown).
func replayLag(t *testing.T, blk string) time.Duration {
	t.Helper()
	m := replayRowRe.FindStringSubmatch(blk)
	if m == nil {
		t.Fatalf("no replay row in the follower block:\n%s", blk)
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		return 0
	}
	return d
}
