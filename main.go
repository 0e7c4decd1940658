// Command walship makes write-ahead-log replication visible: a leader and
// several followers in one process, joined by real TCP sockets on loopback,
// drawn live in the terminal.
package main

import (
	"context"
	"os"

	"charm.land/fang/v2"
	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func newRootCmd() *cobra.Command {
	root := newTUICmd()
	root.AddCommand(newCheckCmd(), newBenchCmd(), newScenariosCmd())
	return root
}

func main() {
	if err := fang.Execute(context.Background(), newRootCmd(), fang.WithVersion(version), fang.WithErrorHandler(printError)); err != nil {
		os.Exit(1)
	}
}
