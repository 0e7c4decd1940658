package cluster

import "time"

// Config sets up a cluster. The zero value of a field means its default;
// the UI's defaults (a room-friendly pace) and the engine's raw defaults
// differ, so callers state what they want.
type Config struct {
	// Dir is the data directory; a temporary one (removed on Close) when
	// empty. One that holds a cluster already restarts all of it (see New).
	Dir       string
	Followers int // followers to start with (default 1); a kept directory's all restart
	// SegmentSize is the WAL segment size in bytes (default 1 MiB). A kept
	// data directory keeps the size it was made with: zero takes it, and
	// another size is refused unless AdoptSegmentSize is set.
	SegmentSize int64
	// AdoptSegmentSize lets a kept data directory's segment size win over
	// SegmentSize (for a SegmentSize that is only a default).
	AdoptSegmentSize bool
	// WALKeep is wal_keep_size: bytes retained behind the leader's end
	// (default 64 MiB; NoWALKeep keeps none, as wal_keep_size = 0).
	WALKeep    int64
	Slots      bool  // a replication slot per follower pins WAL
	MaxSlotWAL int64 // max_slot_wal_keep_size: a slot further behind is lost (0 = no cap)
	Sync       SyncRule
	// AutoBackup lets a follower that fell off retained WAL take a base
	// backup by itself (headless runs); otherwise it waits for "backup F".
	AutoBackup bool

	Rate      float64 // workload records per second of world time (0 = idle until asked)
	Keys      int     // workload key space (default 1000)
	ValueSize int     // workload value size in bytes (default 16)
	DelRatio  float64 // fraction of workload writes that are DEL (0: only SETs)
	Clients   int     // concurrent workload sessions, each waiting on its own commit (default 4)

	Latency    time.Duration // one-way link latency, world time
	Jitter     time.Duration
	ApplyDelay time.Duration // per-record replay cost on followers, world time
	FlushDelay time.Duration // extra cost per follower fsync, world time
	NoFsync    bool          // skip fsync (benchmarks of the rest of the path)
	BatchBytes int           // max bytes of WAL per data frame (default 64 KiB; 1 = one record per frame)

	StatusInterval time.Duration // follower status when idle (default 1s, world time)
	// RewindAfter is how long (world time) a follower the primary refused
	// for divergence shows "needs rewind" before the cluster rewinds it,
	// as Patroni acts on its next loop (default 2s; negative: at once).
	RewindAfter time.Duration
	// CheckpointInterval is how often the leader removes WAL behind
	// wal_keep_size and the slots (default 1s, world time).
	CheckpointInterval time.Duration
	Seed               int64  // seeds the workload and the links' jitter and slicing
	Listen             string // leader listen host (default 127.0.0.1)

	// Hardening against strangers on the leader's and relays' ports (real
	// time; zero means the engine defaults). HandshakeTimeout closes a
	// connection that sends no hello for this long (leader, default 5s;
	// a relay waits three times as long for a first frame); IdleTimeout
	// closes a follower connection silent for this long (default 60s);
	// MaxConns caps the leader's concurrent connections (default 256; a
	// relay's is 16), a newcomer taking the slot of the oldest that said
	// no hello in its grace.
	HandshakeTimeout time.Duration
	IdleTimeout      time.Duration
	MaxConns         int

	// eventHook, for tests, sees every event first, on the goroutine that
	// raised it.
	eventHook func(Event)
}

// Room is how walship's UI starts a cluster, tuned for a room: frames
// visibly travel (300ms each way), writes come at a pace a person can
// follow (4 a second, some of them deletes, so keys come and go), fsync
// and replay costs separate the three bars, and small segments and a
// small wal_keep_size make retention visible. The UI's flag defaults,
// the headless lessons and the UI's demo all start from it; zero for
// any cost shows the raw engine.
func Room() Config {
	return Config{
		Followers:   3,
		SegmentSize: 16 << 10,
		WALKeep:     128 << 10,
		Rate:        4,
		DelRatio:    0.1,
		Latency:     300 * time.Millisecond,
		ApplyDelay:  80 * time.Millisecond,
		FlushDelay:  150 * time.Millisecond,
		Seed:        1,
	}
}

// NoWALKeep as Config.WALKeep keeps no WAL behind the leader's end for
// followers (wal_keep_size = 0): only slots, when on, hold it. Zero is the
// default of 64 MiB.
const NoWALKeep = -1
