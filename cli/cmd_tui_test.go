package cli

import (
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
)

// defaultTUIOptions are the root command's flag defaults.
func defaultTUIOptions() tuiOptions {
	return tuiOptions{followers: 3, rate: 4, latency: 300 * time.Millisecond, sync: "off",
		walKeep: "128KiB", theme: "auto", segmentSize: "16KiB"}
}

// TestTUIConfigSurprises: --wal-keep 0 keeps no WAL (it became 64 MiB),
// a sync rule no follower set can meet is refused with the reason, and an
// explicit --theme wins over NO_COLOR while auto gives way to it.
func TestTUIConfigSurprises(t *testing.T) {
	o := defaultTUIOptions()
	o.walKeep = "0"
	cfg, _, err := o.config()
	if err != nil || cfg.WALKeep != cluster.NoWALKeep {
		t.Errorf("--wal-keep 0: WALKeep %d, %v; want NoWALKeep", cfg.WALKeep, err)
	}

	o = defaultTUIOptions()
	o.sync = "on 5"
	if _, _, err := o.config(); err == nil || !strings.Contains(err.Error(), "can never be met") {
		t.Errorf("--sync \"on 5\" with 3 followers: %v", err)
	}
	o.sync = "on 3"
	if _, _, err := o.config(); err != nil {
		t.Errorf("--sync \"on 3\" with 3 followers: %v", err)
	}

	t.Setenv("NO_COLOR", "1")
	for name, want := range map[string]string{"auto": "mono", "light": "light", "high-contrast": "high-contrast"} {
		o = defaultTUIOptions()
		o.theme = name
		if _, got, err := o.config(); err != nil || got != want {
			t.Errorf("NO_COLOR with --theme %s: %q, %v; want %q", name, got, err, want)
		}
	}
}
