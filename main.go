// Command walship makes write-ahead-log replication visible: a leader and
// several followers in one process, joined by real TCP sockets on loopback,
// drawn live in the terminal.
package main

import (
	"context"
	"os"
	"runtime/debug"

	"charm.land/fang/v2"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newRootCmd() *cobra.Command {
	root := newTUICmd()
	root.AddCommand(newCheckCmd(), newBenchCmd(), newScenariosCmd())
	root.AddCommand(newPGCmd())
	return root
}

// gcPercent is the garbage collector's target (GOGC) unless the
// environment sets one. Most of walship's heap is long-lived and holds no
// pointers (the stores' blocks, the logs' in-memory tails, relay queues), so
// a collection is cheap, while the default of 100 lets the heap reach twice
// that live size before the next one.
const gcPercent = 35

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(gcPercent)
	}
	if err := fang.Execute(context.Background(), newRootCmd(), fang.WithVersion(version), fang.WithErrorHandler(printError)); err != nil {
		os.Exit(1)
	}
}
