package scenario

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
)

// parseExpect parses one expect line of a scenario.
func parseExpect(t *testing.T, line string) (*Expect, error) {
	t.Helper()
	sc, err := Parse("t.scn", []byte("chapter \"c\"\n"+line+"\n"))
	if err != nil {
		return nil, err
	}
	for _, ch := range sc.Chapters {
		for _, st := range ch.Steps {
			if st.Kind == StepExpect {
				return st.Expect, nil
			}
		}
	}
	t.Fatalf("%q: no expect parsed", line)
	return nil, nil
}

func TestParseExpectRead(t *testing.T) {
	for line, want := range map[string]Expect{
		"expect read stale":                             {Subject: "read", Field: "stale"},
		"expect read not stale":                         {Subject: "read", Field: "stale", Not: true},
		"expect read on 1 stale":                        {Subject: "read", Field: "stale", Node: "follower-1"},
		"expect read on leader not stale":               {Subject: "read", Field: "stale", Node: "leader", Not: true},
		"expect read on primary found":                  {Subject: "read", Field: "found", Node: "primary"},
		"expect read found":                             {Subject: "read", Field: "found"},
		"expect read not failed":                        {Subject: "read", Field: "failed", Not: true},
		`expect read value "old"`:                       {Subject: "read", Field: "value", Text: "old"},
		"expect read value old":                         {Subject: "read", Field: "value", Text: "old"},
		"expect read anomaly read-your-writes":          {Subject: "read", Field: "anomaly", Text: cluster.AnomalyRYW},
		"expect read anomaly ryw":                       {Subject: "read", Field: "anomaly", Text: cluster.AnomalyRYW},
		`expect read anomaly "monotonic reads"`:         {Subject: "read", Field: "anomaly", Text: cluster.AnomalyMonotonic},
		"expect read on follower-2 anomaly monotonic":   {Subject: "read", Field: "anomaly", Text: cluster.AnomalyMonotonic, Node: "follower-2"},
		"expect read anomaly none":                      {Subject: "read", Field: "anomaly"},
		"expect read waited > 0":                        {Subject: "read", Field: "waited", Op: OpGt},
		"expect read waited >= 500ms within 3s":         {Subject: "read", Field: "waited", Op: OpGe, Value: Operand{N: int64(500 * time.Millisecond)}, Within: 3 * time.Second},
		"expect read on 2 waited < 1s":                  {Subject: "read", Field: "waited", Op: OpLt, Value: Operand{N: int64(time.Second)}, Node: "follower-2"},
		"expect read on follower-3 value \"two words\"": {Subject: "read", Field: "value", Text: "two words", Node: "follower-3"},
	} {
		e, err := parseExpect(t, line)
		if err != nil {
			t.Errorf("%q: %v", line, err)
			continue
		}
		if want.Within == 0 {
			want.Within = DefaultWithin
		}
		if *e != want {
			t.Errorf("%q parsed as %+v, want %+v", line, *e, want)
		}
	}
	for line, col := range map[string]int{
		"expect read":                    12,
		"expect read sometimes":          13,
		"expect read on":                 15,
		"expect read on all stale":       16,
		"expect read on 1":               17,
		"expect read not value x":        17,
		"expect read not":                16,
		"expect read stale now":          19,
		"expect read value":              18,
		"expect read value a b":          21,
		"expect read anomaly":            20,
		"expect read anomaly lost-write": 21,
		"expect read waited":             19,
		"expect read waited > soon":      22,
		"expect read waited rises":       20,
	} {
		_, err := parseExpect(t, line)
		if err == nil {
			t.Errorf("%q parsed", line)
			continue
		}
		if want := fmt.Sprintf(":2:%d:", col); !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want column %d", line, err, col)
		}
	}
}

func TestCheckRead(t *testing.T) {
	s := &cluster.Snapshot{Reads: []cluster.ReadResult{
		{Seq: 1, Node: "follower-1", Key: "k", Value: "new", Found: true, VersionLSN: 0x300, ReplayLSN: 0x340, PrimaryLSN: 0x300},
		{Seq: 2, Node: "follower-2", Key: "k", Value: "old", Found: true, VersionLSN: 0x100, ReplayLSN: 0x140, PrimaryLSN: 0x300, Stale: true, Anomaly: cluster.AnomalyMonotonic},
		{Seq: 3, Node: "follower-3", Key: "k", Err: "follower-3 is stopped (restart it first)"},
	}}
	for line, want := range map[string]bool{
		"expect read failed":                              true,
		"expect read stale":                               false, // the newest failed
		"expect read on 2 stale":                          true,
		"expect read on 1 stale":                          false,
		"expect read on 1 not stale":                      true,
		"expect read on 2 anomaly monotonic":              true,
		"expect read on 1 anomaly none":                   true,
		"expect read on 2 value old":                      true,
		"expect read on 2 value new":                      false,
		"expect read on 1 waited = 0":                     true,
		"expect read on 1 waited > 0":                     false,
		"expect read on leader found":                     false, // no read there
		"expect read on follower-1 found":                 true,
		"expect read on follower-3 not failed":            false,
		"expect read on follower-2 anomaly ryw":           false,
		"expect read on follower-2 anomaly \"monotonic\"": true,
	} {
		e, err := parseExpect(t, line)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if got, seen := e.Check(s); got != want {
			t.Errorf("%q: %v (%s), want %v", line, got, seen, want)
		}
	}
	// After a failover the primary's reads carry its own name.
	p := &cluster.Snapshot{Leader: cluster.LeaderStatus{Name: "follower-2"}, Reads: s.Reads[:2]}
	for _, line := range []string{"expect read on leader value old", "expect read on primary value old"} {
		e, err := parseExpect(t, line)
		if err != nil {
			t.Fatal(err)
		}
		if ok, seen := e.Check(p); !ok {
			t.Errorf("%q on a promoted follower-2: %s", line, seen)
		}
	}
	if _, seen := (&Expect{Subject: "read", Field: "stale"}).Check(&cluster.Snapshot{}); seen != "no read yet" {
		t.Errorf("no reads: %q", seen)
	}
	e, _ := parseExpect(t, "expect read on 2 stale")
	if _, seen := e.Check(s); !strings.Contains(seen, `read k on follower-2: "old" @0/100 (replay 0/140) STALE: leader has @0/300`) {
		t.Errorf("seen: %q", seen)
	}
}
