package replica

import (
	"bufio"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"walship/engine/wal"
)

// Timelines, as PostgreSQL has them. A promotion ends the timeline the
// promoted node was on at its last WAL byte, the fork LSN, and starts the
// next one there; the history of a timeline lists every switch that led
// to it (PostgreSQL's 0000000N.history). WAL below a fork LSN is shared
// by every timeline after it; WAL a node wrote past the fork on the old
// timeline is on no later timeline: that node has diverged.

// TimelineSwitch is one line of a timeline history: Timeline ended at
// ForkLSN, where Timeline+1 began, for Reason.
type TimelineSwitch struct {
	Timeline uint32
	ForkLSN  wal.LSN
	Reason   string
}

// History is a timeline's history, oldest switch first: entry i ends
// timeline i+1. A node on timeline n has n-1 entries; timeline 1 has none.
type History []TimelineSwitch

// Timeline is the timeline the history leads to.
func (h History) Timeline() uint32 { return uint32(len(h)) + 1 }

// Fork returns where timeline tl ended on the way to this history, and
// whether this history passed through tl and left it. A node on the
// history's own timeline has no fork (false).
func (h History) Fork(tl uint32) (wal.LSN, bool) {
	for _, s := range h {
		if s.Timeline == tl {
			return s.ForkLSN, true
		}
	}
	return 0, false
}

// Promote returns the history of the timeline a promotion at fork starts,
// for reason.
func (h History) Promote(fork wal.LSN, reason string) History {
	out := append(History(nil), h...)
	return append(out, TimelineSwitch{Timeline: h.Timeline(), ForkLSN: fork, Reason: reason})
}

// Check reports a history that cannot be: timelines not 1, 2, 3, ... in
// order, or fork LSNs going back.
func (h History) Check() error {
	var prev wal.LSN
	for i, s := range h {
		if s.Timeline != uint32(i)+1 {
			return fmt.Errorf("timeline history: entry %d is for timeline %d, want %d", i+1, s.Timeline, i+1)
		}
		if s.ForkLSN < prev {
			return fmt.Errorf("timeline history: timeline %d ends at %s, before timeline %d did (%s)", s.Timeline, s.ForkLSN, s.Timeline-1, prev)
		}
		prev = s.ForkLSN
	}
	return nil
}

// Format writes the history as a history file holds it: one line per
// switch, "TIMELINE<tab>FORK-LSN<tab>REASON", as PostgreSQL's
// 0000000N.history does.
func (h History) Format() []byte {
	var b strings.Builder
	for _, s := range h {
		reason := strings.Map(func(r rune) rune {
			if r == '\n' || r == '\r' || r == '\t' {
				return ' '
			}
			return r
		}, s.Reason)
		fmt.Fprintf(&b, "%d\t%s\t%s\n", s.Timeline, s.ForkLSN, reason)
	}
	return []byte(b.String())
}

// ParseHistory reads a history file's text (see Format); blank lines and
// lines starting with # are skipped. A line that is not a switch, or a
// history that cannot be (see Check), is an error naming the line.
func ParseHistory(text []byte) (History, error) {
	var h History
	sc := bufio.NewScanner(strings.NewReader(string(text)))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "\t", 3)
		if len(parts) < 2 {
			return nil, fmt.Errorf("timeline history line %d: want TIMELINE, a tab, FORK-LSN", n)
		}
		tl, err := strconv.ParseUint(parts[0], 10, 32)
		if err != nil || tl == 0 {
			return nil, fmt.Errorf("timeline history line %d: bad timeline %q", n, parts[0])
		}
		fork, err := wal.ParseLSN(parts[1])
		if err != nil {
			return nil, fmt.Errorf("timeline history line %d: %w", n, err)
		}
		s := TimelineSwitch{Timeline: uint32(tl), ForkLSN: fork}
		if len(parts) == 3 {
			s.Reason = parts[2]
		}
		h = append(h, s)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return h, h.Check()
}

// TimelineVerdict is what a leader on one timeline makes of a node on
// another, from the leader's history.
type TimelineVerdict int

// The verdicts.
const (
	SameTimeline TimelineVerdict = iota // stream as ever
	Follows                             // an older timeline the node may leave for the leader's
	Diverged                            // its WAL went past the fork: it needs a rewind
	Fenced                              // a newer timeline than the leader's, or one not in its history
)

// JudgeTimeline judges a node on timeline tl whose WAL ends at end
// against a leader whose history is h. It returns the verdict, the fork
// LSN where tl ended (Follows, Diverged) and a reason for a person.
func JudgeTimeline(h History, tl uint32, end wal.LSN) (TimelineVerdict, wal.LSN, string) {
	lead := h.Timeline()
	switch {
	case tl == lead:
		return SameTimeline, 0, ""
	case tl > lead:
		return Fenced, 0, fmt.Sprintf("it is on timeline %d, this leader on timeline %d: a newer timeline has been promoted, and this leader is fenced", tl, lead)
	}
	fork, ok := h.Fork(tl)
	if !ok {
		return Fenced, 0, fmt.Sprintf("timeline %d is not in the history of this leader's timeline %d", tl, lead)
	}
	if end > fork {
		return Diverged, fork, fmt.Sprintf("its WAL on timeline %d reaches %s, past %s where timeline %d began: needs rewind", tl, end, fork, tl+1)
	}
	return Follows, fork, fmt.Sprintf("follows timeline %d, which forked from timeline %d at %s", lead, tl, fork)
}

// Candidate is a follower a failover may promote.
type Candidate struct {
	Name    string
	Index   int
	Flush   wal.LSN // its flushed LSN: what promotion can recover
	Replay  wal.LSN
	Running bool   // it runs (a stopped follower cannot be promoted)
	State   string // its state, for the reason
}

// ChooseFailover picks the follower a failover promotes, as Patroni
// does: among those running, the highest flushed LSN (what it can
// recover without loss), ties to the lowest index. It returns the choice
// and why, or ok false and why none can be.
func ChooseFailover(cs []Candidate) (Candidate, string, bool) {
	var run []Candidate
	var out []string
	for _, c := range cs {
		if c.Running {
			run = append(run, c)
		} else {
			out = append(out, c.Name+" is "+c.State)
		}
	}
	if len(run) == 0 {
		why := "no follower is running"
		if len(out) > 0 {
			why += " (" + strings.Join(out, ", ") + ")"
		}
		return Candidate{}, why, false
	}
	sort.SliceStable(run, func(i, j int) bool {
		if run[i].Flush != run[j].Flush {
			return run[i].Flush > run[j].Flush
		}
		return run[i].Index < run[j].Index
	})
	best := run[0]
	why := fmt.Sprintf("%s has the highest flush LSN %s", best.Name, best.Flush)
	if len(run) > 1 {
		var others []string
		for _, c := range run[1:] {
			others = append(others, fmt.Sprintf("%s %s", c.Name, c.Flush))
		}
		why += " (" + strings.Join(others, ", ") + ")"
	}
	if best.Replay < best.Flush {
		why += fmt.Sprintf("; it replays %d bytes of flushed WAL before it opens", best.Flush-best.Replay)
	}
	return best, why, true
}

// AckedCommit is a commit a primary acknowledged to its client: the
// record from LSN to End, for Key.
type AckedCommit struct {
	LSN, End wal.LSN
	Key      string
}

// LostCommits is the arithmetic of lost writes: of acked (in LSN order),
// those a new timeline forked at fork does not have, being past it. It
// returns their count, the range they span and up to sample keys (the
// first ones lost).
func LostCommits(acked []AckedCommit, fork wal.LSN, sample int) (n int, from, to wal.LSN, keys []string) {
	i := sort.Search(len(acked), func(i int) bool { return acked[i].End > fork })
	lost := acked[i:]
	if len(lost) == 0 {
		return 0, 0, 0, nil
	}
	for _, c := range lost {
		if len(keys) < sample {
			keys = append(keys, c.Key)
		}
	}
	return len(lost), lost[0].LSN, lost[len(lost)-1].End, keys
}

// RewindPlan is how a diverged node gets back onto a timeline.
type RewindPlan struct {
	// Rewind: truncate the WAL at To (the fork, or the WAL's end when it
	// ends before the fork: nothing to cut) and rebuild the store from the
	// image at ImageLSN (none: from an empty store at LSN 0) plus the WAL
	// up to To, as pg_rewind keeps what is shared. Otherwise a base backup
	// from the new leader replaces it all.
	Rewind   bool
	To       wal.LSN
	UseImage bool
	ImageLSN wal.LSN
	Reason   string
}

// PlanRewind decides how a node whose WAL spans [logStart, logEnd) and
// whose newest store image (a base backup or a checkpoint; hasImage) is
// consistent at imageLSN gets back to a timeline forked at fork.
func PlanRewind(fork, logStart, logEnd wal.LSN, hasImage bool, imageLSN wal.LSN) RewindPlan {
	to := min(fork, logEnd)
	cut := fmt.Sprintf("cut the WAL at the fork %s", fork)
	if logEnd <= fork {
		cut = fmt.Sprintf("its WAL ends at %s, not past the fork %s: nothing to cut", logEnd, fork)
	}
	switch {
	case hasImage && imageLSN <= to && imageLSN >= logStart:
		return RewindPlan{Rewind: true, To: to, UseImage: true, ImageLSN: imageLSN,
			Reason: fmt.Sprintf("%s, rebuild the store from its image at %s and the WAL up to %s", cut, imageLSN, to)}
	case logStart == 0:
		return RewindPlan{Rewind: true, To: to,
			Reason: fmt.Sprintf("%s, rebuild the store from the WAL up to %s", cut, to)}
	case hasImage && imageLSN > to:
		return RewindPlan{Reason: fmt.Sprintf("its store image is at %s, past %s, and cannot be taken back", imageLSN, to)}
	}
	return RewindPlan{Reason: fmt.Sprintf("its WAL starts at %s and no store image covers what came before", logStart)}
}
