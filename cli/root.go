// Package cli is walship's command line: the root command (the terminal
// UI) and its subcommands check, bench and scenarios, built on cobra and
// fang.
package cli

import (
	"context"
	"os"
	"runtime/debug"

	"charm.land/fang/v2"
	"github.com/spf13/cobra"
)

func newRootCmd() *cobra.Command {
	root := newTUICmd()
	root.AddCommand(newCheckCmd(), newBenchCmd(), newScenariosCmd())
	return root
}

// gcPercent is the garbage collector's target (GOGC) unless the
// environment sets one. Most of walship's heap is long-lived and holds no
// pointers (the stores' blocks, the logs' in-memory tails, relay queues), so
// a collection is cheap, while the default of 100 lets the heap reach twice
// that live size before the next one.
const gcPercent = 35

// Main runs walship with the process's arguments and returns its exit
// status.
func Main(version string) int {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if err := fang.Execute(context.Background(), newRootCmd(), fang.WithVersion(version), fang.WithErrorHandler(printError)); err != nil {
		return 1
	}
	return 0
}
