package cli

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestBenchSmoke runs walship bench small, with every phase (paused
// follower, baseline, a short cut and catch-up), so CI exercises the path.
// It checks the report, never the speed.
func TestBenchSmoke(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clusters")
	}
	var out, progress bytes.Buffer
	o := benchOptions{
		followers: 3, records: 20_000, valueSize: 100, keys: 5_000, writers: 2, commitEvery: 1000,
		sync: "off", fsync: "on", pausedFollower: true, data: t.TempDir(),
		segment: "1MiB", batch: "64KiB", walKeep: "4MiB", baseline: true,
		cutSeconds: 0.5, loadRate: 20_000, timeout: time.Minute, format: "text",
	}
	if err := runBench(context.Background(), &out, &progress, o); err != nil {
		t.Fatalf("bench: %v\n%s\n%s", err, out.String(), progress.String())
	}
	for _, want := range []string{"replicated", "lag", "fsync", "peak RSS", "stores      every timed follower's store matches", "paused", "baseline", "ratio", "catch-up"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report has no %q:\n%s", want, out.String())
		}
	}
	t.Log("\n" + out.String())
}

// TestBenchSyncRule runs a small bench with a remote sync rule, so commit
// waits are exercised too, and prints it with --format=go.
func TestBenchSyncRule(t *testing.T) {
	if testing.Short() {
		t.Skip("starts clusters")
	}
	var out bytes.Buffer
	o := benchOptions{
		followers: 2, records: 5_000, valueSize: 50, keys: 1_000, writers: 2, commitEvery: 100,
		sync: "remote_apply 1", fsync: "off", data: t.TempDir(),
		segment: "1MiB", batch: "64KiB", walKeep: "4MiB", loadRate: 1, timeout: time.Minute, format: "go",
	}
	if err := runBench(context.Background(), &out, nil, o); err != nil {
		t.Fatalf("bench: %v\n%s", err, out.String())
	}
	// Go benchmark lines, as benchstat reads them: a name with the
	// configuration, iterations, then value-unit pairs.
	for _, want := range []string{"goos: ", "\nBenchmarkReplicate/followers=2/records=5000/value=50/sync=remote_apply_ANY_1/fsync=false-",
		"\t5000\t", " ns/op\t", " MB/s\t", " records/s\t", " replay-lag-p99-ns\t"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report has no %q:\n%s", want, out.String())
		}
	}
}

func TestParseSync(t *testing.T) {
	for in, want := range map[string]string{
		"off": "off", "local": "local", "on": "on ANY 1", "remote_apply 2": "remote_apply ANY 2",
		"remote_write ANY 3": "remote_write ANY 3", "ON 1": "on ANY 1",
	} {
		r, err := parseSync(in)
		if err != nil || r.String() != want {
			t.Errorf("parseSync(%q) = %v, %v; want %s", in, r, err, want)
		}
	}
	for _, bad := range []string{"", "sometimes", "on 0", "on 10", "on 1 2", "on x"} {
		if _, err := parseSync(bad); err == nil {
			t.Errorf("parseSync(%q) accepted", bad)
		}
	}
}
