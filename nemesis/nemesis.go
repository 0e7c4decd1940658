// Package nemesis is a seeded schedule of faults run against a live cluster
// while the leader writes. The schedule (which fault, on which follower, how
// many writes in between, how long it is held) depends only on the seed; the
// engine's timing does not, so the same seed gives the same schedule, not
// the same interleaving.
package nemesis

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"walship/engine/cluster"
)

// Fault kinds the nemesis injects. Every one is injected at least once.
var Kinds = []string{"cut", "corrupt", "slice", "latency", "pause", "crash", "fall-off"}

// Step is one fault: commands to inject it, writes while it holds, and
// commands to lift it.
type Step struct {
	kind     string
	follower string
	inject   []string
	writes   int
	hold     time.Duration
	lift     []string
}

// fallOffRecords is how many records a fall-off step writes while its
// follower is cut: several times WALKeep of WAL, so it falls off.
const (
	WALKeep        = 64 << 10
	SegmentSize    = 16 << 10
	fallOffRecords = 4000
)

// Schedule builds the schedule for a seed.
func Schedule(seed int64, followers, records int) ([]Step, error) {
	rng := rand.New(rand.NewPCG(uint64(seed), 0xc4a05))
	kinds := append([]string(nil), Kinds...)
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	steps := 3 * len(Kinds)
	for len(kinds) < steps {
		k := Kinds[rng.IntN(len(Kinds))]
		if k == "fall-off" {
			k = "cut" // one fall-off is enough: each costs many records
		}
		kinds = append(kinds, k)
	}
	// Exactly one fall-off: the shuffled kinds hold one, the rest none.
	rest := records - fallOffRecords
	if rest < steps {
		return nil, fmt.Errorf("--chaos needs at least %d records (--records %d)", fallOffRecords+steps, records)
	}
	per := rest / (steps - 1)
	var out []Step
	for i, k := range kinds {
		f := cluster.FollowerName(1 + rng.IntN(followers))
		s := Step{kind: k, follower: f, writes: per, hold: time.Duration(50+rng.IntN(250)) * time.Millisecond}
		switch k {
		case "cut":
			s.inject, s.lift = []string{"cut " + f}, []string{"restore " + f}
		case "corrupt":
			s.inject = []string{"corrupt " + f}
		case "slice":
			s.inject, s.lift = []string{"slice " + f + " on"}, []string{"slice " + f + " off"}
		case "latency":
			s.inject = []string{fmt.Sprintf("latency %s %dms %dms", f, 1+rng.IntN(30), rng.IntN(10))}
		case "pause":
			s.inject, s.lift = []string{"pause " + f}, []string{"resume " + f}
		case "crash":
			s.inject, s.lift = []string{"crash " + f}, []string{"restart " + f}
		case "fall-off":
			s.inject, s.lift = []string{"cut " + f}, []string{"restore " + f}
			s.writes = fallOffRecords
		}
		if i == len(kinds)-1 {
			s.writes += rest - per*(steps-1) // the remainder
		}
		out = append(out, s)
	}
	return out, nil
}

// Run runs the schedule, heals everything, waits for convergence and
// verifies every follower. It returns the faults injected by kind.
func Run(ctx context.Context, c *cluster.Cluster, steps []Step, verbose io.Writer) (map[string]int, error) {
	injected := map[string]int{}
	next := 0
	write := func(n int) error {
		for range n {
			key := fmt.Appendf(nil, "key-%08d", next)
			val := fmt.Appendf(nil, "value-%08d", next)
			next++
			if _, err := c.Put(key, val); err != nil {
				return err
			}
		}
		return nil
	}
	exec := func(lines []string) error {
		for _, l := range lines {
			if verbose != nil {
				fmt.Fprintln(verbose, "chaos:", l)
			}
			if err := c.Exec(l); err != nil {
				return fmt.Errorf("chaos %q: %w", l, err)
			}
		}
		return nil
	}
	for _, s := range steps {
		if err := ctx.Err(); err != nil {
			return injected, err
		}
		if err := exec(s.inject); err != nil {
			return injected, err
		}
		// Write in small pieces across the hold, so faults meet traffic.
		pieces := 10
		for i := range pieces {
			n := s.writes / pieces
			if i == pieces-1 {
				n = s.writes - n*(pieces-1)
			}
			if err := write(n); err != nil {
				return injected, err
			}
			time.Sleep(s.hold / time.Duration(pieces))
		}
		if s.kind == "fall-off" {
			// It counts once the leader has removed WAL the follower needs.
			if fellOff(ctx, c, s.follower) {
				injected[s.kind]++
			} else {
				injected["cut"]++
			}
		} else {
			injected[s.kind]++
		}
		if err := exec(s.lift); err != nil {
			return injected, err
		}
	}
	// Heal: every link restored and clean, replay resumed, followers
	// running (those that fell off take a base backup by themselves).
	for _, f := range c.Names() {
		heal := []string{"restore " + f, "slice " + f + " off", "latency " + f + " 0", "resume " + f}
		if st := c.Standby(f); st == nil {
			heal = append(heal, "restart "+f)
		}
		if err := exec(heal); err != nil {
			return injected, err
		}
	}
	return injected, c.WaitConverged(ctx)
}

// fellOff waits (briefly) until the leader's oldest retained LSN has passed
// the follower's write position.
func fellOff(ctx context.Context, c *cluster.Cluster, name string) bool {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		s := c.Snapshot(^uint64(0))
		for _, f := range s.Followers {
			if f.Name == name && s.Leader.OldestLSN > f.WriteLSN {
				return true
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// Summary is the one line that counts the faults by kind.
func Summary(seed int64, injected map[string]int) string {
	total := 0
	var parts []string
	for _, k := range Kinds {
		total += injected[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, injected[k]))
	}
	return fmt.Sprintf("chaos seed %d: %d faults injected — %s", seed, total, strings.Join(parts, ", "))
}
