package scenario

import (
	"strconv"
	"strings"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// Expect is one parsed expect line: a fact about a snapshot of the cluster,
// polled until it holds or Within has passed.
type Expect struct {
	// Subject is a follower name, "all" (every follower), "leader" (the
	// primary, whoever it is), "old-leader" (the original leader when it
	// runs as a follower, after a failover) or "read" (the newest read,
	// see expect_read.go).
	Subject string
	Field   string // canonical field name (see the package doc)
	Not     bool   // state not ..., not paused
	Op      Op     // comparisons
	// State: for a follower's state one of the cluster.State* names; for
	// the leader's one of the cluster.Primary* names; for wal-status one
	// of walStatuses; for the leader's name a node's name.
	State string
	Value Operand
	// Rises: the field must go above its value when the expect began. It
	// is checked as Field > Value, with Value.N filled in from the first
	// snapshot the expect sees.
	Rises bool
	// Steady: the field must keep one value for this long (FIELD steady
	// for DUR). Check alone cannot tell; the runner watches over time.
	Steady time.Duration
	Within time.Duration
	// On reads (Subject "read", see expect_read.go): the node whose newest
	// read is checked ("" any), and the value or anomaly expected.
	Node string
	Text string
}

// Op is a comparison.
type Op string

// The comparisons.
const (
	OpEq Op = "="
	OpNe Op = "!="
	OpLt Op = "<"
	OpLe Op = "<="
	OpGt Op = ">"
	OpGe Op = ">="
)

// Operand is the right-hand side of a comparison: a literal, or a field of
// a follower or of the leader.
type Operand struct {
	Subject string // "" for a literal; "self" for the same follower; a follower name; "leader"
	Field   string
	N       int64 // the literal: a count, an LSN, bytes or nanoseconds
}

// kind is the type of a field's value.
type kind int

const (
	kLSN kind = iota
	kCount
	kBytes
	kDuration
	kBool
	kState
	kWALStatus
	kMatch
	kName // a node's name: the leader's name
)

func (k kind) want() string {
	switch k {
	case kLSN:
		return "an LSN like 0/1A2B, a position (sent, write, flush, replay) or leader"
	case kCount:
		return "a whole number, or leader"
	case kBytes:
		return "a size like 64KiB"
	case kDuration:
		return "a duration like 300ms or 2s"
	}
	return "a value"
}

// followerFields maps every follower field name (and alias) to its
// canonical name and kind.
var followerFields = map[string]struct {
	name string
	kind kind
}{
	"sent": {"sent", kLSN}, "write": {"write", kLSN}, "received": {"write", kLSN},
	"flush": {"flush", kLSN}, "flushed": {"flush", kLSN},
	"replay": {"replay", kLSN}, "replayed": {"replay", kLSN}, "start": {"start", kLSN},
	"crc-failures": {"crc-failures", kCount}, "resends": {"resends", kCount},
	"keys": {"keys", kCount}, "backups": {"backups", kCount}, "records": {"records", kCount},
	"corrupted": {"corrupted", kCount},
	"write-lag": {"write-lag", kDuration}, "flush-lag": {"flush-lag", kDuration},
	"replay-lag": {"replay-lag", kDuration},
	"paused":     {"paused", kBool}, "connected": {"connected", kBool}, "slot-lost": {"slot-lost", kBool},
	"state": {"state", kState}, "matches": {"matches", kMatch},
	"wal-status": {"wal-status", kWALStatus},
}

// leaderFields maps every leader field name to its canonical name and kind.
var leaderFields = map[string]struct {
	name string
	kind kind
}{
	"insert": {"insert", kLSN}, "flush": {"flush", kLSN}, "flushed": {"flush", kLSN},
	"oldest": {"oldest", kLSN},
	"keys":   {"keys", kCount}, "segments": {"segments", kCount}, "records": {"records", kCount},
	"commits": {"commits", kCount}, "waiting-commits": {"waiting-commits", kCount},
	"retained": {"retained", kBytes},
}

// walStatuses are a slot's wal_status values, as pg_replication_slots
// shows them.
var walStatuses = []string{"reserved", "extended", "unreserved", "lost"}

var states = []string{
	cluster.StateStartup, cluster.StateCatchup, cluster.StateStreaming, cluster.StateBackup,
	cluster.StateStopped, cluster.StateCut, cluster.StateReconnecting, cluster.StateNeedsBackup,
	cluster.StateNoPrimary, cluster.StateNeedsRewind, cluster.StateRewinding, cluster.StatePromoting,
}

// subjectName reads a follower name (follower-2 or 2, numbered below 1000
// and with no + sign), all, leader or old-leader.
func subjectName(s string) (string, bool) {
	s = strings.ToLower(s)
	if s == "all" || s == "leader" || s == oldLeader {
		return s, true
	}
	if i, ok := cluster.FollowerIndex(s); ok && i < 1000 && !strings.Contains(s, "+") {
		return cluster.FollowerName(i), true
	}
	return "", false
}

// expect parses the words after "expect". end is the offset just past the
// line's content, for errors at the end of the line.
func (p *parser) expect(toks []token, end int) (*Expect, error) {
	e := &Expect{Within: DefaultWithin}
	// A trailing "within DUR".
	within := false
	if n := len(toks); n >= 2 && keyword(toks[n-2]) == "within" {
		within = true
		d, err := p.duration(toks, n-1, end)
		if err != nil {
			return nil, err
		}
		e.Within = d
		end = toks[n-2].Col - 1
		toks = toks[:n-2]
	} else if n >= 1 && keyword(toks[n-1]) == "within" {
		return nil, p.errorf(end+1, "expected a duration like 300ms or 2s")
	}
	at := func(i int) (token, bool) {
		if i < len(toks) {
			return toks[i], true
		}
		return token{Col: end + 1}, false
	}
	t, ok := at(0)
	if !ok {
		return nil, p.errorf(t.Col, "expected what to expect: a follower (follower-1, 1, all, old-leader), leader, waiting-commits, or read")
	}
	i := 1
	if keyword(t) == "read" {
		return p.expectRead(e, toks[1:], end)
	}
	if s, ok := subjectName(t.Text); ok && !t.Quoted {
		e.Subject = s
	} else if _, ok := leaderFields[keyword(t)]; ok && !t.Quoted {
		// A bare leader field: expect waiting-commits > 0.
		e.Subject, i = "leader", 0
	} else {
		return nil, p.errorf(t.Col, "expected a follower (follower-1, 1, all, old-leader), leader, or a leader field like waiting-commits")
	}

	t, ok = at(i)
	if !ok {
		return nil, p.errorf(t.Col, "expected what to check, e.g. state streaming, replay = leader, matches leader")
	}
	if keyword(t) == "not" {
		e.Not = true
		i++
		if t, ok = at(i); !ok {
			return nil, p.errorf(t.Col, "expected paused, connected or slot-lost after not")
		}
	}
	var k kind
	if e.Subject == "leader" {
		f, ok := leaderFields[keyword(t)]
		if !ok {
			return nil, p.errorf(t.Col, "expected a leader field (insert, flush, replay, oldest, keys, segments, records, commits, waiting-commits, retained, state, name, timeline, lost, fenced)")
		}
		e.Field, k = f.name, f.kind
	} else {
		f, ok := followerFields[keyword(t)]
		if !ok {
			return nil, p.errorf(t.Col, "expected a follower field (state, paused, connected, matches, sent, write, flush, replay, crc-failures, keys, backups, wal-status, timeline, fork, ...)")
		}
		e.Field, k = f.name, f.kind
	}
	if e.Not && k != kBool {
		return nil, p.errorf(t.Col, "expected paused, connected or slot-lost after not")
	}
	i++
	rest := toks[min(i, len(toks)):]
	restEnd := func(j int) error {
		if j < len(rest) {
			return p.errorf(rest[j].Col, "expected the end of the expectation (or within DUR), not %q", rest[j].Text)
		}
		return nil
	}
	switch k {
	case kBool:
		return e, restEnd(0)
	case kMatch:
		if len(rest) == 0 || keyword(rest[0]) != "leader" {
			t, _ := at(i)
			return nil, p.errorf(t.Col, "expected leader after matches")
		}
		return e, restEnd(1)
	case kState, kWALStatus, kName:
		what, names := "a state", states
		switch {
		case k == kWALStatus:
			what, names = "a wal_status", walStatuses
		case k == kName:
			what, names = "a node's name", []string{cluster.LeaderName, "follower-N"}
		case e.Subject == "leader":
			what, names = "a leader state", leaderStates
		}
		j := 0
		if len(rest) > 0 && keyword(rest[0]) == "not" {
			e.Not, j = true, 1
		}
		if j >= len(rest) {
			t, _ := at(i + j)
			return nil, p.errorf(t.Col, "expected %s (%s)", what, strings.Join(names, ", "))
		}
		// An unquoted state may be several words: needs base backup.
		words := make([]string, 0, len(rest)-j)
		for _, w := range rest[j:] {
			words = append(words, strings.ToLower(w.Text))
		}
		name := strings.Join(words, " ")
		if k == kName {
			if n, ok := nodeName(name); ok {
				e.State = n
				return e, nil
			}
		}
		for _, s := range names {
			if s == name {
				e.State = s
				return e, nil
			}
		}
		return nil, p.errorf(rest[j].Col, "expected %s (%s), not %q", what, strings.Join(names, ", "), name)
	}

	// FIELD rises: above its value when the expect began.
	// FIELD steady for DUR: one value for DUR.
	t, ok = at(i)
	if kw := keyword(t); kw == "rises" || kw == "steady" {
		if e.Subject == "all" {
			return nil, p.errorf(t.Col, "expected one follower or the leader for %s, not all", kw)
		}
		if kw == "rises" {
			e.Rises, e.Op = true, OpGt
			return e, restEnd(1)
		}
		if len(rest) < 2 || keyword(rest[1]) != "for" {
			t, _ := at(i + 1)
			return nil, p.errorf(t.Col, "expected for DUR after steady")
		}
		d, err := p.duration(rest, 2, end)
		if err != nil {
			return nil, err
		}
		if d == 0 {
			return nil, p.errorf(rest[2].Col, "expected a duration above 0")
		}
		e.Steady = d
		if !within {
			e.Within = DefaultWithin + d
		} else if e.Within < d {
			return nil, p.errorf(rest[2].Col, "expected a duration no longer than within %s", e.Within)
		}
		return e, restEnd(3)
	}
	// A comparison: OP VALUE.
	op, isOp := parseOp(t.Text)
	if !ok || !isOp || t.Quoted {
		return nil, p.errorf(t.Col, "expected a comparison (=, !=, <, <=, >, >=), rises or steady after %s", e.Field)
	}
	e.Op = op
	i++
	t, ok = at(i)
	if !ok {
		return nil, p.errorf(t.Col, "expected %s", k.want())
	}
	v, used, err := p.operand(e, k, toks[i:], end)
	if err != nil {
		return nil, err
	}
	e.Value = v
	if j := i + used; j < len(toks) {
		return nil, p.errorf(toks[j].Col, "expected the end of the expectation (or within DUR), not %q", toks[j].Text)
	}
	return e, nil
}

func parseOp(s string) (Op, bool) {
	switch s {
	case "=", "==":
		return OpEq, true
	case "!=":
		return OpNe, true
	case "<", "<=", ">", ">=":
		return Op(s), true
	}
	return "", false
}

// operand reads the value of a comparison of a field of kind k. It returns
// how many tokens it used.
func (p *parser) operand(e *Expect, k kind, toks []token, end int) (Operand, int, error) {
	t := toks[0]
	bad := func(t token) error { return p.errorf(t.Col, "expected %s", k.want()) }
	if t.Quoted {
		return Operand{}, 0, bad(t)
	}
	w := keyword(t)
	// Another field of the same follower: replay < flush.
	if e.Subject != "leader" {
		if f, ok := followerFields[w]; ok {
			if f.kind != k {
				return Operand{}, 0, p.errorf(t.Col, "expected a field of the same kind as %s, not %s", e.Field, w)
			}
			return Operand{Subject: "self", Field: f.name}, 1, nil
		}
	} else if f, ok := leaderFields[w]; ok {
		if f.kind != k {
			return Operand{}, 0, p.errorf(t.Col, "expected a field of the same kind as %s, not %s", e.Field, w)
		}
		return Operand{Subject: "leader", Field: f.name}, 1, nil
	}
	// leader, or leader FIELD.
	if w == "leader" {
		if len(toks) > 1 {
			if f, ok := leaderFields[keyword(toks[1])]; ok {
				if f.kind != k {
					return Operand{}, 0, p.errorf(toks[1].Col, "expected a leader field of the same kind as %s, not %s", e.Field, f.name)
				}
				return Operand{Subject: "leader", Field: f.name}, 2, nil
			}
		}
		switch {
		case k == kLSN:
			return Operand{Subject: "leader", Field: "flush"}, 1, nil
		case e.Subject != "leader":
			if f, ok := leaderFields[e.Field]; ok && f.kind == k {
				return Operand{Subject: "leader", Field: f.name}, 1, nil
			}
		}
		if e.Subject == "leader" {
			return Operand{}, 0, p.errorf(t.Col, "expected a number or another leader field after %s", e.Op)
		}
		return Operand{}, 0, p.errorf(t.Col, "expected %s (the leader has no %s)", k.want(), e.Field)
	}
	// follower-N FIELD.
	if s, ok := subjectName(w); ok && s != "all" && strings.HasPrefix(w, "follower-") {
		if len(toks) < 2 {
			return Operand{}, 0, p.errorf(end+1, "expected a field of %s after its name", s)
		}
		f, ok := followerFields[keyword(toks[1])]
		if !ok || f.kind != k {
			return Operand{}, 0, p.errorf(toks[1].Col, "expected a field of %s of the same kind as %s", s, e.Field)
		}
		return Operand{Subject: s, Field: f.name}, 2, nil
	}
	// A literal.
	switch k {
	case kLSN:
		if w == "0" {
			return Operand{}, 1, nil
		}
		if strings.Count(w, "/") == 1 {
			if l, err := wal.ParseLSN(t.Text); err == nil && l.String() == strings.ToUpper(t.Text) {
				return Operand{N: int64(l)}, 1, nil
			}
		}
	case kCount:
		if n, err := strconv.ParseInt(t.Text, 10, 64); err == nil && n >= 0 {
			return Operand{N: n}, 1, nil
		}
	case kBytes:
		if n, err := cluster.ParseSize(t.Text); err == nil {
			return Operand{N: n}, 1, nil
		}
	case kDuration:
		if d, ok := parseDuration(t); ok {
			return Operand{N: int64(d)}, 1, nil
		}
	}
	return Operand{}, 0, bad(t)
}
