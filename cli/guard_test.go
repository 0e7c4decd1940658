package cli

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"walship/engine/pg"
)

// TestGuard runs stand-ins for the UI's process under the guard: how each
// ends decides what the guard returns and whether it restores the
// terminal.
func TestGuard(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("uses sh")
	}
	for _, tc := range []struct {
		name, script string
		want         error
		restores     bool
	}{
		{"clean exit", `exit 0`, nil, false},
		{"a failed check", `echo "check failed" >&2; exit 1`, childExit{1}, true},
		{"a panic", `printf 'panic: boom\n\ngoroutine 7 [running]:\nmain.main()\n' >&2; exit 2`, errCrashed, true},
		{"killed", `kill -KILL $$`, errCrashed, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tty, err := os.Open(os.DevNull)
			if err != nil {
				t.Fatal(err)
			}
			defer tty.Close()
			out, err := os.Create(filepath.Join(t.TempDir(), "out"))
			if err != nil {
				t.Fatal(err)
			}
			defer out.Close()
			var stderr bytes.Buffer
			err = guard(exec.Command("sh", "-c", tc.script), tty, out, &stderr)
			if !errors.Is(err, tc.want) {
				t.Fatalf("guard returned %v, want %v", err, tc.want)
			}
			b, _ := os.ReadFile(out.Name())
			restored := strings.Contains(string(b), "?1049l") && strings.Contains(string(b), "1002")
			if restored != tc.restores {
				t.Errorf("terminal restore written: %v, want %v (%q)", restored, tc.restores, b)
			}
			if strings.Contains(tc.script, ">&2") && stderr.Len() == 0 {
				t.Error("the child's standard error was not passed on")
			}
		})
	}
}

// TestCrashRestoresTerminal runs the real UI in tmux, crashes its process
// (SIGQUIT makes Go dump every goroutine and exit, as a panic in any
// goroutine does), and finds the terminal as it was before: the main
// screen, no mouse reporting, canonical mode, and no data left behind.
func TestCrashRestoresTerminal(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	crashInTmux(t, tmp, "LEADER")
	// The guard removed it before it returned.
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}

// TestPGDemoCrashRestoresTerminal: walship pg demo runs under the guard
// too (a crash left the terminal raw, on the alternate screen), and after
// the crash no server is left and the reaper removes the directory.
func TestPGDemoCrashRestoresTerminal(t *testing.T) {
	t.Parallel()
	if _, err := pg.FindBinaries(""); errors.Is(err, pg.ErrNoBinaries) {
		t.Skip("PostgreSQL server binaries are not installed; ", err)
	}
	// As root the servers run as postgres, who must reach the directory.
	tmp, err := os.MkdirTemp("", "walship-cli-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	crashInTmux(t, tmp, "PRIMARY", "pg", "demo", "--rate", "0")
	waitFor(t, "the demo's directory removed", func() bool {
		left, _ := os.ReadDir(tmp)
		return len(left) == 0
	})
	if out, err := exec.Command("pgrep", "-a", "-f", tmp+"/walship-pg-").Output(); err == nil {
		t.Errorf("servers left running:\n%s", out)
	}
}

// guardedInTmux is walship running in tmux under its guard.
type guardedInTmux struct {
	run       func(args ...string) string // a tmux command on the session's server
	guard, ui string                      // their process ids
}

func (g *guardedInTmux) screen() string { return g.run("capture-pane", "-p") }

// startInTmux runs walship with args in tmux (TMPDIR=tmp), waits until
// ready is on the screen and finds the guard's process and the UI's. When
// walship exits, the pane says "exited: N" and whether the terminal is in
// canonical mode.
func startInTmux(t *testing.T, tmp, ready string, args ...string) *guardedInTmux {
	t.Helper()
	bin := buildWalship(t)
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("no tmux")
	}
	if _, err := exec.LookPath("pgrep"); err != nil {
		t.Skip("no pgrep")
	}
	socket := fmt.Sprintf("walship-guard-%s-%d", t.Name(), os.Getpid())
	g := &guardedInTmux{run: func(args ...string) string {
		out, _ := exec.Command(tmux, append([]string{"-L", socket}, args...)...).CombinedOutput()
		return string(out)
	}}
	t.Cleanup(func() { g.run("kill-server") })
	g.run(append([]string{"-f", "/dev/null", "new-session", "-d", "-x", "100", "-y", "30",
		"env", "TERM=xterm-256color", "TMPDIR=" + tmp, "sh", "-c",
		`"$0" "$@"; echo "exited: $?"; stty -a | grep -o -- '-\?icanon'; sleep 600`, bin}, args...)...)
	waitFor(t, "the UI on screen", func() bool { return strings.Contains(g.screen(), ready) })

	// The pane runs sh, sh runs the guard, the guard runs the UI.
	shell := strings.TrimSpace(g.run("display", "-p", "#{pane_pid}"))
	child := func(parent string) string {
		out, _ := exec.Command("pgrep", "-P", parent, "-f", "walship").Output()
		return strings.TrimSpace(string(out))
	}
	g.guard = child(shell)
	g.ui = child(g.guard)
	if g.guard == "" || g.ui == "" || strings.Contains(g.ui, "\n") {
		t.Fatalf("cannot find the UI's process: guard %q, ui %q", g.guard, g.ui)
	}
	return g
}

// checkModes fails the test unless the terminal is off the alternate
// screen with no mouse reporting.
func (g *guardedInTmux) checkModes(t *testing.T) {
	t.Helper()
	if modes := strings.TrimSpace(g.run("display", "-p", "#{alternate_on} #{mouse_any_flag} #{mouse_button_flag} #{mouse_sgr_flag}")); modes != "0 0 0 0" {
		t.Errorf("alternate screen, mouse any, button, sgr = %s; want all 0", modes)
	}
}

// crashInTmux runs walship with args in tmux (see startInTmux), crashes
// the UI's process with SIGQUIT and checks that the guard said so, exited
// 1 and put the terminal back.
func crashInTmux(t *testing.T, tmp, ready string, args ...string) {
	t.Helper()
	g := startInTmux(t, tmp, ready, args...)
	if out, err := exec.Command("kill", "-QUIT", g.ui).CombinedOutput(); err != nil {
		t.Fatalf("kill -QUIT: %v %s", err, out)
	}
	waitFor(t, "walship to exit", func() bool { return strings.Contains(g.screen(), "icanon") })
	sc := g.screen()
	if !strings.Contains(sc, "exited: 1") || !strings.Contains(sc, "walship crashed") {
		t.Errorf("no crash status and message:\n%s", sc)
	}
	if strings.Contains(sc, "-icanon") {
		t.Errorf("the terminal is still in raw mode:\n%s", sc)
	}
	g.checkModes(t)
}

// TestGuardKilled runs the real UI in tmux and SIGKILLs its guard, which
// can clean up after nothing then: the UI must notice on its own, end as
// on SIGHUP (the terminal put back as far as a process in the background
// can) and remove the guard's temporary data, instead of running on,
// orphaned, drawing over the shell.
func TestGuardKilled(t *testing.T) {
	t.Parallel()
	tmp := t.TempDir()
	g := startInTmux(t, tmp, "LEADER")
	t.Cleanup(func() { exec.Command("kill", "-KILL", g.ui).Run() })
	if out, err := exec.Command("kill", "-KILL", g.guard).CombinedOutput(); err != nil {
		t.Fatalf("kill -KILL: %v %s", err, out)
	}
	waitFor(t, "the UI to end after its guard was killed", func() bool {
		// Orphaned, it may stay a zombie that nobody reaps.
		out, _ := exec.Command("ps", "-o", "stat=", "-p", g.ui).Output()
		return len(out) == 0 || out[0] == 'Z'
	})
	g.checkModes(t)
	if left, _ := os.ReadDir(tmp); len(left) > 0 {
		t.Errorf("left behind in TMPDIR: %v", left)
	}
}
