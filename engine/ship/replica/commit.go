package replica

import (
	"fmt"
	"slices"
	"strings"

	"walship/engine/wal"
)

// Verdict is the commit rule's answer for one commit.
type Verdict struct {
	Released bool
	// Reason says why a commit still waits, in words a person can read
	// on screen: "waiting for replay of 0/340 on 1 of 2: follower-1 at
	// 0/300, follower-2 disconnected". "" when released.
	Reason string
}

// Released reports whether a commit ending at end is released under the
// sync rule in force, the leader having flushed flushed: Commit's
// Released, without the words (it is asked on every wake-up of every
// waiting commit). A remote rule releases what its watermark has reached.
func (l *Leader) Released(end, flushed wal.LSN) bool {
	r := l.set.Rule
	switch {
	case r.Mode == SyncOff:
		return true
	case flushed < end:
		return false
	case !r.Remote():
		return true
	}
	w, ok := l.watermark()
	return ok && w >= end
}

// Watermark is the position the sync rule has reached: the highest LSN
// that n streaming followers have confirmed under its mode, so that a
// commit ending at or below it (and flushed by the leader) is released.
// It is 0 when the rule waits for no follower, or while fewer than n
// followers stream.
func (l *Leader) Watermark() wal.LSN {
	w, _ := l.watermark()
	return w
}

// watermark is Watermark, and whether n streaming followers exist to
// reach it at all (a commit ending at 0/0 is not released by none).
func (l *Leader) watermark() (wal.LSN, bool) {
	r := l.set.Rule
	if !r.Remote() {
		return 0, false
	}
	var pos []wal.LSN
	for _, pr := range l.followers {
		if pr.Streaming {
			pos = append(pos, pr.at(r.Mode))
		}
	}
	if len(pos) < r.N {
		return 0, false
	}
	slices.Sort(pos)
	return pos[len(pos)-r.N], true
}

// confirmed counts the followers that confirm a commit ending at end
// under mode, for the words of Commit.
func (l *Leader) confirmed(mode SyncMode, end wal.LSN) int {
	n := 0
	for _, pr := range l.followers {
		if pr.confirms(mode, end) {
			n++
		}
	}
	return n
}

// SyncState is a follower's sync_state as pg_stat_replication names it
// under synchronous_standby_names = ANY n: every streaming follower is a
// quorum candidate; one still catching up is only potential; with no
// remote rule all are async. A follower with no connection has no row
// there: "".
func (r SyncRule) SyncState(pr Progress) string {
	switch {
	case !pr.Connected:
		return ""
	case !r.Remote():
		return "async"
	case pr.Streaming:
		return "quorum"
	}
	return "potential"
}

// Commit is synchronous_commit with synchronous_standby_names = ANY n:
// whether a commit ending at end is released, the leader having flushed
// flushed, and if not, why.
//
//   - off: released at once, not even the leader's fsync waited for;
//   - local: released once the leader has flushed it;
//   - remote_write, on, remote_apply: once the leader has flushed it and
//     n streaming followers have reported it written, flushed or
//     replayed. A follower that is not streaming (stopped, cut, catching
//     up) never counts, whatever it reported before.
func (l *Leader) Commit(end, flushed wal.LSN) Verdict {
	if l.Released(end, flushed) {
		return Verdict{Released: true}
	}
	r := l.set.Rule
	if flushed < end {
		return Verdict{Reason: fmt.Sprintf("waiting for the leader's fsync of %s (flushed %s)", end, flushed)}
	}
	what := r.Mode.position()
	fs := l.sorted()
	if len(fs) == 0 {
		return Verdict{Reason: fmt.Sprintf("waiting for %s of %s on %d: no follower has connected", what, end, r.N)}
	}
	var b strings.Builder
	if r.N > len(fs) {
		fmt.Fprintf(&b, "waiting for %s of %s on %d followers, and there are %d", what, end, r.N, len(fs))
	} else {
		fmt.Fprintf(&b, "waiting for %s of %s on %d of %d", what, end, r.N, len(fs))
	}
	switch k := l.confirmed(r.Mode, end); k {
	case 0:
	case 1:
		b.WriteString(" (1 has it)")
	default:
		fmt.Fprintf(&b, " (%d have it)", k)
	}
	sep := ": "
	for _, pr := range fs {
		if pr.confirms(r.Mode, end) {
			continue
		}
		b.WriteString(sep)
		sep = ", "
		switch {
		case pr.Streaming:
			fmt.Fprintf(&b, "%s at %s", pr.Name, pr.at(r.Mode))
		case pr.Connected:
			fmt.Fprintf(&b, "%s in catchup", pr.Name)
		default:
			fmt.Fprintf(&b, "%s disconnected", pr.Name)
		}
	}
	return Verdict{Reason: b.String()}
}
