package scenario

import (
	"fmt"
	"strconv"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// value is a field read from a snapshot. ok is false when the value is not
// known (a lag with no measurement yet, a follower that is not there).
type value struct {
	n  int64
	ok bool
}

func followerValue(f *cluster.FollowerStatus, field string) value {
	lag := func(l cluster.Lag) value {
		if !l.Known {
			return value{}
		}
		if l.Idle {
			return value{0, true}
		}
		return value{int64(l.D), true}
	}
	switch field {
	case "sent":
		return value{int64(f.SentLSN), true}
	case "write":
		return value{int64(f.WriteLSN), true}
	case "flush":
		return value{int64(f.FlushLSN), true}
	case "replay":
		return value{int64(f.ReplayLSN), true}
	case "start":
		return value{int64(f.StartLSN), true}
	case "crc-failures":
		return value{int64(f.CRCFailures), true}
	case "resends":
		return value{int64(f.Resends), true}
	case "keys":
		return value{int64(f.Keys), true}
	case "backups":
		return value{int64(f.Backup.Count), true}
	case "records":
		return value{int64(f.Records), true}
	case "corrupted":
		return value{int64(f.Link.Corrupted), true}
	case "write-lag":
		return lag(f.WriteLag)
	case "flush-lag":
		return lag(f.FlushLag)
	case "replay-lag":
		return lag(f.ReplayLag)
	}
	return failoverFollowerValue(f, field)
}

func leaderValue(l *cluster.LeaderStatus, field string) value {
	switch field {
	case "insert":
		return value{int64(l.InsertLSN), true}
	case "flush":
		return value{int64(l.FlushLSN), true}
	case "oldest":
		return value{int64(l.OldestLSN), true}
	case "keys":
		return value{int64(l.Keys), true}
	case "segments":
		return value{int64(l.Segments), true}
	case "records":
		return value{int64(l.Records), true}
	case "commits":
		return value{int64(l.Commits), true}
	case "waiting-commits":
		return value{int64(l.WaitingCommits), true}
	case "retained":
		if l.InsertLSN < l.OldestLSN {
			return value{0, true}
		}
		return value{int64(l.InsertLSN - l.OldestLSN), true}
	}
	return value{}
}

// primaryValue is a field of the primary in s: the leader's own, or one
// of the cluster's failover facts.
func primaryValue(s *cluster.Snapshot, field string) value {
	if v, ok := failoverLeaderValue(s, field); ok {
		return v
	}
	return leaderValue(&s.Leader, field)
}

func findFollower(s *cluster.Snapshot, name string) *cluster.FollowerStatus {
	if name == oldLeader {
		name = cluster.LeaderName
	}
	for i := range s.Followers {
		if s.Followers[i].Name == name {
			return &s.Followers[i]
		}
	}
	return nil
}

func fieldKind(subject, field string) kind {
	if subject == "leader" {
		return leaderFields[field].kind
	}
	return followerFields[field].kind
}

// format prints a field's value for a person: LSNs as X/Y, lags as 340ms.
func format(k kind, v value) string {
	if !v.ok {
		return "unknown"
	}
	switch k {
	case kLSN:
		return wal.LSN(v.n).String()
	case kBytes:
		return cluster.FormatSize(v.n)
	case kDuration:
		return time.Duration(v.n).String()
	}
	return strconv.FormatInt(v.n, 10)
}

func compare(op Op, a, b int64) bool {
	switch op {
	case OpEq:
		return a == b
	case OpNe:
		return a != b
	case OpLt:
		return a < b
	case OpLe:
		return a <= b
	case OpGt:
		return a > b
	case OpGe:
		return a >= b
	}
	return false
}

// watcher checks an expectation on a series of snapshots: rises and
// steady need to remember earlier ones.
type watcher struct {
	e       *Expect
	started bool
	last    value         // steady: the value seen last
	since   time.Duration // steady: when (scene time) it took that value
}

// subjectValue is the expectation's field in s, for one follower or the
// leader.
func (e *Expect) subjectValue(s *cluster.Snapshot) value {
	if e.Subject == "leader" {
		return primaryValue(s, e.Field)
	}
	if f := findFollower(s, e.Subject); f != nil {
		return followerValue(f, e.Field)
	}
	return value{}
}

// check looks at the next snapshot, taken at scene time now: steady
// counts world time, as within does, so it holds at any speed.
func (w *watcher) check(s *cluster.Snapshot, now time.Duration) (bool, string) {
	e := w.e
	first := !w.started
	w.started = true
	switch {
	case e.Rises && first:
		// Compare from now on with the value at the start. An unknown
		// value (a lag not yet measured) makes any known value a rise.
		b := *e
		v := e.subjectValue(s)
		if !v.ok {
			v.n = -1 << 63
		}
		b.Value = Operand{N: v.n}
		w.e = &b
		return w.e.Check(s)
	case e.Steady > 0:
		v := e.subjectValue(s)
		if first || v != w.last {
			w.last, w.since = v, now
		}
		k := fieldKind(e.Subject, e.Field)
		held := now - w.since
		seen := fmt.Sprintf("%s %s %s, unchanged for %s", e.Subject, e.Field, format(k, v), held.Round(time.Millisecond))
		return v.ok && held >= e.Steady, seen
	}
	return e.Check(s)
}

// Check reports whether the expectation holds in s, and what was seen, in
// words a person can compare with the expect line. One snapshot cannot
// show a field rising or steady: for Rises, Check compares with Value.N
// (which the runner fills from the first snapshot); for Steady it only
// describes the value. The runner watches those over time.
func (e *Expect) Check(s *cluster.Snapshot) (ok bool, seen string) {
	if e.Subject == "read" {
		return e.checkRead(s)
	}
	if e.Subject == "leader" {
		if ok, seen, done := e.checkLeader(s); done {
			return ok, seen
		}
		return e.checkComparison(s, nil, "leader")
	}
	if e.Subject != "all" {
		f := findFollower(s, e.Subject)
		if f == nil {
			return false, "no " + e.Subject + " in the cluster"
		}
		return e.checkFollower(s, f)
	}
	if len(s.Followers) == 0 {
		return false, "no followers in the cluster"
	}
	for i := range s.Followers {
		if ok, seen = e.checkFollower(s, &s.Followers[i]); !ok {
			return false, seen
		}
	}
	if more := len(s.Followers) - 1; more > 0 {
		return true, fmt.Sprintf("%s, and so %d more", seen, more)
	}
	return true, seen
}

func (e *Expect) checkFollower(s *cluster.Snapshot, f *cluster.FollowerStatus) (bool, string) {
	switch e.Field {
	case "state":
		return (f.State == e.State) != e.Not, fmt.Sprintf("%s state %s", f.Name, f.State)
	case "wal-status":
		if !f.Slot.Enabled || f.Slot.WALStatus == "" {
			return false, fmt.Sprintf("%s has no slot with a wal_status (state %s)", f.Name, f.State)
		}
		return (f.Slot.WALStatus == e.State) != e.Not, fmt.Sprintf("%s slot wal_status %s (state %s)", f.Name, f.Slot.WALStatus, f.State)
	case "paused", "connected", "slot-lost":
		var b bool
		switch e.Field {
		case "paused":
			b = f.ReplayPaused
		case "connected":
			b = f.Link.Connected
		default:
			b = f.Slot.Lost
		}
		word := e.Field
		if !b {
			word = "not " + word
		}
		return b != e.Not, fmt.Sprintf("%s %s (state %s)", f.Name, word, f.State)
	case "matches":
		l := &s.Leader
		ok := f.ReplayLSN == l.FlushLSN
		seen := fmt.Sprintf("%s replay %s, leader flush %s", f.Name, f.ReplayLSN, l.FlushLSN)
		if l.RecordEndLSN != 0 {
			// A real flush can end on a page boundary inside a record:
			// caught up is the last complete record replayed.
			ok = f.ReplayLSN >= l.RecordEndLSN
			seen += fmt.Sprintf(", its last complete record ending at %s", l.RecordEndLSN)
		}
		if s.Source.Observes(cluster.ObsKeys) {
			ok = ok && f.Keys == l.Keys
			seen = fmt.Sprintf("%s replay %s with %d keys, leader flush %s with %d keys", f.Name, f.ReplayLSN, f.Keys, l.FlushLSN, l.Keys)
		}
		return ok, seen + " (state " + f.State + ")"
	}
	return e.checkComparison(s, f, f.Name)
}

func (e *Expect) checkComparison(s *cluster.Snapshot, f *cluster.FollowerStatus, name string) (bool, string) {
	var left value
	if f != nil {
		left = followerValue(f, e.Field)
	} else {
		left = primaryValue(s, e.Field)
	}
	k := fieldKind(e.Subject, e.Field)
	right, rname := value{e.Value.N, true}, ""
	switch e.Value.Subject {
	case "self":
		right, rname = followerValue(f, e.Value.Field), e.Value.Field
	case "leader":
		right, rname = primaryValue(s, e.Value.Field), "leader "+e.Value.Field
	case "":
	default:
		g := findFollower(s, e.Value.Subject)
		if g == nil {
			return false, "no " + e.Value.Subject + " in the cluster"
		}
		right, rname = followerValue(g, e.Value.Field), g.Name+" "+e.Value.Field
	}
	seen := fmt.Sprintf("%s %s %s", name, e.Field, format(k, left))
	if rname != "" {
		seen += fmt.Sprintf(", %s %s", rname, format(k, right))
	}
	if e.Rises {
		seen += fmt.Sprintf(", was %s", format(k, value{right.n, right.n != -1<<63}))
	}
	if f != nil { // state itself is checked in checkFollower
		seen += " (state " + f.State + ")"
	}
	if !left.ok || !right.ok {
		return false, seen
	}
	return compare(e.Op, left.n, right.n), seen
}
