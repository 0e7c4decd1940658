//go:build unix

package cli

import (
	"os"
	"os/exec"
	"strconv"
	"syscall"
)

// giveLifeline makes the pipe of lifelineEnv: its read end goes to cmd
// (closed here once cmd has started), its write end is returned.
func giveLifeline(cmd *exec.Cmd) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.ExtraFiles = append(cmd.ExtraFiles, r)
	cmd.Env = append(cmd.Environ(), lifelineEnv+"="+strconv.Itoa(2+len(cmd.ExtraFiles)))
	return w, nil
}

// lifeline is the child's end of its lifeline, or nil when it has none.
func lifeline() *os.File {
	fd, err := strconv.Atoi(os.Getenv(lifelineEnv))
	if err != nil || fd < 3 {
		return nil
	}
	syscall.CloseOnExec(fd) // for the guard's child only, not for what it runs
	return os.NewFile(uintptr(fd), "lifeline")
}
