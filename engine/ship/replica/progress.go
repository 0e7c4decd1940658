package replica

import (
	"fmt"

	"walship/engine/wal"
	"walship/engine/wire"
)

// Progress is the leader's view of one follower, kept across its
// connections: a row of pg_stat_replication, and its replication slot.
// Leader's methods change it; a copy is a plain value.
type Progress struct {
	Name string
	Addr string // the address of its current or last connection (client_addr)
	// Epoch counts its accepted connections: 0 before the first. Events
	// of a connection that has ended carry an older epoch and change
	// nothing.
	Epoch     uint64
	Connected bool
	// Streaming: connected, and its sender has sent everything the leader
	// had flushed at least once since it connected (walsender state
	// "streaming", else "catchup"). Only streaming followers count toward
	// a commit's ANY n.
	Streaming bool
	Sent      wal.LSN // where its sender is (it moves back on a resend)
	// SentMax is the most the follower can have on this connection: its
	// start, then the furthest its sender got. A status reporting more
	// is a lie (see StatusLie).
	SentMax wal.LSN
	// Positions as reported on this connection; at connect they are cut
	// back to its start, so nothing counts that it has not reported
	// since.
	Write, Flush, Replay wal.LSN
	Slot                 Slot
	LastError            string // why its last connection ended

	lags [3]lagCursor // write, flush, replay
}

// Slot is a follower's replication slot: the leader keeps WAL from
// Restart on for it, unless the slot is lost.
type Slot struct {
	Enabled bool
	Restart wal.LSN // restart_lsn: the oldest WAL the follower may still need
	Lost    bool    // passed max_slot_wal_keep_size and invalidated
}

// confirms reports whether pr counts toward a commit ending at end under
// mode (remote_write, on or remote_apply): only a streaming follower
// counts, as only streaming standbys count toward PostgreSQL's
// synchronous_standby_names = ANY n. A stopped, cut or catching-up
// follower's last report never releases a commit.
func (pr *Progress) confirms(mode SyncMode, end wal.LSN) bool {
	return pr.Streaming && pr.at(mode) >= end
}

// at is the position mode waits for.
func (pr *Progress) at(mode SyncMode) wal.LSN {
	switch mode {
	case SyncRemoteWrite:
		return pr.Write
	case SyncOn:
		return pr.Flush
	}
	return pr.Replay
}

// StatusLie says why a follower's status report cannot be true, or ""
// when it can. sent is the most the follower can have: what it had when it
// connected (checked against the leader's flush) and what the leader has
// sent it since. A follower never reports a position it has not
// received, nor its positions out of order (replay <= flush <= write).
func StatusLie(s wire.Status, sent wal.LSN) string {
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

// Row is one follower as the leader sees it at a moment, with its lags:
// a row of pg_stat_replication.
type Row struct {
	Progress
	WriteLag, FlushLag, ReplayLag Lag
	SyncState                     string // async, potential or quorum; "" with no connection (see SyncRule.SyncState)
}
