package scenario

import (
	"bytes"
	"context"
	"os"
	"testing"
	"time"

	"walship/engine/cluster"
)

// TestBuiltinsOnCluster plays every built-in lesson headless against a real
// cluster of three followers, and every expect must hold.
func TestBuiltinsOnCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("plays every lesson in real time")
	}
	for _, info := range Builtins() {
		t.Run(info.Name, func(t *testing.T) {
			t.Parallel()
			sc, err := Load(info.Name)
			if err != nil {
				t.Fatal(err)
			}
			c, err := cluster.New(cluster.Config{
				Dir:         t.TempDir(),
				Followers:   3,
				SegmentSize: segmentSize(),
				Seed:        1,
			})
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
			err = RunHeadless(ctx, c, sc, &out)
			t.Logf("\n%s", out.String())
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// segmentSize is the cluster's WAL segment size for the lessons:
// WALSHIP_TEST_SEGMENT bytes when set (0 for the engine's default), else 16KiB.
func segmentSize() int64 {
	if s := os.Getenv("WALSHIP_TEST_SEGMENT"); s != "" {
		n, _ := cluster.ParseSize(s)
		return n
	}
	return 16 << 10
}
