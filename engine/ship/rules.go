package ship

import (
	"fmt"

	"walship/engine/wal"
	"walship/engine/wire"
)

// Decisions about what followers say, as pure functions over plain
// values: positions in, a verdict (and a reason) out. The goroutines that
// own the sockets gather the values and act on the verdict.

// statusLie says why a follower's status report cannot be true, or ""
// when it can. sent is the most the follower can have: what it had when it
// connected (checked against the leader's flush) and what the leader has
// sent it since. A follower never reports a position it has not
// received, nor its positions out of order (replay <= flush <= write).
func statusLie(s wire.Status, sent wal.LSN) string {
	switch {
	case s.Write > sent:
		return fmt.Sprintf("status reports write %s, past the %s it was sent", s.Write, sent)
	case s.Flush > s.Write:
		return fmt.Sprintf("status reports flush %s past its write %s", s.Flush, s.Write)
	case s.Replay > s.Flush:
		return fmt.Sprintf("status reports replay %s past its flush %s", s.Replay, s.Flush)
	}
	return ""
}

// report is what the commit rule knows of one follower: whether it is
// streaming now (connected, and its sender has caught up at least once
// since it connected, as PostgreSQL's walsender state "streaming"), and
// the positions it last reported on that connection.
type report struct {
	streaming            bool
	write, flush, replay wal.LSN
}

// confirms reports whether a follower's report counts toward a commit
// ending at end under mode (remote_write, on or remote_apply): only a
// streaming follower counts, as only streaming standbys count toward
// PostgreSQL's synchronous_standby_names = ANY n. A stopped, cut or
// catching-up follower's last report never releases a commit.
func confirms(mode SyncMode, end wal.LSN, r report) bool {
	if !r.streaming {
		return false
	}
	switch mode {
	case SyncRemoteWrite:
		return r.write >= end
	case SyncOn:
		return r.flush >= end
	}
	return r.replay >= end
}
