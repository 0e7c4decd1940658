package cli

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"

	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/term"
)

// The terminal UI runs in a child process watched by a small parent, the
// guard. Go cannot recover a panic in a goroutine it did not start with a
// recover, and the engine runs dozens (senders, relays, replay, fsync);
// a runtime fatal error (a concurrent map write, running out of memory)
// cannot be recovered at all. Any of them ends the process with the
// terminal in raw mode, on the alternate screen, with mouse reporting on,
// and leaves the data directory behind. The guard owns the terminal's
// prior state and the temporary data directory, so whatever way the child
// ends, the terminal is put back and the data removed; and it holds the
// child's standard error until the screen is back, so a crash report is
// readable instead of drawn over by the UI and then lost with the
// alternate screen.

// guardedEnv marks the child, which runs the UI itself. Its value says
// whose the data directory is: guardedTemp when the guard made it,
// guardedKept when it is the user's or there is none (walship pg).
const (
	guardedEnv  = "WALSHIP_GUARDED"
	guardedTemp = "temp"
	guardedKept = "kept"
)

// lifelineEnv names the child's descriptor for the read end of a pipe
// whose write end only the guard holds. The guard cannot clean up after
// itself if it is killed (SIGKILL, the OOM killer): the child would run on
// in the background, drawing over the shell, with nobody to remove the
// data. So the child reads its lifeline, and when the kernel closes the
// write end with the guard, the child reads EOF and ends as on SIGHUP,
// removing the guard's temporary data itself.
const lifelineEnv = "WALSHIP_LIFELINE_FD"

// childExit is a child's exit status, passed through as walship's own.
type childExit struct{ code int }

func (e childExit) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// errCrashed is the guard's error when the child crashed.
var errCrashed = errors.New("walship crashed (the report is above); the terminal was restored")

// runGuardedUI runs the root's UI under the guard, with a temporary data
// directory the guard removes unless data names one.
func runGuardedUI(ctx context.Context, data string) error {
	if data != "" {
		return runGuarded(ctx, guardedKept)
	}
	tmp, err := os.MkdirTemp("", "walship-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	err = runGuarded(ctx, guardedTemp, "--data", tmp)
	if errors.Is(err, errCrashed) {
		err = fmt.Errorf("%w and its temporary data removed", err)
	}
	return err
}

// runGuarded runs walship again as a child, with the same arguments and
// extra after them, and restores the terminal when the child did not end
// cleanly. whose is guardedEnv's value: whose the data directory is.
// Signals the guard receives are passed on to the child.
func runGuarded(ctx context.Context, whose string, extra ...string) error {
	bePatient(ctx)
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("cannot find walship's own executable to run the UI: %w", err)
	}
	args := append(os.Args[1:len(os.Args):len(os.Args)], extra...)
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), guardedEnv+"="+whose)
	return guard(cmd, os.Stdin, os.Stdout, os.Stderr)
}

// guard runs cmd on the terminal tty (its input) and out, and returns its
// exit status as a childExit (nil for 0), or errCrashed when it died of a
// crash. It restores the terminal after any unclean end, and writes what
// the child wrote to standard error to stderr once the terminal is back.
func guard(cmd *exec.Cmd, tty, out *os.File, stderr io.Writer) error {
	saved, _ := term.GetState(tty.Fd()) // nil when it cannot be read: then only the escape sequences restore
	var report tailBuffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, out, &report

	// The guard passes the interrupts on; the child ends cleanly on them.
	fwd := make(chan os.Signal, 4)
	signal.Notify(fwd, interruptSignals...)
	defer signal.Stop(fwd)
	lifeline, err := giveLifeline(cmd)
	if err != nil {
		return err
	}
	defer lifeline.Close() // held until the guard is done; the kernel closes it if the guard dies
	err = cmd.Start()
	for _, f := range cmd.ExtraFiles {
		f.Close() // the child's ends are the child's
	}
	if err != nil {
		return err
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case s := <-fwd:
				if cmd.Process.Signal(s) != nil {
					cmd.Process.Kill() // Windows delivers no other signal
				}
			}
		}
	}()
	waitErr := cmd.Wait()
	stop()

	code := cmd.ProcessState.ExitCode() // -1: killed by a signal
	if code != 0 {
		restoreTerminal(tty, out, saved)
	}
	stderr.Write(report.Bytes())
	var ee *exec.ExitError
	switch {
	case waitErr != nil && !errors.As(waitErr, &ee):
		return waitErr
	case code == -1 || report.crashed():
		return errCrashed
	case code != 0:
		return childExit{code}
	}
	return nil
}

// restoreTerminal puts the terminal back as the UI found it: the saved
// line discipline (no raw mode), then the modes Bubble Tea may have set
// turned off (every mouse mode, focus events, bracketed paste, keyboard
// enhancements), the cursor shown and the main screen back. Each is
// harmless when it was already so.
func restoreTerminal(tty, out *os.File, saved *term.State) {
	if saved != nil {
		term.Restore(tty.Fd(), saved)
	}
	io.WriteString(out, ansi.ResetMode(ansi.ModeMouseNormal, ansi.ModeMouseButtonEvent, ansi.ModeMouseAnyEvent,
		ansi.ModeMouseExtSgr, ansi.ModeFocusEvent, ansi.ModeBracketedPaste)+
		ansi.ResetModifyOtherKeys+ansi.PopKittyKeyboard(1)+"\x1b[0m"+
		ansi.ResetMode(ansi.ModeAltScreenSaveCursor)+ansi.ShowCursor+"\r\n")
}

// tailBuffer keeps the last tailMax bytes written to it, safe for the
// exec package's copying goroutine.
type tailBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

const tailMax = 1 << 20

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf.Write(p)
	if over := t.buf.Len() - tailMax; over > 0 {
		t.buf.Next(over)
	}
	return len(p), nil
}

func (t *tailBuffer) Bytes() []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return bytes.Clone(t.buf.Bytes())
}

// crashed reports whether the output holds a Go crash report: a panic, a
// fatal error or a SIGQUIT dump all list the goroutines.
func (t *tailBuffer) crashed() bool {
	b := t.Bytes()
	return bytes.HasPrefix(b, []byte("goroutine ")) || strings.Contains(string(b), "\ngoroutine ")
}

// watchLifeline is the child's side of the lifeline: when r ends (the
// guard is gone), in hears SIGHUP. Its goroutine ends then, or with the
// process.
func watchLifeline(r io.Reader, in *interrupts) {
	go func() {
		if _, err := io.Copy(io.Discard, r); err == nil {
			in.interrupt(syscall.SIGHUP)
		}
	}()
}
