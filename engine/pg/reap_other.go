//go:build unix && !linux

package pg

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// Without /proc (macOS, the BSDs), ps says what a process runs. Only
// Linux is tested.

// ownedBy reports whether pid is a postgres running on dataDir (and not
// another process that reused the pid).
func ownedBy(pid int, dataDir string) bool {
	out, err := exec.Command("ps", "-o", "command=", "-p", strconv.Itoa(pid)).Output()
	return err == nil && strings.Contains(string(out), dataDir)
}

// alive reports whether pid still runs. The servers are not the reaper's
// children, so once they exit init reaps them: no zombie answers.
func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }
