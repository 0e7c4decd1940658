// Package ship is walship's replication protocol at work: the shells that
// own the sockets, the files and the goroutines. Every decision they act
// on is made by package replica, over plain values; ship gathers the
// facts (what a socket read, what a log holds, what time it is), asks,
// and carries out the answer.
//
// The leader's side is a Leader: it appends, group-flushes, streams WAL to
// each follower from a sender goroutine per connection, reads their status
// reports, holds commits until the sync rule releases them, and removes
// WAL at checkpoints, writing a checkpoint of its store first so that a
// restart recovers from checkpoint plus WAL. The follower's side is a
// Follower with three stages, each with its own goroutine and position:
// receive (write to its WAL), flush (fsync) and replay (apply to its
// store).
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
// Invariant, checked wherever they move (see replica.Follower):
// replayed <= flushed <= received <= the leader's flushed LSN.
package ship
