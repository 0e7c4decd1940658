package replica

import "walship/engine/wal"

// Event kinds raised by the protocol. The cluster's event log shows them;
// the strings match its EventKind values.
const (
	EvInfo       = "info"
	EvConnect    = "connect"
	EvDisconnect = "disconnect"
	EvCRC        = "crc-failure"
	EvResend     = "resend"
	EvWALRemoved = "wal-removed"
	EvBackup     = "base-backup"
	EvRecovery   = "recovery"
	EvSlot       = "slot"
	EvRefused    = "refused"
	EvError      = "error"
	EvTimeline   = "timeline" // a timeline followed, or refused for divergence
	EvPromote    = "promote"
	EvRewind     = "rewind"
	EvLost       = "lost"
)

// Event is something a person watching should see.
type Event struct {
	Follower string // "" for the leader
	Kind     string
	LSN      wal.LSN
	Text     string
}
