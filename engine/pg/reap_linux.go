package pg

import (
	"bytes"
	"fmt"
	"os"
)

// ownedBy reports whether pid is a postgres running on dataDir (and not
// another process that reused the pid).
func ownedBy(pid int, dataDir string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(b, []byte(dataDir))
}

func alive(pid int) bool {
	// A zombie still answers kill 0; its cmdline is empty.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && len(b) > 0
}
