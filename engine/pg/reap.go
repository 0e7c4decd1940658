package pg

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// A local cluster's servers die with walship (Pdeathsig), but its
// directory would stay behind after a SIGKILL. The reaper is a small
// process of its own, in its own session (so the terminal's signals do not
// reach it), that holds the read end of a pipe whose write end only
// walship holds: when walship ends, however it ends, the kernel closes the
// write end, the reaper reads EOF, stops any server still running under
// the directory and removes it.

// SpawnReaper starts the reaper for dir: argv is the command that runs
// Reap (walship's hidden `pg reap DIR`). release, called after a clean
// stop, lets the reaper go (it then finds nothing to do).
func SpawnReaper(dir string, argv []string) (release func(), err error) {
	if len(argv) == 0 {
		return nil, errors.New("pg: no reaper command")
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("pg: reaper: %w", err)
	}
	defer r.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = r
	cmd.SysProcAttr = reaperProcAttr()
	if err := cmd.Start(); err != nil {
		w.Close()
		return nil, fmt.Errorf("pg: starting the reaper: %w", err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return func() {
		w.Close()
		select { // it has nothing to do once the directory is gone
		case <-done:
		case <-time.After(5 * time.Second):
		}
	}, nil
}

// Reap waits until r ends (the process that spawned the reaper is gone),
// then stops every server still running under dir and removes it. It
// refuses a directory a local cluster did not make.
func Reap(r io.Reader, dir string) error {
	dir = filepath.Clean(dir)
	if !filepath.IsAbs(dir) || !strings.HasPrefix(filepath.Base(dir), dirPrefix) {
		return fmt.Errorf("pg: reap: %s is not a walship pg directory", dir)
	}
	io.Copy(io.Discard, r)
	return cleanDir(dir)
}

// cleanDir stops the servers whose data directories are under dir
// (SIGQUIT, then SIGKILL to the process group after 10s) and removes dir.
func cleanDir(dir string) error {
	pidFiles, _ := filepath.Glob(filepath.Join(dir, "*", "postmaster.pid"))
	var pids []int
	for _, f := range pidFiles {
		pid, ok := postmasterPID(f)
		if ok && ownedBy(pid, filepath.Dir(f)) {
			quitServer(pid)
			pids = append(pids, pid)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, pid := range pids {
		for alive(pid) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if alive(pid) {
			killGroup(pid)
		}
	}
	return os.RemoveAll(dir)
}

// postmasterPID reads the first line of a postmaster.pid file.
func postmasterPID(path string) (int, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 1
}
