package cli

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
)

// binDir holds the walship binary the tests that run it share.
var binDir string

// builtBinary builds walship once, the first time a test asks.
var builtBinary = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "walship")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Dir = ".." // the module root: package main
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// waitingParallel is how many tests run at once unless -test.parallel
// says: the slow ones wait on PostgreSQL servers, tmux and the clock more
// than they use the CPU, so more of them than there are cores can wait
// side by side.
const waitingParallel = 4

func TestMain(m *testing.M) {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set && runtime.GOMAXPROCS(0) < waitingParallel {
		flag.Set("test.parallel", fmt.Sprint(waitingParallel))
	}
	var err error
	if binDir, err = os.MkdirTemp("", "walship-cli-test-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(binDir)
	os.Exit(code)
}
