package replica

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"walship/engine/wal"
)

// TestFailover plays the stories in testdata/failover: the decisions a
// failover is made of, apart from any leader or follower.
//
//	history                   parse the input as a history file; print it back
//	promote fork=X/Y [reason=TEXT]   the history the promotion starts (after history)
//	judge tl=N end=X/Y        a node on timeline N whose WAL ends at end, against the history
//	choose                    input: NAME index=I flush=X/Y replay=X/Y [stopped]; whom a failover promotes
//	lost fork=X/Y [sample=N]  input: X/Y..X/Y KEY per acknowledged commit; which are lost
//	plan-rewind fork=X/Y start=X/Y end=X/Y [image=X/Y]   how a diverged node gets back
func TestFailover(t *testing.T) {
	datadriven.Walk(t, "testdata/failover", func(t *testing.T, path string) {
		var h History
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			switch d.Cmd {
			case "history":
				got, err := ParseHistory([]byte(d.Input))
				if err != nil {
					return "error: " + err.Error()
				}
				h = got
				return fmt.Sprintf("timeline %d\n%s", h.Timeline(), strings.TrimSuffix(string(h.Format()), "\n"))
			case "promote":
				h = h.Promote(argLSN(t, d, "fork", 0), argString(d, "reason", "promoted"))
				return fmt.Sprintf("timeline %d\n%s", h.Timeline(), strings.TrimSuffix(string(h.Format()), "\n"))
			case "judge":
				v, fork, why := JudgeTimeline(h, uint32(argInt(t, d, "tl", 1)), argLSN(t, d, "end", 0))
				names := map[TimelineVerdict]string{SameTimeline: "same timeline", Follows: "follows", Diverged: "diverged", Fenced: "fenced"}
				out := names[v]
				if fork != 0 {
					out += " at fork " + fork.String()
				}
				if why != "" {
					out += ": " + why
				}
				return out
			case "choose":
				var cs []Candidate
				for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
					f := strings.Fields(line)
					c := Candidate{Name: f[0], Running: true, State: "streaming"}
					for _, kv := range f[1:] {
						k, v, _ := strings.Cut(kv, "=")
						switch k {
						case "index":
							fmt.Sscan(v, &c.Index)
						case "flush":
							c.Flush = mustLSN(t, v)
						case "replay":
							c.Replay = mustLSN(t, v)
						case "stopped":
							c.Running, c.State = false, "stopped"
						}
					}
					cs = append(cs, c)
				}
				c, why, ok := ChooseFailover(cs)
				if !ok {
					return "none: " + why
				}
				return "promote " + c.Name + ": " + why
			case "lost":
				var acked []AckedCommit
				for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
					rng, key, _ := strings.Cut(line, " ")
					a, b, _ := strings.Cut(rng, "..")
					acked = append(acked, AckedCommit{LSN: mustLSN(t, a), End: mustLSN(t, b), Key: key})
				}
				n, from, to, keys := LostCommits(acked, argLSN(t, d, "fork", 0), int(argInt(t, d, "sample", 5)))
				if n == 0 {
					return "none lost"
				}
				return fmt.Sprintf("%d lost, %s..%s: %s", n, from, to, strings.Join(keys, ", "))
			case "plan-rewind":
				img := argString(d, "image", "")
				p := PlanRewind(argLSN(t, d, "fork", 0), argLSN(t, d, "start", 0), argLSN(t, d, "end", 0), img != "", argLSN(t, d, "image", 0))
				how := "base backup"
				if p.Rewind {
					how = "rewind"
				}
				return how + ": " + p.Reason
			}
			d.Fatalf(t, "unknown directive %s", d.Cmd)
			return ""
		})
	})
}

func mustLSN(t *testing.T, s string) wal.LSN {
	l, err := wal.ParseLSN(s)
	if err != nil {
		t.Fatal(err)
	}
	return l
}
