// Command demo runs the walship UI over a real in-process cluster started
// as the walship command starts one (cluster.Room), with a few of its
// settings as flags and the raw terminal output teed to a file when
// asked, to look at and drive the UI while working on it:
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
)

func main() {
	room := cluster.Room()
	th := flag.String("theme", "dark", "theme: dark, light, high-contrast, mono")
	n := flag.Int("followers", room.Followers, "followers")
	rate := flag.Float64("rate", room.Rate, "records per second")
	lat := flag.Duration("latency", room.Latency, "one-way latency")
	record := flag.String("record", "", "also write the raw terminal output to this file")
	flag.Parse()
	if err := run(*th, *n, *rate, *lat, *record); err != nil {
		fmt.Fprintln(os.Stderr, "demo:", err)
		os.Exit(1)
	}
}

func run(th string, n int, rate float64, lat time.Duration, record string) error {
	cfg := cluster.Room()
	cfg.Followers, cfg.Rate, cfg.Latency = n, rate, lat
	c, err := cluster.New(cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Start(); err != nil {
		return err
	}
	opts := tui.Options{Theme: th}
	if record != "" {
		f, err := os.Create(record)
		if err != nil {
			return err
		}
		defer f.Close()
		opts.Output = tui.Tee(os.Stdout, f)
	}
	return tui.Run(c, opts)
}
