package cluster

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"walship/engine/wal"
)

func TestParseSizeRefusesNaN(t *testing.T) {
	for _, s := range []string{"nan", "NaN", "nanKiB", "-nan", "inf", "-1", "1e300", ""} {
		if n, err := ParseSize(s); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", s, n)
		}
	}
	if n, err := ParseSize("1.5KiB"); err != nil || n != 1536 {
		t.Fatalf("1.5KiB: %d, %v", n, err)
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestClearFollowerDir(t *testing.T) {
	d := t.TempDir()
	// A follower's own files: cleared.
	own := filepath.Join(d, "own")
	writeFile(t, filepath.Join(own, "wal", "0000000000000000.wal"), "x")
	writeFile(t, filepath.Join(own, "wal", "0000000000100000.wal"), "x")
	writeFile(t, filepath.Join(own, "wal", "START"), "x")
	writeFile(t, filepath.Join(own, "base.snap"), "x")
	if err := clearFollowerDir(own); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(own); !os.IsNotExist(err) {
		t.Fatalf("follower directory still there: %v", err)
	}
	if err := clearFollowerDir(filepath.Join(d, "absent")); err != nil {
		t.Fatal(err)
	}
	// Anything else: refused, and nothing removed.
	for name, files := range map[string][]string{
		"a file in the way": {""},
		"a user file":       {"wal/0000000000000000.wal", "notes.txt"},
		"odd wal file":      {"wal/0000000000000000.wal", "wal/important.db"},
		"short segment":     {"wal/00.wal"},
	} {
		p := filepath.Join(d, strings.ReplaceAll(name, " ", "-"))
		for _, f := range files {
			writeFile(t, filepath.Join(p, f), "precious")
		}
		err := clearFollowerDir(p)
		if err == nil || !strings.Contains(err.Error(), "not removing it") || !strings.Contains(err.Error(), p) {
			t.Fatalf("%s: %v", name, err)
		}
		for _, f := range files {
			if b, err := os.ReadFile(filepath.Join(p, f)); err != nil || string(b) != "precious" {
				t.Fatalf("%s: %s was touched: %q %v", name, f, b, err)
			}
		}
	}
}

// A reused data directory where follower-1 is not a follower's: New
// refuses and deletes nothing (it used to remove the path whatever it was).
func TestNewRefusesForeignFollowerDir(t *testing.T) {
	d := t.TempDir()
	writeFile(t, filepath.Join(d, "follower-1"), "precious")
	c, err := New(Config{Dir: d, Followers: 1, NoFsync: true})
	if err == nil {
		c.Close()
		t.Fatal("New accepted a data directory with a file as follower-1")
	}
	if !strings.Contains(err.Error(), filepath.Join(d, "follower-1")) {
		t.Fatalf("error does not name the path: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(d, "follower-1")); err != nil || string(b) != "precious" {
		t.Fatalf("follower-1 was touched: %q %v", b, err)
	}
}

// A leader whose disk is full: WaitConverged says so at once, naming the
// file and offset, instead of waiting out its deadline.
func TestWaitConvergedLeaderDiskFull(t *testing.T) {
	if _, err := os.Stat("/dev/full"); err != nil {
		t.Skip("no /dev/full")
	}
	d := t.TempDir()
	l, _, err := wal.Open(wal.Options{Dir: filepath.Join(d, "leader", "wal"), SegmentSize: wal.DefaultSegmentSize})
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// The first segment's writes go to /dev/full: ENOSPC.
	seg := filepath.Join(d, "leader", "wal", "0000000000000000.wal")
	if err := os.Symlink("/dev/full", seg); err != nil {
		t.Skip(err)
	}
	c, err := New(Config{Dir: d, Followers: 1, NoFsync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for range 5 {
		c.Put([]byte("k"), []byte("v"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = c.WaitConverged(ctx)
	if err == nil {
		t.Fatal("converged on a full disk")
	}
	for _, want := range []string{"leader's WAL failed", seg, "at offset 0", "no space left on device"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}
