//go:build unix

package bench

import (
	"syscall"
	"time"
)

// syncFS asks the kernel to write every dirty page back (sync(2)), so a
// bench phase does not pay for the previous one's writeback.
func syncFS() { syscall.Sync() }

// processCPU is the user and system CPU time the process has used.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
