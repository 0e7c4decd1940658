package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// interrupts turns SIGINT, SIGTERM and SIGHUP into the end of a context,
// so every command stops its loops, removes its temporary data and
// restores the terminal on its way out. It remembers the first signal for
// the exit status. A second signal ends the process at once, for when the
// way out itself hangs, unless it is patient: the UI and its guard are
// (see guard.go), because the guard cleans up after the child whatever
// happens, and a signal from the terminal reaches both.
type interrupts struct {
	ctx    context.Context
	cancel context.CancelFunc
	ch     chan os.Signal
	done   chan struct{}

	mu      sync.Mutex
	first   syscall.Signal // 0 until a signal came
	patient bool
}

type interruptsKey struct{}

// bePatient makes the interrupts that ctx came from (if any) wait for the
// way out however many signals come.
func bePatient(ctx context.Context) {
	if in, ok := ctx.Value(interruptsKey{}).(*interrupts); ok {
		in.mu.Lock()
		in.patient = true
		in.mu.Unlock()
	}
}

// interruptSignals are the signals that end a command cleanly. (Windows
// delivers only the first.)
var interruptSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

// catchInterrupts starts listening. stderr hears about a second signal.
func catchInterrupts(parent context.Context, stderr io.Writer) *interrupts {
	in := &interrupts{ch: make(chan os.Signal, 2), done: make(chan struct{})}
	in.ctx, in.cancel = context.WithCancel(parent)
	in.ctx = context.WithValue(in.ctx, interruptsKey{}, in)
	signal.Notify(in.ch, interruptSignals...)
	go func() {
		for {
			select {
			case <-in.done:
				return
			case s := <-in.ch:
				sig, _ := s.(syscall.Signal)
				in.mu.Lock()
				again := in.first != 0 && !in.patient
				if in.first == 0 {
					in.first = sig
				}
				in.mu.Unlock()
				if again {
					fmt.Fprintf(stderr, "walship: %s again: exiting at once, without cleaning up\n", signalName(sig))
					os.Exit(exitSignalBase + int(sig))
				}
				in.cancel()
			}
		}
	}()
	return in
}

// interrupt acts as if sig had come.
func (in *interrupts) interrupt(sig syscall.Signal) {
	select {
	case in.ch <- sig:
	default: // two are already waiting: either ends the command
	}
}

// caught returns the first signal, if one came.
func (in *interrupts) caught() (syscall.Signal, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.first, in.first != 0
}

// stop stops listening; signals get their default action again.
func (in *interrupts) stop() {
	signal.Stop(in.ch)
	close(in.done)
	in.cancel()
}

// signalName is a signal's conventional name.
func signalName(s syscall.Signal) string {
	switch s {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}
