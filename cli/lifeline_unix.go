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
// It is the guard's child's alone: the variable is removed, and the
// descriptor closed on exec, so that what the child runs (walship pg
// demo's reaper is walship too) does not take some other descriptor for
// it, and then close it.
func lifeline() *os.File {
	fd, err := strconv.Atoi(os.Getenv(lifelineEnv))
	os.Unsetenv(lifelineEnv)
	var st syscall.Stat_t
	if err != nil || fd < 3 || syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFIFO {
		return nil
	}
	syscall.CloseOnExec(fd)
	return os.NewFile(uintptr(fd), "lifeline")
}
