// Package replica holds the replication protocol's decisions, apart from
// its I/O: positions and values in, a verdict and a reason out.
//
// The leader's side:
//
//   - Progress is the leader's view of one follower (a pg_stat_replication
//     row and its slot): the positions sent to it and reported by it, its
//     connection epoch, whether it is streaming.
//   - Leader holds every follower's Progress and the settings the rules
//     read, and decides: which connections to admit (Admit, Eviction),
//     whether a status report can be true (Report), whether a commit is
//     released under synchronous_commit with ANY n and, when not, why
//     (Commit), how far the rule has reached (Watermark) and each
//     follower's sync_state (SyncRule.SyncState), and what WAL retention
//     keeps and which slots it loses (Retain).
//
// The follower's side:
//
//   - Follower is one follower's positions, state (startup, catchup,
//     streaming, backup, stopped, reconnecting, needs base backup) and
//     counters, and what it does with each frame from the leader and with
//     each thing its own stages report: append this run of records, ask a
//     resend from here (a CRC failure, a gap, or a keepalive saying the
//     leader sent more than the log holds: frames lost on the way), drop
//     a duplicate, install a base backup.
//
// Nothing here reads a clock (the time is passed in), sleeps, or touches a
// socket or a file; decisions return events as values (Event) and say
// what the caller must do (Effects, RetainPlan, Verdict). The types that
// own the sockets, files and goroutines are engine/ship's Leader and
// Follower, which ask this package what to do. A test on go list -deps
// keeps net, os and syscall out of it.
//
// Positions, all byte offsets in the log stream (see engine/wal):
//
//	received (write_lsn)   written to the follower's log, not yet durable
//	flushed  (flush_lsn)   fsynced: what the follower keeps if it crashes now
//	replayed (replay_lsn)  applied to the follower's store: what reads see
//
// Invariant, checked wherever they move: replayed <= flushed <= received
// <= the leader's flushed LSN.
//
// The tests in testdata/ are lessons as much as tests: each file is a
// story (a commit waiting at each synchronous_commit level, a CRC failure
// and its resend, a follower falling off retained WAL) told as commands
// and what the core answered. go test -rewrite regenerates the answers.
//
// Timelines (a promoted follower's new history) are not here yet; they fit
// as fields of Progress and Follower (the timeline each is on) and of
// Leader (its history of fork LSNs), and as one more decision beside
// Admit, without changing the ones above.
package replica
