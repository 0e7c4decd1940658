package scenario

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"walship/engine/cluster"
)

// lessonSpeed is the world speed the lessons play at in tests: every
// timing of a lesson is world time, so it is the same lesson, faster.
// WALSHIP_TEST_SPEED overrides it (1 plays them as a room sees them).
func lessonSpeed() float64 {
	if s := os.Getenv("WALSHIP_TEST_SPEED"); s != "" {
		if f, err := strconv.ParseFloat(s, 64); err == nil && f > 0 {
			return f
		}
	}
	return 8
}

// TestBuiltinsOnCluster plays every built-in lesson written for the engine
// headless against a real cluster of three followers, and every expect
// must hold (the lessons for PostgreSQL play in cli's TestCheckPGLessons).
// Each lesson runs twice: on the engine's defaults, and on a cluster set
// up as the terminal UI starts one (slow replay and fsync, latency, a
// running workload), since a lesson must set its own pace whatever the
// flags were. They play at lessonSpeed.
func TestBuiltinsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("plays every lesson in real time")
	}
	configs := []struct {
		name string
		cfg  cluster.Config
	}{
		{"engine", cluster.Config{Followers: 3, SegmentSize: segmentSize(), Seed: 1}},
		{"ui", room()},
	}
	for _, info := range BuiltinsFor(BackendEngine) {
		for _, c := range configs {
			t.Run(info.Name+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				playOnCluster(t, info.Name, c.cfg)
			})
		}
	}
}

func playOnCluster(t *testing.T, name string, cfg cluster.Config) {
	sc, err := Load(name)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Dir = t.TempDir()
	c, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var out bytes.Buffer
	err = RunHeadless(ctx, c, sc, &out, WithSpeed(lessonSpeed()))
	t.Logf("\n%s", out.String())
	if err != nil {
		t.Fatal(err)
	}
}

// room is the cluster the UI starts (cluster.Room), but for its segment
// size (see segmentSize).
func room() cluster.Config {
	cfg := cluster.Room()
	cfg.SegmentSize = segmentSize()
	return cfg
}

// segmentSize is the cluster's WAL segment size for the lessons:
// WALSHIP_TEST_SEGMENT bytes when set (0 for the engine's default), else
// the room's, as the UI uses.
func segmentSize() int64 {
	if s := os.Getenv("WALSHIP_TEST_SEGMENT"); s != "" {
		n, _ := cluster.ParseSize(s)
		return n
	}
	return cluster.Room().SegmentSize
}
