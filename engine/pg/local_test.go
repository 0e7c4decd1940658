package pg

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// testSettings make test servers cheap: nothing here needs durability.
var testSettings = []string{"fsync = off", "full_page_writes = off", "synchronous_commit = on"}

// startLocal starts a primary and standbys for a test, or skips the test
// when the server binaries are not installed. Its cleanup stops them and
// checks, with pgrep, that no server of this cluster is left running,
// whether the test passed or failed.
func startLocal(t *testing.T, standbys, slots int, settings ...string) *Local {
	t.Helper()
	bin, err := FindBinaries("")
	if errors.Is(err, ErrNoBinaries) {
		t.Skip("PostgreSQL server binaries are not installed (Debian: apt-get install postgresql); ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	l, err := StartLocal(ctx, LocalConfig{Binaries: bin, Standbys: standbys, Slots: slots,
		Settings: append(append([]string(nil), testSettings...), settings...)})
	if err != nil {
		t.Fatal(err)
	}
	dir := l.Dir
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		checkNoServers(t, dir)
	})
	return l
}

// checkNoServers fails the test when any process still runs with dir in
// its command line (every server of a local cluster has its data
// directory there).
func checkNoServers(t *testing.T, dir string) {
	t.Helper()
	out, err := exec.Command("pgrep", "-a", "-f", dir).Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		t.Errorf("servers left running under %s:\n%s", dir, out)
	case errors.As(err, &ee) && ee.ExitCode() == 1: // none
	default:
		t.Errorf("pgrep: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("%s is still there (%v)", dir, err)
	}
}

func TestFindBinariesSaysWhat(t *testing.T) {
	_, err := FindBinaries(t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "--bindir") || !strings.Contains(err.Error(), "initdb") {
		t.Errorf("an empty --bindir: %v", err)
	}
	if !strings.Contains(ErrNoBinaries.Error(), "apt-get install postgresql") {
		t.Errorf("ErrNoBinaries does not say which package to install: %v", ErrNoBinaries)
	}
	if majorVersion("postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)") != 15 || versionIn("/usr/lib/postgresql/16/bin") != 16 {
		t.Error("version parsing")
	}
}
