package ship

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"walship/engine/clock"
	"walship/engine/kv"
	"walship/engine/wal"
	"walship/engine/wire"
)

// PrimaryConfig sets up the leader.
type PrimaryConfig struct {
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

	Sync SyncRule
	// Known, when set, refuses followers whose name it rejects.
	Known   func(name string) bool
	OnEvent EventFunc
}

// Primary is the leader: it appends records to its log and store, flushes
// them in groups, serves followers, tracks their positions and lags, keeps
// WAL for them, and holds commits until the sync rule is met.
type Primary struct {
	cfg   PrimaryConfig
	clk   *clock.World
	log   *wal.Log
	ln    net.Listener
	store *kv.Store

	appendMu sync.Mutex // orders Append (log then store) against snapshots
	records  atomic.Uint64

	// ckptMu serialises retention, and with it checkpoints. ckptLSN is
	// the LSN of the last checkpoint written: the store can be rebuilt
	// from it and the WAL after it, so WAL below it may go.
	ckptMu  sync.Mutex
	ckptLSN wal.LSN

	flushKick chan struct{} // wakes the flusher
	flushed   *signal       // broadcast when the flushed LSN moves
	progress  *signal       // broadcast when anything a commit waits on moves

	mu    sync.Mutex
	peers map[string]*peer
	// toldRemoved: followers already told their WAL is gone (see
	// refuseWALRemoved); cleared when they stream again.
	toldRemoved map[string]bool
	lag         lagRing
	rule        SyncRule
	walKeep     int64
	slots       bool
	conns       map[net.Conn]*connState
	evicted     clock.Tally // connections evicted for newer ones, merged to one event a second
	busy        clock.Tally // connections refused over MaxConns, merged to one event a second

	waiting atomic.Int64
	commits atomic.Uint64

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// peer is what the leader knows of one follower, kept across connections.
type peer struct {
	name      string
	connected bool
	addr      string
	conn      net.Conn
	sent      wal.LSN // where its sender is (it moves back on a resend)
	// sentMax is the most the follower can have on this connection: its
	// start, then the furthest its sender got. A status reporting more
	// is a lie (see statusLie).
	sentMax   wal.LSN
	write     wal.LSN
	flush     wal.LSN
	replay    wal.LSN
	caughtUp  bool         // its sender caught up since it connected: "streaming"
	lags      [3]lagCursor // write, flush, replay
	slot      slotState
	ctl       chan senderCtl
	lastError string
}

// report is what the commit rule knows of pr. p.mu is held.
func (pr *peer) report() report {
	return report{streaming: pr.connected && pr.caughtUp, write: pr.write, flush: pr.flush, replay: pr.replay}
}

type slotState struct {
	enabled bool
	restart wal.LSN
	lost    bool
}

type senderCtl struct {
	resend wal.LSN
	backup bool
}

// StartPrimary opens (or recovers) the leader's log and starts listening.
func StartPrimary(cfg PrimaryConfig) (*Primary, error) {
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
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		log.Close()
		return nil, fmt.Errorf("ship: leader listen on %s: %w", cfg.Listen, err)
	}
	p := &Primary{
		cfg: cfg, clk: cfg.Clock, log: log, ln: ln, store: store,
		flushKick:   make(chan struct{}, 1),
		flushed:     newSignal(),
		progress:    newSignal(),
		peers:       make(map[string]*peer),
		toldRemoved: make(map[string]bool),
		rule:        cfg.Sync,
		walKeep:     cfg.WALKeep,
		slots:       cfg.Slots,
		conns:       make(map[net.Conn]*connState),
		stop:        make(chan struct{}),
		ckptLSN:     ckpt,
	}
	cfg.OnEvent.emit("", EvRecovery, log.End(), text)
	p.lag.add(log.Flushed(), p.clk.Now())
	p.wg.Add(3)
	go p.flushLoop()
	go p.checkpointLoop()
	go p.acceptLoop()
	return p, nil
}

// Addr is the leader's listen address.
func (p *Primary) Addr() string { return p.ln.Addr().String() }

// Store is the leader's store.
func (p *Primary) Store() *kv.Store { return p.store }

// Log is the leader's WAL (read-only use: positions, segments).
func (p *Primary) Log() *wal.Log { return p.log }

// Append writes one record to the log and the store and returns the LSN just
// past it (the commit LSN to wait for). It does not wait for anything.
func (p *Primary) Append(op wal.Op, key, value []byte) (wal.LSN, error) {
	rs := [1]wal.Record{{Op: op, Key: key, Value: value}}
	return p.AppendBatch(rs[:])
}

// leaderRecent is the leader log's in-memory copy of its newest bytes,
// shared by every sender.
const leaderRecent = 8 << 20

// AppendBatch writes records in order, as Append would one by one, with one
// lock of the log and of the store, sets each one's LSN, and returns the
// end of the last (0 for none). Nothing is written when one is invalid.
func (p *Primary) AppendBatch(rs []wal.Record) (wal.LSN, error) {
	if len(rs) == 0 {
		return 0, nil
	}
	p.appendMu.Lock()
	if err := p.log.AppendBatch(rs); err != nil {
		p.appendMu.Unlock()
		return 0, err
	}
	p.store.ApplyBatch(rs)
	p.appendMu.Unlock()
	p.records.Add(uint64(len(rs)))
	kick(p.flushKick)
	return rs[len(rs)-1].End(), nil
}

// Snapshot returns the store encoded, consistent at the returned LSN (the
// log position streaming resumes from).
func (p *Primary) Snapshot() ([]byte, wal.LSN) {
	p.appendMu.Lock()
	defer p.appendMu.Unlock()
	data, _ := p.store.Snapshot()
	return data, p.log.End()
}

// Flushed is the leader's flushed LSN: what senders may ship.
func (p *Primary) Flushed() wal.LSN { return p.log.Flushed() }

func (p *Primary) flushLoop() {
	defer p.wg.Done()
	for {
		select {
		case <-p.stop:
			return
		case <-p.flushKick:
		}
		for p.log.End() > p.log.Flushed() {
			f, err := p.log.Sync()
			if err != nil {
				p.cfg.OnEvent.emit("", EvError, p.log.Flushed(), "leader fsync failed: "+err.Error())
				break
			}
			now := p.clk.Now()
			p.mu.Lock()
			p.lag.add(f, now)
			p.mu.Unlock()
			p.flushed.broadcast()
			p.progress.broadcast()
		}
	}
}

// checkpointLoop applies retention every CheckpointInterval of world time.
func (p *Primary) checkpointLoop() {
	defer p.wg.Done()
	for p.clk.Sleep(p.cfg.CheckpointInterval, p.stop) {
		p.retain()
	}
}

// retain removes WAL segments nobody needs: behind wal_keep_size and behind
// every live slot, and behind the store's checkpoint, which it writes first
// when it is older. A slot further behind than MaxSlotWAL is lost.
func (p *Primary) retain() {
	p.ckptMu.Lock()
	defer p.ckptMu.Unlock()
	end := p.log.Flushed()
	p.mu.Lock()
	keepFrom := wal.LSN(0)
	if int64(end) > p.walKeep {
		keepFrom = end - wal.LSN(p.walKeep)
	}
	var lost []string
	if p.slots {
		for _, pr := range p.peers {
			s := &pr.slot
			if !s.enabled || s.lost {
				continue
			}
			if p.cfg.MaxSlotWAL > 0 && int64(end-s.restart) > p.cfg.MaxSlotWAL {
				s.lost = true
				lost = append(lost, pr.name)
				continue
			}
			keepFrom = min(keepFrom, s.restart)
		}
	}
	p.mu.Unlock()
	for _, name := range lost {
		p.cfg.OnEvent.emit(name, EvSlot, end, fmt.Sprintf("slot lost: more than %d bytes behind (max_slot_wal_keep_size)", p.cfg.MaxSlotWAL))
	}
	if keepFrom <= p.log.Start() {
		return
	}
	var wrote string
	if p.ckptLSN < keepFrom {
		lsn, err := p.checkpoint()
		if errors.Is(err, errStopped) {
			return
		}
		if err != nil {
			p.cfg.OnEvent.emit("", EvError, keepFrom, "checkpoint failed, keeping the WAL: "+err.Error())
			return
		}
		wrote = fmt.Sprintf("store written at %s; ", lsn)
	}
	n, err := p.log.RemoveBefore(keepFrom)
	if err != nil {
		p.cfg.OnEvent.emit("", EvError, keepFrom, "removing old WAL: "+err.Error())
	} else if n > 0 {
		p.cfg.OnEvent.emit("", EvInfo, p.log.Start(), fmt.Sprintf("checkpoint: %sremoved %d WAL segment(s) behind wal_keep_size and the slots; oldest LSN now %s", wrote, n, p.log.Start()))
	}
}

// SetSync changes the sync rule; waiting commits re-check at once.
func (p *Primary) SetSync(r SyncRule) {
	p.mu.Lock()
	p.rule = r
	p.mu.Unlock()
	p.progress.broadcast()
}

// SetWALKeep changes wal_keep_size.
func (p *Primary) SetWALKeep(n int64) {
	p.mu.Lock()
	p.walKeep = max(n, 0)
	p.mu.Unlock()
	p.retain()
}

// SetSlots turns replication slots on or off. New slots start at each
// follower's last reported flush position (or the oldest retained LSN).
func (p *Primary) SetSlots(on bool) {
	p.mu.Lock()
	p.slots = on
	for _, pr := range p.peers {
		p.setSlotLocked(pr, on)
	}
	p.mu.Unlock()
	p.retain()
}

func (p *Primary) setSlotLocked(pr *peer, on bool) {
	if !on {
		pr.slot = slotState{}
		return
	}
	if pr.slot.enabled {
		return
	}
	restart := pr.flush
	if restart < p.log.Start() {
		restart = p.log.Start()
	}
	pr.slot = slotState{enabled: true, restart: restart}
}

// Forget drops what the leader knows of a follower (removed for good), and
// closes its connection.
func (p *Primary) Forget(name string) {
	p.mu.Lock()
	pr := p.peers[name]
	delete(p.peers, name)
	delete(p.toldRemoved, name)
	p.mu.Unlock()
	if pr != nil && pr.conn != nil {
		pr.conn.Close()
	}
	p.progress.broadcast()
	p.retain()
}

// WaitCommit blocks until a commit ending at end satisfies the sync rule in
// force (re-read as it changes), or stop closes (false).
func (p *Primary) WaitCommit(end wal.LSN, stop <-chan struct{}) bool {
	p.waiting.Add(1)
	defer p.waiting.Add(-1)
	for {
		ch := p.progress.wait()
		if p.satisfied(end) {
			p.commits.Add(1)
			return true
		}
		select {
		case <-ch:
		case <-stop:
			return false
		case <-p.stop:
			return false
		}
	}
}

func (p *Primary) satisfied(end wal.LSN) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	r := p.rule
	if r.Mode == SyncOff {
		return true
	}
	if p.log.Flushed() < end {
		return false
	}
	if !r.Remote() {
		return true
	}
	n := 0
	for _, pr := range p.peers {
		if confirms(r.Mode, end, pr.report()) {
			n++
		}
	}
	return n >= r.N
}

// PrimaryStatus is the leader's side for a snapshot.
type PrimaryStatus struct {
	InsertLSN, FlushLSN, OldestLSN wal.LSN
	Segments                       int
	SegmentSize                    int64
	Keys                           int
	Records                        uint64
	WALKeep                        int64
	Slots                          bool
	Sync                           SyncRule
	Waiting                        int
	Commits                        uint64
}

// Status reports the leader's side.
func (p *Primary) Status() PrimaryStatus {
	p.mu.Lock()
	rule, keep, slots := p.rule, p.walKeep, p.slots
	p.mu.Unlock()
	return PrimaryStatus{
		InsertLSN: p.log.End(), FlushLSN: p.log.Flushed(), OldestLSN: p.log.Start(),
		Segments: p.log.SegmentCount(), SegmentSize: p.log.SegmentSize(),
		Keys: p.store.Len(), Records: p.records.Load(),
		WALKeep: keep, Slots: slots, Sync: rule,
		Waiting: int(p.waiting.Load()), Commits: p.commits.Load(),
	}
}

// PeerStatus is one follower as the leader sees it (pg_stat_replication).
type PeerStatus struct {
	Name                          string
	Connected                     bool
	Addr                          string // the peer's address (client_addr)
	SentLSN                       wal.LSN
	WriteLSN, FlushLSN, ReplayLSN wal.LSN // as last reported
	WriteLag, FlushLag, ReplayLag Lag
	CaughtUp                      bool // streaming rather than catchup
	SlotEnabled, SlotLost         bool
	SlotRestart                   wal.LSN
	LastError                     string
}

// Peers reports every follower the leader knows of, sorted by name.
func (p *Primary) Peers() []PeerStatus {
	now := p.clk.Now()
	flushed := p.log.Flushed()
	p.mu.Lock()
	out := make([]PeerStatus, 0, len(p.peers))
	for _, pr := range p.peers {
		out = append(out, PeerStatus{
			Name: pr.name, Connected: pr.connected, Addr: pr.addr,
			SentLSN: pr.sent, WriteLSN: pr.write, FlushLSN: pr.flush, ReplayLSN: pr.replay,
			WriteLag:    pr.lags[0].view(&p.lag, pr.write, flushed, now),
			FlushLag:    pr.lags[1].view(&p.lag, pr.flush, flushed, now),
			ReplayLag:   pr.lags[2].view(&p.lag, pr.replay, flushed, now),
			CaughtUp:    pr.caughtUp,
			SlotEnabled: pr.slot.enabled, SlotLost: pr.slot.lost, SlotRestart: pr.slot.restart,
			LastError: pr.lastError,
		})
	}
	p.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Close stops the leader: listener, every connection, every goroutine, the
// log (synced). It is idempotent.
func (p *Primary) Close() error {
	if !p.halt() {
		return nil
	}
	return p.log.Close()
}

// Crash stops the leader as a crash would: every goroutine and connection
// ends, nothing more is synced, and its WAL keeps only its flushed part
// plus keepUnsynced bytes of the written tail, possibly ending inside a
// record (see wal.Log.Crash). Restart it with StartPrimary on the same
// Dir.
func (p *Primary) Crash(keepUnsynced int64) error {
	if !p.halt() {
		return nil
	}
	return p.log.Crash(keepUnsynced)
}

// halt stops the listener, every connection and goroutine; false when
// already stopped.
func (p *Primary) halt() bool {
	first := false
	p.stopOnce.Do(func() {
		first = true
		close(p.stop)
		p.ln.Close()
		p.mu.Lock()
		for c := range p.conns {
			c.Close()
		}
		p.mu.Unlock()
		p.wg.Wait()
	})
	return first
}

func (p *Primary) acceptLoop() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			select {
			case <-p.stop:
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
			time.Sleep(10 * time.Millisecond) // e.g. too many open files: back off
			continue
		}
		p.mu.Lock()
		select {
		case <-p.stop:
			p.mu.Unlock()
			c.Close()
			return
		default:
		}
		now := time.Now()
		var evicted string
		if len(p.conns) >= p.cfg.MaxConns {
			var ok bool
			if ok, evicted = p.evictLocked(now); !ok {
				p.mu.Unlock()
				p.refuseBusy(c)
				continue
			}
		}
		st := &connState{since: now}
		p.conns[c] = st
		p.mu.Unlock()
		if evicted != "" {
			p.cfg.OnEvent.emit("", EvRefused, 0, evicted)
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(c, st)
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
			c.Close()
		}()
	}
}

// connState is what the leader knows of an open connection before and
// after its handshake. p.mu guards it.
type connState struct {
	since   time.Time // accepted (real time)
	named   bool      // said a valid hello: never evicted
	evicted bool      // closed for a newer connection: its goroutine refuses it
}

// evictLocked makes room for a new connection when every slot is taken:
// the oldest connection that has not said a valid hello in a fifth of the
// handshake timeout (clock.Eviction) is marked evicted and its read
// deadline moved to now, so its own goroutine refuses and closes it at
// once; its slot is free from now. It reports whether there was one, and
// an event to emit (merged to one a second). p.mu is held.
func (p *Primary) evictLocked(now time.Time) (bool, string) {
	var waiting []time.Duration
	var conns []net.Conn
	for c, st := range p.conns {
		if !st.named && !st.evicted {
			waiting = append(waiting, now.Sub(st.since))
			conns = append(conns, c)
		}
	}
	i := clock.Eviction(waiting, p.cfg.HandshakeTimeout/5)
	if i < 0 {
		return false, ""
	}
	c := conns[i]
	p.conns[c].evicted = true
	delete(p.conns, c)
	c.SetReadDeadline(now)
	var event string
	if n := p.evicted.Add(now); n > 0 {
		event = fmt.Sprintf("evicted %d connection(s) that had not said hello, the last from %s, to make room for newer ones", n, c.RemoteAddr())
	}
	return true, event
}

// wasEvicted reports whether st's connection was evicted (see
// evictLocked); else, when named is true, it marks it as having said a
// valid hello, so it is never evicted.
func (p *Primary) wasEvicted(st *connState, named bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	st.named = st.named || (named && !st.evicted)
	return st.evicted
}

// evictedReason is what an evicted connection is told.
const evictedReason = "evicted: it said no hello while the leader's connections were all taken"

// DefaultHandshakeTimeout is PrimaryConfig.HandshakeTimeout when unset.
const DefaultHandshakeTimeout = 5 * time.Second

// DefaultMaxConns is PrimaryConfig.MaxConns when unset.
const DefaultMaxConns = 256

// maxFollowerFrame bounds every frame the leader reads: the largest a
// follower sends is a Hello with the longest name its length byte can
// claim. Anything larger is refused before it is read.
const maxFollowerFrame = 1 + 16 + 255

// refuseBusy refuses a connection over MaxConns from the accept loop, so it
// must not block: the Refuse frame fits a fresh socket's buffer. Events are
// merged to one a second, counting the refusals, so a flood cannot bury
// the event log.
func (p *Primary) refuseBusy(c net.Conn) {
	reason := fmt.Sprintf("too many connections (max %d)", p.cfg.MaxConns)
	c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
	wire.WriteFrame(c, wire.KindRefuse, wire.Refuse{Code: wire.RefuseProtocol, Reason: reason}.Encode())
	addr := c.RemoteAddr().String()
	c.Close()
	p.mu.Lock()
	n := p.busy.Add(time.Now())
	p.mu.Unlock()
	if n > 0 {
		p.cfg.OnEvent.emit("", EvRefused, 0, fmt.Sprintf("refused %d connection(s), the last from %s: %s", n, addr, reason))
	}
}

// sendRefuse writes a Refuse frame, best effort: the connection is closed
// right after either way.
func sendRefuse(c net.Conn, code byte, reason string) {
	c.SetWriteDeadline(time.Now().Add(2 * time.Second))
	wire.WriteFrame(c, wire.KindRefuse, wire.Refuse{Code: code, Reason: reason}.Encode())
}

// refuse sends a Refuse frame and reports it.
func (p *Primary) refuse(c net.Conn, name string, code byte, reason string, lsn wal.LSN) {
	sendRefuse(c, code, reason)
	if name == "" {
		p.cfg.OnEvent.emit("", EvRefused, lsn, fmt.Sprintf("refused %s: %s", c.RemoteAddr(), reason))
		return
	}
	p.cfg.OnEvent.emit(name, EvRefused, lsn, "refused: "+reason)
}

// refuseWALRemoved tells a follower that the WAL it needs is gone. Every
// reconnect attempt gets this answer until it takes a base backup or
// streams again; the event log hears it once.
func (p *Primary) refuseWALRemoved(c net.Conn, name, reason string, lsn wal.LSN) {
	sendRefuse(c, wire.RefuseWALRemoved, reason)
	p.mu.Lock()
	told := p.toldRemoved[name]
	p.toldRemoved[name] = true
	if pr := p.peers[name]; pr != nil {
		pr.lastError = "WAL removed"
	}
	p.mu.Unlock()
	if !told {
		p.cfg.OnEvent.emit(name, EvWALRemoved, lsn, "refused: "+reason)
	}
}

func validName(s string) bool {
	if s == "" || len(s) > wire.MaxNameLen {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// serve runs one follower connection: handshake, then a sender goroutine
// streaming WAL while this goroutine reads status and requests.
func (p *Primary) serve(c net.Conn, st *connState) {
	fr := wire.NewReader(c, 4<<10) // followers send small frames
	fr.SetMaxFrame(maxFollowerFrame)
	c.SetReadDeadline(time.Now().Add(p.cfg.HandshakeTimeout))
	f, err := fr.Next()
	if err != nil {
		var ne net.Error
		switch {
		case p.wasEvicted(st, false):
			sendRefuse(c, wire.RefuseProtocol, evictedReason) // the eviction event says it
		case errors.Is(err, io.EOF):
			p.cfg.OnEvent.emit("", EvRefused, 0, fmt.Sprintf("connection from %s closed before saying hello", c.RemoteAddr()))
		case errors.Is(err, wire.ErrFrameTooLarge):
			p.refuse(c, "", wire.RefuseProtocol, "not a walship hello: "+err.Error(), 0)
		case errors.As(err, &ne) && ne.Timeout():
			p.refuse(c, "", wire.RefuseProtocol, fmt.Sprintf("no hello within %v", p.cfg.HandshakeTimeout), 0)
		default:
			p.cfg.OnEvent.emit("", EvRefused, 0, fmt.Sprintf("dropped connection from %s before hello: %v", c.RemoteAddr(), err))
		}
		return
	}
	if f.Kind != wire.KindHello {
		p.refuse(c, "", wire.RefuseProtocol, fmt.Sprintf("expected hello, got %s frame", f.Kind), 0)
		return
	}
	h, err := wire.DecodeHello(f.Payload)
	switch {
	case errors.Is(err, wire.ErrNameTooLong):
		p.refuse(c, "", wire.RefuseBadName, fmt.Sprintf("follower name of %d bytes is too long (max %d)", f.Payload[15], wire.MaxNameLen), 0)
		return
	case err != nil:
		p.refuse(c, "", wire.RefuseProtocol, err.Error(), 0)
		return
	case h.Magic != wire.Magic:
		p.refuse(c, "", wire.RefuseBadMagic, fmt.Sprintf("bad magic %08x (not a walship follower)", h.Magic), 0)
		return
	case h.Version != wire.Version:
		p.refuse(c, "", wire.RefuseBadVersion, fmt.Sprintf("protocol version %d not supported (want %d)", h.Version, wire.Version), 0)
		return
	case !validName(h.Name):
		p.refuse(c, "", wire.RefuseBadName, fmt.Sprintf("bad follower name %q", h.Name), 0)
		return
	case p.cfg.Known != nil && !p.cfg.Known(h.Name):
		p.refuse(c, "", wire.RefuseUnknownName, fmt.Sprintf("unknown follower %q", h.Name), 0)
		return
	case p.wasEvicted(st, true):
		p.refuse(c, h.Name, wire.RefuseProtocol, evictedReason, 0)
		return
	}
	name := h.Name
	wantBackup := h.Flags&wire.HelloWantBackup != 0
	flushed := p.log.Flushed()
	if h.Start > flushed {
		// Its WAL ends past anything the leader has flushed (so sent):
		// what it would report from there cannot be true.
		p.refuse(c, name, wire.RefuseProtocol, fmt.Sprintf("requested start %s is ahead of the leader's flush %s", h.Start, flushed), h.Start)
		return
	}
	if !wantBackup {
		if h.Start < p.log.Start() {
			p.refuseWALRemoved(c, name, fmt.Sprintf("requested WAL at %s has already been removed (oldest is %s)", h.Start, p.log.Start()), h.Start)
			return
		}
		if err := p.checkStart(h.Start, flushed); err != nil {
			p.refuse(c, name, wire.RefuseProtocol, "requested start "+err.Error(), h.Start)
			return
		}
	}

	p.mu.Lock()
	pr := p.peers[name]
	if pr == nil {
		pr = &peer{name: name}
		p.peers[name] = pr
		if p.slots {
			p.setSlotLocked(pr, true)
		}
	}
	if pr.connected {
		p.mu.Unlock()
		p.refuse(c, name, wire.RefuseDuplicate, "a follower with this name is already streaming", 0)
		return
	}
	pr.connected, pr.conn, pr.addr = true, c, c.RemoteAddr().String()
	delete(p.toldRemoved, name) // streaming again: a new fall-off is news
	pr.caughtUp = false
	pr.ctl = make(chan senderCtl, 4)
	pr.sent, pr.sentMax = h.Start, h.Start
	if !wantBackup {
		// It asks from the end of its log, which may hold bytes it has
		// not fsynced: nothing it reported counts for more than that, and
		// nothing counts as written or flushed that it has not reported
		// (a synchronous commit must not be acknowledged on a guess). Its
		// first status, sent at once, says the rest.
		pr.write = min(pr.write, h.Start)
		pr.flush = min(pr.flush, h.Start)
		pr.replay = min(pr.replay, h.Start)
	}
	ctl := pr.ctl
	p.mu.Unlock()

	c.SetReadDeadline(time.Time{})
	bw := bufio.NewWriterSize(c, 64<<10)
	// The handshake writes to bw before the sender, which then owns it, starts.
	err = wire.WriteFrame(bw, wire.KindWelcome, wire.Welcome{Flushed: flushed, SegmentSize: p.log.SegmentSize(), Oldest: p.log.Start()}.Encode())
	if err == nil {
		err = bw.Flush()
	}
	if err != nil {
		p.disconnected(pr, c, "welcome: "+err.Error())
		return
	}
	how := "streaming from " + h.Start.String()
	if wantBackup {
		how = "asking for a base backup"
	}
	p.cfg.OnEvent.emit(name, EvConnect, h.Start, "connected, "+how)

	senderDone := make(chan struct{})
	connStop := make(chan struct{})
	go func() {
		defer close(senderDone)
		start := h.Start
		if wantBackup {
			start = 0
		}
		err := p.send(pr, c, bw, start, wantBackup, ctl, connStop)
		if err != nil {
			c.Close() // unblocks the reader below
		}
	}()

	reason := p.readLoop(pr, c, fr, ctl)
	close(connStop)
	c.Close()
	<-senderDone
	p.disconnected(pr, c, reason)
}

// checkStart checks an LSN a follower asks to stream from: at most limit
// (the leader's flush) and a record boundary, so that the sender never
// reads the leader's WAL from inside a record and takes the follower's
// mistake for damage. A removed LSN passes: the sender answers "WAL
// removed" for it.
func (p *Primary) checkStart(from, limit wal.LSN) error {
	if from > limit {
		return fmt.Errorf("%s: past the leader's flush %s", from, limit)
	}
	rd, err := p.log.NewReader(from)
	if err != nil {
		if errors.Is(err, wal.ErrWALRemoved) {
			return nil
		}
		return fmt.Errorf("%s: %v", from, err)
	}
	defer rd.Close()
	if _, err := rd.Next(limit); errors.Is(err, wal.ErrCorrupt) {
		return fmt.Errorf("%s: not a record boundary", from)
	}
	return nil
}

func (p *Primary) disconnected(pr *peer, c net.Conn, reason string) {
	p.mu.Lock()
	if pr.conn == c {
		pr.connected, pr.conn, pr.caughtUp = false, nil, false
		pr.lastError = reason
	}
	flush := pr.flush // read under the lock: a reconnect may be writing it
	p.mu.Unlock()
	p.progress.broadcast()
	select {
	case <-p.stop:
	default:
		p.cfg.OnEvent.emit(pr.name, EvDisconnect, flush, "disconnected: "+reason)
	}
}

// readLoop reads a follower's frames until the connection ends, and returns
// why it ended.
func (p *Primary) readLoop(pr *peer, c net.Conn, fr *wire.Reader, ctl chan senderCtl) string {
	for {
		c.SetReadDeadline(time.Now().Add(p.cfg.IdleTimeout))
		f, err := fr.Next()
		if err != nil {
			var ne net.Error
			switch {
			case errors.Is(err, io.EOF):
				return "connection closed"
			case errors.Is(err, net.ErrClosed):
				return "connection closed"
			case errors.As(err, &ne) && ne.Timeout():
				return fmt.Sprintf("idle: no frame from the follower in %v", p.cfg.IdleTimeout)
			}
			return err.Error()
		}
		switch f.Kind {
		case wire.KindStatus:
			s, err := wire.DecodeStatus(f.Payload)
			if err != nil {
				return err.Error()
			}
			if lie := p.onStatus(pr, s); lie != "" {
				// Drop the connection: nothing it says can be trusted.
				p.cfg.OnEvent.emit(pr.name, EvRefused, s.Flush, "rejected: "+lie)
				return "rejected: " + lie
			}
		case wire.KindResend:
			from, err := wire.DecodeResend(f.Payload)
			if err != nil {
				return err.Error()
			}
			if err := p.checkStart(from, p.log.Flushed()); err != nil {
				return "resend from " + err.Error()
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

// onStatus takes a follower's status report, unless it cannot be true:
// then it returns why, and nothing of it is taken.
func (p *Primary) onStatus(pr *peer, s wire.Status) string {
	now := p.clk.Now()
	flushed := p.log.Flushed()
	p.mu.Lock()
	if lie := statusLie(s, pr.sentMax); lie != "" {
		p.mu.Unlock()
		return lie
	}
	// Positions only move forward, except after a base backup or a crash,
	// where the follower's word is the truth.
	pr.write, pr.flush, pr.replay = s.Write, s.Flush, s.Replay
	pr.lags[0].advance(&p.lag, s.Write, now)
	pr.lags[1].advance(&p.lag, s.Flush, now)
	pr.lags[2].advance(&p.lag, s.Replay, now)
	if s.Write >= flushed {
		pr.caughtUp = true
	}
	if pr.slot.enabled && !pr.slot.lost && s.Flush > pr.slot.restart {
		pr.slot.restart = s.Flush
	}
	p.mu.Unlock()
	p.progress.broadcast()
	return ""
}

// send streams WAL to one follower from start until the connection fails or
// connStop closes. It serves resend and base-backup requests from ctl.
func (p *Primary) send(pr *peer, c net.Conn, bw *bufio.Writer, start wal.LSN, backup bool, ctl chan senderCtl, connStop chan struct{}) error {
	var rd *wal.Reader
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	open := func(from wal.LSN) error {
		if rd != nil {
			rd.Close()
			rd = nil
		}
		r, err := p.log.NewReader(from)
		if err != nil {
			if errors.Is(err, wal.ErrWALRemoved) {
				p.refuseWALRemoved(c, pr.name, fmt.Sprintf("requested WAL at %s has already been removed (oldest is %s)", from, p.log.Start()), from)
			}
			return err
		}
		rd = r
		p.setSent(pr, from)
		return nil
	}
	if backup {
		lsn, err := p.sendBackup(pr, bw)
		if err != nil {
			return err
		}
		start = lsn
	}
	if err := open(start); err != nil {
		return err
	}
	payload := make([]byte, 0, p.cfg.BatchBytes+wal.MaxRecordSize+wire.DataHeaderSize)
	var recs []wal.Record // Run's decoded records, unused here but kept to reuse their slice
	nextKeepalive := p.clk.Now() + p.cfg.KeepaliveInterval
	var pending *senderCtl
	streaming := false // told setCaughtUp, once per connection
	for {
		// Serve requests first: a resend rewinds the stream.
		if pending == nil {
			select {
			case req := <-ctl:
				pending = &req
			default:
			}
		}
		if pending != nil {
			req := *pending
			pending = nil
			if req.backup {
				lsn, err := p.sendBackup(pr, bw)
				if err != nil {
					return err
				}
				if err := open(lsn); err != nil {
					return err
				}
			} else {
				if err := bw.Flush(); err != nil {
					return err
				}
				p.cfg.OnEvent.emit(pr.name, EvResend, req.resend, "resending from "+req.resend.String())
				if err := open(req.resend); err != nil {
					return err
				}
			}
			continue
		}
		select {
		case <-connStop:
			return nil
		default:
		}

		flushChanged := p.flushed.wait()
		limit := p.log.Flushed()
		payload = wire.AppendDataHeader(payload[:0], 0, 0)
		var first, end wal.LSN
		for room := p.cfg.BatchBytes + wire.DataHeaderSize - len(payload); room > 0; room = p.cfg.BatchBytes + wire.DataHeaderSize - len(payload) {
			var run []byte
			var err error
			run, recs, err = rd.Run(limit, room, recs[:0])
			if err == io.EOF {
				break
			}
			if err != nil {
				if errors.Is(err, wal.ErrWALRemoved) {
					p.refuseWALRemoved(c, pr.name, fmt.Sprintf("WAL at %s was removed while streaming (oldest is %s)", rd.Pos(), p.log.Start()), rd.Pos())
				}
				return err
			}
			if len(payload) == wire.DataHeaderSize {
				first = wal.RecordLSN(run)
			}
			end = rd.Pos() // just past the run's last record
			payload = append(payload, run...)
		}
		if len(payload) > wire.DataHeaderSize {
			copy(payload[:wire.DataHeaderSize], wire.AppendDataHeader(nil, first, end))
			// Sent before it is written: the follower may report it
			// before WriteFrame returns.
			p.setSent(pr, end)
			if err := wire.WriteFrame(bw, wire.KindData, payload); err != nil {
				return err
			}
			continue
		}
		// Caught up with the leader's flush: streaming. Push out what is
		// buffered and wait for more WAL, a request, or the keepalive.
		if !streaming {
			p.setCaughtUp(pr)
			streaming = true
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		now := p.clk.Now()
		if now >= nextKeepalive {
			ka := wire.Keepalive{Flushed: limit, TimeNS: int64(now), Reply: true}
			if err := wire.WriteFrame(bw, wire.KindKeepalive, ka.Encode()); err != nil {
				return err
			}
			if err := bw.Flush(); err != nil {
				return err
			}
			nextKeepalive = now + p.cfg.KeepaliveInterval
		}
		var timer <-chan time.Time
		var t *time.Timer
		if d, ok := p.clk.Until(nextKeepalive); ok {
			t = time.NewTimer(d + time.Millisecond)
			timer = t.C
		}
		select {
		case <-flushChanged:
		case req := <-ctl:
			pending = &req
		case <-timer:
		case <-p.clk.Changed():
		case <-connStop:
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

func (p *Primary) setSent(pr *peer, lsn wal.LSN) {
	p.mu.Lock()
	pr.sent = lsn
	pr.sentMax = max(pr.sentMax, lsn)
	p.mu.Unlock()
}

// setCaughtUp marks pr streaming: its sender has sent everything the
// leader has flushed. Commits wait only on streaming followers.
func (p *Primary) setCaughtUp(pr *peer) {
	p.mu.Lock()
	changed := !pr.caughtUp && pr.connected
	pr.caughtUp = pr.caughtUp || pr.connected
	p.mu.Unlock()
	if changed {
		p.progress.broadcast()
	}
}

// backupChunkSize is the data carried by one Backup frame.
const backupChunkSize = 256 << 10

// sendBackup sends a base backup: a store snapshot consistent at an LSN, in
// chunks, and returns that LSN (streaming resumes from it).
func (p *Primary) sendBackup(pr *peer, bw *bufio.Writer) (wal.LSN, error) {
	data, lsn := p.Snapshot()
	// Sent before any of it is written: the follower reports lsn once it
	// has installed the backup, maybe before this goroutine runs again.
	p.setSent(pr, lsn)
	p.cfg.OnEvent.emit(pr.name, EvBackup, lsn, fmt.Sprintf("sending base backup: %d keys, %d bytes, consistent at %s", p.store.Len(), len(data), lsn))
	total := int64(len(data))
	for off := int64(0); ; {
		n := min(int64(backupChunkSize), total-off)
		chunk := wire.BackupChunk{LSN: lsn, Offset: off, Total: total, Last: off+n == total, Data: data[off : off+n]}
		if err := wire.WriteFrame(bw, wire.KindBackup, chunk.Encode()); err != nil {
			return 0, err
		}
		off += n
		if chunk.Last {
			break
		}
	}
	if err := bw.Flush(); err != nil {
		return 0, err
	}
	p.mu.Lock()
	if pr.slot.enabled {
		pr.slot.restart, pr.slot.lost = max(lsn, p.log.Start()), false
	}
	p.mu.Unlock()
	return lsn, nil
}
