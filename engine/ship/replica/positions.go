package replica

import (
	"fmt"

	"walship/engine/wal"
)

// Positions are a follower's three positions.
//
// Invariant: Replay <= Flush <= Write (and Write <= the leader's flushed
// LSN, which the follower checks against what the leader has told it).
type Positions struct {
	Write  wal.LSN // received and written (write_lsn)
	Flush  wal.LSN // fsynced (flush_lsn)
	Replay wal.LSN // applied to the store (replay_lsn)
}

// Check reports a broken invariant; leader is the highest LSN the leader is
// known to have flushed (0 to skip that part).
func (p Positions) Check(leader wal.LSN) error {
	if p.Replay > p.Flush || p.Flush > p.Write {
		return fmt.Errorf("replica: position invariant broken: replay %s, flush %s, write %s", p.Replay, p.Flush, p.Write)
	}
	if leader != 0 && p.Write > leader {
		return fmt.Errorf("replica: follower wrote %s past the leader's flush %s", p.Write, leader)
	}
	return nil
}

func (p Positions) String() string {
	return fmt.Sprintf("write %s flush %s replay %s", p.Write, p.Flush, p.Replay)
}

// State names for a follower, as PostgreSQL names them where it has a name.
const (
	StateStartup      = "startup"
	StateCatchup      = "catchup"
	StateStreaming    = "streaming"
	StateBackup       = "backup"
	StateStopped      = "stopped"
	StateReconnecting = "reconnecting"
	StateNeedsBackup  = "needs base backup"
	// StateNeedsRewind: the leader refused it because its WAL went past
	// the fork LSN of the leader's timeline.
	StateNeedsRewind = "needs rewind"
	// StatePromoting: it stopped streaming to replay its flushed WAL to
	// the end before it opens as a leader.
	StatePromoting = "promoting"
)

// stateFacts are the facts a follower's state is decided from.
type stateFacts struct {
	everConnected bool
	connected     bool
	caughtUp      bool // write reached the leader's flush since connecting
	inBackup      bool
	walRemoved    bool // the leader said the WAL we need is gone
	needsRewind   bool // the leader said our WAL went past its timeline's fork
	promoting     bool
	stopped       bool
}

func (f stateFacts) name() string {
	switch {
	case f.stopped:
		return StateStopped
	case f.promoting:
		return StatePromoting
	case f.inBackup:
		return StateBackup
	case f.walRemoved:
		return StateNeedsBackup
	case f.needsRewind:
		return StateNeedsRewind
	case f.connected && f.caughtUp:
		return StateStreaming
	case f.connected:
		return StateCatchup
	case f.everConnected:
		return StateReconnecting
	}
	return StateStartup
}
