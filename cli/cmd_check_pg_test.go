package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"walship/engine/pg"
	"walship/scenario"
)

// pgBinaries finds the PostgreSQL server programs, or skips the test
// when they are not installed (.ci/run installs them).
func pgBinaries(t *testing.T) pg.Binaries {
	t.Helper()
	if testing.Short() {
		t.Skip("starts PostgreSQL servers")
	}
	bin, err := pg.FindBinaries("")
	if errors.Is(err, pg.ErrNoBinaries) {
		t.Skip("PostgreSQL server binaries are not installed (Debian: apt-get install postgresql); ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// noServersUnder fails the test when a process still runs with dir in
// its command line (every server of a local cluster has its data
// directory there), or dir holds anything.
func noServersUnder(t *testing.T, dir string) {
	t.Helper()
	if out, err := exec.Command("pgrep", "-a", "-f", dir).Output(); err == nil {
		t.Errorf("servers left running under %s:\n%s", dir, out)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("left behind in %s: %v", dir, left)
	}
}

// pgTmp is a directory for local clusters that the postgres user can
// reach (the servers run as postgres when the tests run as root). Its
// cleanup checks that no server and nothing is left under it.
func pgTmp(t *testing.T) string {
	t.Helper()
	tmp, err := os.MkdirTemp("", "walship-cli-pg-")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		noServersUnder(t, tmp)
		os.RemoveAll(tmp)
	})
	return tmp
}

// TestCheckPGLessons plays the four lessons written for PostgreSQL
// headless against a real primary and two standbys: basic through the
// real binary (walship check --pg --scenario basic --json exits 0 and
// leaves nothing behind), the others one after another on one shared
// cluster, as a class would in walship pg demo's picker. Every expect
// must hold; a failing one makes the exit status 1.
func TestCheckPGLessons(t *testing.T) {
	t.Parallel()
	bin := pgBinaries(t)
	t.Run("basic via walship check --pg", func(t *testing.T) {
		t.Parallel()
		walship := buildWalship(t)
		tmp := pgTmp(t)
		cmd := exec.Command(walship, "check", "--pg", "--scenario", "basic", "--json")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "NO_COLOR=1")
		err := cmd.Run()
		var rep struct {
			Passed   bool
			Scenario struct {
				File    string
				Expects []struct{ Passed bool }
			}
		}
		if jerr := json.Unmarshal(out.Bytes(), &rep); err != nil || jerr != nil || !rep.Passed ||
			rep.Scenario.File != "basic-pg.scn" || len(rep.Scenario.Expects) < 5 {
			t.Fatalf("walship check --pg --scenario basic --json: %v, %v\n%s\n%s", err, jerr, out.String(), errb.String())
		}
	})
	t.Run("shared cluster", func(t *testing.T) {
		t.Parallel()
		tmp := pgTmp(t)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// The demo's settings, but no fsync: nothing here needs durability,
		// and the WAL written is the same.
		l, err := pg.StartLocal(ctx, pg.LocalConfig{Binaries: bin, Standbys: 2, Slots: 1, Parent: tmp, Settings: []string{"fsync = off"}})
		if err != nil {
			t.Fatal(err)
		}
		defer func() {
			if err := l.Close(); err != nil {
				t.Error(err)
			}
		}()
		play := func(name string) error {
			sc, err := loadScenario(name, scenario.BackendPG)
			if err != nil {
				t.Fatal(err)
			}
			w, err := watchLocal(l)
			if err != nil {
				t.Fatal(err)
			}
			defer w.Close()
			var out bytes.Buffer
			var rep checkReport
			err = playHeadless(ctx, &out, w, sc, time.Minute, &rep, scenario.WithBackend(scenario.BackendPG))
			t.Logf("%s", out.String())
			return err
		}
		// A failing expect is exit status 1, as walship check's.
		failing := t.TempDir() + "/failing.scn"
		if err := os.WriteFile(failing, []byte("backends pg\nexpect follower-1 state cut within 1s\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := play(failing); exitStatus(err) != exitFailed || !strings.Contains(err.Error(), "saw follower-1 state streaming") {
			t.Errorf("a failing expect on PostgreSQL: %v (exit %d)", err, exitStatus(err))
		}
		// The fall-off lesson leaves both standbys needing a base backup: last.
		for _, name := range []string{"paused-replay", "sync-commit", "base-backup"} {
			if err := play(name); err != nil {
				t.Errorf("%s on PostgreSQL: %v", name, err)
			}
		}
	})
}
