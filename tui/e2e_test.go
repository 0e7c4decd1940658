package tui

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"walship/engine/wal"
	"walship/scenario"
)

// TestEndToEndTmux builds the walship binary and drives it in a real
// terminal (tmux) at 120x36 and 80x24 over the real in-process cluster:
// pause replay, cut a link, corrupt a frame, open and close the help, quit.
// It asserts on what `tmux capture-pane` shows. tmux is required: without
// it the test fails, it does not skip.
func TestEndToEndTmux(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	bin := buildWalship(t)
	for _, size := range []struct{ w, h int }{{120, 36}, {80, 24}} {
		t.Run(fmt.Sprintf("%dx%d", size.w, size.h), func(t *testing.T) {
			t.Parallel()
			s := startTmux(t, tmux, bin, size.w, size.h)
			s.waitFor("the leader and three followers", 15*time.Second, func(sc string) bool {
				return strings.Contains(sc, "LEADER") && strings.Contains(sc, "3 follower-3") && strings.Contains(sc, "streaming")
			})

			// Pause replay on follower-2: it shows PAUSED, its replay LSN
			// stops while its write LSN goes on.
			s.keys("2", "p")
			s.waitFor("follower-2 paused", 5*time.Second, func(sc string) bool {
				return strings.Contains(block(sc, 2), "PAUSED")
			})
			// A record already being applied when the pause arrived may
			// still land: replay_lsn may move once, then never again,
			// while write_lsn goes on.
			w1, r1 := positions(t, block(s.capture(), 2))
			landed := false
			s.waitFor("follower-2 receiving while paused", 10*time.Second, func(sc string) bool {
				w2, r2 := positions(t, block(sc, 2))
				if r2 != r1 {
					if landed {
						t.Fatalf("replay_lsn moved from %s to %s while paused:\n%s", r1, r2, sc)
					}
					landed, r1, w1 = true, r2, w2
					return false
				}
				return w2 > w1
			})

			// Cut follower-2's link: drawn broken and labelled.
			s.keys("c")
			s.waitFor("follower-2 cut", 5*time.Second, func(sc string) bool {
				return strings.Contains(sc, "CUT") && strings.Contains(block(sc, 2), "CUT")
			})

			// Corrupt the next frame to follower-1: the CRC check catches it.
			s.keys("1", "x")
			s.waitFor("a CRC failure on follower-1", 15*time.Second, func(sc string) bool {
				return strings.Contains(block(sc, 1), "CRC") || strings.Contains(sc, "crc-failure")
			})

			// Help opens and closes.
			s.keys("?")
			s.waitFor("the help", 5*time.Second, func(sc string) bool { return strings.Contains(sc, "walship keys") })
			s.keys("?")
			s.waitFor("the help to close", 5*time.Second, func(sc string) bool {
				return !strings.Contains(sc, "walship keys") && strings.Contains(sc, "LEADER")
			})

			// Quit: the program ends with status 0 (the shell around it says so).
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

// TestEndToEndBadFlags checks that bad flags give a clear message and a
// non-zero exit.
func TestEndToEndBadFlags(t *testing.T) {
	t.Parallel()
	bin := buildWalship(t)
	for _, c := range []struct{ args, want string }{
		{"--followers 0", "--followers"},
		{"--theme neon", "--theme"},
		{"--sync sometimes", "--sync"},
		{"--wal-keep lots", "--wal-keep"},
		{"--latency -1s", "--latency"},
	} {
		out, err := exec.Command(bin, strings.Fields(c.args)...).CombinedOutput()
		if err == nil {
			t.Errorf("walship %s succeeded", c.args)
			continue
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("walship %s: message does not name %s:\n%s", c.args, c.want, out)
		}
	}
}

// built is the walship binary the end-to-end tests share: built once, by
// the first test that wants it, and removed by TestMain.
var built struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// e2eParallel is how many tests run at once unless -test.parallel says:
// the end-to-end tests spend their time waiting for a lesson or a world
// that runs at the speed of the clock, not on the CPU, so more of them
// than there are cores can wait side by side.
const e2eParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < e2eParallel {
		flag.Set("test.parallel", fmt.Sprint(e2eParallel))
	}
	code := m.Run()
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

func buildWalship(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "walship-e2e-"); built.err != nil {
			return
		}
		built.bin = filepath.Join(built.dir, "walship")
		cmd := exec.Command("go", "build", "-o", built.bin, ".")
		cmd.Dir = ".." // the module root: package main
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// tmuxSessions numbers the tmux servers a test run starts, so that each
// has a socket of its own.
var tmuxSessions atomic.Int64

type tmuxSession struct {
	t      *testing.T
	bin    string
	socket string
	target string
}

func startTmux(t *testing.T, tmux, bin string, w, h int, args ...string) *tmuxSession {
	s := &tmuxSession{t: t, bin: tmux, socket: fmt.Sprintf("walship-e2e-%d-%d", os.Getpid(), tmuxSessions.Add(1)), target: "e2e"}
	data := t.TempDir()
	argv := append([]string{"-f", "/dev/null", "new-session", "-d", "-s", "e2e", "-x", fmt.Sprint(w), "-y", fmt.Sprint(h),
		"env", "TERM=xterm-256color", "NO_COLOR=", "sh", "-c",
		`bin=$0; data=$1; shift; "$bin" --seed 1 --data "$data" "$@"; echo "walship exited: $?"; sleep 600`, bin, data}, args...)
	if out, err := s.tmux(argv...); err != nil {
		t.Fatalf("tmux new-session: %v\n%s", err, out)
	}
	t.Cleanup(func() { s.tmux("kill-server") })
	return s
}

func (s *tmuxSession) tmux(args ...string) (string, error) {
	out, err := exec.Command(s.bin, append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	return string(out), err
}

func (s *tmuxSession) keys(keys ...string) {
	for _, k := range keys {
		if _, err := s.tmux("send-keys", "-t", s.target, "-l", k); err != nil {
			s.t.Fatalf("send-keys %q: %v", k, err)
		}
		time.Sleep(150 * time.Millisecond)
	}
}

// press sends one key by its tmux name (NPage is PageDown), or a
// character.
func (s *tmuxSession) press(k string) {
	if _, err := s.tmux("send-keys", "-t", s.target, k); err != nil {
		s.t.Fatalf("send-keys %q: %v", k, err)
	}
	time.Sleep(150 * time.Millisecond)
}

func (s *tmuxSession) capture() string {
	out, err := s.tmux("capture-pane", "-p", "-t", s.target)
	if err != nil {
		s.t.Fatalf("capture-pane: %v\n%s", err, out)
	}
	return out
}

// waitFor polls the screen until ok holds, failing with the last screen.
func (s *tmuxSession) waitFor(what string, d time.Duration, ok func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(d)
	for {
		sc := s.capture()
		if ok(sc) {
			return sc
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("waited %s for %s; the screen:\n%s", d, what, sc)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// block is the part of each screen line right of the lanes that belongs
// to follower n: from its title row to the next follower's (or the events).
func block(screen string, n int) string {
	title := fmt.Sprintf("%d follower-%d", n, n)
	var out []string
	in := false
	titleRe := regexp.MustCompile(`\d follower-\d`)
	for _, l := range strings.Split(screen, "\n") {
		switch {
		case strings.Contains(l, title):
			in = true
		case in && (titleRe.MatchString(l) || strings.HasPrefix(l, "── events")):
			in = false
		}
		if in {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

var positionRe = regexp.MustCompile(`(write|replay)(?:_lsn)?\s+\S+\s+([0-9A-F]+/[0-9A-F]+)`)

// positions reads the write and replay LSNs from a follower's block.
func positions(t *testing.T, blk string) (write, replay wal.LSN) {
	t.Helper()
	found := 0
	for _, m := range positionRe.FindAllStringSubmatch(blk, -1) {
		lsn, err := wal.ParseLSN(m[2])
		if err != nil {
			t.Fatalf("bad LSN %q in:\n%s", m[2], blk)
		}
		if m[1] == "write" {
			write = lsn
		} else {
			replay = lsn
		}
		found++
	}
	if found < 2 {
		t.Fatalf("no write and replay LSNs in the follower block:\n%s", blk)
	}
	return write, replay
}

// tmuxPath finds tmux, which the end-to-end tests need, or fails the test.
func tmuxPath(t *testing.T) string {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Fatal("tmux is required for the end-to-end test (apt-get install tmux): ", err)
	}
	return tmux
}

// lessonCaptions lists a built-in lesson's captions, one a step, in the
// order n shows them.
func lessonCaptions(t *testing.T, name string) []string {
	t.Helper()
	sc, err := scenario.Load(name)
	if err != nil {
		t.Fatal(err)
	}
	var captions []string
	for i := range sc.Chapters {
		for _, step := range sc.Chapters[i].Captions() {
			for _, line := range step {
				if line.Kind == scenario.StepSay {
					captions = append(captions, line.Text)
					break
				}
			}
		}
	}
	return captions
}
