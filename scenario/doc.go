// Package scenario plays lessons: scenario files of timed cluster commands,
// captions, chapters and expectations.
//
// # Scenario files
//
// A scenario file is UTF-8 text, one statement a line. A # at the start of a
// word (outside quotes) begins a comment that runs to the end of the line;
// blank lines are ignored. Words are separated by spaces or tabs; a
// double-quoted string is one word, in which a backslash takes the next
// character literally (\" and \\). Keywords and command verbs are
// case-insensitive.
//
//	# The cut-link lesson, shortened.
//	title "Cut link and catch-up"
//	summary "The link to a follower is cut; restored, it catches up."
//	followers 3
//
//	rate 0                          # setup: runs at once, no key needed
//	latency all 200ms
//
//	chapter "Cut the link"
//	say "The network to follower-2 is cut."
//	cut follower-2
//	point follower-2 lane
//	expect follower-2 state cut within 5s
//
//	say "Its positions stop where the link broke."
//	freeze when follower-2 write < leader within 5s
//
//	chapter "Restore and catch up"
//	say "It asks to stream from its flush_lsn."
//	restore follower-2
//	slow 1/4 until follower-2 state streaming within 20s
//	rate 0
//	expect follower-2 matches leader within 20s
//
// # Statements
//
//	title "TEXT"         the scenario's title; first, before anything else
//	summary "TEXT"       one line for `walship scenarios`; after the title
//	followers N          the scenario needs N followers (1 to 9): players add
//	                     followers up to N before the setup; at the top
//	backends NAME...     what it is written for: engine, pg or both (see
//	                     Backends); at the top
//	chapter "TEXT"       starts a chapter
//	wait DUR             do nothing for DUR
//	[TIMING] COMMAND     a cluster command, as typed in the command palette
//	[TIMING] say "TEXT"  a caption, shown large until the next one: a step
//	[TIMING] expect EXPECTATION [within DUR]
//	[TIMING] HOLD        a held moment (see Held moments)
//	[TIMING] point SUBJECT [FIELD]   mark what a caption names (see Pointers)
//
//	TIMING = at DUR      DUR after the step started (at once if that has passed)
//	       | after DUR   DUR after the previous line finished
//	(none)               as soon as the previous line finished
//
// DUR is a Go duration: 300ms, 2s, 1m30s, 0. A title defaults to the file
// name. Lines before the first chapter are the setup: they run as soon as
// the scenario starts. Captions and titles must be printable text.
//
// COMMAND is any command of the cluster's command language, parsed by
// cluster.ParseCommand, the same parser the command palette and the
// recorder use: pause, resume, cut, restore, latency, bandwidth, corrupt,
// slice, crash, restart, backup, apply-delay, flush-delay, add, remove,
// sync, rate, write, set, del, freeze, unfreeze, speed, wal-keep, slots,
// checkpoint, promote, failover, read, probe (see cluster.Verbs); crash
// leader and restart leader [primary] act on the primary, whoever it is. A
// value starting with # must be quoted.
//
// # Steps
//
// A lesson goes at the presenter's pace, one step at a time. Each say line
// begins a step: the caption and the lines after it, up to the next
// caption. The lines before a chapter's first caption go with its first
// step, so a chapter without captions is one step. In the UI a step's
// caption (and its held moments and pointers) stays until the presenter
// moves on (Player.Next); headless runs play the steps straight through.
//
// # Held moments
//
// A held moment slows or freezes the world around the event a caption is
// about, so that it stays on screen long enough to talk about:
//
//	slow FACTOR                        the world at FACTOR (1/8, 0.25) until the step ends
//	slow FACTOR until EXPECTATION      ... until EXPECTATION holds, then as fast as before
//	slow FACTOR when EXPECTATION       once EXPECTATION holds, slow until the step ends
//	freeze when EXPECTATION            once EXPECTATION holds, freeze until the step ends
//
// EXPECTATION is what an expect line takes (within DUR included). One
// that does not hold in time fails as an expect does, and the world gets
// its speed back. FACTOR is at least 1/64 and below 1. A plain freeze line
// is the cluster command: the world stays frozen until an unfreeze line.
//
// # Pointers
//
// A point line marks on screen what the step is about, until the next
// step (at most MaxPoints a step):
//
//	point follower-N [FIELD]   the follower, or its state, paused, lane, sent, write,
//	                           flush, replay, crc-failures, resends, keys, records,
//	                           corrupted, backups or slot
//	point old-leader [FIELD]   the original leader, once it rejoined as a follower:
//	                           the same fields
//	point leader [FIELD]       the primary, or its insert, flush, oldest, retained,
//	                           wal-keep, segments, keys, commits, waiting-commits or slots
//	point reads                the recent reads (the read command and its probes)
//
// # Expectations
//
// An expect line states what must be true. It is checked against fresh
// snapshots of the cluster every PollInterval until it holds, or fails when
// `within DUR` (DefaultWithin, 15s, when not given; 15s more than a steady
// line's DUR) has passed. rises and steady cannot be used with all.
//
//	expect SUBJECT CHECK [within DUR]
//
//	SUBJECT = follower-N | N | all       a follower, or every follower
//	        | old-leader                  the original leader, once a failover
//	                                      made it a follower (it is listed with
//	                                      the followers as leader)
//	        | leader                      the primary, whoever it is now
//	        | LEADER-FIELD ...            short for leader LEADER-FIELD ...
//
//	CHECK on a follower:
//	  state [not] STATE                   startup catchup streaming backup stopped
//	                                      cut reconnecting "needs base backup"
//	                                      "no primary" "needs rewind" rewinding
//	                                      promoting
//	  [not] paused | connected | slot-lost
//	  wal-status [not] STATUS             its slot's wal_status (PostgreSQL's):
//	                                      reserved extended unreserved lost
//	  matches leader                      replay = leader flush (where a flush ends
//	                                      inside a record, as PostgreSQL's can: the
//	                                      last complete record replayed), and the same
//	                                      key count where the source sees keys
//	  FIELD OP VALUE
//	  FIELD rises                         goes above its value when the expect began
//	  FIELD steady for DUR                keeps one value for DUR
//	CHECK on the leader:
//	  state [not] PRIMARY-STATE           primary (takes writes), down, promoting
//	                                      (replaying its flushed WAL before it opens)
//	  name [not] NODE                     the node that leads: leader, follower-N
//	  LEADER-FIELD OP VALUE
//	  LEADER-FIELD rises
//	  LEADER-FIELD steady for DUR
//
//	OP = "=" | "==" | "!=" | "<" | "<=" | ">" | ">="
//
// Follower fields, with the PostgreSQL names they stand for:
//
//	sent                    LSN  sent_lsn: shipped by the leader
//	write (received)        LSN  write_lsn: received and written
//	flush (flushed)         LSN  flush_lsn: fsynced
//	replay (replayed)       LSN  replay_lsn: applied to the store
//	start                   LSN  oldest LSN in the follower's log
//	write-lag flush-lag replay-lag   duration: write_lag...; 0 when idle, never true while unknown
//	crc-failures resends keys backups records corrupted   counts
//	timeline                count: the timeline it receives on (never true while unknown)
//	fork                    LSN  where the timeline it must follow began, when its WAL
//	                             went past it (needs rewind, rewinding); 0 otherwise
//
// Leader fields: insert, flush, oldest (LSNs); keys, segments, records,
// commits, waiting-commits (counts); retained (bytes: insert - oldest);
// replay (LSN: while a follower is promoted, how far it has replayed its
// flushed WAL; its flush otherwise); timeline (the primary's timeline,
// TL n); lost (the acknowledged commits no timeline since has: every
// failover's count added up); fenced (old primaries running on a timeline
// the cluster left, which no follower follows).
//
// A VALUE is a literal of the field's kind (an LSN like 0/1A2B or 0, a whole
// number, a size like 64KiB, a duration like 2s), another field of the
// same follower (replay < flush), another follower's field
// (replay = follower-2 replay), or the leader: `leader` alone is the
// leader's flush LSN for positions and the leader's own count for keys and
// records; `leader FIELD` names one (write = leader insert). Both sides must
// be of the same kind.
//
//	expect follower-1 state streaming
//	expect follower-1 replay < flush
//	expect follower-2 replay = leader within 20s
//	expect follower-1 crc-failures >= 1
//	expect waiting-commits > 0
//	expect follower-3 state "needs base backup"
//	expect all matches leader
//	expect follower-1 not paused
//	expect leader retained > 64KiB
//	expect leader commits rises within 3s
//	expect follower-1 replay steady for 2s
//	expect leader state down
//	expect leader name follower-1
//	expect leader timeline = 2
//	expect lost = 0
//	expect follower-2 state "needs rewind"
//	expect all timeline = leader
//	expect old-leader state streaming
//
// Reads (the read command and its probes) have checks of their own, on
// the newest read, or the newest on one node:
//
//	expect read [on NODE] CHECK [within DUR]
//
//	NODE = leader | primary | follower-N | N   (leader and primary: the primary, whoever it is)
//	CHECK = [not] stale                   an older version than the leader's (STALE)
//	      | [not] found
//	      | [not] failed                  the node could not be read (stopped, missing)
//	      | value TEXT                    it returned TEXT
//	      | anomaly NAME                  read-your-writes (ryw), monotonic, or none
//	      | waited OP DUR                 how long a waiting read waited (world time)
//
//	expect read on follower-1 stale
//	expect read value "old"
//	expect read anomaly read-your-writes
//	expect read on follower-2 anomaly monotonic
//	expect read waited > 0
//
// # Backends
//
// A lesson plays on walship's own engine, or on a real PostgreSQL primary
// and its standbys (walship pg demo --scenario, walship check --pg). A
// backends line says which it was written for: `backends pg`, or
// `backends engine pg` for a lesson whose every line both take. Without
// one it is the engine's alone: its captions speak of frames, CRCs and
// latency that PostgreSQL's views do not show. LoadFor finds a built-in
// lesson's variant for a backend by name (on PostgreSQL, basic is
// basic-pg); a scenario not written for the backend is refused.
//
// On PostgreSQL the commands that map run as SQL (pause, resume, cut,
// restore, sync, rate, write, checkpoint, wal-keep, promote; see
// engine/pg), and the others are refused. Its servers run in real time:
// a held moment there waits for its conditions and checks them as expect
// lines, and slows or freezes nothing; WithSpeed must be 1. The player
// cannot take a real cluster back to a chapter's start, and says so.
//
// # Errors
//
// Parse stops at the first mistake and says where it is and what was
// expected, as FILE:LINE:COLUMN: MESSAGE, for example
//
//	lesson.scn:7:12: expected a duration like 300ms or 2s
//
// # Playing
//
// A Player plays a scenario for the terminal UI and implements Lesson: the
// setup runs at once; each step waits for Next. Entering a chapter
// checkpoints the world through a Rewinder (WithRewinder), and Prev,
// Restart and Back rewind to a chapter's checkpoint and play it again.
// Without a Rewinder, going back is refused: re-running a chapter's lines
// on a world that has moved on would not play the same.
//
// Timing (at, after, wait, within, steady for) runs on the world clock as
// the snapshots report it: real time times the speed, standing still
// while the world is frozen. A teacher who freezes the world (space) or
// slows it (<) holds or slows the lesson with it, and no expect times out
// meanwhile. While the world is frozen by the scenario's own freeze,
// timing runs on in real time, so its unfreeze still comes. Real time is
// read from a Clock (WithClock), which tests replace.
//
// RunHeadless plays a scenario with no terminal, for tests and
// `walship check --scenario`: steps do not wait, held moments end with
// their step's lines, every expect is checked, and the first failure is
// returned with its file, line and what was seen. WithSpeed plays it with
// the world that many times as fast.
//
// # Recording
//
// A Recorder wraps a cluster.Controller and logs every command with its
// time; WriteScenario turns the log into a scenario (the follower count,
// the settings the session began with, then `at` lines) that plays the
// session back. A CastWriter records what the UI draws as an asciicast v2
// file for `asciinema play`, with a marker at each chapter and step.
package scenario
