package cli

// Bad local input for `walship check`: bad flags, data directories that
// are not directories or hold someone else's files, a damaged WAL segment
// in the middle, a full disk. Each must end with a clear message (naming
// the file and offset where there is one) and a non-zero exit, and delete
// nothing that was not provably garbage. The real binary is built once and
// run for each case.

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"walship/engine/wal"
)

// buildWalship returns the walship binary, built once for the whole test
// run (see TestMain).
func buildWalship(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin, err := builtBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

type runResult struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func runWalship(t *testing.T, bin string, args ...string) runResult {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Env = append(os.Environ(), "NO_COLOR=1")
	start := time.Now()
	err := cmd.Run()
	res := runResult{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		res.code = ee.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return res
}

// tree maps every path under dir to a hash of its content (or its link
// target), so a test can tell that nothing was deleted or changed.
func tree(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			m[rel] = "-> " + l
			return err
		case d.IsDir():
			m[rel] = "dir"
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			h := sha256.Sum256(b)
			m[rel] = hex.EncodeToString(h[:8])
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// untouched checks that every path of before is still there, unchanged.
func untouched(t *testing.T, before, after map[string]string) {
	t.Helper()
	var gone []string
	for p, h := range before {
		if after[p] != h {
			gone = append(gone, p)
		}
	}
	sort.Strings(gone)
	if len(gone) > 0 {
		t.Fatalf("changed or deleted: %v", gone)
	}
}

// newLeaderWAL makes an empty leader WAL directory in data, as check
// would, and returns its path.
func newLeaderWAL(t *testing.T, data string) string {
	t.Helper()
	dir := filepath.Join(data, "leader", "wal")
	l, _, err := wal.Open(wal.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	return dir
}

func TestCheckBadInput(t *testing.T) {
	bin := buildWalship(t)

	t.Run("flags", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"--followers", "0"}, `--followers "0": want 1 to 9 followers`},
			{[]string{"--followers", "-3"}, `--followers "-3": want 1 to 9 followers`},
			{[]string{"--followers", "10"}, `--followers "10": want 1 to 9 followers`},
			{[]string{"--followers", "two"}, `--followers "two": want a whole number`},
			{[]string{"--records", "-1"}, `--records "-1": want 0 to 100000000 records`},
			{[]string{"--records", "1e3"}, `--records "1e3": want a whole number`},
			{[]string{"--records", "999999999999"}, `--records "999999999999": want 0 to 100000000 records`},
			{[]string{"--segment-size", "abc"}, `--segment-size "abc": want a size of at least 8KiB`},
			{[]string{"--segment-size", "-1MiB"}, `--segment-size "-1MiB": want a size of at least 8KiB`},
			{[]string{"--segment-size", "nan"}, `--segment-size "nan": want a size of at least 8KiB`},
			{[]string{"--segment-size", "0"}, `--segment-size "0": want a size of at least 8KiB (the largest record)`},
			{[]string{"--segment-size", "1KiB"}, `--segment-size "1KiB": want a size of at least 8KiB`},
			{[]string{"--segment-size", "10PiB"}, `--segment-size "10PiB": want a size of at least 8KiB`},
			{[]string{"--timeout", "0"}, `--timeout "0s": want a positive duration`},
			{[]string{"--timeout", "-5s"}, `--timeout "-5s": want a positive duration`},
			{[]string{"--timeout", "soon"}, `--timeout "soon": want a duration like 300ms or 2s`},
			{[]string{"--bogus"}, "unknown flag: --bogus"},
			{[]string{"extra"}, `unknown command "extra" for "walship check"`},
		} {
			res := runWalship(t, bin, append([]string{"check"}, tc.args...)...)
			if res.code != exitUsage || !strings.Contains(res.stderr, tc.want) {
				t.Errorf("check %v: exit %d, stderr %q; want exit %d and %q", tc.args, res.code, res.stderr, exitUsage, tc.want)
				continue
			}
			if res.stdout != "" {
				t.Errorf("check %v printed a report: %q", tc.args, res.stdout)
			}
			t.Logf("check %-28s -> exit %d: %s", strings.Join(tc.args, " "), res.code, strings.TrimSpace(res.stderr))
		}
	})

	t.Run("data directories", func(t *testing.T) {
		for _, tc := range []struct {
			name  string
			setup func(t *testing.T, data string) // data does not exist yet
			want  []string
		}{
			{"a file", func(t *testing.T, data string) {
				os.WriteFile(data, []byte("precious"), 0o644)
			}, []string{"not a directory", "data"}},
			{"leader is a file", func(t *testing.T, data string) {
				os.MkdirAll(data, 0o755)
				os.WriteFile(filepath.Join(data, "leader"), []byte("precious"), 0o644)
			}, []string{"leader: not a directory"}},
			{"follower-1 is a file", func(t *testing.T, data string) {
				os.MkdirAll(data, 0o755)
				os.WriteFile(filepath.Join(data, "follower-1"), []byte("precious"), 0o644)
			}, []string{"follower-1 is in the way of a follower directory", "not removing it"}},
			{"follower-1 holds a user file", func(t *testing.T, data string) {
				os.MkdirAll(filepath.Join(data, "follower-1", "wal"), 0o755)
				os.WriteFile(filepath.Join(data, "follower-1", "thesis.tex"), []byte("precious"), 0o644)
			}, []string{"follower-1 is not a walship follower directory", "thesis.tex", "not removing it"}},
			{"damaged START file", func(t *testing.T, data string) {
				os.WriteFile(filepath.Join(newLeaderWAL(t, data), "START"), []byte("WST1garbage"), 0o644)
			}, []string{"leader/wal/START is damaged (11 bytes)"}},
			{"segment not on a boundary", func(t *testing.T, data string) {
				os.WriteFile(filepath.Join(newLeaderWAL(t, data), "0000000000000123.wal"), []byte("x"), 0o644)
			}, []string{"leader/wal/0000000000000123.wal: start is not a multiple of the segment size"}},
			{"no CONTROL file", func(t *testing.T, data string) {
				os.MkdirAll(filepath.Join(data, "leader", "wal"), 0o755)
				os.WriteFile(filepath.Join(data, "leader", "wal", "0000000000000000.wal"), []byte("x"), 0o644)
			}, []string{"leader/wal holds 0000000000000000.wal but no CONTROL file"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				root := t.TempDir()
				data := filepath.Join(root, "data")
				tc.setup(t, data)
				before := tree(t, root)
				res := runWalship(t, bin, "check", "--data", data, "--timeout", "20s")
				if res.code == 0 {
					t.Fatalf("exit 0; stdout %q", res.stdout)
				}
				for _, w := range tc.want {
					if !strings.Contains(res.stderr, w) {
						t.Fatalf("stderr %q does not say %q", res.stderr, w)
					}
				}
				untouched(t, before, tree(t, root))
				t.Logf("%-28s -> exit %d: %s", tc.name, res.code, strings.TrimSpace(res.stderr))
			})
		}
	})

	t.Run("damaged middle segment", func(t *testing.T) {
		data := filepath.Join(t.TempDir(), "data")
		res := runWalship(t, bin, "check", "--data", data, "--records", "3000", "--segment-size", "16KiB")
		if res.code != 0 {
			t.Fatalf("first run: exit %d: %s", res.code, res.stderr)
		}
		segs, _ := filepath.Glob(filepath.Join(data, "leader", "wal", "*.wal"))
		if len(segs) < 4 {
			t.Fatalf("only %d segments", len(segs))
		}
		sort.Strings(segs)
		mid := segs[len(segs)/2]
		b, err := os.ReadFile(mid)
		if err != nil {
			t.Fatal(err)
		}
		b[1000] ^= 0x40 // inside the record that starts at offset 980
		if err := os.WriteFile(mid, b, 0o644); err != nil {
			t.Fatal(err)
		}
		before := tree(t, data)
		res = runWalship(t, bin, "check", "--data", data, "--records", "10", "--segment-size", "16KiB")
		if res.code == 0 {
			t.Fatalf("exit 0 on a damaged segment: %s", res.stdout)
		}
		for _, w := range []string{"corrupt record", mid, "at offset 980", "CRC mismatch"} {
			if !strings.Contains(res.stderr, w) {
				t.Fatalf("stderr %q does not say %q", res.stderr, w)
			}
		}
		untouched(t, before, tree(t, data))
		t.Logf("damaged %s -> exit %d: %s", filepath.Base(mid), res.code, strings.TrimSpace(res.stderr))

		// A segment missing from the middle is refused the same way.
		os.WriteFile(mid, b[:0], 0o644)
		os.Remove(mid)
		before = tree(t, data)
		res = runWalship(t, bin, "check", "--data", data, "--records", "10", "--segment-size", "16KiB")
		if res.code == 0 || !strings.Contains(res.stderr, "segment "+mid+" is missing") {
			t.Fatalf("missing segment: exit %d, %q", res.code, res.stderr)
		}
		untouched(t, before, tree(t, data))
	})

	t.Run("full disk", func(t *testing.T) {
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full")
		}
		data := filepath.Join(t.TempDir(), "data")
		seg := filepath.Join(newLeaderWAL(t, data), "0000000000000000.wal")
		if err := os.Symlink("/dev/full", seg); err != nil {
			t.Skip(err)
		}
		res := runWalship(t, bin, "check", "--data", data, "--timeout", "60s")
		if res.code == 0 {
			t.Fatalf("exit 0 on a full disk: %s", res.stdout)
		}
		for _, w := range []string{seg, "at offset 0", "no space left on device"} {
			if !strings.Contains(res.stderr, w) {
				t.Fatalf("stderr %q does not say %q", res.stderr, w)
			}
		}
		// It gave up for the full disk, not for the --timeout.
		if strings.Contains(res.stderr, "did not finish within") {
			t.Fatalf("waited for --timeout: %s", res.stderr)
		}
		t.Logf("full disk -> exit %d after %v: %s", res.code, res.took.Round(time.Millisecond), strings.TrimSpace(res.stderr))
	})
}
