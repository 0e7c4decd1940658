package ship

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"walship/engine/clock"
	"walship/engine/fatal"
	"walship/engine/kv"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// FollowerConfig sets up a follower.
type FollowerConfig struct {
	Name        string
	Dir         string // the follower's directory: wal/ and base.snap
	Leader      string // address to dial (the follower's relay)
	SegmentSize int64  // must equal the leader's
	NoSync      bool
	Clock       *clock.World

	ApplyDelay time.Duration // replay cost per streamed record (world time)
	FlushDelay time.Duration // extra cost per fsync (world time)
	Paused     bool          // start with replay paused

	// StatusInterval is how often an idle follower reports (real time;
	// default 1s). StatusMinGap spaces reports under load (default 2ms).
	StatusInterval time.Duration
	StatusMinGap   time.Duration
	// Reconnect backoff bounds (real time; defaults 50ms and 2s).
	ReconnectMin, ReconnectMax time.Duration
	// AutoBackup takes a base backup by itself after the leader says the
	// WAL it needs was removed (otherwise it waits for RequestBackup).
	AutoBackup bool
	// WantBackup makes the first connection ask for a base backup, as a
	// new standby is made with pg_basebackup rather than by replaying
	// the whole history of the leader's WAL.
	WantBackup bool
	// MaxBackupSize refuses base backups larger than this (default 1 GiB).
	MaxBackupSize int64
	OnEvent       EventFunc
	// OnPanic, when set, takes a panic in one of the follower's
	// goroutines (see engine/fatal); otherwise the panic ends the program.
	OnPanic fatal.Func
}

// Follower is a follower's shell: it owns its log, its store, its
// connection to the leader and three stages with their own goroutines —
// receive (write to its WAL), flush (fsync) and replay (apply to the
// store) — and asks its decisions (replica.Follower) what to do with each
// frame and each step. It recovers its own log first, and replays it.
type Follower struct {
	cfg   FollowerConfig
	clk   *clock.World
	log   *wal.Log
	guard fatal.Group

	// pipe parks the flusher and replayer while a base backup replaces the
	// log and the store (they hold it shared while they work).
	pipe sync.RWMutex

	mu            sync.Mutex
	core          *replica.Follower // the decisions; mu guards them
	store         *kv.Store
	applyDelay    time.Duration
	flushDelay    time.Duration
	conn          net.Conn
	lastStatusPos replica.Positions

	flushKick  chan struct{}
	replayKick chan struct{}
	statusKick chan struct{}
	retryKick  chan struct{} // ends a reconnect backoff (see Retry)

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	crashed  bool
	// promoting: it streams no more (see Promote); mu guards it.
	promoting bool
}

// FollowerStatus is a follower's view of itself: its decisions' state
// (positions, state, counters) and what its shell knows besides.
type FollowerStatus struct {
	replica.FollowerState
	Name         string
	StartLSN     wal.LSN // the oldest LSN in its log
	ApplyDelay   time.Duration
	FlushDelay   time.Duration
	Keys         int
	SegmentFiles int
}

// A follower's directory holds its WAL in WALDir and its last base backup
// in BaseBackupFile.
const (
	WALDir         = "wal"
	BaseBackupFile = "base.snap"
)

// StartFollower recovers the follower's log and store from Dir and starts
// its goroutines. It returns once recovery is done; replay of the local log
// and the first connection go on in the background.
func StartFollower(cfg FollowerConfig) (*Follower, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.NewWorld()
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = time.Second
	}
	if cfg.StatusMinGap <= 0 {
		cfg.StatusMinGap = 2 * time.Millisecond
	}
	if cfg.ReconnectMin <= 0 {
		cfg.ReconnectMin = 50 * time.Millisecond
	}
	if cfg.ReconnectMax <= 0 {
		cfg.ReconnectMax = 2 * time.Second
	}
	if cfg.MaxBackupSize <= 0 {
		cfg.MaxBackupSize = 1 << 30
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("ship: %s: %w", cfg.Name, err)
	}
	log, rec, err := wal.Open(wal.Options{Dir: filepath.Join(cfg.Dir, WALDir), SegmentSize: cfg.SegmentSize, NoSync: cfg.NoSync})
	if err != nil {
		return nil, fmt.Errorf("ship: %s: recovery: %w", cfg.Name, err)
	}
	history, err := LoadHistory(cfg.Dir)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("ship: %s: recovery: %w", cfg.Name, err)
	}
	store := kv.New()
	replayFrom := log.Start()
	backup, backupLSN, err := LoadImageFile(filepath.Join(cfg.Dir, BaseBackupFile))
	switch {
	case err != nil:
		log.Close()
		return nil, fmt.Errorf("ship: %s: %w", cfg.Name, err)
	case backup != nil:
		store = backup
		if backupLSN < log.Start() || backupLSN > log.End() {
			// A crash between saving a base backup and resetting the log:
			// the base backup is the newer truth.
			if err := log.Reset(backupLSN); err != nil {
				log.Close()
				return nil, fmt.Errorf("ship: %s: %w", cfg.Name, err)
			}
		}
		replayFrom = backupLSN
	}
	f := &Follower{
		cfg: cfg, clk: cfg.Clock, log: log, store: store,
		core: replica.NewFollower(replica.FollowerSettings{
			Name: cfg.Name, SegmentSize: log.SegmentSize(), MaxBackupSize: cfg.MaxBackupSize,
			AutoBackup: cfg.AutoBackup, WantBackup: cfg.WantBackup, Paused: cfg.Paused,
			History: history,
		}, log.End(), replayFrom),
		applyDelay: cfg.ApplyDelay, flushDelay: cfg.FlushDelay,
		flushKick:  make(chan struct{}, 1),
		replayKick: make(chan struct{}, 1),
		statusKick: make(chan struct{}, 1),
		retryKick:  make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	f.guard = fatal.Group{Owner: cfg.Name, OnPanic: cfg.OnPanic, WG: &f.wg}
	f.lastStatusPos = f.core.Positions()
	text := recoveryText(log, rec)
	if backup != nil {
		text += fmt.Sprintf("; base backup at %s", backupLSN)
	}
	f.emit(replica.Event{Follower: cfg.Name, Kind: replica.EvRecovery, LSN: log.End(), Text: text})
	f.guard.Go("flusher", f.flushLoop)
	f.guard.Go("replayer", f.replayLoop)
	f.guard.Go("receiver", f.connectLoop)
	return f, nil
}

// Name is the follower's name.
func (f *Follower) Name() string { return f.cfg.Name }

// Store is the follower's store (replaced by a base backup).
func (f *Follower) Store() *kv.Store {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.store
}

// WALErr returns the error that made the follower's WAL unusable (a
// failed write: disk full, I/O error), wal.ErrClosed once it is closed or
// crashed, and nil while it works. A follower whose WAL failed cannot
// make progress until it is restarted.
func (f *Follower) WALErr() error { return f.log.Err() }

// Syncs is how many fsyncs the follower's WAL has done (for benchmarks).
func (f *Follower) Syncs() uint64 { return f.log.Syncs() }

// SetPaused pauses or resumes replay (pg_wal_replay_pause/resume). Receive
// and flush go on.
func (f *Follower) SetPaused(p bool) {
	f.mu.Lock()
	f.core.SetPaused(p)
	f.mu.Unlock()
	kick(f.replayKick)
}

// SetApplyDelay sets the replay cost per streamed record (world time).
func (f *Follower) SetApplyDelay(d time.Duration) {
	f.mu.Lock()
	f.applyDelay = max(d, 0)
	f.mu.Unlock()
	kick(f.replayKick)
}

// SetFlushDelay sets the extra cost per fsync (world time).
func (f *Follower) SetFlushDelay(d time.Duration) {
	f.mu.Lock()
	f.flushDelay = max(d, 0)
	f.mu.Unlock()
}

// RequestBackup asks for a base backup on the next connection, dropping the
// current one so that happens now.
func (f *Follower) RequestBackup() {
	f.mu.Lock()
	f.core.RequestBackup()
	c := f.conn
	f.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Status reports the follower's view of itself.
func (f *Follower) Status() FollowerStatus {
	f.mu.Lock()
	st := FollowerStatus{
		FollowerState: f.core.State(), Name: f.cfg.Name,
		ApplyDelay: f.applyDelay, FlushDelay: f.flushDelay,
	}
	store, crashed := f.store, f.crashed
	f.mu.Unlock()
	// Outside f.mu: a replay batch holds the store's lock, and the
	// receiver, flusher and replayer all need f.mu.
	st.Keys = store.Len()
	if !crashed {
		st.StartLSN = f.log.Start()
		st.SegmentFiles = f.log.SegmentCount()
	}
	return st
}

// Retry ends the follower's wait between reconnection attempts now and
// restarts its backoff: the leader it could not reach has moved or is
// back (a failover, a restart), so there is no reason to wait out a
// backoff grown while there was none.
func (f *Follower) Retry() { kick(f.retryKick) }

func (f *Follower) isPromoting() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.promoting
}

// Promote makes the follower ready to open as a leader, as pg_promote
// does: it stops streaming (its connection closes and none follows),
// replay is no longer paused, and it waits, while its flusher and
// replayer go on, until everything it received is flushed and replayed;
// then it stops and writes its store, consistent at the end of its WAL,
// as a leader's checkpoint (CheckpointFile) in its directory. It returns
// that end: the fork LSN of the next timeline. StartLeader on the same
// directory then opens it as a leader. Waiting ends early, with an
// error, when cancel closes or the follower stops; the follower then
// stays promoting until it is closed.
func (f *Follower) Promote(cancel <-chan struct{}) (wal.LSN, error) {
	f.mu.Lock()
	f.promoting = true
	f.core.Promoting()
	c := f.conn
	f.mu.Unlock()
	if c != nil {
		c.Close()
	}
	kick(f.replayKick)
	kick(f.flushKick)
	kick(f.statusKick)
	for {
		if err := f.log.Err(); err != nil {
			return 0, fmt.Errorf("ship: %s: promote: %w", f.cfg.Name, err)
		}
		f.mu.Lock()
		p := f.core.Positions()
		connected := f.conn != nil
		f.mu.Unlock()
		if !connected && p.Replay == p.Write && p.Flush == p.Write && f.log.Written() == p.Write {
			break
		}
		// The flusher and replayer signal nobody when they are done:
		// look again soon (replay under an apply delay takes world time).
		select {
		case <-cancel:
			return 0, fmt.Errorf("ship: %s: promote: cancelled", f.cfg.Name)
		case <-f.stop:
			return 0, fmt.Errorf("ship: %s: promote: stopped", f.cfg.Name)
		case <-time.After(5 * time.Millisecond):
		}
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("ship: %s: promote: %w", f.cfg.Name, err)
	}
	f.mu.Lock()
	store := f.store
	f.mu.Unlock()
	data, _ := store.Image()
	end := f.log.End()
	if err := saveImageFile(filepath.Join(f.cfg.Dir, CheckpointFile), data, end, f.cfg.NoSync); err != nil {
		return 0, fmt.Errorf("ship: %s: promote: %w", f.cfg.Name, err)
	}
	return end, nil
}

// Close stops the follower cleanly: every goroutine, the connection, and
// the log (synced). It is idempotent.
func (f *Follower) Close() error {
	if !f.halt() {
		return nil
	}
	return f.log.Close()
}

// Crash stops the follower as a crash would: nothing more is synced, and
// the log keeps only its flushed part plus keepUnsynced bytes of the
// written tail (which may end inside a record: a torn write). Restart with
// StartFollower on the same Dir.
func (f *Follower) Crash(keepUnsynced int64) error {
	if !f.halt() {
		return nil
	}
	f.mu.Lock()
	f.crashed = true
	f.mu.Unlock()
	return f.log.Crash(keepUnsynced)
}

// halt stops every goroutine; false when already stopped.
func (f *Follower) halt() bool {
	first := false
	f.stopOnce.Do(func() {
		first = true
		close(f.stop)
		f.mu.Lock()
		if f.conn != nil {
			f.conn.Close()
		}
		f.mu.Unlock()
		f.wg.Wait()
		f.mu.Lock()
		f.core.Stopped()
		f.mu.Unlock()
	})
	return first
}

func (f *Follower) stopped() bool {
	select {
	case <-f.stop:
		return true
	default:
		return false
	}
}

func (f *Follower) emit(evs ...replica.Event) { f.cfg.OnEvent.emit(evs...) }
