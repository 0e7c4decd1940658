// Command walship makes write-ahead-log replication visible: a leader and
// several followers in one process, joined by real TCP sockets on loopback,
// drawn live in the terminal.
package main

import (
	"os"

	"walship/cli"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

func main() {
	os.Exit(cli.Main(version))
}
