package cluster

import (
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// Snapshot is a value copy of everything the UI draws. Nothing in it is
// shared with the running cluster, so a reader may keep it as long as it
// likes. Times marked "world" are on the world clock (see engine/clock).
type Snapshot struct {
	World  time.Duration // world time of the snapshot
	Speed  float64       // world clock speed factor
	Frozen bool          // world clock stopped

	Leader    LeaderStatus
	Followers []FollowerStatus

	// Frames in flight on every link, oldest first, with a 0..1 position.
	Frames []Frame
	// FramesOmitted counts frames in flight not listed because each link's
	// list is bounded (see link.MaxTracked).
	FramesOmitted int

	// Events with Seq greater than the sequence number asked for, oldest
	// first; at most EventRingSize.
	Events []Event
	// LastEvent is the newest event's sequence number (0 when none yet).
	LastEvent uint64

	// Source says what produced the snapshot and what it cannot observe.
	// The zero value is the in-process engine, which observes everything.
	Source Source

	// Fatal says what stopped the cluster: a panic in one of the engine's
	// goroutines ("panic in follower-2 replayer: ..."). "" while it runs.
	// The UI quits with it.
	Fatal string

	// History is the timeline history of the primary's timeline
	// (Leader.Timeline), oldest first: empty on timeline 1.
	History []TimelineSwitch
	// Reads are the most recent reads (the read command and its probes),
	// oldest first; at most ReadRingSize.
	Reads []ReadResult
	// Lost lists, per failover, the commits the leader acknowledged that
	// the new timeline does not have; oldest first. Empty while none was
	// lost.
	Lost []LostWrites
	// Fenced lists the nodes running as a primary on a timeline the
	// cluster has left (an old leader restarted as a leader after a
	// failover): the split. No follower follows them.
	Fenced []FencedPrimary
}

// ReadRingSize bounds Snapshot.Reads.
const ReadRingSize = 8

// ReadResult is one read of a key on one node, as a client saw it.
type ReadResult struct {
	Seq   uint64
	World time.Duration // world time it was answered
	Node  string        // the node read: LeaderName or a follower's name
	Key   string
	Value string // "" when not found
	Found bool
	// VersionLSN is where the record that wrote the version read starts
	// (0 when not found, or unknown).
	VersionLSN wal.LSN
	ReplayLSN  wal.LSN // the node's replay LSN when it answered
	// PrimaryLSN is the LSN of the primary's version of the key at that
	// moment (0: not found there, or no primary is up).
	PrimaryLSN wal.LSN
	Stale      bool // an older version than the primary's
	// WaitLSN is the replay LSN a waiting read waited for (0: it did not
	// wait); Waited is how long it waited, in world time.
	WaitLSN wal.LSN
	Waited  time.Duration
	// Anomaly names what a probe saw: "read-your-writes" or
	// "monotonic reads"; "" when none.
	Anomaly string
	Err     string // why the read failed ("follower-2 is stopped"); "" when it answered
}

// TimelineSwitch is one entry of a timeline history file, as in
// PostgreSQL's 0000000N.history: timeline Timeline ended at ForkLSN,
// where Timeline+1 begins.
//
// It is the protocol's own (engine/ship/replica).
type TimelineSwitch = replica.TimelineSwitch

// LostWrites are commits the leader acknowledged that a new timeline
// does not have: they were past the fork LSN of the promoted node.
type LostWrites struct {
	Timeline uint32  // the new timeline they are missing from
	ForkLSN  wal.LSN // where it forked
	Promoted string  // the node promoted
	Rule     SyncRule
	From, To wal.LSN // from the start of the first lost commit to the end of the last
	Count    uint64
	Keys     []string // a sample of their keys, at most LostSampleKeys
}

// LostSampleKeys bounds LostWrites.Keys.
const LostSampleKeys = 5

// FencedPrimary is a node that runs as a primary on a timeline the
// cluster has left. It may take writes, but no follower follows them.
type FencedPrimary struct {
	Name      string
	Timeline  uint32
	InsertLSN wal.LSN
	FlushLSN  wal.LSN
	Commits   uint64 // commits it took since it started
}

// Source names where a snapshot comes from and what it cannot observe;
// fields it cannot observe stay zero and the UI says so instead of
// drawing them.
type Source struct {
	Name         string     // "" for the in-process engine; "PostgreSQL" for engine/pg
	Unobservable Observable // what Name's views do not show
}

// Observable is a set of things a source may be unable to see.
type Observable uint

// The things a source may be unable to see.
const (
	ObsFrames    Observable = 1 << iota // frames in flight (Frames stays empty)
	ObsCRC                              // CRC failures, resends, corrupted frames
	ObsLink                             // link latency, jitter, bandwidth, bytes
	ObsApplyCost                        // per-record apply and per-fsync cost
	ObsKeys                             // keys in the stores
	ObsRecords                          // WAL records by type, and their rate
	ObsCommits                          // the clients' commits (LeaderStatus.Commits)
)

// Observes reports whether the source can see all of o.
func (s Source) Observes(o Observable) bool { return s.Unobservable&o == 0 }

// LeaderName is the name of the node that starts as the leader. Node
// names never change: after a promotion LeaderStatus.Name is the promoted
// follower's, and the node named LeaderName, when it rejoins, is listed
// with the followers (Index 0).
const LeaderName = "leader"

// The primary's states (LeaderStatus.State).
const (
	PrimaryUp        = "primary"   // accepting writes
	PrimaryDown      = "down"      // crashed or stopped: nobody takes writes
	PrimaryPromoting = "promoting" // replaying its flushed WAL before it opens for writes
)

// LeaderStatus is the primary's side: its log, store, workload and sync rule.
type LeaderStatus struct {
	Addr        string  // listen address, e.g. 127.0.0.1:40123
	InsertLSN   wal.LSN // end of the log (written by the workload)
	FlushLSN    wal.LSN // fsynced on the leader: what senders may ship
	OldestLSN   wal.LSN // oldest LSN still retained on disk
	Segments    int     // segment files on disk
	SegmentSize int64
	WALKeep     int64 // bytes kept behind the end (wal_keep_size)
	Slots       bool  // replication slots on
	MaxSlotWAL  int64 // slot cap (max_slot_wal_keep_size); 0 = none
	Keys        int   // keys in the leader's store
	Records     uint64

	Rate       float64 // measured records per second (world time)
	TargetRate float64 // workload setting, records per second of world time

	Sync           SyncRule
	WaitingCommits int // commits waiting for the sync rule
	Commits        uint64
	// CommitWait says why the oldest waiting commit waits, in words: "waiting
	// for replay of 0/340 on 1 of 2: follower-1 at 0/300, follower-2
	// disconnected". "" when none waits.
	CommitWait string
	// OldestWaitingLSN is the end of the oldest commit waiting for the
	// sync rule (0: none waits, or the source cannot tell).
	OldestWaitingLSN wal.LSN
	// SyncWatermark is what the sync rule has reached: the highest LSN
	// that n streaming followers confirmed in its mode (0: the rule waits
	// for no follower, fewer than n stream, or the source cannot tell).
	SyncWatermark wal.LSN
	// CommitLatency is how long the last commits took to be released
	// (world time; Commits 0 when none was measured).
	CommitLatency CommitLatency

	// RecordEndLSN is the end of the last complete record at or below
	// FlushLSN where the two differ (a real flush can end on a page
	// boundary inside a record); 0 means FlushLSN. A follower that has
	// replayed up to it is caught up.
	RecordEndLSN wal.LSN
	Timeline     uint32 // 0 when the source has no timelines
	// Stale: the source cannot reach the leader now; the values above are
	// the last it saw.
	Stale bool

	// ReplayLSN is, while a follower is promoted (State
	// PrimaryPromoting), how far its replay has caught up with FlushLSN;
	// FlushLSN otherwise.
	ReplayLSN wal.LSN

	// Name is the node that leads: LeaderName until a promotion ("" for
	// a source that does not name it).
	Name string
	// State is one of the Primary* constants ("" for a source that does
	// not report it: read it as PrimaryUp).
	State string
}

// SyncMode is synchronous_commit (defined by the protocol in engine/ship).
type SyncMode = replica.SyncMode

// The synchronous_commit settings, weakest first.
const (
	SyncOff         = replica.SyncOff
	SyncLocal       = replica.SyncLocal
	SyncRemoteWrite = replica.SyncRemoteWrite
	SyncOn          = replica.SyncOn // remote flush
	SyncRemoteApply = replica.SyncRemoteApply
)

// ParseSyncMode accepts the names PostgreSQL uses.
func ParseSyncMode(s string) (SyncMode, error) { return replica.ParseSyncMode(s) }

// SyncRule is synchronous_commit with synchronous_standby_names = ANY N (*).
type SyncRule = replica.SyncRule

// Follower states, named as PostgreSQL names them where it has a name.
const (
	StateStartup      = replica.StateStartup
	StateCatchup      = replica.StateCatchup
	StateStreaming    = replica.StateStreaming
	StateBackup       = replica.StateBackup
	StateStopped      = replica.StateStopped // crashed or shut down
	StateCut          = "cut"                // the link is cut
	StateReconnecting = replica.StateReconnecting
	StateNeedsBackup  = replica.StateNeedsBackup
	// StateNeedsRewind: its WAL went past the fork LSN of the timeline it
	// must follow (FollowerStatus.ForkLSN); it streams again only after a
	// rewind (or a base backup).
	StateNeedsRewind = replica.StateNeedsRewind
	StateRewinding   = "rewinding" // truncating to the fork LSN and rebuilding its store
	StatePromoting   = replica.StatePromoting
	StateNoPrimary   = "no primary" // the primary is down: nothing to stream from, no lag measured
)

// Lag is a time lag as pg_stat_replication shows it, with the difference
// between idle (caught up: nothing to lag behind) and stuck kept visible.
type Lag = replica.Lag

// FormatLag prints a duration compactly: 0ms, 340ms, 2.4s, 1m05s.
func FormatLag(d time.Duration) string { return replica.FormatLag(d) }

// FollowerStatus is one follower: its three positions, lags, link and faults.
// Invariant: ReplayLSN <= FlushLSN <= WriteLSN <= leader FlushLSN.
type FollowerStatus struct {
	Name  string // follower-1, follower-2, ...
	Index int    // 1-based, as the keys 1-9 select it
	State string // one of the State* constants

	SentLSN   wal.LSN // leader: shipped to this follower (sent_lsn)
	WriteLSN  wal.LSN // follower: received and written (write_lsn)
	FlushLSN  wal.LSN // follower: fsynced (flush_lsn)
	ReplayLSN wal.LSN // follower: applied to its store (replay_lsn)
	StartLSN  wal.LSN // oldest LSN in the follower's own log

	WriteLag, FlushLag, ReplayLag Lag
	SyncState                     string // async, quorum, potential (as PostgreSQL); "" with no connection

	ReplayPaused bool
	ApplyDelay   time.Duration // per record, world time
	FlushDelay   time.Duration // per fsync, world time

	Link LinkStatus

	Records     uint64 // records received and written since start
	CRCFailures uint64 // records dropped for a bad CRC
	Resends     uint64 // resend requests sent
	Keys        int    // keys in the follower's store
	Backup      BackupStatus
	Slot        SlotStatus
	LastError   string // why the last connection ended, if it did

	Timeline uint32 // timeline it receives on; 0 when not reported
	Stale    bool   // its last report is older than its status interval
	Inferred bool   // State is inferred (needs base backup), not reported

	// ForkLSN is, when State is StateNeedsRewind or StateRewinding, the
	// fork LSN its WAL went past (0 otherwise).
	ForkLSN wal.LSN
}

// LinkStatus is the follower's relay: its settings and state.
type LinkStatus struct {
	Addr string // the relay's listen address
	Cut  bool   // connections closed and refused
	// CutTo and CutFrom: a one-way cut (cut F to, cut F from). The frames
	// to (or from) the follower are lost while the connection stays up.
	CutTo, CutFrom bool
	Latency        time.Duration // one way, world time
	Jitter         time.Duration
	Bandwidth      int64 // bytes per second of world time; 0 = unlimited
	Slice          bool  // forwarding in small random pieces
	CorruptArmed   int   // data frames still to corrupt
	Corrupted      uint64
	DropArmed      int    // data frames still to drop
	Lost           uint64 // frames lost on the link: one-way cuts and drops
	Connected      bool
	BytesUp        uint64 // follower to leader
	BytesDown      uint64 // leader to follower
}

// BackupStatus is base-backup progress.
type BackupStatus struct {
	Active bool
	LSN    wal.LSN // the snapshot is consistent at this LSN
	Done   int64   // bytes received
	Total  int64
	Count  int // base backups completed
}

// SlotStatus is the follower's replication slot on the leader.
type SlotStatus struct {
	Enabled    bool
	RestartLSN wal.LSN // the leader keeps WAL from here
	Lost       bool    // the slot passed the cap and was invalidated

	// As pg_replication_slots shows them, where the source reports them:
	// wal_status (reserved, extended, unreserved, lost) and safe_wal_size.
	WALStatus    string
	SafeWAL      int64 // bytes that can still be written before the slot is lost
	SafeWALKnown bool  // safe_wal_size is not NULL
}

// Direction of a frame on a link.
type Direction int

// Directions.
const (
	ToFollower Direction = iota // leader to follower: data, keepalive, backup
	ToLeader                    // follower to leader: status, resend, hello
)

func (d Direction) String() string {
	if d == ToLeader {
		return "up"
	}
	return "down"
}

// Frame is one frame in flight on a link.
type Frame struct {
	ID       uint64 // unique per cluster; stable while the frame is in flight
	Follower string
	Index    int // follower index
	Dir      Direction
	Kind     string // data, status, keepalive, backup, hello, resend, ...
	LSN      wal.LSN
	EndLSN   wal.LSN
	Bytes    int
	Sent     time.Duration // world time it left
	Arrive   time.Duration // world time it will be delivered
	Pos      float64       // 0 at the sender, 1 at the receiver
	Corrupt  bool
	// Lost: the frame will never arrive (a one-way cut, or a drop); it is
	// thrown away at Arrive.
	Lost bool
}

// EventKind classifies events.
type EventKind string

// Event kinds. Those the protocol raises are engine/ship's own names.
const (
	EvInfo       EventKind = replica.EvInfo
	EvConnect    EventKind = replica.EvConnect
	EvDisconnect EventKind = replica.EvDisconnect
	EvCRC        EventKind = replica.EvCRC
	EvResend     EventKind = replica.EvResend
	EvWALRemoved EventKind = replica.EvWALRemoved
	EvBackup     EventKind = replica.EvBackup
	EvCrash      EventKind = "crash"
	EvRestart    EventKind = "restart"
	EvRecovery   EventKind = replica.EvRecovery
	EvLink       EventKind = "link"
	EvSync       EventKind = "sync"
	EvSlot       EventKind = replica.EvSlot
	EvRefused    EventKind = replica.EvRefused
	EvCommand    EventKind = "command"
	EvError      EventKind = replica.EvError
	EvRead       EventKind = "read"             // a read on a node, and what it returned
	EvPromote    EventKind = replica.EvPromote  // a promotion, a failover's choice
	EvTimeline   EventKind = replica.EvTimeline // a timeline switch, followed or refused
	EvRewind     EventKind = replica.EvRewind   // a divergent node rewinds to the fork LSN
	EvLost       EventKind = replica.EvLost     // acknowledged commits missing from a new timeline
)

// Event is one thing that happened, for the event log.
type Event struct {
	Seq      uint64
	World    time.Duration // world time
	Follower string        // "" for the leader or the whole cluster
	Kind     EventKind
	LSN      wal.LSN
	Text     string
}

// EventRingSize bounds the event ring.
const EventRingSize = 512
