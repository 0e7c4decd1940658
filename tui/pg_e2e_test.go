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
	t.Parallel()
	s := pgDemoInTmux(t, "pg")
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
	quitPGDemo(t, s)
}

// pgDemoInTmux runs walship pg demo with args in tmux at 120x36 (name
// tells its tmux server apart), or skips the test when the PostgreSQL
// server programs are not installed.
func pgDemoInTmux(t *testing.T, name string, args ...string) *tmuxSession {
	t.Helper()
	if _, err := pg.FindBinaries(""); errors.Is(err, pg.ErrNoBinaries) {
		t.Skip("PostgreSQL server binaries are not installed (Debian: apt-get install postgresql); ", err)
	}
	tmux := tmuxPath(t)
	bin := buildWalship(t)
	s := &tmuxSession{t: t, bin: tmux, socket: fmt.Sprintf("walship-e2e-%s-%d", name, os.Getpid()), target: "e2e"}
	if out, err := s.tmux(append([]string{"-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", "120", "-y", "36",
		"env", "TERM=xterm-256color", "NO_COLOR=", "sh", "-c",
		`"$0" pg demo "$@"; echo "walship exited: $?"; sleep 600`, bin}, args...)...); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { s.tmux("kill-server") })
	return s
}

// quitPGDemo quits the demo with q: walship exits 0, no server of the
// demo is left running and its directory is gone (its path is among the
// progress lines left on the screen).
func quitPGDemo(t *testing.T, s *tmuxSession) {
	t.Helper()
	s.keys("q")
	sc := s.waitFor("walship to quit", 30*time.Second, func(sc string) bool { return strings.Contains(sc, "walship exited:") })
	if !strings.Contains(sc, "walship exited: 0") {
		t.Fatalf("walship did not exit cleanly:\n%s", sc)
	}
	m := regexp.MustCompile(`(/\S*/walship-pg-\d+)/primary`).FindStringSubmatch(sc)
	if m == nil {
		t.Fatalf("the demo's directory is not on the screen:\n%s", sc)
	}
	if out, err := exec.Command("pgrep", "-a", "-f", m[1]).Output(); err == nil {
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

// TestEndToEndPGLesson plays the paused-replay lesson on `walship pg demo
// --scenario paused-replay` (its PostgreSQL version) step by step with n,
// as a presenter would: chapter 2 pauses follower-1's replay and the
// screen shows PAUSED, the last chapter resumes it, and no expectation
// fails on the way. After q, nothing is left running or on disk.
func TestEndToEndPGLesson(t *testing.T) {
	t.Parallel()
	s := pgDemoInTmux(t, "pglesson", "--scenario", "paused-replay")
	s.waitFor("the lesson, waiting for chapter 1", 90*time.Second, func(sc string) bool {
		return strings.Contains(sc, "Paused replay on PostgreSQL") && strings.Contains(sc, "press n for chapter 1")
	})
	// Each n shows the next step, and its lines run before the next n is
	// taken; the pause comes in chapter 2's first step.
	paused := func(sc string) bool { return strings.Contains(block(sc, 1), "PAUSED") }
	steps := []struct {
		at   string // the lesson panel's title once the step shows
		seen func(sc string) bool
	}{
		{"chapter 1/4 All three positions move", nil},
		{"chapter 2/4 Pause replay  step 1/3", paused},
		{"chapter 2/4 Pause replay  step 2/3", paused},
		{"chapter 2/4 Pause replay  step 3/3", nil},
		{"chapter 3/4 Nothing is lost  step 1/2", nil},
		{"chapter 3/4 Nothing is lost  step 2/2", nil},
		{"chapter 4/4 Resume  step 1/2", nil},
		{"chapter 4/4 Resume  step 2/2", func(sc string) bool { return !paused(sc) }},
	}
	for _, st := range steps {
		s.keys("n")
		sc := s.waitFor(st.at+", its lines done", 60*time.Second, func(sc string) bool {
			return strings.Contains(sc, st.at) && strings.Contains(sc, "press n") && (st.seen == nil || st.seen(sc))
		})
		if strings.Contains(sc, "expectation failed") {
			t.Fatalf("at %s:\n%s", st.at, sc)
		}
	}
	quitPGDemo(t, s)
}
