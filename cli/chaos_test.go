package cli

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"walship/engine/cluster"
	"walship/nemesis"
)

// TestCheckChaos runs the nemesis end to end for a few seeds, a failover
// among its faults: under on ANY 1 no acknowledged commit may be lost.
func TestCheckChaos(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	t.Parallel()
	for _, tc := range []struct {
		seed int64
		sync string
	}{{1, ""}, {2, ""}, {3, "on 1"}} {
		t.Run(fmt.Sprint("seed ", tc.seed), func(t *testing.T) {
			t.Parallel() // each seed checks a cluster of its own
			var out bytes.Buffer
			err := runCheck(context.Background(), &out, nil, checkOptions{followers: 3, records: 12000, segment: "1MiB", timeout: defaultCheckTimeout, chaos: tc.seed, sync: tc.sync})
			if err != nil {
				t.Fatalf("seed %d: %v\n%s", tc.seed, err, out.String())
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			tally, verdict := lines[len(lines)-2], lines[len(lines)-1]
			for _, k := range nemesis.Kinds {
				if strings.Contains(tally, k+" 0") {
					t.Errorf("seed %d: no %s fault injected: %s", tc.seed, k, tally)
				}
			}
			if !strings.Contains(verdict, "leads on timeline 2") || !strings.Contains(verdict, "every follower on timeline 2") {
				t.Errorf("seed %d: the failover's verdict: %s", tc.seed, verdict)
			}
			if tc.sync != "" && !strings.Contains(verdict, "0 acknowledged commits lost under on ANY 1") {
				t.Errorf("seed %d under %s: %s", tc.seed, tc.sync, verdict)
			}
		})
	}
}

func TestCheckReferenceOutput(t *testing.T) {
	var out bytes.Buffer
	if err := runCheck(context.Background(), &out, nil, checkOptions{followers: 1, records: 5, segment: "1MiB", timeout: defaultCheckTimeout, chaos: -1}); err != nil {
		t.Fatal(err)
	}
	want := "leader: shipped 5 records to follower-1\n" +
		"follower-1: received 5 records, CRC OK\n" +
		"follower-1: store has 5 keys\n" +
		"leader: follower WAL replay matches — 5/5 keys identical\n"
	if out.String() != want {
		t.Fatalf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestCheckFailoverVerdict: every follower on the primary's timeline, a
// timeline past 1 after a failover, no old primary fenced, and under on
// or remote_apply no acknowledged commit lost; a clear message otherwise.
func TestCheckFailoverVerdict(t *testing.T) {
	on1 := cluster.SyncRule{Mode: cluster.SyncOn, N: 1}
	good := cluster.Snapshot{
		Leader:    cluster.LeaderStatus{Name: "follower-2", Timeline: 2},
		Followers: []cluster.FollowerStatus{{Name: "leader", Timeline: 2}, {Name: "follower-1", Timeline: 2}},
		History:   []cluster.TimelineSwitch{{Timeline: 1, ForkLSN: 0x1A2B}},
	}
	lost := good
	lost.Lost = []cluster.LostWrites{{Timeline: 2, Promoted: "follower-2", Count: 3, From: 0x100, To: 0x200, Keys: []string{"k1", "k2"}}}
	behind := good
	behind.Followers = []cluster.FollowerStatus{{Name: "leader", Timeline: 1, State: "needs rewind"}, {Name: "follower-1", Timeline: 2}}
	fenced := good
	fenced.Fenced = []cluster.FencedPrimary{{Name: "leader", Timeline: 1}}
	for _, tc := range []struct {
		name       string
		s          cluster.Snapshot
		rule       cluster.SyncRule
		failedOver bool
		err        string // a piece of the error; "" for none
	}{
		{"converged", good, on1, true, ""},
		{"lost under off", lost, cluster.SyncRule{}, true, ""},
		{"lost under on", lost, on1, true, "LOST 3 acknowledged commits under on ANY 1, which must lose none: 3 on promoting follower-2 to timeline 2 (0/100..0/200: k1, k2)"},
		{"a follower behind", behind, on1, true, "not every follower follows the primary's timeline 2: leader on timeline 1 (needs rewind)"},
		{"fenced", fenced, on1, true, "an old primary still runs fenced: leader on timeline 1"},
		{"no switch", cluster.Snapshot{Leader: cluster.LeaderStatus{Name: "leader", Timeline: 1}}, on1, true, "still on timeline 1"},
		{"no failover ran", cluster.Snapshot{Leader: cluster.LeaderStatus{Name: "leader", Timeline: 1}}, on1, false, ""},
	} {
		verdict, err := checkFailover(tc.s, tc.rule, tc.failedOver)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: error %v, want one with %q", tc.name, err, tc.err)
		case tc.err == "" && !strings.Contains(verdict, "every follower on timeline"):
			t.Errorf("%s: verdict %q", tc.name, verdict)
		}
	}
}
