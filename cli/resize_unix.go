//go:build unix

package cli

import (
	"os"
	"os/signal"
	"syscall"
)

// notifyResize sends to c when the terminal is resized (SIGWINCH).
func notifyResize(c chan<- os.Signal) { signal.Notify(c, syscall.SIGWINCH) }
