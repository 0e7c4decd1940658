package ship

import (
	"bufio"
	"errors"
	"fmt"
	"io"
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
	// can say why the oldest still waits.
	waiters map[wal.LSN]int

	waiting atomic.Int64
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
	l.waiting.Add(1)
	l.mu.Lock()
	l.waiters[end]++
	l.mu.Unlock()
	defer func() {
		l.mu.Lock()
		if l.waiters[end]--; l.waiters[end] == 0 {
			delete(l.waiters, end)
		}
		l.mu.Unlock()
		l.waiting.Add(-1)
	}()
	for {
		ch := l.progress.wait()
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
	// CommitWait says why the oldest waiting commit waits ("" when none
	// does): the sync rule's reason, e.g. "waiting for replay of 0/340 on
	// 1 of 2: follower-1 at 0/300, follower-2 disconnected".
	CommitWait string
}

// Status reports the leader's side.
func (l *Leader) Status() LeaderStatus {
	flushed := l.log.Flushed()
	l.mu.Lock()
	set := l.core.Settings()
	var wait string
	if len(l.waiters) > 0 {
		oldest := wal.LSN(0)
		for end := range l.waiters {
			if oldest == 0 || end < oldest {
				oldest = end
			}
		}
		wait = l.core.Commit(oldest, flushed).Reason
	}
	l.mu.Unlock()
	return LeaderStatus{
		InsertLSN: l.log.End(), FlushLSN: flushed, OldestLSN: l.log.Start(),
		Segments: l.log.SegmentCount(), SegmentSize: l.log.SegmentSize(),
		Keys: l.store.Len(), Records: l.records.Load(),
		WALKeep: set.WALKeep, Slots: set.Slots, Sync: set.Rule,
		Waiting: int(l.waiting.Load()), Commits: l.commits.Load(), CommitWait: wait,
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

// ---- connections ---------------------------------------------------------

func (l *Leader) acceptLoop() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			select {
			case <-l.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// e.g. too many open files: back off, or stop.
			if !sleepReal(10*time.Millisecond, l.stop) {
				return
			}
			continue
		}
		l.mu.Lock()
		select {
		case <-l.stop:
			l.mu.Unlock()
			c.Close()
			return
		default:
		}
		now := time.Now()
		var evicted string
		if len(l.conns) >= l.cfg.MaxConns {
			var ok bool
			if ok, evicted = l.evictLocked(now); !ok {
				l.mu.Unlock()
				l.refuseBusy(c)
				continue
			}
		}
		st := &connState{since: now}
		l.conns[c] = st
		l.mu.Unlock()
		if evicted != "" {
			l.cfg.OnEvent.emit(replica.Event{Kind: replica.EvRefused, Text: evicted})
		}
		l.guard.Go("connection", func() {
			l.serve(c, st)
			l.mu.Lock()
			delete(l.conns, c)
			l.mu.Unlock()
			c.Close()
		})
	}
}

// sleepReal waits d of real time; false when stop closes first.
func sleepReal(d time.Duration, stop <-chan struct{}) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop:
		return false
	}
}

// connState is what the leader knows of an open connection before and
// after its handshake. l.mu guards it.
type connState struct {
	since   time.Time // accepted (real time)
	named   bool      // admitted: never evicted
	evicted bool      // closed for a newer connection: its goroutine refuses it
}

// evictLocked makes room for a new connection when every slot is taken:
// the connection replica.Eviction picks among those not admitted (the
// oldest that has had a fifth of the handshake timeout to say hello) is
// marked evicted and its read deadline moved to now, so its own goroutine
// refuses and closes it at once; its slot is free from now. It reports
// whether there was one, and an event to emit (merged to one a second).
// l.mu is held.
func (l *Leader) evictLocked(now time.Time) (bool, string) {
	var waiting []time.Duration
	var conns []net.Conn
	for c, st := range l.conns {
		if !st.named && !st.evicted {
			waiting = append(waiting, now.Sub(st.since))
			conns = append(conns, c)
		}
	}
	i := replica.Eviction(waiting, l.cfg.HandshakeTimeout/5)
	if i < 0 {
		return false, ""
	}
	c := conns[i]
	l.conns[c].evicted = true
	delete(l.conns, c)
	c.SetReadDeadline(now)
	var event string
	if n := l.evicted.Add(now); n > 0 {
		event = fmt.Sprintf("evicted %d connection(s) that had not said hello, the last from %s, to make room for newer ones", n, c.RemoteAddr())
	}
	return true, event
}

// DefaultHandshakeTimeout is LeaderConfig.HandshakeTimeout when unset.
const DefaultHandshakeTimeout = 5 * time.Second

// DefaultMaxConns is LeaderConfig.MaxConns when unset.
const DefaultMaxConns = 256

// maxFollowerFrame bounds every frame the leader reads: the largest a
// follower sends is a Hello with the longest name its length byte can
// claim. Anything larger is refused before it is read.
const maxFollowerFrame = 1 + 16 + 255

// refuseBusy refuses a connection over MaxConns from the accept loop, so it
// must not block: the Refuse frame fits a fresh socket's buffer. Events are
// merged to one a second, counting the refusals, so a flood cannot bury
// the event log.
func (l *Leader) refuseBusy(c net.Conn) {
	reason := fmt.Sprintf("too many connections (max %d)", l.cfg.MaxConns)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	wire.WriteFrame(c, wire.KindRefuse, wire.Refuse{Code: wire.RefuseProtocol, Reason: reason}.Encode())
	addr := c.RemoteAddr().String()
	c.Close()
	l.mu.Lock()
	n := l.busy.Add(time.Now())
	l.mu.Unlock()
	if n > 0 {
		l.cfg.OnEvent.emit(replica.Event{Kind: replica.EvRefused, Text: fmt.Sprintf("refused %d connection(s), the last from %s: %s", n, addr, reason)})
	}
}

// refuse carries out a refusal: the Refuse frame, best effort (the
// connection is closed right after either way), and its event.
func (l *Leader) refuse(c net.Conn, a replica.Admission) {
	if a.Refuse {
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		wire.WriteFrame(c, wire.KindRefuse, wire.Refuse{Code: a.Code, Reason: a.Reason}.Encode())
	}
	if a.Event != nil {
		l.cfg.OnEvent.emit(*a.Event)
	}
}

// firstFrame reads a new connection's first frame, and how it came.
func (l *Leader) firstFrame(c net.Conn, fr *wire.Reader, st *connState) replica.FirstFrame {
	c.SetReadDeadline(time.Now().Add(l.cfg.HandshakeTimeout))
	ff := replica.FirstFrame{Addr: c.RemoteAddr().String(), Timeout: l.cfg.HandshakeTimeout}
	f, err := fr.Next()
	if err == nil {
		ff.Kind, ff.Payload = f.Kind, f.Payload
		return ff
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		ff.Arrival = replica.ClosedEarly
	case errors.Is(err, wire.ErrFrameTooLarge):
		ff.Arrival = replica.TooLarge
	case errors.As(err, &ne) && ne.Timeout():
		ff.Arrival = replica.TimedOut
	default:
		ff.Arrival = replica.ReadFailed
	}
	ff.Detail = err.Error()
	l.mu.Lock()
	ff.Evicted = st.evicted
	l.mu.Unlock()
	return ff
}

// serve runs one follower connection: the handshake, then a sender
// goroutine streaming WAL while this goroutine reads status and requests.
func (l *Leader) serve(c net.Conn, st *connState) {
	fr := wire.NewReader(c, 4<<10) // followers send small frames
	fr.SetMaxFrame(maxFollowerFrame)
	h, a := replica.ReadHello(l.firstFrame(c, fr, st))
	if !a.Accept {
		l.refuse(c, a)
		return
	}
	// What the decisions need that only I/O can find out.
	facts := replica.Facts{
		Addr:    c.RemoteAddr().String(),
		Known:   l.cfg.Known == nil || l.cfg.Known(h.Name),
		Flushed: l.log.Flushed(),
		Oldest:  l.log.Start(),
	}
	wantBackup := h.Flags&wire.HelloWantBackup != 0
	if !wantBackup && h.Start <= facts.Flushed {
		facts.StartProblem = l.startProblem(h.Start, facts.Flushed)
	}
	l.mu.Lock()
	facts.Evicted = st.evicted
	a, pr := l.core.Admit(h, facts)
	if a.Accept {
		st.named = true
		l.streams[h.Name] = c
	}
	l.mu.Unlock()
	if !a.Accept {
		l.refuse(c, a)
		return
	}
	l.mu.Lock()
	epoch := pr.Epoch
	l.mu.Unlock()
	l.progress.broadcast() // its old reports no longer count

	c.SetReadDeadline(time.Time{})
	bw := bufio.NewWriterSize(c, 64<<10)
	// The handshake writes to bw before the sender, which then owns it, starts.
	err := wire.WriteFrame(bw, wire.KindWelcome, wire.Welcome{Flushed: facts.Flushed, SegmentSize: l.log.SegmentSize(), Oldest: facts.Oldest}.Encode())
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		l.disconnected(pr, epoch, c, "welcome: "+err.Error())
		return
	}
	l.cfg.OnEvent.emit(*a.Event)

	ctl := make(chan senderCtl, 4)
	s := &sender{l: l, pr: pr, epoch: epoch, name: h.Name, c: c, bw: bw, ctl: ctl, connStop: make(chan struct{})}
	senderDone := make(chan struct{})
	l.guard.Go("sender", func() {
		defer close(senderDone)
		start := h.Start
		if wantBackup {
			start = 0
		}
		if err := s.run(start, wantBackup); err != nil {
			c.Close() // unblocks the reader below
		}
	})

	reason := l.readLoop(pr, epoch, c, fr, ctl)
	close(s.connStop)
	c.Close()
	<-senderDone
	l.disconnected(pr, epoch, c, reason)
}

// startProblem says why a follower's start or resend LSN from is no place
// to stream from ("not a record boundary"), reading the leader's log
// there; "" when it is one, or when that WAL is removed (the sender then
// answers "WAL removed"), or past limit (the decisions say so).
func (l *Leader) startProblem(from, limit wal.LSN) string {
	if from > limit {
		return ""
	}
	rd, err := l.log.NewReader(from)
	if err != nil {
		if errors.Is(err, wal.ErrWALRemoved) {
			return ""
		}
		return err.Error()
	}
	defer rd.Close()
	if _, err := rd.Next(limit); errors.Is(err, wal.ErrCorrupt) {
		return "not a record boundary"
	}
	return ""
}

func (l *Leader) disconnected(pr *replica.Progress, epoch uint64, c net.Conn, reason string) {
	l.mu.Lock()
	l.core.Disconnect(pr, epoch, reason)
	if l.streams[pr.Name] == c {
		delete(l.streams, pr.Name)
	}
	flush, name := pr.Flush, pr.Name // read under the lock: a reconnect may be writing them
	l.mu.Unlock()
	l.progress.broadcast()
	select {
	case <-l.stop:
	default:
		l.cfg.OnEvent.emit(replica.Event{Follower: name, Kind: replica.EvDisconnect, LSN: flush, Text: "disconnected: " + reason})
	}
}

// readLoop reads a follower's frames until the connection ends, and returns
// why it ended.
func (l *Leader) readLoop(pr *replica.Progress, epoch uint64, c net.Conn, fr *wire.Reader, ctl chan senderCtl) string {
	for {
		c.SetReadDeadline(time.Now().Add(l.cfg.IdleTimeout))
		f, err := fr.Next()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF):
				return "connection closed"
			case errors.Is(err, net.ErrClosed):
				return "connection closed"
			case errors.As(err, &ne) && ne.Timeout():
				return fmt.Sprintf("idle: no frame from the follower in %v", l.cfg.IdleTimeout)
			}
			return err.Error()
		}
		switch f.Kind {
		case wire.KindStatus:
			s, err := wire.DecodeStatus(f.Payload)
			if err != nil {
				return err.Error()
			}
			now, flushed := l.clk.Now(), l.log.Flushed()
			l.mu.Lock()
			lie := l.core.Report(pr, epoch, s, flushed, now)
			name := pr.Name
			l.mu.Unlock()
			if lie != "" {
				// Drop the connection: nothing it says can be trusted.
				l.cfg.OnEvent.emit(replica.Event{Follower: name, Kind: replica.EvRefused, LSN: s.Flush, Text: "rejected: " + lie})
				return "rejected: " + lie
			}
			l.progress.broadcast()
		case wire.KindResend:
			from, err := wire.DecodeResend(f.Payload)
			if err != nil {
				return err.Error()
			}
			flushed := l.log.Flushed()
			if why := replica.CheckResend(from, flushed, l.startProblem(from, flushed)); why != "" {
				return why
			}
			select {
			case ctl <- senderCtl{resend: from}:
			default: // the sender has requests queued already: it will rewind
			}
		case wire.KindBackupReq:
			select {
			case ctl <- senderCtl{backup: true}:
			default:
			}
		default:
			return fmt.Sprintf("unexpected %s frame from follower", f.Kind)
		}
	}
}

// ---- sending -------------------------------------------------------------

// sender streams WAL to one follower on one connection (its epoch). It
// owns bw once the handshake is done.
type sender struct {
	l        *Leader
	pr       *replica.Progress // l.mu guards it
	epoch    uint64
	name     string
	c        net.Conn
	bw       *bufio.Writer
	ctl      chan senderCtl
	connStop chan struct{}
	rd       *wal.Reader
}

// run streams WAL from start (after a base backup first, when backup is
// set) until the connection fails or connStop closes. It serves resend
// and base-backup requests from ctl.
func (s *sender) run(start wal.LSN, backup bool) error {
	l := s.l
	defer func() {
		if s.rd != nil {
			s.rd.Close()
		}
	}()
	if backup {
		lsn, err := s.sendBackup()
		if err != nil {
			return err
		}
		start = lsn
	}
	if err := s.open(start); err != nil {
		return err
	}
	payload := make([]byte, 0, l.cfg.BatchBytes+wal.MaxRecordSize+wire.DataHeaderSize)
	var recs []wal.Record // Run's decoded records, unused here but kept to reuse their slice
	nextKeepalive := l.clk.Now() + l.cfg.KeepaliveInterval
	var pending *senderCtl
	streaming := false // told CaughtUp, once per connection
	for {
		// Serve requests first: a resend rewinds the stream.
		if pending == nil {
			select {
			case req := <-s.ctl:
				pending = &req
			default:
			}
		}
		if pending != nil {
			req := *pending
			pending = nil
			if req.backup {
				lsn, err := s.sendBackup()
				if err != nil {
					return err
				}
				if err := s.open(lsn); err != nil {
					return err
				}
			} else {
				if err := s.bw.Flush(); err != nil {
					return err
				}
				l.cfg.OnEvent.emit(replica.Event{Follower: s.name, Kind: replica.EvResend, LSN: req.resend, Text: "resending from " + req.resend.String()})
				if err := s.open(req.resend); err != nil {
					return err
				}
			}
			continue
		}
		select {
		case <-s.connStop:
			return nil
		default:
		}

		flushChanged := l.flushed.wait()
		limit := l.log.Flushed()
		payload = wire.AppendDataHeader(payload[:0], 0, 0)
		var first, end wal.LSN
		for room := l.cfg.BatchBytes + wire.DataHeaderSize - len(payload); room > 0; room = l.cfg.BatchBytes + wire.DataHeaderSize - len(payload) {
			var run []byte
			var err error
			run, recs, err = s.rd.Run(limit, room, recs[:0])
			if err == io.EOF {
				break
			}
			if err != nil {
				if errors.Is(err, wal.ErrWALRemoved) {
					s.refuseWALRemoved(fmt.Sprintf("WAL at %s was removed while streaming (oldest is %s)", s.rd.Pos(), l.log.Start()), s.rd.Pos())
				}
				return err
			}
			if len(payload) == wire.DataHeaderSize {
				first = wal.RecordLSN(run)
			}
			end = s.rd.Pos() // just past the run's last record
			payload = append(payload, run...)
		}
		if len(payload) > wire.DataHeaderSize {
			copy(payload[:wire.DataHeaderSize], wire.AppendDataHeader(nil, first, end))
			// Sent before it is written: the follower may report it
			// before WriteFrame returns.
			s.sent(end)
			if err := wire.WriteFrame(s.bw, wire.KindData, payload); err != nil {
				return err
			}
			continue
		}
		// Caught up with the leader's flush: streaming. Push out what is
		// buffered and wait for more WAL, a request, or the keepalive.
		if !streaming {
			l.mu.Lock()
			news := l.core.CaughtUp(s.pr)
			l.mu.Unlock()
			if news {
				l.progress.broadcast() // commits wait only on streaming followers
			}
			streaming = true
		}
		if err := s.bw.Flush(); err != nil {
			return err
		}
		now := l.clk.Now()
		if now >= nextKeepalive {
			ka := wire.Keepalive{Flushed: limit, TimeNS: int64(now), Reply: true}
			if err := wire.WriteFrame(s.bw, wire.KindKeepalive, ka.Encode()); err != nil {
				return err
			}
			if err := s.bw.Flush(); err != nil {
				return err
			}
			nextKeepalive = now + l.cfg.KeepaliveInterval
		}
		var timer <-chan time.Time
		var t *time.Timer
		if d, ok := l.clk.Until(nextKeepalive); ok {
			t = time.NewTimer(d + time.Millisecond)
			timer = t.C
		}
		select {
		case <-flushChanged:
		case req := <-s.ctl:
			pending = &req
		case <-timer:
		case <-l.clk.Changed():
		case <-s.connStop:
			if t != nil {
				t.Stop()
			}
			return nil
		}
		if t != nil {
			t.Stop()
		}
	}
}

// open (re)starts reading the leader's log at from.
func (s *sender) open(from wal.LSN) error {
	if s.rd != nil {
		s.rd.Close()
		s.rd = nil
	}
	r, err := s.l.log.NewReader(from)
	if err != nil {
		if errors.Is(err, wal.ErrWALRemoved) {
			s.refuseWALRemoved(fmt.Sprintf("requested WAL at %s has already been removed (oldest is %s)", from, s.l.log.Start()), from)
		}
		return err
	}
	s.rd = r
	s.sent(from)
	return nil
}

func (s *sender) sent(lsn wal.LSN) {
	s.l.mu.Lock()
	s.l.core.Sent(s.pr, lsn)
	s.l.mu.Unlock()
}

// refuseWALRemoved tells the follower that the WAL it needs is gone.
func (s *sender) refuseWALRemoved(reason string, lsn wal.LSN) {
	s.l.mu.Lock()
	a := s.l.core.RefuseWALRemoved(s.name, reason, lsn)
	s.l.mu.Unlock()
	s.l.refuse(s.c, a)
}

// backupChunkSize is the data carried by one Backup frame.
const backupChunkSize = 256 << 10

// sendBackup sends a base backup: a store image consistent at an LSN, in
// chunks, and returns that LSN (streaming resumes from it). It waits until
// the leader's WAL is durable to that LSN first, as a checkpoint does: a
// follower must never hold more than a leader's crash would keep.
func (s *sender) sendBackup() (wal.LSN, error) {
	l := s.l
	data, lsn := l.StoreImage()
	if err := l.waitFlushed(lsn); err != nil {
		return 0, err
	}
	// Sent before any of it is written: the follower reports lsn once it
	// has installed the backup, maybe before this goroutine runs again.
	s.sent(lsn)
	l.cfg.OnEvent.emit(replica.Event{Follower: s.name, Kind: replica.EvBackup, LSN: lsn,
		Text: fmt.Sprintf("sending base backup: %d keys, %d bytes, consistent at %s", l.store.Len(), len(data), lsn)})
	total := int64(len(data))
	for off := int64(0); ; {
		n := min(int64(backupChunkSize), total-off)
		chunk := wire.BackupChunk{LSN: lsn, Offset: off, Total: total, Last: off+n == total, Data: data[off : off+n]}
		if err := wire.WriteFrame(s.bw, wire.KindBackup, chunk.Encode()); err != nil {
			return 0, err
		}
		off += n
		if chunk.Last {
			break
		}
	}
	if err := s.bw.Flush(); err != nil {
		return 0, err
	}
	oldest := l.log.Start()
	l.mu.Lock()
	l.core.BackupSent(s.pr, lsn, oldest)
	l.mu.Unlock()
	return lsn, nil
}
