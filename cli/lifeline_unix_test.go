//go:build unix

package cli

import (
	"context"
	"io"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestLifeline: the child takes only a pipe for its lifeline, and hides
// the variable from what it runs (walship pg demo's reaper, also walship,
// took fd 3, whatever it was there, and its finalizer could close it); when
// the guard's end closes, the child hears SIGHUP.
func TestLifeline(t *testing.T) {
	f, err := os.CreateTemp(t.TempDir(), "not-a-pipe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	t.Setenv(lifelineEnv, strconv.Itoa(int(f.Fd())))
	if l := lifeline(); l != nil {
		t.Errorf("a regular file was taken for the lifeline")
	}
	if v, ok := os.LookupEnv(lifelineEnv); ok {
		t.Errorf("%s=%s is still set for what the child runs", lifelineEnv, v)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	fd, err := syscall.Dup(int(r.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(lifelineEnv, strconv.Itoa(fd))
	l := lifeline()
	if l == nil {
		t.Fatal("the pipe was not taken for the lifeline")
	}
	in := catchInterrupts(context.Background(), io.Discard)
	defer in.stop()
	watchLifeline(l, in)
	w.Close() // the guard is gone
	select {
	case <-in.ctx.Done():
	case <-time.After(time.Minute): // guards against a hang only
		t.Fatal("the lifeline's end was not heard")
	}
	if sig, ok := in.caught(); !ok || sig != syscall.SIGHUP {
		t.Errorf("caught %v %v, want SIGHUP", sig, ok)
	}
}
