package cli

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"
	"walship/nemesis"
	"walship/theme"

	"github.com/charmbracelet/x/exp/golden"
)

// TestExitStatus runs the real binary once per kind of outcome and checks
// its exit status against the table in the README and the man page.
func TestExitStatus(t *testing.T) {
	t.Parallel()
	bin := buildWalship(t)
	for _, tc := range []struct {
		name string
		args []string
		code int
		say  string // on stderr
	}{
		{"success", []string{"check", "--followers", "1", "--records", "5"}, exitOK, ""},
		{"bad flag value", []string{"check", "--followers", "0"}, exitUsage, `--followers "0": want 1 to 9 followers`},
		{"value of the wrong type", []string{"--latency", "soon"}, exitUsage, `--latency "soon": want a duration like 300ms or 2s`},
		{"unknown flag", []string{"check", "--bogus"}, exitUsage, "unknown flag: --bogus"},
		{"unknown command", []string{"chek"}, exitUsage, `unknown command "chek" for "walship"; did you mean check?`},
		{"unknown lesson", []string{"scenarios", "show", "nosuch"}, exitUsage, `no built-in scenario "nosuch"`},
		{"syntax error", []string{"check", "--scenario", "testdata/syntax.scn"}, exitUsage, "testdata/syntax.scn:3:19: expected a follower field"},
		{"empty scenario", []string{"check", "--scenario", "testdata/empty.scn"}, exitUsage, "nothing to play"},
		{"failed expect", []string{"check", "--scenario", "testdata/failing.scn"}, exitFailed, "testdata/failing.scn:3: expect follower-1 keys = 99"},
		{"timed out", []string{"check", "--records", "100000", "--timeout", "1ms"}, exitFailed, "did not finish within --timeout 1ms"},
		{"pg without a lesson", []string{"check", "--pg"}, exitUsage, "--pg goes with --scenario"},
		{"an engine lesson on pg", []string{"check", "--pg", "--scenario", "crc"}, exitUsage, "crc.scn is written for walship's own engine, not for PostgreSQL"},
		{"a pg lesson on the engine", []string{"check", "--scenario", "basic-pg"}, exitUsage, "basic-pg.scn is written for PostgreSQL"},
		{"pg faster", []string{"check", "--pg", "--scenario", "basic", "--speed", "8"}, exitUsage, "PostgreSQL runs in real time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runWalship(t, bin, tc.args...)
			if res.code != tc.code || !strings.Contains(res.stderr, tc.say) {
				t.Fatalf("walship %s: exit %d, stderr:\n%s\nwant exit %d and %q", strings.Join(tc.args, " "), res.code, res.stderr, tc.code, tc.say)
			}
		})
	}
}

// TestTermDumbRefused: a terminal that cannot move its cursor gets a
// message and exit 2 before anything is drawn, from every command that
// draws (walship pg's said "not a terminal" with exit 1).
func TestTermDumbRefused(t *testing.T) {
	bin := buildWalship(t)
	for _, args := range [][]string{nil, {"pg", "watch", "-h", t.TempDir()}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "TERM=dumb")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		if code := cmd.ProcessState.ExitCode(); code != exitUsage || !strings.Contains(errb.String(), "TERM=dumb") {
			t.Fatalf("TERM=dumb walship %q: exit %d (%v), stderr %q; want exit %d naming TERM=dumb", args, code, err, errb.String(), exitUsage)
		}
		if out.Len() > 0 {
			t.Errorf("walship %q wrote %q to the terminal", args, out.String())
		}
	}
}

// TestInterruptLeavesNoData interrupts check and bench once they are
// writing, and finds them gone with exit 130 and nothing left in their
// temporary directory.
func TestInterruptLeavesNoData(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("sends SIGINT")
	}
	bin := buildWalship(t)
	for _, args := range [][]string{
		{"check", "--records", "3000000"},
		{"bench", "--records", "3000000", "--warm=false"},
	} {
		t.Run(args[0], func(t *testing.T) {
			t.Parallel()
			tmp := t.TempDir()
			cmd := exec.Command(bin, args...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Interrupt once some WAL is on disk.
			waitFor(t, "a WAL segment with data in "+tmp, func() bool { return walBytes(tmp) > 0 })
			cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-done:
			case <-time.After(2 * time.Minute): // guards against a hang only
				cmd.Process.Kill()
				t.Fatal("still running two minutes after SIGINT")
			}
			if code := cmd.ProcessState.ExitCode(); code != 130 {
				t.Errorf("exit %d after SIGINT, want 130; stderr:\n%s", code, errb.String())
			}
			if left, _ := os.ReadDir(tmp); len(left) > 0 {
				t.Errorf("left behind in TMPDIR: %v", left)
			}
		})
	}
}

// walBytes is the size of the .wal files under dir.
func walBytes(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".wal") {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

// waitFor polls ok until it holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s after a minute", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestCheckJSON pins the shape of walship check --json (go test -update
// rewrites the golden files): a plain check, and a scenario with an expect
// that holds, one that fails and a refused command.
func TestCheckJSON(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clusters")
	}
	for _, tc := range []struct {
		name string
		o    checkOptions
	}{
		{"check", checkOptions{followers: 2, records: 5}},
		{"scenario", checkOptions{followers: 1, scenario: "testdata/json.scn"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.segment, tc.o.timeout, tc.o.chaos = "1MiB", time.Minute, -1
			var js bytes.Buffer
			runCheck(context.Background(), io.Discard, &js, tc.o)
			golden.RequireEqual(t, js.String())
		})
	}
}

func TestChaosReportCountsEveryKind(t *testing.T) {
	r := newChaosReport(3, map[string]int{"cut": 2, "crash": 1})
	if r.Faults != 3 || len(r.ByKind) != len(nemesis.Kinds) || r.ByKind["fall-off"] != 0 || r.ByKind["cut"] != 2 {
		t.Errorf("chaos report %+v", r)
	}
}

// complete runs cobra's hidden __complete command, as a shell's
// completion script does, and returns the offered words and the directive.
func complete(t *testing.T, args ...string) ([]string, string) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(append([]string{"__complete"}, args...))
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var words []string
	for _, l := range lines[:len(lines)-1] {
		word, _, _ := strings.Cut(l, "\t") // a description may follow
		words = append(words, word)
	}
	return words, lines[len(lines)-1]
}

func TestCompletion(t *testing.T) {
	lessons := lessonNames()
	for _, tc := range []struct {
		args      []string
		want      []string
		directive string
	}{
		{[]string{"--theme", ""}, theme.Names(), ":4"},
		{[]string{"--sync", ""}, []string{"off", "local", "remote_write", "on", "remote_apply"}, ":4"},
		{[]string{"--record", ""}, []string{"cast"}, ":8"},       // file names ending .cast
		{[]string{"--save-scenario", ""}, []string{"scn"}, ":8"}, // file names ending .scn
		{[]string{"--data", ""}, nil, ":16"},                     // directories
		{[]string{"check", "--followers", ""}, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, ":4"},
		{[]string{"bench", "--format", ""}, []string{"text", "go"}, ":4"},
		{[]string{"scenarios", "show", ""}, lessons, ":4"},
		// Directories and *.scn files; no space after a directory (:6 = :4|:2).
		{[]string{"check", "--scenario", "testdata/"}, []string{"testdata/TestCheckJSON/", "testdata/empty.scn", "testdata/failing.scn", "testdata/json.scn", "testdata/syntax.scn"}, ":6"},
		{[]string{"--scenario", "cr"}, []string{"crc", "crash"}, ":4"},
		{[]string{"pg", "watch", "--theme", ""}, theme.Names(), ":4"},
		{[]string{"pg", "demo", "--theme", ""}, theme.Names(), ":4"},
		{[]string{"pg", "demo", "--standbys", ""}, []string{"1", "2", "3", "4", "5", "6", "7", "8", "9"}, ":4"},
		{[]string{"pg", "demo", "--bindir", ""}, nil, ":16"},
	} {
		got, directive := complete(t, tc.args...)
		if strings.Join(got, " ") != strings.Join(tc.want, " ") || directive != tc.directive {
			t.Errorf("complete %q: %q %s, want %q %s", tc.args, got, directive, tc.want, tc.directive)
		}
	}
}

func TestVersionOf(t *testing.T) {
	rev := "759c409293c8a66724786732b260a47c40f575fa"
	info := func(version string, settings ...string) *debug.BuildInfo {
		bi := &debug.BuildInfo{Main: debug.Module{Path: "walship", Version: version}}
		for i := 0; i+1 < len(settings); i += 2 {
			bi.Settings = append(bi.Settings, debug.BuildSetting{Key: settings[i], Value: settings[i+1]})
		}
		return bi
	}
	for _, tc := range []struct {
		set  string
		info *debug.BuildInfo
		want string
	}{
		{"v1.2.3", info("(devel)"), "v1.2.3"}, // -ldflags wins
		{"", info("v1.2.3"), "v1.2.3"},        // go install walship@v1.2.3
		{"", info("v0.0.0-20261207034457-759c409293c8", "vcs.revision", rev, "vcs.modified", "false"), "v0.0.0-20261207034457-759c409293c8"},
		{"", info("v0.0.0-20261207034457-759c409293c8+dirty", "vcs.revision", rev, "vcs.modified", "true"), "v0.0.0-20261207034457-759c409293c8+dirty"},
		{"", info("(devel)", "vcs.revision", rev, "vcs.modified", "true"), "devel 759c409293c8 (modified)"},
		{"", info("(devel)"), "devel (built without VCS information)"},
		{"", nil, "unknown (no build information)"},
	} {
		if got := versionOf(tc.set, tc.info, tc.info != nil); got != tc.want {
			t.Errorf("versionOf(%q, %v) = %q, want %q", tc.set, tc.info, got, tc.want)
		}
	}
}

// TestManPage: the sections a man reader looks for, and paragraphs that
// are not cut at every line the --help text wraps at.
func TestManPage(t *testing.T) {
	page, err := manPage(newRootCmd())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{".SH KEYS", "ctrl+z: suspend", ".SH ENVIRONMENT", "NO_COLOR", "GOGC", "PGHOST",
		".SH EXIT STATUS", "130: interrupted", "joined by real TCP sockets on loopback"} {
		if !strings.Contains(page, want) {
			t.Errorf("man page has no %q", want)
		}
	}
}
