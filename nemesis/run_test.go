package nemesis

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"walship/engine/cluster"
)

// recorder is a cluster.Controller that records commands. A write adds
// its records to the leader's count unless stuck; a cut follower shows
// as fallen off retained WAL.
type recorder struct {
	did     []string
	records uint64
	cut     bool
	stuck   bool   // writes never land
	onWrite func() // called when a write arrives
}

func (r *recorder) Do(c cluster.Command) error {
	r.did = append(r.did, c.String())
	switch c.Verb {
	case cluster.VerbWrite:
		if !r.stuck {
			r.records += uint64(c.N)
		}
		if r.onWrite != nil {
			r.onWrite()
		}
	case cluster.VerbCut:
		r.cut = true
	case cluster.VerbRestore:
		r.cut = false
	}
	return nil
}

func (r *recorder) Snapshot(uint64) cluster.Snapshot {
	s := cluster.Snapshot{Leader: cluster.LeaderStatus{Records: r.records}}
	for i := 1; i <= 3; i++ {
		s.Followers = append(s.Followers, cluster.FollowerStatus{Name: cluster.FollowerName(i), WriteLSN: 50})
	}
	if r.cut {
		s.Leader.OldestLSN = 100 // past every follower: whoever is cut fell off
	}
	return s
}

// instant is ops with no waits, so a test runs at once.
func instant(t *testing.T, seed int64, s Settings) []Op {
	ops, err := Schedule(seed, s)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ops {
		ops[i].After = 0
	}
	return ops
}

func TestRunPlaysTheScheduleInOrder(t *testing.T) {
	settings := Settings{Followers: 3, Records: 12000}
	ops := instant(t, 3, settings)
	r := &recorder{}
	tally, err := Run(context.Background(), r, ops, nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	scheduled := Tally{}
	for _, op := range ops {
		want = append(want, op.Command.String())
		if op.Role == Inject {
			scheduled[op.Kind]++
		}
	}
	if !reflect.DeepEqual(r.did, want) {
		t.Fatalf("commands done:\n%q\nwant:\n%q", r.did, want)
	}
	if !reflect.DeepEqual(tally, scheduled) {
		t.Errorf("tally %v, want %v", tally, scheduled)
	}
	if r.records != uint64(settings.Records) {
		t.Errorf("leader appended %d records, want %d", r.records, settings.Records)
	}
}

func TestRunStopsWhenItsContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &recorder{stuck: true, onWrite: cancel}
	ops := instant(t, 1, Settings{Followers: 1, Records: MinRecords()})
	_, err := Run(ctx, r, ops, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run returned %v, want context.Canceled", err)
	}
	if got := r.did[len(r.did)-1]; got[:len("write")] != "write" {
		t.Errorf("went on past the write it was waiting for: last command %q", got)
	}
}

// TestResolveAfterFailover: once follower-2 is the primary, its slot is
// played on the old leader, which follows in its place; a crash or a
// restart (which on the leader's name would act on the primary) goes to
// the first other follower; with no stand-in the op is skipped.
func TestResolveAfterFailover(t *testing.T) {
	after := cluster.Snapshot{
		Leader: cluster.LeaderStatus{Name: "follower-2"},
		Followers: []cluster.FollowerStatus{
			{Name: cluster.LeaderName}, {Name: "follower-1"}, {Name: "follower-3"},
		},
	}
	on := func(v cluster.Verb, f string) Op {
		return Op{Role: Inject, Kind: string(v), Follower: f, Command: cluster.Command{Verb: v, Follower: f}}
	}
	for _, tc := range []struct {
		s    cluster.Snapshot
		op   Op
		want string // the command played; "" when skipped
	}{
		{after, on(cluster.VerbCut, "follower-2"), "cut leader"},
		{after, on(cluster.VerbPause, "follower-2"), "pause leader"},
		{after, on(cluster.VerbCut, "follower-3"), "cut follower-3"},
		{after, on(cluster.VerbCrash, "follower-2"), "crash follower-1"},
		{after, on(cluster.VerbRestart, "follower-2"), "restart follower-1"},
		{after, on(cluster.VerbCrash, cluster.LeaderName), "crash leader"}, // the failover's own: the primary
		// Before the old leader rejoins, nobody stands in for follower-2.
		{cluster.Snapshot{Leader: after.Leader, Followers: after.Followers[1:]}, on(cluster.VerbCut, "follower-2"), ""},
		// Before any failover, nothing changes.
		{cluster.Snapshot{Leader: cluster.LeaderStatus{Name: cluster.LeaderName}}, on(cluster.VerbCut, "follower-2"), "cut follower-2"},
	} {
		got, ok := resolve(tc.s, tc.op)
		played := ""
		if ok {
			played = got.Command.String()
		}
		if played != tc.want {
			t.Errorf("%s with %s primary: played %q, want %q", tc.op.Command, tc.s.Leader.Name, played, tc.want)
		}
		if ok && got.Follower != got.Command.Follower && got.Command.Follower != "" {
			t.Errorf("%s: op follower %q, command follower %q", tc.op.Command, got.Follower, got.Command.Follower)
		}
	}
}
