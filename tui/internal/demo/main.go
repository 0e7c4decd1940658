// Command demo runs the walship UI over the synthetic cluster of package
// fake, to look at and drive the UI without the real engine:
//
//	go run ./tui/internal/demo -theme light -followers 4
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"walship/engine/cluster"
	"walship/tui"
	"walship/tui/internal/fake"
)

func main() {
	th := flag.String("theme", "dark", "theme: dark, light, high-contrast, mono")
	n := flag.Int("followers", 3, "followers")
	rate := flag.Float64("rate", 4, "records per second")
	lat := flag.Duration("latency", 300*time.Millisecond, "one-way latency")
	record := flag.String("record", "", "also write the raw terminal output to this file")
	flag.Parse()
	sim := fake.NewSim(fake.SimConfig{
		Followers:  *n,
		Rate:       *rate,
		Latency:    *lat,
		ApplyDelay: 80 * time.Millisecond,
		FlushDelay: 150 * time.Millisecond,
		Sync:       cluster.SyncRule{Mode: cluster.SyncOn, N: 1},
	})
	opts := tui.Options{Theme: *th}
	if *record != "" {
		f, err := os.Create(*record)
		if err != nil {
			fmt.Fprintln(os.Stderr, "demo:", err)
			os.Exit(1)
		}
		defer f.Close()
		opts.Output = tui.Tee(os.Stdout, f)
	}
	if err := tui.Run(sim, opts); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}
