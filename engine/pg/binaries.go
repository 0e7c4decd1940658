package pg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// ErrNoBinaries is returned when the PostgreSQL server programs cannot be
// found. Its message says which package to install.
var ErrNoBinaries = errors.New("pg: the PostgreSQL server programs (initdb, postgres, pg_basebackup) were not found: " +
	"install them (Debian and Ubuntu: apt-get install postgresql; Fedora: dnf install postgresql-server; " +
	"macOS: brew install postgresql) or name their directory with --bindir")

// Binaries is where the server programs are and which major version they are.
type Binaries struct {
	Dir     string // holds initdb, postgres and pg_basebackup
	Version int    // major version, e.g. 15
}

// needed are the programs a local cluster runs.
var needed = []string{"initdb", "postgres", "pg_basebackup"}

// FindBinaries finds the server programs: in dir when it is given, else
// where pg_config --bindir says, else in the usual package directories
// (Debian's /usr/lib/postgresql/N/bin, the newest first; /usr/pgsql-N/bin),
// else on PATH. PostgreSQL 15 or newer is needed (pg_walinspect).
func FindBinaries(dir string) (Binaries, error) {
	var dirs []string
	if dir != "" {
		dirs = []string{dir}
	} else {
		if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
			dirs = append(dirs, strings.TrimSpace(string(out)))
		}
		for _, pattern := range []string{"/usr/lib/postgresql/*/bin", "/usr/pgsql-*/bin"} {
			m, _ := filepath.Glob(pattern)
			slices.SortFunc(m, func(a, b string) int { return versionIn(b) - versionIn(a) })
			dirs = append(dirs, m...)
		}
		if p, err := exec.LookPath("initdb"); err == nil {
			dirs = append(dirs, filepath.Dir(p))
		}
	}
	for _, d := range dirs {
		if !hasAll(d) {
			continue
		}
		out, err := exec.Command(filepath.Join(d, "postgres"), "--version").Output()
		if err != nil {
			return Binaries{}, fmt.Errorf("pg: %s --version: %w", filepath.Join(d, "postgres"), err)
		}
		v := majorVersion(string(out))
		if v < 15 {
			return Binaries{}, fmt.Errorf("pg: %s is PostgreSQL %d; walship pg needs 15 or newer (pg_walinspect)", d, v)
		}
		return Binaries{Dir: d, Version: v}, nil
	}
	if dir != "" {
		return Binaries{}, fmt.Errorf("pg: --bindir %s does not hold the PostgreSQL server programs (%s)", dir, strings.Join(needed, ", "))
	}
	return Binaries{}, ErrNoBinaries
}

func hasAll(dir string) bool {
	for _, n := range needed {
		if fi, err := os.Stat(filepath.Join(dir, n)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			return false
		}
	}
	return true
}

// Path is the full path of program name.
func (b Binaries) Path(name string) string { return filepath.Join(b.Dir, name) }

var versionRe = regexp.MustCompile(`(\d+)(?:\.\d+)?`)

// majorVersion reads "postgres (PostgreSQL) 15.8 (Debian 15.8-0+deb12u1)".
func majorVersion(s string) int {
	if _, rest, ok := strings.Cut(s, ")"); ok {
		s = rest
	}
	m := versionRe.FindStringSubmatch(s)
	if m == nil {
		return 0
	}
	v, _ := strconv.Atoi(m[1])
	return v
}

// versionIn is the version number in a directory like /usr/lib/postgresql/15/bin.
func versionIn(dir string) int {
	for _, part := range strings.Split(dir, "/") {
		part = strings.TrimPrefix(part, "pgsql-")
		if v, err := strconv.Atoi(part); err == nil {
			return v
		}
	}
	return 0
}
