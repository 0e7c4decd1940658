package ship

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"walship/engine/clock"
	"walship/engine/kv"
	"walship/engine/wal"
	"walship/engine/wire"
)

// StandbyConfig sets up a follower.
type StandbyConfig struct {
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
}

// Standby is a follower: it recovers its own log, replays it, then streams
// from the leader through three stages with their own goroutines: receive
// (CRC check, write), flush (fsync) and replay (apply to the store).
type Standby struct {
	cfg StandbyConfig
	clk *clock.World
	log *wal.Log

	// pipe parks the flusher and replayer while a base backup replaces the
	// log and the store (they hold it shared while they work).
	pipe sync.RWMutex

	mu            sync.Mutex
	store         *kv.Store
	pos           Positions
	leaderFlush   wal.LSN
	fs            followerState
	paused        bool
	applyDelay    time.Duration
	flushDelay    time.Duration
	wantBackup    bool
	records       uint64
	crcFailures   uint64
	resends       uint64
	violations    uint64
	backup        BackupProgress
	lastError     string
	conn          net.Conn
	epoch         uint64  // bumped when the log is replaced by a backup
	recoveredEnd  wal.LSN // records below this were recovered locally: no apply delay
	lastStatusPos Positions

	flushKick  chan struct{}
	replayKick chan struct{}
	statusKick chan struct{}

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	crashed  bool
}

// BackupProgress is a base backup in progress or done.
type BackupProgress struct {
	Active      bool
	LSN         wal.LSN
	Done, Total int64
	Count       int
}

// StandbyStatus is a follower's view of itself.
type StandbyStatus struct {
	Name         string
	State        string
	Positions    Positions
	StartLSN     wal.LSN
	LeaderFlush  wal.LSN
	Connected    bool
	Paused       bool
	ApplyDelay   time.Duration
	FlushDelay   time.Duration
	Records      uint64
	CRCFailures  uint64
	Resends      uint64
	Keys         int
	Backup       BackupProgress
	LastError    string
	Violations   uint64 // broken position invariants seen (always 0, or a bug)
	NeedsBackup  bool
	WantBackup   bool
	SegmentFiles int
}

// A follower's directory holds its WAL in WALDir and its last base backup
// in SnapshotFile.
const (
	WALDir       = "wal"
	SnapshotFile = "base.snap"
)

// StartStandby recovers the follower's log and store from Dir and starts
// its goroutines. It returns once recovery is done; replay of the local log
// and the first connection go on in the background.
func StartStandby(cfg StandbyConfig) (*Standby, error) {
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
	store := kv.New()
	replayFrom := log.Start()
	snap, snapLSN, err := LoadSnapshot(filepath.Join(cfg.Dir, SnapshotFile))
	switch {
	case err != nil:
		log.Close()
		return nil, fmt.Errorf("ship: %s: %w", cfg.Name, err)
	case snap != nil:
		store = snap
		if snapLSN < log.Start() || snapLSN > log.End() {
			// A crash between saving a base backup and resetting the log:
			// the snapshot is the newer truth.
			if err := log.Reset(snapLSN); err != nil {
				log.Close()
				return nil, fmt.Errorf("ship: %s: %w", cfg.Name, err)
			}
		}
		replayFrom = snapLSN
	}
	s := &Standby{
		cfg: cfg, clk: cfg.Clock, log: log, store: store,
		paused: cfg.Paused, applyDelay: cfg.ApplyDelay, flushDelay: cfg.FlushDelay,
		wantBackup: cfg.WantBackup,
		flushKick:  make(chan struct{}, 1),
		replayKick: make(chan struct{}, 1),
		statusKick: make(chan struct{}, 1),
		stop:       make(chan struct{}),
	}
	end := log.End()
	s.pos = Positions{Write: end, Flush: end, Replay: replayFrom}
	s.recoveredEnd = end
	s.lastStatusPos = s.pos
	text := recoveryText(log, rec)
	if snap != nil {
		text += fmt.Sprintf("; base backup at %s", snapLSN)
	}
	cfg.OnEvent.emit(cfg.Name, EvRecovery, end, text)
	s.wg.Add(3)
	go s.flushLoop()
	go s.replayLoop()
	go s.connectLoop()
	return s, nil
}

// Name is the follower's name.
func (s *Standby) Name() string { return s.cfg.Name }

// Store is the follower's store (replaced by a base backup).
func (s *Standby) Store() *kv.Store {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.store
}

// WALErr returns the error that made the follower's WAL unusable (a
// failed write: disk full, I/O error), wal.ErrClosed once it is closed or
// crashed, and nil while it works. A follower whose WAL failed cannot
// make progress until it is restarted.
func (s *Standby) WALErr() error { return s.log.Err() }

// Syncs is how many fsyncs the follower's WAL has done (for benchmarks).
func (s *Standby) Syncs() uint64 { return s.log.Syncs() }

// SetPaused pauses or resumes replay (pg_wal_replay_pause/resume). Receive
// and flush go on.
func (s *Standby) SetPaused(p bool) {
	s.mu.Lock()
	s.paused = p
	s.mu.Unlock()
	kick(s.replayKick)
}

// SetApplyDelay sets the replay cost per streamed record (world time).
func (s *Standby) SetApplyDelay(d time.Duration) {
	s.mu.Lock()
	s.applyDelay = max(d, 0)
	s.mu.Unlock()
	kick(s.replayKick)
}

// SetFlushDelay sets the extra cost per fsync (world time).
func (s *Standby) SetFlushDelay(d time.Duration) {
	s.mu.Lock()
	s.flushDelay = max(d, 0)
	s.mu.Unlock()
}

// RequestBackup asks for a base backup on the next connection, dropping the
// current one so that happens now.
func (s *Standby) RequestBackup() {
	s.mu.Lock()
	s.wantBackup = true
	c := s.conn
	s.mu.Unlock()
	if c != nil {
		c.Close()
	}
}

// Status reports the follower's view of itself.
func (s *Standby) Status() StandbyStatus {
	s.mu.Lock()
	st := StandbyStatus{
		Name: s.cfg.Name, State: s.fs.name(), Positions: s.pos, LeaderFlush: s.leaderFlush,
		Connected: s.fs.connected, Paused: s.paused, ApplyDelay: s.applyDelay, FlushDelay: s.flushDelay,
		Records: s.records, CRCFailures: s.crcFailures, Resends: s.resends,
		Backup: s.backup, LastError: s.lastError, Violations: s.violations,
		NeedsBackup: s.fs.walRemoved, WantBackup: s.wantBackup,
	}
	store, crashed := s.store, s.crashed
	s.mu.Unlock()
	// Outside s.mu: a replay batch holds the store's lock, and the
	// receiver, flusher and replayer all need s.mu.
	st.Keys = store.Len()
	if !crashed {
		st.StartLSN = s.log.Start()
		st.SegmentFiles = s.log.SegmentCount()
	}
	return st
}

// Close stops the follower cleanly: every goroutine, the connection, and
// the log (synced). It is idempotent.
func (s *Standby) Close() error {
	if !s.halt() {
		return nil
	}
	return s.log.Close()
}

// Crash stops the follower as a crash would: nothing more is synced, and
// the log keeps only its flushed part plus keepUnsynced bytes of the
// written tail (which may end inside a record: a torn write). Restart with
// StartStandby on the same Dir.
func (s *Standby) Crash(keepUnsynced int64) error {
	if !s.halt() {
		return nil
	}
	s.mu.Lock()
	s.crashed = true
	s.mu.Unlock()
	return s.log.Crash(keepUnsynced)
}

// halt stops every goroutine; false when already stopped.
func (s *Standby) halt() bool {
	first := false
	s.stopOnce.Do(func() {
		first = true
		close(s.stop)
		s.mu.Lock()
		if s.conn != nil {
			s.conn.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
		s.mu.Lock()
		s.fs.stopped, s.fs.connected = true, false
		s.mu.Unlock()
	})
	return first
}

func (s *Standby) stopped() bool {
	select {
	case <-s.stop:
		return true
	default:
		return false
	}
}

func (s *Standby) emit(kind string, lsn wal.LSN, text string) {
	s.cfg.OnEvent.emit(s.cfg.Name, kind, lsn, text)
}

// setPositionsLocked updates positions under s.mu and checks the invariant.
func (s *Standby) setPositionsLocked(p Positions) {
	s.pos = p
	if err := p.Check(s.leaderFlush); err != nil {
		s.violations++
		// Not under s.mu: the event callback may ask for status. The
		// callers are the standby's own loops, so wg is above zero and
		// Close waits for this goroutine too.
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.emit(EvError, p.Write, err.Error())
		}()
	}
}

// ---- receive -------------------------------------------------------------

func (s *Standby) connectLoop() {
	defer s.wg.Done()
	backoff := s.cfg.ReconnectMin
	for !s.stopped() {
		progressed, err := s.session()
		if s.stopped() {
			return
		}
		s.mu.Lock()
		s.fs.connected = false
		s.fs.inBackup = false
		s.backup.Active = false
		if err != nil {
			s.lastError = err.Error()
		}
		s.conn = nil
		s.mu.Unlock()
		kick(s.statusKick)
		if progressed {
			backoff = s.cfg.ReconnectMin
		}
		t := time.NewTimer(backoff)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(backoff*2, s.cfg.ReconnectMax)
	}
}

var errRefused = errors.New("refused by the leader")

// session runs one connection to the leader. It reports whether it got as
// far as the leader's welcome.
func (s *Standby) session() (bool, error) {
	c, err := net.DialTimeout("tcp", s.cfg.Leader, 2*time.Second)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	s.mu.Lock()
	if s.stopped() {
		s.mu.Unlock()
		c.Close()
		return false, nil
	}
	s.conn = c
	wantBackup := s.wantBackup
	s.mu.Unlock()
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}

	start := s.log.End()
	h := wire.Hello{Magic: wire.Magic, Version: wire.Version, Start: start, Name: s.cfg.Name}
	if wantBackup {
		h.Flags |= wire.HelloWantBackup
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteFrame(c, wire.KindHello, h.Encode()); err != nil {
		return false, fmt.Errorf("hello: %w", err)
	}
	fr := wire.NewReader(c, 256<<10)
	f, err := fr.Next()
	if err != nil {
		return false, fmt.Errorf("waiting for welcome: %w", err)
	}
	switch f.Kind {
	case wire.KindRefuse:
		return false, s.onRefuse(f.Payload)
	case wire.KindWelcome:
	default:
		return false, fmt.Errorf("expected welcome, got %s frame", f.Kind)
	}
	w, err := wire.DecodeWelcome(f.Payload)
	if err != nil {
		return false, err
	}
	if w.SegmentSize != s.log.SegmentSize() {
		return false, fmt.Errorf("leader's segment size %d differs from ours %d", w.SegmentSize, s.log.SegmentSize())
	}
	c.SetDeadline(time.Time{})

	s.mu.Lock()
	s.leaderFlush = max(s.leaderFlush, w.Flushed)
	s.fs.everConnected, s.fs.connected = true, true
	s.fs.caughtUp = !wantBackup && start >= w.Flushed
	s.lastError = ""
	s.mu.Unlock()
	s.forceStatus() // the leader counts nothing on us until we report

	out := make(chan []byte, 8) // resend and backup requests for the writer
	writerDone := make(chan struct{})
	sessionDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		if err := s.writeLoop(c, out, sessionDone); err != nil {
			c.Close()
		}
	}()
	defer func() {
		close(sessionDone)
		c.Close()
		<-writerDone
	}()

	rx := receiver{s: s, out: out}
	for {
		f, err := fr.Next()
		if err != nil {
			if s.stopped() {
				return true, nil
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return true, errors.New("connection closed")
			}
			return true, err
		}
		switch f.Kind {
		case wire.KindData:
			if err := rx.data(f.Payload); err != nil {
				return true, err
			}
		case wire.KindKeepalive:
			k, err := wire.DecodeKeepalive(f.Payload)
			if err != nil {
				return true, err
			}
			s.mu.Lock()
			s.leaderFlush = max(s.leaderFlush, k.Flushed)
			if s.pos.Write >= s.leaderFlush {
				s.fs.caughtUp = true
			}
			s.mu.Unlock()
			// The leader sends a keepalive only once it has sent, on this
			// connection, every record up to the LSN it carries: a log
			// that ends before it lost frames on the way (a link that
			// drops frames, which TCP alone never does), and only a
			// resend brings them back.
			if end := s.log.End(); k.Flushed > end {
				rx.askResend(end, fmt.Sprintf("gap: a keepalive says the leader flushed %s, this log ends at %s", k.Flushed, end))
			}
			if k.Reply {
				s.forceStatus()
			}
		case wire.KindBackup:
			if err := rx.backupChunk(f.Payload); err != nil {
				return true, err
			}
		case wire.KindRefuse:
			return true, s.onRefuse(f.Payload)
		default:
			return true, fmt.Errorf("unexpected %s frame from leader", f.Kind)
		}
	}
}

func (s *Standby) onRefuse(p []byte) error {
	r, err := wire.DecodeRefuse(p)
	if err != nil {
		return err
	}
	if r.Code == wire.RefuseWALRemoved {
		s.mu.Lock()
		first := !s.fs.walRemoved
		s.fs.walRemoved = true
		if s.cfg.AutoBackup {
			s.wantBackup = true
		}
		s.mu.Unlock()
		if first {
			s.emit(EvWALRemoved, s.log.End(), "needs base backup: "+r.Reason)
		}
	}
	return fmt.Errorf("%w: %s", errRefused, r.Reason)
}

// forceStatus makes the writer send a status even if nothing moved.
func (s *Standby) forceStatus() {
	s.mu.Lock()
	s.lastStatusPos = Positions{}
	s.mu.Unlock()
	kick(s.statusKick)
}

// receiver is the receive stage of one session.
type receiver struct {
	s         *Standby
	out       chan []byte
	awaiting  bool      // a resend was asked for; frames past the gap are dropped
	askedAt   time.Time // when, to ask again if the resend got lost
	backupBuf []byte
	backupLSN wal.LSN
}

// resendRetry is how long to wait for a resend before asking again. Within
// one TCP session a request cannot be lost, and frames already in flight
// past the gap keep arriving until the leader has rewound (a round trip,
// which a slow link or a slowed world clock makes long): asking again on
// each of them would make the leader rewind again and again. A new CRC
// failure always asks at once.
const resendRetry = 10 * time.Second

func (r *receiver) askResend(from wal.LSN, why string) {
	s := r.s
	if r.awaiting && time.Since(r.askedAt) < resendRetry {
		return
	}
	r.awaiting, r.askedAt = true, time.Now()
	s.mu.Lock()
	s.resends++
	s.mu.Unlock()
	select {
	case r.out <- wire.AppendFrame(nil, wire.KindResend, wire.EncodeResend(from)):
	default:
	}
	s.emit(EvResend, from, fmt.Sprintf("%s: asked the leader to resend from %s", why, from))
}

// data handles one Data frame: check every record's CRC and position,
// write the good prefix, drop the rest.
func (r *receiver) data(p []byte) error {
	s := r.s
	_, end, err := wire.DataRange(p)
	if err != nil {
		return err
	}
	recs := p[wire.DataHeaderSize:]
	seg := s.log.SegmentSize()
	// The leader ships only what it has flushed: note that before the
	// flusher can see these bytes.
	s.mu.Lock()
	s.leaderFlush = max(s.leaderFlush, end)
	s.mu.Unlock()
	// Check every record, then buffer the good run of new ones at once:
	// [from, to) of recs, continuing the log at next.
	next := s.log.End()
	from, to, appended := 0, 0, 0
	for to < len(recs) {
		rec, n, err := wal.DecodeRecord(recs[to:])
		if err != nil {
			lsn := next
			if len(recs)-to >= 12 {
				lsn = wal.RecordLSN(recs[to:])
			}
			s.mu.Lock()
			s.crcFailures++
			s.mu.Unlock()
			s.emit(EvCRC, lsn, fmt.Sprintf("dropped record at %s: %v", lsn, err))
			r.awaiting = false // a new failure always asks again
			r.askResend(next, "CRC failure")
			break
		}
		want := wal.Place(next, n, seg)
		if rec.LSN < want && appended == 0 {
			to += n // already have it (a resend overlaps)
			from = to
			continue
		}
		if rec.LSN != want {
			r.askResend(next, fmt.Sprintf("gap: got %s, expected %s", rec.LSN, want))
			break
		}
		next = want + wal.LSN(n)
		to += n
		appended++
		r.awaiting = false
	}
	if appended == 0 {
		return nil
	}
	if err := s.log.AppendRawRun(recs[from:to]); err != nil {
		return fmt.Errorf("writing WAL: %w", err)
	}
	if err := s.log.Write(); err != nil {
		return fmt.Errorf("writing WAL: %w", err)
	}
	written := s.log.Written()
	s.mu.Lock()
	s.records += uint64(appended)
	p2 := s.pos
	p2.Write = max(p2.Write, written)
	s.setPositionsLocked(p2)
	if p2.Write >= s.leaderFlush {
		s.fs.caughtUp = true
	}
	s.mu.Unlock()
	kick(s.flushKick)
	kick(s.statusKick)
	return nil
}

// backupChunk collects a base backup and installs it when whole.
func (r *receiver) backupChunk(p []byte) error {
	s := r.s
	c, err := wire.DecodeBackupChunk(p)
	if err != nil {
		return err
	}
	if c.Offset == 0 {
		if c.Total > s.cfg.MaxBackupSize {
			return fmt.Errorf("base backup of %d bytes is over the limit of %d", c.Total, s.cfg.MaxBackupSize)
		}
		r.backupBuf = make([]byte, 0, c.Total)
		r.backupLSN = c.LSN
		s.mu.Lock()
		s.fs.inBackup = true
		s.backup = BackupProgress{Active: true, LSN: c.LSN, Total: c.Total, Count: s.backup.Count}
		s.mu.Unlock()
		s.emit(EvBackup, c.LSN, fmt.Sprintf("receiving base backup consistent at %s (%d bytes)", c.LSN, c.Total))
	}
	if r.backupBuf == nil || c.LSN != r.backupLSN || c.Offset != int64(len(r.backupBuf)) || c.Total != int64(cap(r.backupBuf)) {
		return fmt.Errorf("base backup chunk out of order (offset %d, have %d)", c.Offset, len(r.backupBuf))
	}
	r.backupBuf = append(r.backupBuf, c.Data...)
	s.mu.Lock()
	s.backup.Done = int64(len(r.backupBuf))
	s.mu.Unlock()
	if !c.Last {
		return nil
	}
	if int64(len(r.backupBuf)) != c.Total {
		return fmt.Errorf("base backup ended at %d of %d bytes", len(r.backupBuf), c.Total)
	}
	err = s.installBackup(r.backupBuf, c.LSN)
	r.backupBuf = nil
	return err
}

// installBackup replaces the store and the log with a base backup
// consistent at lsn. The snapshot is made durable before the log is reset,
// so a crash in between restarts from the snapshot.
func (s *Standby) installBackup(data []byte, lsn wal.LSN) error {
	store, _, err := kv.Restore(data)
	if err != nil {
		return fmt.Errorf("base backup: %w", err)
	}
	s.pipe.Lock()
	defer s.pipe.Unlock()
	if err := saveSnapshot(filepath.Join(s.cfg.Dir, SnapshotFile), data, lsn, s.cfg.NoSync); err != nil {
		return err
	}
	if err := s.log.Reset(lsn); err != nil {
		return err
	}
	s.mu.Lock()
	s.store = store
	s.pos = Positions{Write: lsn, Flush: lsn, Replay: lsn}
	s.recoveredEnd = lsn
	s.epoch++
	s.fs.inBackup, s.fs.walRemoved = false, false
	s.fs.caughtUp = lsn >= s.leaderFlush
	s.wantBackup = false
	s.backup.Active = false
	s.backup.Count++
	s.mu.Unlock()
	s.emit(EvBackup, lsn, fmt.Sprintf("base backup installed: %d keys at %s; streaming from there", store.Len(), lsn))
	kick(s.statusKick)
	kick(s.replayKick)
	return nil
}

// writeLoop owns the connection's write side: status updates when a
// position moves (at most one per StatusMinGap) and every StatusInterval,
// plus the receiver's requests.
func (s *Standby) writeLoop(c net.Conn, out chan []byte, done chan struct{}) error {
	bw := bufio.NewWriterSize(c, 4096)
	tick := time.NewTicker(s.cfg.StatusInterval)
	defer tick.Stop()
	for {
		force := false
		select {
		case <-done:
			return nil
		case f := <-out:
			if _, err := bw.Write(f); err != nil {
				return err
			}
		case <-s.statusKick:
		case <-tick.C:
			force = true
		}
		s.mu.Lock()
		pos := s.pos
		send := force || pos != s.lastStatusPos
		s.lastStatusPos = pos
		s.mu.Unlock()
		if send {
			st := wire.Status{Write: pos.Write, Flush: pos.Flush, Replay: pos.Replay, TimeNS: int64(s.clk.Now())}
			if err := wire.WriteFrame(bw, wire.KindStatus, st.Encode()); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if send {
			// Space reports out under load; kicks merge meanwhile.
			t := time.NewTimer(s.cfg.StatusMinGap)
			select {
			case <-done:
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// ---- flush ---------------------------------------------------------------

func (s *Standby) flushLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.stop:
			return
		case <-s.flushKick:
		}
		for s.log.Written() > s.log.Flushed() {
			s.mu.Lock()
			delay := s.flushDelay
			s.mu.Unlock()
			if delay > 0 && !s.clk.Sleep(delay, s.stop) {
				return
			}
			if s.stopped() {
				return
			}
			s.pipe.RLock()
			f, err := s.log.Sync()
			s.pipe.RUnlock()
			if err != nil {
				s.emit(EvError, s.log.Flushed(), "fsync failed: "+err.Error())
				break
			}
			s.mu.Lock()
			p := s.pos
			if f > p.Flush {
				p.Flush = f
				p.Write = max(p.Write, f)
				s.setPositionsLocked(p)
			}
			s.mu.Unlock()
			kick(s.replayKick)
			kick(s.statusKick)
		}
	}
}

// ---- replay --------------------------------------------------------------

// replayBatchBytes bounds the WAL applied per pass (some hundreds of
// records under one store lock), so pause takes effect soon.
const replayBatchBytes = 64 << 10

func (s *Standby) replayLoop() {
	defer s.wg.Done()
	var rd *wal.Reader
	var epoch uint64
	// A pass's records, applied under one store lock.
	var batch []wal.Record
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	// wait parks the loop until something may have moved (a flush, a
	// resume, a new delay, a base backup): false when the follower stops.
	wait := func() bool {
		select {
		case <-s.stop:
			return false
		case <-s.replayKick:
			return true
		}
	}
	for !s.stopped() {
		s.mu.Lock()
		paused, delay := s.paused, s.applyDelay
		pos, recovered, e := s.pos, s.recoveredEnd, s.epoch
		s.mu.Unlock()
		if paused || pos.Replay >= pos.Flush {
			if !wait() {
				return
			}
			continue
		}
		n := replayBatchBytes
		if delay > 0 && pos.Replay >= recovered {
			// An under-provisioned standby: each streamed record costs delay.
			if !s.clk.Sleep(delay, s.stop) {
				return
			}
			n = 1 // one record
		}
		s.pipe.RLock()
		s.mu.Lock()
		stale := s.epoch != e
		store := s.store
		s.mu.Unlock()
		if stale {
			s.pipe.RUnlock()
			continue
		}
		if rd == nil || epoch != e {
			if rd != nil {
				rd.Close()
			}
			var err error
			rd, err = s.log.NewReader(pos.Replay)
			if err != nil {
				rd = nil
				s.pipe.RUnlock()
				s.emit(EvError, pos.Replay, "replay: "+err.Error())
				if !s.clk.Sleep(time.Second, s.stop) {
					return
				}
				continue
			}
			epoch = e
		}
		var failed error
		// The records of one run, decoded and checked, aliasing the
		// reader's buffer until the next Run.
		_, batch, failed = rd.Run(pos.Flush, n, batch[:0])
		if failed == io.EOF {
			failed = nil
		}
		store.ApplyBatch(batch)
		// Just past what was applied, or past the unused end of a
		// segment the reader stepped over: replay has reached it either
		// way, even when no record was applied.
		replayed := rd.Pos()
		s.pipe.RUnlock()
		if failed != nil {
			rd.Close()
			rd = nil
			s.emit(EvError, replayed, "replay stopped: "+failed.Error())
			if !s.clk.Sleep(time.Second, s.stop) {
				return
			}
			continue
		}
		moved := false
		s.mu.Lock()
		if s.epoch == e && replayed > s.pos.Replay {
			p := s.pos
			p.Replay = replayed
			s.setPositionsLocked(p)
			moved = true
		}
		s.mu.Unlock()
		if !moved {
			// Nothing to apply below the flush yet (the end of the log):
			// wait for it rather than ask again at once.
			if !wait() {
				return
			}
			continue
		}
		kick(s.statusKick)
	}
}

// ---- base backup snapshot file -------------------------------------------

// The snapshot file holds a store consistent at an LSN (frozen format): a
// follower's last base backup (SnapshotFile), or the leader's last
// checkpoint (CheckpointFile).
//
//	magic "WSBB" | LSN u64 | kv snapshot (engine/kv format) | CRC-32C u32
//
// of everything before the CRC. LSN is where the log continues.
var snapMagic = [4]byte{'W', 'S', 'B', 'B'}

func saveSnapshot(path string, data []byte, lsn wal.LSN, noSync bool) error {
	// Header and trailer around data, which is not copied: a checkpoint of
	// a large store is large.
	head := binary.BigEndian.AppendUint64(snapMagic[:], uint64(lsn))
	sum := crc32.Update(wal.Checksum(head), crcTable, data)
	trailer := binary.BigEndian.AppendUint32(nil, sum)
	if err := wal.WriteFileDurably(path, noSync, head, data, trailer); err != nil {
		return fmt.Errorf("ship: saving %s: %w", filepath.Base(path), err)
	}
	return nil
}

// crcTable is CRC-32C's, the table wal.Checksum uses.
var crcTable = crc32.MakeTable(crc32.Castagnoli)

// LoadSnapshot reads a snapshot file (a base backup or a checkpoint);
// (nil, 0, nil) when there is none.
func LoadSnapshot(path string) (*kv.Store, wal.LSN, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, err
	}
	if len(b) < 16 || [4]byte(b[:4]) != snapMagic {
		return nil, 0, fmt.Errorf("ship: %s is not a walship store snapshot", path)
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if wal.Checksum(body) != sum {
		return nil, 0, fmt.Errorf("ship: %s: checksum mismatch (a damaged store snapshot)", path)
	}
	lsn := wal.LSN(binary.BigEndian.Uint64(b[4:12]))
	store, _, err := kv.Restore(body[12:])
	if err != nil {
		return nil, 0, fmt.Errorf("ship: %s: %w", path, err)
	}
	return store, lsn, nil
}
