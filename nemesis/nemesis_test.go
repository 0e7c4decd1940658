package nemesis

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/charmbracelet/x/exp/golden"

	"walship/engine/cluster"
)

func TestScheduleIsSeeded(t *testing.T) {
	settings := Settings{Followers: 3, Records: 20000}
	a, err := Schedule(7, settings)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Schedule(7, settings)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different schedules")
	}
	c, _ := Schedule(8, settings)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same schedule")
	}
	injected := map[string]int{}
	writes := 0
	for _, op := range a {
		switch op.Role {
		case Inject:
			injected[op.Kind]++
		case Write:
			writes += int(op.Command.N)
		}
		// Every op is a command the cluster's language can carry.
		if _, err := cluster.ParseCommand(op.Command.String()); err != nil {
			t.Errorf("op %v: %v", op, err)
		}
	}
	for _, k := range Kinds {
		if injected[k] == 0 {
			t.Errorf("kind %s never scheduled", k)
		}
	}
	if injected["fall-off"] != 1 {
		t.Errorf("%d fall-offs scheduled, want exactly 1", injected["fall-off"])
	}
	if writes != settings.Records {
		t.Errorf("schedule writes %d records, want %d", writes, settings.Records)
	}
}

func TestScheduleRefusesBadSettings(t *testing.T) {
	for _, s := range []Settings{
		{Followers: 3, Records: MinRecords() - 1},
		{Followers: 0, Records: 20000},
		{Followers: cluster.MaxFollowers + 1, Records: 20000},
	} {
		if _, err := Schedule(1, s); err == nil {
			t.Errorf("Schedule(%+v) accepted", s)
		}
	}
	if _, err := Schedule(1, Settings{Followers: 1, Records: MinRecords()}); err != nil {
		t.Errorf("Schedule with MinRecords: %v", err)
	}
}

// TestScheduleGolden pins seed 1's schedule for three followers and 12000
// records (what the CLI's chaos test runs), so a change to the schedule is
// a visible change to testdata (go test -update rewrites it).
func TestScheduleGolden(t *testing.T) {
	ops, err := Schedule(1, Settings{Followers: 3, Records: 12000})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, op := range ops {
		fmt.Fprintln(&b, op)
	}
	golden.RequireEqual(t, b.String())
}
