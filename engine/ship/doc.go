// Package ship is walship's replication protocol: the leader's side (a
// Primary that appends, group-flushes, streams WAL to each follower, tracks
// their reported positions and lags, holds commits for the sync rule, and
// checkpoints its store before retention removes the WAL it was rebuilt
// from, so a restart recovers from checkpoint plus WAL)
// and the follower's side (a Standby with three stages — receive, flush,
// replay — each with its own goroutine and position).
//
// The frames are those of engine/wire. The follower dials, as a PostgreSQL
// standby does: Hello (magic, version, name, start LSN), then the leader
// answers Welcome or Refuse and streams Data frames from the start LSN,
// reading its log from disk when the follower is behind and from the fresh
// tail when it is caught up. The follower answers with Status frames
// (write/flush/replay LSN and its time) whenever a position moves and at an
// interval, asks for a Resend from its write position after a CRC failure,
// and asks for a base backup after the leader answered "WAL removed".
//
// Positions, all byte offsets in the log stream (see engine/wal):
//
//	received (write_lsn)   written to the follower's log, not yet durable
//	flushed  (flush_lsn)   fsynced: what the follower keeps if it crashes now
//	replayed (replay_lsn)  applied to the follower's store: what reads see
//
// Invariant, checked wherever they move: replayed <= flushed <= received <=
// the leader's flushed LSN.
package ship
