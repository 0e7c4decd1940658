// Package cli is walship's command line: the root command (the terminal
// UI) and its subcommands check, bench, scenarios, man, pg and replay, built on cobra
// and fang. Main runs it and returns the exit status.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"charm.land/fang/v2"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := newTUICmd()
	root.AddCommand(newCheckCmd(), newBenchCmd(), newScenariosCmd(), newManCmd(), newPGCmd(), newReplayCmd())
	root.SetFlagErrorFunc(flagError)
	return root
}

// gcPercent is the garbage collector's target (GOGC) unless the
// environment sets one. Most of walship's heap is long-lived and holds no
// pointers (the stores' blocks, the logs' in-memory tails, relay queues), so
// a collection is cheap, while the default of 100 lets the heap reach twice
// that live size before the next one.
const gcPercent = 35

// Main runs walship with the process's arguments and returns its exit
// status (see exitStatus). version is what the build set, or "".
func Main(version string) int {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	in := catchInterrupts(context.Background(), os.Stderr)
	defer in.stop()
	if os.Getenv(guardedEnv) != "" {
		bePatient(in.ctx) // the UI under its guard
		if r := lifeline(); r != nil {
			watchLifeline(r, in)
		}
	}
	info, ok := debug.ReadBuildInfo()
	onError := func(w io.Writer, styles fang.Styles, err error) {
		var child childExit
		sig, interrupted := in.caught()
		switch {
		case errors.As(err, &child):
			// The UI's own process said what went wrong.
		case interrupted:
			fmt.Fprintf(w, "walship: interrupted by %s\n", signalName(sig))
		default:
			printError(w, styles, err)
		}
	}
	err := fang.Execute(in.ctx, newRootCmd(),
		fang.WithVersion(versionOf(version, info, ok)),
		fang.WithErrorHandler(onError),
		fang.WithoutManpage(), // ours, with KEYS, ENVIRONMENT and EXIT STATUS
	)
	if sig, ok := in.caught(); ok {
		return exitSignalBase + int(sig)
	}
	return exitStatus(err)
}
