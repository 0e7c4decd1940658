// Package nemesis injects faults into a running cluster while its leader
// writes: a seeded schedule of timed commands, and a runner that plays the
// schedule over the cluster's control API.
//
// Schedule is a pure function: the same seed and settings give the same
// list of commands (which fault, on which follower, how many writes in
// between, how long each is held), whatever the engine's timing. So the
// same seed gives the same schedule, not the same interleaving. Run plays
// a schedule against any cluster.Controller and stops when its context
// ends.
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

// Kinds are the fault kinds the nemesis injects, each at least once.
// A cut-to loses the leader's frames to a follower with the connection
// kept up, a cut-from the follower's status and requests; a drop loses
// one data frame on its way. A failover crashes the primary, promotes
// the follower with the highest flush LSN (failover), writes on the new
// timeline, and restarts the old primary, which rewinds and rejoins as a
// follower.
var Kinds = []string{"cut", "corrupt", "slice", "latency", "pause", "crash", "fall-off", "cut-to", "cut-from", "drop", "failover"}

// once are the kinds scheduled exactly once: a fall-off costs many
// records, and after one failover the cluster has no original leader to
// crash again.
var once = map[string]bool{"fall-off": true, "failover": true}

// The cluster settings a schedule is made for: small segments and little
// retention, so that fallOffRecords written while a follower is cut take it
// off retained WAL.
const (
	WALKeep        = 64 << 10
	SegmentSize    = 16 << 10
	fallOffRecords = 4000
)

// Role is what an op does for its fault.
type Role int

const (
	Inject Role = iota // starts a fault
	Write              // writes records while the fault holds
	Lift               // ends a fault
	Heal               // after the faults: every link clean, replay resumed
)

var roleNames = [...]string{"inject", "write", "lift", "heal"}

func (r Role) String() string { return roleNames[r] }

// Op is one timed command of a schedule.
type Op struct {
	// After is how long the runner waits, once the previous op is done,
	// before this one.
	After    time.Duration
	Role     Role
	Kind     string // the fault kind it belongs to; "" for Heal
	Follower string
	Command  cluster.Command
}

func (o Op) String() string {
	return fmt.Sprintf("after %-6s %-6s %-8s %s", o.After, o.Role, o.Kind, o.Command)
}

// Settings are what a schedule depends on besides its seed.
type Settings struct {
	Followers int // followers in the cluster, 1..cluster.MaxFollowers
	Records   int // records written over the whole schedule
}

// MinRecords is the fewest records a schedule for these settings can
// spread over its faults.
func MinRecords() int { return fallOffRecords + 3*len(Kinds) }

// Schedule builds the ops for a seed: 3×len(Kinds) faults in a seeded
// order, each kind at least once and exactly one fall-off and one
// failover, then a heal of every follower. The records are spread over
// the faults, written in ten pieces across each fault's hold so that
// faults meet traffic; a failover's are written on the new primary,
// between the failover and the old primary's restart.
//
// The follower a fault names is a slot, 1..Followers: which follower a
// failover promotes is only known when it runs, so Run resolves the slot
// of the follower that became the primary to the old primary, which took
// its place among the followers (see Run).
func Schedule(seed int64, s Settings) ([]Op, error) {
	if s.Followers < 1 || s.Followers > cluster.MaxFollowers {
		return nil, fmt.Errorf("nemesis: %d followers, want 1..%d", s.Followers, cluster.MaxFollowers)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0xc4a05))
	kinds := append([]string(nil), Kinds...)
	rng.Shuffle(len(kinds), func(i, j int) { kinds[i], kinds[j] = kinds[j], kinds[i] })
	faults := 3 * len(Kinds)
	for len(kinds) < faults {
		k := Kinds[rng.IntN(len(Kinds))]
		if once[k] {
			k = "cut"
		}
		kinds = append(kinds, k)
	}
	rest := s.Records - fallOffRecords
	if rest < faults {
		return nil, fmt.Errorf("nemesis needs at least %d records, not %d", MinRecords(), s.Records)
	}
	per := rest / (faults - 1)
	var ops []Op
	var wait time.Duration // carried to the next op
	add := func(op Op) {
		op.After, wait = wait, 0
		ops = append(ops, op)
	}
	for i, k := range kinds {
		f := cluster.FollowerName(1 + rng.IntN(s.Followers))
		on := func(v cluster.Verb) cluster.Command { return cluster.Command{Verb: v, Follower: f} }
		writes := per
		hold := time.Duration(50+rng.IntN(250)) * time.Millisecond
		var inject, lift cluster.Command
		switch k {
		case "cut", "fall-off":
			inject, lift = on(cluster.VerbCut), on(cluster.VerbRestore)
			if k == "fall-off" {
				writes = fallOffRecords
			}
		case "cut-to", "cut-from":
			inject, lift = on(cluster.VerbCut), on(cluster.VerbRestore)
			inject.Way = cluster.WayTo
			if k == "cut-from" {
				inject.Way = cluster.WayFrom
			}
		case "corrupt":
			inject = on(cluster.VerbCorrupt)
		case "drop":
			inject = on(cluster.VerbDrop)
		case "slice":
			inject, lift = on(cluster.VerbSlice), on(cluster.VerbSlice)
			inject.On = true
		case "latency":
			inject = on(cluster.VerbLatency)
			inject.Dur = time.Duration(1+rng.IntN(30)) * time.Millisecond
			inject.Jitter = time.Duration(rng.IntN(10)) * time.Millisecond
		case "pause":
			inject, lift = on(cluster.VerbPause), on(cluster.VerbResume)
		case "crash":
			inject, lift = on(cluster.VerbCrash), on(cluster.VerbRestart)
		case "failover":
			// The primary, whoever it is, crashes right after the first
			// piece is written, while its commits are in flight (see
			// below); later the old primary restarts.
			f = cluster.LeaderName
			lift = cluster.Command{Verb: cluster.VerbRestart, Follower: f}
		}
		if i == len(kinds)-1 {
			writes += rest - per*(faults-1) // the remainder
		}
		if k != "failover" {
			add(Op{Role: Inject, Kind: k, Follower: f, Command: inject})
		}
		// Ten pieces, a tenth of the hold after each.
		const pieces = 10
		for p := range pieces {
			n := writes / pieces
			if p == pieces-1 {
				n = writes - n*(pieces-1)
			}
			if n > 0 {
				add(Op{Role: Write, Kind: k, Follower: f, Command: cluster.Command{Verb: cluster.VerbWrite, N: int64(n)}})
			}
			if k == "failover" && p == 0 {
				// crash leader at once; no primary for half the hold
				// (writes would be refused); then failover.
				add(Op{Role: Inject, Kind: k, Follower: f, Command: cluster.Command{Verb: cluster.VerbCrash, Follower: f}})
				wait += hold / 2
				add(Op{Role: Lift, Kind: k, Follower: f, Command: cluster.Command{Verb: cluster.VerbFailover}})
			}
			wait += hold / pieces
		}
		if lift.Verb != "" {
			add(Op{Role: Lift, Kind: k, Follower: f, Command: lift})
		}
	}
	for i := 1; i <= s.Followers; i++ {
		f := cluster.FollowerName(i)
		for _, v := range []cluster.Verb{cluster.VerbRestore, cluster.VerbSlice, cluster.VerbLatency, cluster.VerbResume} {
			add(Op{Role: Heal, Follower: f, Command: cluster.Command{Verb: v, Follower: f}})
		}
	}
	return ops, nil
}

// Tally counts the faults injected, by kind.
type Tally map[string]int

// String is the one line that counts the faults by kind, for a seed.
func (t Tally) String() string {
	total := 0
	var parts []string
	for _, k := range Kinds {
		total += t[k]
		parts = append(parts, fmt.Sprintf("%s %d", k, t[k]))
	}
	return fmt.Sprintf("%d faults injected — %s", total, strings.Join(parts, ", "))
}

// pollInterval is how often Run looks at the cluster while it waits for a
// write to land or a follower to fall off.
const pollInterval = 5 * time.Millisecond

// fallOffWait bounds how long Run waits for a fall-off to happen before it
// lifts the cut anyway (and counts it as a plain cut).
const fallOffWait = 10 * time.Second

// Run plays ops against ctrl in order. It waits each op's After, waits for
// a write's records to be appended on the leader before going on, and
// before lifting a fall-off waits (at most fallOffWait) until the leader
// has removed WAL the follower still needs. When verbose is not nil, each
// fault and heal command is printed to it as it runs. Run returns the
// faults injected by kind, and stops with ctx's error when ctx ends. It
// does not wait for the followers to converge: that is the caller's.
//
// After a failover, an op naming the follower that became the primary is
// played on the old primary, which follows in its place (see resolve).
func Run(ctx context.Context, ctrl cluster.Controller, ops []Op, verbose io.Writer) (Tally, error) {
	injected := Tally{}
	for _, op := range ops {
		if err := sleep(ctx, op.After); err != nil {
			return injected, err
		}
		if op.Role != Write {
			var ok bool
			if op, ok = resolve(ctrl.Snapshot(^uint64(0)), op); !ok {
				if verbose != nil {
					fmt.Fprintf(verbose, "chaos: skipped %s: no follower can stand in for %s, the primary now\n", op.Command, op.Follower)
				}
				continue
			}
		}
		switch {
		case op.Role == Write:
			if err := write(ctx, ctrl, op.Command); err != nil {
				return injected, err
			}
			continue
		case op.Role == Inject && op.Kind != "fall-off":
			injected[op.Kind]++
		case op.Role == Lift && op.Kind == "fall-off":
			// It counts once the leader has removed WAL the follower needs.
			if fellOff(ctx, ctrl, op.Follower) {
				injected[op.Kind]++
			} else {
				injected["cut"]++
			}
		}
		if verbose != nil {
			fmt.Fprintln(verbose, "chaos:", op.Command)
		}
		if err := ctrl.Do(op.Command); err != nil {
			return injected, fmt.Errorf("chaos %q: %w", op.Command, err)
		}
	}
	return injected, nil
}

// resolve names the follower op acts on now. A failover makes one
// follower the primary; the old primary, once restarted, follows in its
// place. So an op for the promoted follower is played on the old primary
// (listed as cluster.LeaderName), except a crash or restart, which on
// that name act on the primary: those go to the first other follower,
// the same for a fault's crash and its restart. ok is false when no
// follower can stand in.
func resolve(s cluster.Snapshot, op Op) (Op, bool) {
	f := op.Follower
	if !strings.HasPrefix(f, "follower-") || s.Leader.Name != f {
		return op, true
	}
	stand := ""
	switch op.Command.Verb {
	case cluster.VerbCrash, cluster.VerbRestart:
		for _, x := range s.Followers {
			if x.Name != cluster.LeaderName {
				stand = x.Name
				break
			}
		}
	default:
		for _, x := range s.Followers {
			if x.Name == cluster.LeaderName {
				stand = x.Name
			}
		}
	}
	if stand == "" {
		return op, false
	}
	op.Follower, op.Command.Follower = stand, stand
	return op, true
}

// write runs a write command and waits until the leader has appended its
// records (the burst itself runs in the background).
func write(ctx context.Context, ctrl cluster.Controller, cmd cluster.Command) error {
	want := ctrl.Snapshot(^uint64(0)).Leader.Records + uint64(cmd.N)
	if err := ctrl.Do(cmd); err != nil {
		return fmt.Errorf("chaos %q: %w", cmd, err)
	}
	for {
		have := ctrl.Snapshot(^uint64(0)).Leader.Records
		if have >= want {
			return nil
		}
		if err := sleep(ctx, pollInterval); err != nil {
			return fmt.Errorf("chaos %q: the leader has appended %d of %d records: %w", cmd, have, want, err)
		}
	}
}

// fellOff waits (at most fallOffWait) until the leader's oldest retained
// LSN has passed the follower's write position.
func fellOff(ctx context.Context, ctrl cluster.Controller, name string) bool {
	deadline := time.Now().Add(fallOffWait)
	for time.Now().Before(deadline) {
		s := ctrl.Snapshot(^uint64(0))
		for _, f := range s.Followers {
			if f.Name == name && s.Leader.OldestLSN > f.WriteLSN {
				return true
			}
		}
		if sleep(ctx, pollInterval) != nil {
			return false
		}
	}
	return false
}

// sleep waits d, or until ctx ends (then it returns ctx's error).
func sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
