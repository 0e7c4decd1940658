package scenario

import (
	"fmt"
	"strings"
	"time"

	"walship/engine/cluster"
)

// Expectations on reads (the read command and its probes): they look at
// the newest read in the snapshot (Snapshot.Reads), or the newest on one
// node.
//
//	expect read [on NODE] CHECK          NODE: leader or primary (the primary, whatever its
//	                                     name), or a follower
//
//	CHECK = stale | not stale            older than the leader's version
//	      | found | not found
//	      | failed | not failed          the node could not be read
//	      | value TEXT                   it returned TEXT
//	      | anomaly NAME | anomaly none  read-your-writes (ryw) or monotonic reads (monotonic)
//	      | waited OP DUR                how long a waiting read waited

// readChecks are the checks on a read, and whether `not` may come first.
var readChecks = map[string]bool{
	"stale": true, "found": true, "failed": true, "value": false, "anomaly": false, "waited": false,
}

// anomalyNames maps what an expect line may call an anomaly to its name.
var anomalyNames = map[string]string{
	"read-your-writes": cluster.AnomalyRYW, "ryw": cluster.AnomalyRYW,
	"monotonic": cluster.AnomalyMonotonic, "monotonic-reads": cluster.AnomalyMonotonic,
	cluster.AnomalyMonotonic: cluster.AnomalyMonotonic, "none": "",
}

// expectRead parses what follows `expect read` (toks) into e.
func (p *parser) expectRead(e *Expect, toks []token, end int) (*Expect, error) {
	e.Subject = "read"
	at := func(i int) (token, bool) {
		if i < len(toks) {
			return toks[i], true
		}
		return token{Col: end + 1}, false
	}
	const what = "expected what to check on the read: stale, found, failed, value TEXT, anomaly NAME, waited OP DUR (or on NODE first)"
	i := 0
	if t, _ := at(0); keyword(t) == "on" {
		n, ok := at(1)
		name, isName := subjectName(n.Text)
		if keyword(n) == cluster.PrimaryNode {
			name, isName = cluster.PrimaryNode, true
		}
		if !ok || !isName || name == "all" || n.Quoted {
			return nil, p.errorf(n.Col, "expected the node read: leader, primary, or a follower (follower-2, 2)")
		}
		e.Node, i = name, 2
	}
	t, ok := at(i)
	if !ok {
		return nil, p.errorf(t.Col, what)
	}
	if keyword(t) == "not" {
		e.Not = true
		i++
		if t, ok = at(i); !ok {
			return nil, p.errorf(t.Col, "expected stale, found or failed after not")
		}
	}
	canNot, known := readChecks[keyword(t)]
	if !known {
		return nil, p.errorf(t.Col, what)
	}
	if e.Not && !canNot {
		return nil, p.errorf(t.Col, "expected stale, found or failed after not")
	}
	e.Field = keyword(t)
	i++
	rest := func(j int) error {
		if j < len(toks) {
			return p.errorf(toks[j].Col, "expected the end of the expectation (or within DUR), not %q", toks[j].Text)
		}
		return nil
	}
	switch e.Field {
	case "value":
		v, ok := at(i)
		if !ok {
			return nil, p.errorf(v.Col, "expected the value read, e.g. value \"old\"")
		}
		e.Text = v.Text
		return e, rest(i + 1)
	case "anomaly":
		v, ok := at(i)
		name, known := anomalyNames[strings.ToLower(v.Text)]
		if !ok || !known {
			return nil, p.errorf(v.Col, "expected an anomaly: read-your-writes (ryw), monotonic, or none")
		}
		e.Text = name
		return e, rest(i + 1)
	case "waited":
		o, ok := at(i)
		op, isOp := parseOp(o.Text)
		if !ok || !isOp || o.Quoted {
			return nil, p.errorf(o.Col, "expected a comparison (=, !=, <, <=, >, >=) after waited")
		}
		e.Op = op
		d, err := p.duration(toks, i+1, end)
		if err != nil {
			return nil, err
		}
		e.Value = Operand{N: int64(d)}
		return e, rest(i + 2)
	}
	return e, rest(i)
}

// newestRead is the newest read in s, or the newest on node when it is
// not "". A read names the node that answered: on leader or primary
// means the primary, whatever its name is now (after a failover, the
// promoted follower's).
func newestRead(s *cluster.Snapshot, node string) (cluster.ReadResult, bool) {
	primary := node == cluster.PrimaryNode || node == cluster.LeaderName
	for i := len(s.Reads) - 1; i >= 0; i-- {
		n := s.Reads[i].Node
		if node == "" || n == node || primary && s.Leader.Name != "" && n == s.Leader.Name {
			return s.Reads[i], true
		}
	}
	return cluster.ReadResult{}, false
}

// checkRead checks an expectation on the newest read.
func (e *Expect) checkRead(s *cluster.Snapshot) (bool, string) {
	r, ok := newestRead(s, e.Node)
	if !ok {
		if e.Node != "" {
			return false, "no read on " + e.Node + " yet"
		}
		return false, "no read yet"
	}
	seen := "the newest read: " + cluster.ReadText(r)
	switch e.Field {
	case "stale":
		return r.Err == "" && r.Stale != e.Not, seen
	case "found":
		return r.Err == "" && r.Found != e.Not, seen
	case "failed":
		return (r.Err != "") != e.Not, seen
	case "value":
		return r.Err == "" && r.Found && r.Value == e.Text, seen
	case "anomaly":
		return r.Err == "" && r.Anomaly == e.Text, seen
	case "waited":
		seen += fmt.Sprintf(" (waited %s)", r.Waited.Round(time.Millisecond))
		return r.Err == "" && compare(e.Op, int64(r.Waited), e.Value.N), seen
	}
	return false, seen
}
