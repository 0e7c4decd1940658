package ship

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"walship/engine/clock"
	"walship/engine/fatal"
	"walship/engine/kv"
	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

// LeaderConfig sets up the leader.
type LeaderConfig struct {
	Dir         string // the leader's directory: its WAL in WALDir and its CheckpointFile
	SegmentSize int64
	NoSync      bool
	Clock       *clock.World // world time for lags and keepalives; nil = a private clock
	Listen      string       // address to listen on, default 127.0.0.1:0

	// BatchBytes caps the WAL bytes in one data frame; 1 sends one record
	// per frame (what the UI wants, so each record is a visible frame).
	BatchBytes int
	// KeepaliveInterval is how often an idle sender sends a keepalive
	// (world time; default 1s).
	KeepaliveInterval time.Duration
	// CheckpointInterval is how often the leader removes WAL it no longer
	// keeps (world time; default 1s), as PostgreSQL removes segments at
	// checkpoints rather than at every flush. Removing at once would race
	// senders that are caught up but have not yet read the newest flush.
	// Before it removes WAL its store was rebuilt from, it writes a
	// checkpoint of the store.
	CheckpointInterval time.Duration
	// HandshakeTimeout bounds how long a new connection may take to say
	// Hello (real time; default DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// IdleTimeout closes a connection that has sent nothing for this long
	// (real time; default 60s; the follower sends status every second).
	IdleTimeout time.Duration
	// MaxConns caps concurrent connections, handshaking or streaming
	// (default 256). When all are taken, a new connection takes the slot
	// of the oldest one that has not said a valid hello in a fifth of
	// HandshakeTimeout (which is refused as evicted); when there is none,
	// the new one gets a Refuse frame at once. A flood of strangers
	// therefore cannot hold a follower out.
	MaxConns int
	// connNow reads the real time that a connection's age, for MaxConns's
	// eviction, is counted in; nil is time.Now. Tests set it so a grace
	// runs out when they say, not after a sleep.
	connNow func() time.Time

	WALKeep    int64 // bytes kept behind the end (wal_keep_size)
	Slots      bool  // a replication slot per follower pins WAL
	MaxSlotWAL int64 // max_slot_wal_keep_size; 0 = no cap

	Sync replica.SyncRule
	// Known, when set, refuses followers whose name it rejects.
	Known   func(name string) bool
	OnEvent EventFunc
	// OnPanic, when set, takes a panic in one of the leader's goroutines
	// (see engine/fatal); otherwise the panic ends the program.
	OnPanic fatal.Func
}

// Leader is the leader's shell: it owns the log, the store, the listener,
// every follower's connection and the goroutines that serve them, and
// asks its decisions (replica.Leader) what to do: whom to admit, what a
// status report is worth, when a commit is released, what WAL to keep.
type Leader struct {
	cfg   LeaderConfig
	clk   *clock.World
	log   *wal.Log
	ln    net.Listener
	store *kv.Store
	guard fatal.Group

	appendMu sync.Mutex // orders Append (log then store) against store images
	records  atomic.Uint64

	// ckptMu serialises retention, and with it checkpoints. ckptLSN is
	// the LSN of the last checkpoint written: the store can be rebuilt
	// from it and the WAL after it, so WAL below it may go.
	ckptMu  sync.Mutex
	ckptLSN wal.LSN
	// slotsSaved is the slots file's content as last written (or read);
	// ckptMu guards it.
	slotsSaved []byte

	flushKick chan struct{} // wakes the flusher
	flushed   *signal       // broadcast when the flushed LSN moves
	progress  *signal       // broadcast when anything a commit waits on moves

	mu   sync.Mutex
	core *replica.Leader // the decisions; mu guards them
	// streams are the followers' current connections, closed by Forget.
	streams map[string]net.Conn
	conns   map[net.Conn]*connState
	evicted clock.Tally // connections evicted for newer ones, merged to one event a second
	busy    clock.Tally // connections refused over MaxConns, merged to one event a second
	// waiters counts waiting commits by the LSN they end at, so Status
	// can count them and say why the oldest still waits.
	waiters map[wal.LSN]int

	commits atomic.Uint64

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

type senderCtl struct {
	resend wal.LSN
	backup bool
}

// StartLeader opens (or recovers) the leader's log and starts listening.
func StartLeader(cfg LeaderConfig) (*Leader, error) {
	if cfg.Clock == nil {
		cfg.Clock = clock.NewWorld()
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 64 << 10
	}
	cfg.BatchBytes = min(cfg.BatchBytes, wire.MaxFrameSize-wire.DataHeaderSize-wal.MaxRecordSize-1)
	if cfg.KeepaliveInterval <= 0 {
		cfg.KeepaliveInterval = time.Second
	}
	if cfg.CheckpointInterval <= 0 {
		cfg.CheckpointInterval = time.Second
	}
	if cfg.HandshakeTimeout <= 0 {
		cfg.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if cfg.connNow == nil {
		cfg.connNow = time.Now
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = 60 * time.Second
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	// A leader restarting on its own directory: its store is the last
	// checkpoint plus the WAL after it.
	log, rec, store, ckpt, replayed, err := openLeaderLog(cfg)
	if err != nil {
		return nil, fmt.Errorf("ship: leader: recovery: %w", err)
	}
	text := recoveryText(log, rec)
	if ckpt > 0 {
		text += fmt.Sprintf("; checkpoint at %s", ckpt)
	}
	if replayed > 0 || ckpt > 0 {
		text += fmt.Sprintf("; store rebuilt: %d records replayed, %d keys", replayed, store.Len())
	}
	slotsOn, slots, err := loadSlots(cfg.Dir)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("ship: leader: recovery: %w", err)
	}
	history, err := LoadHistory(cfg.Dir)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("ship: leader: recovery: %w", err)
	}
	if tl := history.Timeline(); tl > 1 {
		text += fmt.Sprintf("; timeline %d (forked from %d at %s)", tl, tl-1, history[len(history)-1].ForkLSN)
	}
	if len(slots) > 0 {
		text += fmt.Sprintf("; %d replication slot(s) kept", len(slots))
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("ship: leader listen on %s: %w", cfg.Listen, err)
	}
	l := &Leader{
		cfg: cfg, clk: cfg.Clock, log: log, ln: ln, store: store,
		flushKick: make(chan struct{}, 1),
		flushed:   newSignal(),
		progress:  newSignal(),
		core: replica.NewLeader(replica.LeaderSettings{
			Rule: cfg.Sync, WALKeep: cfg.WALKeep, Slots: cfg.Slots, MaxSlotWAL: cfg.MaxSlotWAL,
			History: history,
		}),
		streams: make(map[string]net.Conn),
		conns:   make(map[net.Conn]*connState),
		waiters: make(map[wal.LSN]int),
		stop:    make(chan struct{}),
		ckptLSN: ckpt,
	}
	l.guard = fatal.Group{Owner: "leader", OnPanic: cfg.OnPanic, WG: &l.wg}
	l.core.RestoreSlots(slotsOn, slots, log.Start())
	l.slotsSaved = encodeSlots(slotsOn, slots)
	cfg.OnEvent.emit(replica.Event{Kind: replica.EvRecovery, LSN: log.End(), Text: text})
	l.core.Flushed(log.Flushed(), l.clk.Now())
	l.guard.Go("flusher", l.flushLoop)
	l.guard.Go("checkpointer", l.checkpointLoop)
	l.guard.Go("listener", l.acceptLoop)
	return l, nil
}

// History is the history of the leader's timeline (empty: timeline 1).
func (l *Leader) History() replica.History {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append(replica.History(nil), l.core.Settings().History...)
}

// Addr is the leader's listen address.
func (l *Leader) Addr() string { return l.ln.Addr().String() }

// Store is the leader's store.
func (l *Leader) Store() *kv.Store { return l.store }

// Log is the leader's WAL (read-only use: positions, segments).
func (l *Leader) Log() *wal.Log { return l.log }

// Append writes one record to the log and the store and returns the LSN just
// past it (the commit LSN to wait for). It does not wait for anything.
func (l *Leader) Append(op wal.Op, key, value []byte) (wal.LSN, error) {
	rs := [1]wal.Record{{Op: op, Key: key, Value: value}}
	return l.AppendBatch(rs[:])
}

// leaderRecent is the leader log's in-memory copy of its newest bytes,
// shared by every sender.
const leaderRecent = 8 << 20

// AppendBatch writes records in order, as Append would one by one, with one
// lock of the log and of the store, sets each one's LSN, and returns the
// end of the last (0 for none). Nothing is written when one is invalid.
func (l *Leader) AppendBatch(rs []wal.Record) (wal.LSN, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	l.appendMu.Lock()
	if err := l.log.AppendBatch(rs); err != nil {
		l.appendMu.Unlock()
		return 0, err
	}
	l.store.ApplyBatch(rs)
	l.appendMu.Unlock()
	l.records.Add(uint64(len(rs)))
	kick(l.flushKick)
	return rs[len(rs)-1].End(), nil
}

// StoreImage returns the store encoded (an engine/kv image), consistent
// at the returned LSN (the log position streaming resumes from).
func (l *Leader) StoreImage() ([]byte, wal.LSN) {
	l.appendMu.Lock()
	defer l.appendMu.Unlock()
	data, _ := l.store.Image()
	return data, l.log.End()
}

// Flushed is the leader's flushed LSN: what senders may ship.
func (l *Leader) Flushed() wal.LSN { return l.log.Flushed() }

func (l *Leader) flushLoop() {
	for {
		select {
		case <-l.stop:
			return
		case <-l.flushKick:
		}
		for l.log.End() > l.log.Flushed() {
			f, err := l.log.Sync()
			if err != nil {
				l.cfg.OnEvent.emit(replica.Event{Kind: replica.EvError, LSN: l.log.Flushed(), Text: "leader fsync failed: " + err.Error()})
				break
			}
			now := l.clk.Now()
			l.mu.Lock()
			l.core.Flushed(f, now)
			l.mu.Unlock()
			l.flushed.broadcast()
			l.progress.broadcast()
		}
	}
}

// checkpointLoop applies retention every CheckpointInterval of world time.
func (l *Leader) checkpointLoop() {
	for l.clk.Sleep(l.cfg.CheckpointInterval, l.stop) {
		l.retain()
	}
}

// retain carries out retention as the decisions plan it (replica.Retain):
// it saves the slots when they changed, writes the store's checkpoint
// when the last one is older than the WAL to keep, then removes the
// segments nobody needs.
func (l *Leader) retain() {
	l.ckptMu.Lock()
	defer l.ckptMu.Unlock()
	l.mu.Lock()
	plan := l.core.Retain(l.log.Flushed(), l.log.Start(), l.ckptLSN)
	slotsOn, slots := l.core.SlotRecords()
	l.mu.Unlock()
	l.cfg.OnEvent.emit(plan.Events...)
	if err := l.saveSlots(slotsOn, slots); err != nil {
		// Kept WAL is safe WAL: remove none until the slots are saved.
		l.cfg.OnEvent.emit(replica.Event{Kind: replica.EvError, LSN: plan.KeepFrom, Text: err.Error() + "; keeping the WAL"})
		return
	}
	if !plan.Remove {
		return
	}
	var wrote string
	if plan.Checkpoint {
		lsn, err := l.checkpoint()
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil {
			l.cfg.OnEvent.emit(replica.Event{Kind: replica.EvError, LSN: plan.KeepFrom, Text: "checkpoint failed, keeping the WAL: " + err.Error()})
			return
		}
		wrote = fmt.Sprintf("store written at %s; ", lsn)
	}
	n, err := l.log.RemoveBefore(plan.KeepFrom)
	if err != nil {
		l.cfg.OnEvent.emit(replica.Event{Kind: replica.EvError, LSN: plan.KeepFrom, Text: "removing old WAL: " + err.Error()})
	} else if n > 0 {
		l.cfg.OnEvent.emit(replica.Event{Kind: replica.EvInfo, LSN: l.log.Start(),
			Text: fmt.Sprintf("checkpoint: %sremoved %d WAL segment(s) behind wal_keep_size and the slots; oldest LSN now %s", wrote, n, l.log.Start())})
	}
}

// HoldRetention keeps the leader from removing WAL (or writing a
// checkpoint) until the returned release is called: a copy of its
// directory taken meanwhile is whole.
func (l *Leader) HoldRetention() (release func()) {
	l.ckptMu.Lock()
	return l.ckptMu.Unlock
}

// SetSync changes the sync rule; waiting commits re-check at once.
func (l *Leader) SetSync(r replica.SyncRule) {
	l.mu.Lock()
	l.core.SetRule(r)
	l.mu.Unlock()
	l.progress.broadcast()
}

// SetWALKeep changes wal_keep_size.
func (l *Leader) SetWALKeep(n int64) {
	l.mu.Lock()
	l.core.SetWALKeep(n)
	l.mu.Unlock()
	l.retain()
}

// SetSlots turns replication slots on or off. New slots start at each
// follower's last reported flush position (or the oldest retained LSN).
func (l *Leader) SetSlots(on bool) {
	l.mu.Lock()
	l.core.SetSlots(on, l.log.Start())
	l.mu.Unlock()
	l.retain()
}

// Forget drops what the leader knows of a follower (removed for good), and
// closes its connection.
func (l *Leader) Forget(name string) {
	l.mu.Lock()
	l.core.Forget(name)
	c := l.streams[name]
	l.mu.Unlock()
	if c != nil {
		c.Close()
	}
	l.progress.broadcast()
	l.retain()
}

// WaitCommit blocks until a commit ending at end is released by the sync
// rule in force (re-read as it changes), or stop closes (false).
func (l *Leader) WaitCommit(end wal.LSN, stop <-chan struct{}) bool {
	l.mu.Lock()
	l.waiters[end]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.waiters[end]--; l.waiters[end] == 0 {
			delete(l.waiters, end)
		}
		l.mu.Unlock()
	}()
	for {
		ch := l.progress.wait()
		select {
		case <-l.stop:
			return false // stopped or crashed: never acknowledged now
		default:
		}
		if l.Released(end) {
			l.commits.Add(1)
			return true
		}
		select {
		case <-ch:
		case <-stop:
			return false
		case <-l.stop:
			return false
		}
	}
}

// Released reports whether a commit ending at end is released now.
func (l *Leader) Released(end wal.LSN) bool {
	flushed := l.log.Flushed()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.core.Released(end, flushed)
}

// Commit is the sync rule's verdict on a commit ending at end now: released,
// or why not.
func (l *Leader) Commit(end wal.LSN) replica.Verdict {
	flushed := l.log.Flushed()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.core.Commit(end, flushed)
}

// LeaderStatus is the leader's side, as the cluster's Snapshot shows it.
type LeaderStatus struct {
	InsertLSN, FlushLSN, OldestLSN wal.LSN
	Segments                       int
	SegmentSize                    int64
	Keys                           int
	Records                        uint64
	WALKeep                        int64
	Slots                          bool
	Sync                           replica.SyncRule
	Waiting                        int
	Commits                        uint64
	// OldestWaiting is the end of the oldest commit waiting (0: none
	// waits), and CommitWait says why it waits: the sync rule's reason,
	// e.g. "waiting for replay of 0/340 on 1 of 2: follower-1 at 0/300,
	// follower-2 disconnected" ("" when none waits).
	OldestWaiting wal.LSN
	CommitWait    string
	// Watermark is what the sync rule has reached (see
	// replica.Leader.Watermark).
	Watermark wal.LSN
	Timeline  uint32
}

// Status reports the leader's side.
func (l *Leader) Status() LeaderStatus {
	flushed := l.log.Flushed()
	l.mu.Lock()
	set := l.core.Settings()
	var oldest wal.LSN
	var waiting int
	var wait string
	for end, n := range l.waiters {
		waiting += n
		if oldest == 0 || end < oldest {
			oldest = end
		}
	}
	if waiting > 0 {
		wait = l.core.Commit(oldest, flushed).Reason
	}
	watermark := l.core.Watermark()
	l.mu.Unlock()
	return LeaderStatus{
		InsertLSN: l.log.End(), FlushLSN: flushed, OldestLSN: l.log.Start(),
		Segments: l.log.SegmentCount(), SegmentSize: l.log.SegmentSize(),
		Keys: l.store.Len(), Records: l.records.Load(),
		WALKeep: set.WALKeep, Slots: set.Slots, Sync: set.Rule,
		Waiting: waiting, Commits: l.commits.Load(),
		OldestWaiting: oldest, CommitWait: wait, Watermark: watermark,
		Timeline: set.History.Timeline(),
	}
}

// Followers reports every follower the leader knows of, sorted by name,
// as pg_stat_replication shows them.
func (l *Leader) Followers() []replica.Row {
	now := l.clk.Now()
	flushed := l.log.Flushed()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.core.Rows(flushed, now)
}

// Close stops the leader: listener, every connection, every goroutine, the
// log (synced). It is idempotent.
func (l *Leader) Close() error {
	if !l.halt() {
		return nil
	}
	return l.log.Close()
}

// Crash stops the leader as a crash would: every goroutine and connection
// ends, nothing more is synced, and its WAL keeps only its flushed part
// plus keepUnsynced bytes of the written tail, possibly ending inside a
// record (see wal.Log.Crash). Restart it with StartLeader on the same
// Dir.
func (l *Leader) Crash(keepUnsynced int64) error {
	if !l.halt() {
		return nil
	}
	return l.log.Crash(keepUnsynced)
}

// halt stops the listener, every connection and goroutine; false when
// already stopped.
func (l *Leader) halt() bool {
	first := false
	l.stopOnce.Do(func() {
		first = true
		close(l.stop)
		l.ln.Close()
		l.mu.Lock()
		for c := range l.conns {
			c.Close()
		}
		l.mu.Unlock()
		l.wg.Wait()
	})
	return first
}
