// Command walship makes write-ahead-log replication visible: a leader and
// several followers in one process, joined by real TCP sockets on loopback,
// drawn live in the terminal.
package main

import (
	"os"

	"walship/cli"
)

// version is empty unless the build sets it with
// -ldflags "-X main.version=v1.2.3"; walship then reports what the Go
// toolchain recorded about the build (module version, VCS revision).
var version string

func main() {
	os.Exit(cli.Main(version))
}
