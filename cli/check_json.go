package cli

import (
	"encoding/json"
	"io"
	"strings"

	"walship/engine/cluster"
	"walship/nemesis"
	"walship/scenario"
)

// checkReport is walship check --json: one document with every result of
// the run, written whatever happened once the command started (a run that
// could not finish has passed false and says why in error). Its field
// names are part of walship's interface to scripts: add, don't rename.
type checkReport struct {
	Passed bool   `json:"passed"`
	Error  string `json:"error,omitempty"`
	// Followers is each follower's verification; empty for --scenario.
	Followers []followerReport `json:"followers"`
	Chaos     *chaosReport     `json:"chaos,omitempty"`
	Scenario  *scenarioReport  `json:"scenario,omitempty"`
}

// followerReport is cluster.Verification: the four lines of the plain
// report, and the reason when they differ.
type followerReport struct {
	Name                string `json:"name"`
	Matches             bool   `json:"matches"`
	ShippedRecords      uint64 `json:"shipped_records"`
	ReceivedRecords     uint64 `json:"received_records"`
	CRCFailures         uint64 `json:"crc_failures"`
	Resends             uint64 `json:"resends"`
	BaseBackups         int    `json:"base_backups"`
	StoreKeys           int    `json:"store_keys"`
	LeaderKeys          int    `json:"leader_keys"`
	IdenticalKeys       int    `json:"identical_keys"`
	FileKeys            int    `json:"file_keys"`
	InvariantViolations uint64 `json:"invariant_violations"`
	Diff                string `json:"diff,omitempty"`
}

type chaosReport struct {
	Seed   int64          `json:"seed"`
	Faults int            `json:"faults"`
	ByKind map[string]int `json:"by_kind"` // every kind, 0 included
	// After the failover: the primary, its timeline, and the acknowledged
	// commits no timeline since has (see walship check --help).
	Primary      string `json:"primary,omitempty"`
	Timeline     uint32 `json:"timeline,omitempty"`
	LostCommits  uint64 `json:"lost_commits"`
	FailoverFail string `json:"failover_error,omitempty"`
}

type scenarioReport struct {
	File    string         `json:"file"`
	Title   string         `json:"title"`
	Expects []expectReport `json:"expects"`
	// Refused lists the commands the cluster refused.
	Refused []refusedReport `json:"refused_commands,omitempty"`
}

type expectReport struct {
	File     string `json:"file"`
	Line     int    `json:"line"`
	Expected string `json:"expected"` // the expect line's condition, as written
	Within   string `json:"within"`
	Seen     string `json:"seen"` // what it saw last
	Passed   bool   `json:"passed"`
}

type refusedReport struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Command string `json:"command"`
	Error   string `json:"error"`
}

func (r *checkReport) addFollower(v cluster.Verification, shipped uint64) {
	r.Followers = append(r.Followers, followerReport{
		Name: v.Name, Matches: v.Match(), ShippedRecords: shipped, ReceivedRecords: v.Received,
		CRCFailures: v.CRCFailures, Resends: v.Resends, BaseBackups: v.Backups,
		StoreKeys: v.StoreKeys, LeaderKeys: v.LeaderKeys, IdenticalKeys: v.Identical, FileKeys: v.FileKeys,
		InvariantViolations: v.Violations, Diff: v.Diff,
	})
}

func newChaosReport(seed int64, t nemesis.Tally) *chaosReport {
	c := &chaosReport{Seed: seed, ByKind: map[string]int{}}
	for _, k := range nemesis.Kinds {
		c.ByKind[k] = t[k]
		c.Faults += t[k]
	}
	return c
}

// addFailover records how the cluster came through its failover.
func (c *chaosReport) addFailover(s cluster.Snapshot, err error) {
	c.Primary, c.Timeline = s.Leader.Name, s.Leader.Timeline
	for _, l := range s.Lost {
		c.LostCommits += l.Count
	}
	if err != nil {
		c.FailoverFail = err.Error()
	}
}

// add is the scenario runner's results callback.
func (s *scenarioReport) add(r scenario.StepResult) {
	if r.Kind == scenario.StepCommand {
		if r.Err != nil {
			s.Refused = append(s.Refused, refusedReport{File: r.File, Line: r.Line, Command: r.Source, Error: r.Err.Err.Error()})
		}
		return
	}
	// The condition is what follows "expect" (a timing may come before
	// it); a held moment's is its whole line (slow 1/8 until ...).
	cond := r.Source
	if r.Kind == scenario.StepExpect {
		_, cond, _ = strings.Cut(r.Source, "expect ")
	}
	s.Expects = append(s.Expects, expectReport{
		File: r.File, Line: r.Line, Expected: strings.TrimSpace(cond), Within: r.Within.String(),
		Seen: r.Seen, Passed: r.Err == nil,
	})
}

// finish settles passed and error from the run's outcome.
func (r *checkReport) finish(err error) {
	r.Passed = err == nil
	if err != nil {
		r.Error = err.Error()
	}
	if r.Followers == nil {
		r.Followers = []followerReport{}
	}
}

func (r *checkReport) write(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}
