//go:build !unix

package cli

import "os"

// notifyResize does nothing where there is no SIGWINCH: a recording keeps
// the size the terminal had when it started.
func notifyResize(chan<- os.Signal) {}
