package scenario

import (
	"fmt"
	"strings"

	"walship/engine/cluster"
)

// What expect lines can say about failover: who the primary is and in
// what state, timelines, the fork a diverged follower went past, the
// acknowledged commits lost, and old primaries running fenced.

// oldLeader is the subject for the original leader when, after a
// failover, it runs as a follower (listed with the followers under
// cluster.LeaderName).
const oldLeader = "old-leader"

// leaderStates are the primary's states (expect leader state ...).
var leaderStates = []string{cluster.PrimaryUp, cluster.PrimaryDown, cluster.PrimaryPromoting}

func init() {
	for name, k := range map[string]kind{
		"timeline": kCount, // the timeline it receives on
		"fork":     kLSN,   // the fork LSN its WAL went past (needs rewind, rewinding)
	} {
		followerFields[name] = struct {
			name string
			kind kind
		}{name, k}
	}
	for name, k := range map[string]kind{
		"state":    kState, // primary, down, promoting
		"name":     kName,  // the node that leads
		"timeline": kCount, // the primary's timeline
		"replay":   kLSN,   // while promoting: how far its replay has caught up
		"lost":     kCount, // acknowledged commits lost, over every failover
		"fenced":   kCount, // old primaries running fenced on a timeline the cluster left
	} {
		leaderFields[name] = struct {
			name string
			kind kind
		}{name, k}
	}
}

// nodeName reads a node's name: leader, or a follower's (follower-2, 2).
func nodeName(s string) (string, bool) {
	s = strings.ToLower(s)
	if s == cluster.LeaderName {
		return s, true
	}
	if i, ok := cluster.FollowerIndex(s); ok && i < 1000 && !strings.Contains(s, "+") {
		return cluster.FollowerName(i), true
	}
	return "", false
}

// failoverFollowerValue is a follower's failover field.
func failoverFollowerValue(f *cluster.FollowerStatus, field string) value {
	switch field {
	case "timeline":
		return value{int64(f.Timeline), f.Timeline != 0}
	case "fork":
		return value{int64(f.ForkLSN), true}
	}
	return value{}
}

// failoverLeaderValue is a failover field of the primary, or of the
// cluster, in s; ok is false for the leader's other fields.
func failoverLeaderValue(s *cluster.Snapshot, field string) (v value, ok bool) {
	switch field {
	case "timeline":
		return value{int64(s.Leader.Timeline), s.Leader.Timeline != 0}, true
	case "replay":
		return value{int64(s.Leader.ReplayLSN), true}, true
	case "lost":
		var n uint64
		for _, l := range s.Lost {
			n += l.Count
		}
		return value{int64(n), true}, true
	case "fenced":
		return value{int64(len(s.Fenced)), true}, true
	}
	return value{}, false
}

// checkLeader checks the primary's state and name; done is false for
// the fields checkComparison checks.
func (e *Expect) checkLeader(s *cluster.Snapshot) (ok bool, seen string, done bool) {
	l := &s.Leader
	name := l.Name
	if name == "" {
		name = cluster.LeaderName
	}
	switch e.Field {
	case "state":
		st := l.State
		if st == "" {
			st = cluster.PrimaryUp // a source that does not report it
		}
		return (st == e.State) != e.Not, fmt.Sprintf("leader state %s (%s, timeline %d)", st, name, l.Timeline), true
	case "name":
		if l.Name == "" {
			return false, "the source does not name the leader", true
		}
		return (l.Name == e.State) != e.Not, fmt.Sprintf("leader name %s (state %s, timeline %d)", l.Name, l.State, l.Timeline), true
	}
	return false, "", false
}
