package nemesis

import (
	"reflect"
	"testing"
)

func TestChaosScheduleIsSeeded(t *testing.T) {
	a, err := Schedule(7, 3, 20000)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Schedule(7, 3, 20000)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different schedules")
	}
	c, _ := Schedule(8, 3, 20000)
	if reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same schedule")
	}
	seen := map[string]bool{}
	total := 0
	for _, s := range a {
		seen[s.kind] = true
		total += s.writes
	}
	for _, k := range Kinds {
		if !seen[k] {
			t.Errorf("kind %s never scheduled", k)
		}
	}
	if total != 20000 {
		t.Errorf("schedule writes %d records, want 20000", total)
	}
	if _, err := Schedule(1, 3, 100); err == nil {
		t.Error("too few records: no error")
	}
}
