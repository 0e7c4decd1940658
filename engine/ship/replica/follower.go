package replica

import (
	"errors"
	"fmt"
	"time"

	"walship/engine/wal"
	"walship/engine/wire"
)

// FollowerSettings are what a follower's decisions depend on besides what
// happens to it.
type FollowerSettings struct {
	Name        string
	SegmentSize int64 // its log's segment size, which must be the leader's (> 0)
	// MaxBackupSize refuses a base backup larger than this (> 0).
	MaxBackupSize int64
	// AutoBackup asks for a base backup by itself once the leader says
	// the WAL it needs was removed (otherwise it waits for RequestBackup).
	AutoBackup bool
	// WantBackup makes the first connection ask for a base backup, as a
	// new standby is made with pg_basebackup.
	WantBackup bool
	Paused     bool // replay starts paused
	// History is the timeline history its files hold: it is on
	// History.Timeline().
	History History
}

// Follower is one follower's decisions: its positions, its state, its
// counters, and what to do with every frame from the leader and with
// what its own stages (flush, replay, base-backup install) report. Its
// owner carries out the Effects each step returns; the only I/O it
// knows of is what it is told.
//
// It is not safe for concurrent use: its owner's lock guards it.
type Follower struct {
	set FollowerSettings

	// Invariant: pos.Replay <= pos.Flush <= pos.Write <= leaderFlush,
	// checked wherever they move (a broken one is counted in violations
	// and reported as an event).
	pos         Positions
	leaderFlush wal.LSN // the most the leader has said it flushed
	// recovered: records below it were recovered from the local log, not
	// streamed, and cost no apply delay.
	recovered wal.LSN
	// epoch counts base backups installed: each replaces the log and the
	// store, so replay progress from before one is stale.
	epoch uint64

	facts      stateFacts
	paused     bool
	wantBackup bool    // ask for a base backup on the next connection
	askBackup  bool    // the current connection's hello asked for one
	start      wal.LSN // the current connection's start
	welcomed   bool    // the current connection was welcomed
	lastError  string
	history    History

	records, crcFailures, resends, violations uint64
	backup                                    BackupProgress
	backupBuf                                 []byte

	// A resend was asked for at askedAt (world time): frames past the gap
	// are dropped until it comes.
	awaiting bool
	askedAt  time.Duration
}

// BackupProgress is a base backup in progress or done.
type BackupProgress struct {
	Active      bool
	LSN         wal.LSN
	Done, Total int64
	Count       int
}

// FollowerState is a copy of a follower's decisions' state.
type FollowerState struct {
	State       string // one of the State* names
	Positions   Positions
	LeaderFlush wal.LSN
	Connected   bool
	Paused      bool
	Records     uint64 // records received and written
	CRCFailures uint64 // records dropped for a bad CRC
	Resends     uint64 // resend requests sent
	Violations  uint64 // broken position invariants seen (always 0, or a bug)
	Backup      BackupProgress
	LastError   string
	NeedsBackup bool // the leader said the WAL it needs is gone
	WantBackup  bool // its next connection asks for a base backup
	Timeline    uint32
}

// Effects are what the owner of a Follower must do after a step, in
// this order: write Append to the log (then call Written), ask for a
// resend, install a base backup (then call Installed), send a status,
// report Events; Err ends the connection.
type Effects struct {
	// Append is a run of checked records continuing the log; Records
	// counts them. Duplicates counts records dropped because the log
	// has them already.
	Append     []byte
	Records    int
	Duplicates int
	// Resend: ask the leader to resend from ResendFrom.
	Resend     bool
	ResendFrom wal.LSN
	// NewHistory: the leader is on a later timeline this follower now
	// follows; the owner makes History durable before it writes any WAL
	// the connection brings.
	NewHistory bool
	History    History
	// Install is a whole base backup (an engine/kv image) consistent at
	// InstallLSN.
	Install    []byte
	InstallLSN wal.LSN
	// Status: report the positions now, even when none moved (the leader
	// counts nothing on a new connection until it hears, or it asked).
	Status bool
	// Moved: a position moved; a status report is due.
	Moved  bool
	Events []Event
	Err    error
}

func (e *Effects) event(kind string, lsn wal.LSN, text string, name string) {
	e.Events = append(e.Events, Event{Follower: name, Kind: kind, LSN: lsn, Text: text})
}

// ErrRefused ends a connection the leader refused.
var ErrRefused = errors.New("refused by the leader")

// ResendRetry is how long (world time) to wait for a resend before asking
// again. Within one connection a request cannot be lost, and frames
// already in flight past the gap keep arriving until the leader has
// rewound (a round trip, which a slow link makes long): asking again on
// each of them would make the leader rewind again and again. A new CRC
// failure always asks at once.
const ResendRetry = 10 * time.Second

// NewFollower returns the decisions of a follower whose log, recovered
// from its files, ends at logEnd (all of it flushed), and whose store
// holds everything below replayFrom.
func NewFollower(s FollowerSettings, logEnd, replayFrom wal.LSN) *Follower {
	return &Follower{
		set:        s,
		pos:        Positions{Write: logEnd, Flush: logEnd, Replay: min(replayFrom, logEnd)},
		recovered:  logEnd,
		paused:     s.Paused,
		wantBackup: s.WantBackup,
		history:    s.History,
	}
}

// History is the timeline history the follower is on.
func (f *Follower) History() History { return f.history }

// Promoting records that the follower stopped streaming to be promoted:
// replay is no longer paused (as pg_promote ends a pause), and no
// connection follows.
func (f *Follower) Promoting() {
	f.facts.promoting = true
	f.paused = false
}

// State returns a copy of the follower's state.
func (f *Follower) State() FollowerState {
	return FollowerState{
		State: f.facts.name(), Positions: f.pos, LeaderFlush: f.leaderFlush,
		Connected: f.facts.connected, Paused: f.paused,
		Records: f.records, CRCFailures: f.crcFailures, Resends: f.resends, Violations: f.violations,
		Backup: f.backup, LastError: f.lastError,
		NeedsBackup: f.facts.walRemoved, WantBackup: f.wantBackup,
		Timeline: f.history.Timeline(),
	}
}

// Positions returns the follower's positions.
func (f *Follower) Positions() Positions { return f.pos }

// move sets the positions and checks the invariant.
func (f *Follower) move(p Positions, e *Effects) {
	e.Moved = e.Moved || p != f.pos
	f.pos = p
	if err := p.Check(f.leaderFlush); err != nil {
		f.violations++
		e.event(EvError, p.Write, err.Error(), f.set.Name)
	}
}

// ---- the connection ------------------------------------------------------

// Hello starts a connection: the hello to send, streaming from logEnd (the
// end of the follower's log), or asking for a base backup.
func (f *Follower) Hello(logEnd wal.LSN) wire.Hello {
	f.start, f.askBackup, f.welcomed = logEnd, f.wantBackup, false
	h := wire.Hello{Magic: wire.Magic, Version: wire.Version, Start: logEnd, Name: f.set.Name, Timeline: f.history.Timeline()}
	if f.askBackup {
		h.Flags |= wire.HelloWantBackup
	}
	return h
}

// Frame handles one frame from the leader, logEnd being the end of the
// follower's log and now the world time: the first must be a Welcome (or
// a Refuse); then Data, Keepalive, Backup chunks, or a Refuse.
func (f *Follower) Frame(kind wire.Kind, p []byte, logEnd wal.LSN, now time.Duration) Effects {
	if !f.welcomed {
		switch kind {
		case wire.KindWelcome:
			return f.welcome(p)
		case wire.KindRefuse:
			return f.refused(p, logEnd)
		}
		return Effects{Err: fmt.Errorf("expected welcome, got %s frame", kind)}
	}
	switch kind {
	case wire.KindData:
		return f.Data(ScanData(p, logEnd, f.set.SegmentSize), now)
	case wire.KindKeepalive:
		return f.keepalive(p, logEnd, now)
	case wire.KindBackup:
		return f.backupChunk(p)
	case wire.KindRefuse:
		return f.refused(p, logEnd)
	}
	return Effects{Err: fmt.Errorf("unexpected %s frame from leader", kind)}
}

func (f *Follower) welcome(p []byte) Effects {
	w, err := wire.DecodeWelcome(p)
	if err != nil {
		return Effects{Err: err}
	}
	if w.SegmentSize != f.set.SegmentSize {
		return Effects{Err: fmt.Errorf("leader's segment size %d differs from ours %d", w.SegmentSize, f.set.SegmentSize)}
	}
	var e Effects
	lead := max(w.Timeline, 1)
	switch mine := f.history.Timeline(); {
	case lead < mine:
		return Effects{Err: fmt.Errorf("%w: the leader is on timeline %d, this follower on %d: that leader was left behind by a promotion", ErrRefused, lead, mine)}
	case lead > mine:
		h := make(History, 0, len(w.History))
		for _, s := range w.History {
			h = append(h, TimelineSwitch{Timeline: s.Timeline, ForkLSN: s.Fork, Reason: s.Reason})
		}
		if err := h.Check(); err != nil || h.Timeline() != lead {
			return Effects{Err: fmt.Errorf("leader's timeline %d comes with a history that does not lead to it", lead)}
		}
		if fork, ok := h.Fork(mine); !ok || f.start > fork && !f.askBackup {
			return Effects{Err: fmt.Errorf("leader's timeline %d forked from ours (%d) before this log's end %s", lead, mine, f.start)}
		}
		fork, _ := h.Fork(mine)
		f.history = h
		// What the old timeline's leader flushed past the fork is on no
		// timeline this one follows: count from the new leader's word.
		f.leaderFlush = 0
		e.NewHistory, e.History = true, h
		e.event(EvTimeline, fork, fmt.Sprintf("follows timeline %d, which forked from timeline %d at %s", lead, mine, fork), f.set.Name)
	}
	f.facts.needsRewind = false
	f.welcomed = true
	f.leaderFlush = max(f.leaderFlush, w.Flushed)
	f.facts.everConnected, f.facts.connected = true, true
	f.facts.caughtUp = !f.askBackup && f.start >= w.Flushed
	f.lastError = ""
	e.Status = true // the leader counts nothing on us until we report
	return e
}

// keepalive takes the leader's keepalive, the follower's log ending at
// logEnd. The leader sends one only once it has sent, on this
// connection, every record up to the LSN it carries: a log that ends
// before it lost frames on the way (a link that drops frames, which TCP
// alone never does, or a one-way cut with nothing written after), and
// only a resend brings them back.
func (f *Follower) keepalive(p []byte, logEnd wal.LSN, now time.Duration) Effects {
	k, err := wire.DecodeKeepalive(p)
	if err != nil {
		return Effects{Err: err}
	}
	f.leaderFlush = max(f.leaderFlush, k.Flushed)
	if f.pos.Write >= f.leaderFlush {
		f.facts.caughtUp = true
	}
	e := Effects{Status: k.Reply}
	if k.Flushed > logEnd {
		f.askResend(&e, logEnd, fmt.Sprintf("gap: a keepalive says the leader flushed %s, this log ends at %s", k.Flushed, logEnd), now)
	}
	return e
}

func (f *Follower) refused(p []byte, logEnd wal.LSN) Effects {
	r, err := wire.DecodeRefuse(p)
	if err != nil {
		return Effects{Err: err}
	}
	var e Effects
	if r.Code == wire.RefuseWALRemoved {
		first := !f.facts.walRemoved
		f.facts.walRemoved = true
		f.wantBackup = f.wantBackup || f.set.AutoBackup
		if first {
			e.event(EvWALRemoved, logEnd, "needs base backup: "+r.Reason, f.set.Name)
		}
	}
	if r.Code == wire.RefuseNeedsRewind {
		f.facts.needsRewind = true
	}
	e.Err = fmt.Errorf("%w: %s", ErrRefused, r.Reason)
	return e
}

// Disconnected ends the current connection, for reason ("" when the
// follower is stopping). What a connection was in the middle of (a base
// backup, a resend) is abandoned.
func (f *Follower) Disconnected(reason string) {
	f.facts.connected, f.facts.inBackup = false, false
	f.backup.Active = false
	f.backupBuf = nil
	f.awaiting, f.welcomed = false, false
	if reason != "" {
		f.lastError = reason
	}
}

// Stopped records that the follower stopped (shut down or crashed).
func (f *Follower) Stopped() {
	f.facts.stopped, f.facts.connected = true, false
}

// RequestBackup makes the next connection ask for a base backup.
func (f *Follower) RequestBackup() { f.wantBackup = true }

// ---- WAL data ------------------------------------------------------------

// DataScan is a Data frame checked record by record against the log it
// continues: the follower's record checks, apart from its state (see
// ScanData).
type DataScan struct {
	Err error   // a malformed frame: the connection ends
	End wal.LSN // the end the frame claims: the leader has flushed that much
	// Run is the checked records that continue the log, Records of them,
	// after any the log has already (duplicates of a resend's overlap).
	Run     []byte
	Records int
	Dups    int
	// Next is where the log continues after Run.
	Next wal.LSN
	// Stop, when not StopNone, says why the scan stopped before the
	// frame's end: at StopLSN, because of StopText.
	Stop     Stop
	StopLSN  wal.LSN
	StopText string
}

// Stop says why a scan stopped early.
type Stop int

// Why a scan stops early.
const (
	StopNone Stop = iota
	StopCRC       // a record failed its check (CRC, or a torn or bad header)
	StopGap       // a record is not where the log continues
)

// ScanData checks a Data frame's records against a log that ends at next
// with segments of seg bytes: every record's CRC, and that it continues
// the log (a record wholly before next is a duplicate, dropped while no
// new record has come; one anywhere else is a gap). It stops at the first
// record that fails; the good run before it is Run. It reads p only, and
// Run aliases it.
func ScanData(p []byte, next wal.LSN, seg int64) DataScan {
	_, end, err := wire.DataRange(p)
	if err != nil {
		return DataScan{Err: err}
	}
	s := DataScan{End: end, Next: next}
	recs := p[wire.DataHeaderSize:]
	from, to := 0, 0
	for to < len(recs) {
		rec, n, err := wal.DecodeRecord(recs[to:])
		if err != nil {
			s.Stop, s.StopLSN = StopCRC, s.Next
			if len(recs)-to >= 12 { // holds an LSN field
				s.StopLSN = wal.RecordLSN(recs[to:])
			}
			s.StopText = fmt.Sprintf("dropped record at %s: %v", s.StopLSN, err)
			break
		}
		want := wal.Place(s.Next, n, seg)
		if rec.LSN < want && s.Records == 0 {
			to += n // already have it (a resend overlaps)
			from = to
			s.Dups++
			continue
		}
		if rec.LSN != want {
			s.Stop, s.StopLSN = StopGap, rec.LSN
			s.StopText = fmt.Sprintf("gap: got %s, expected %s", rec.LSN, want)
			break
		}
		if rec.End() > end {
			// The leader ships only what it has flushed, and says how
			// far: a record past that is a lie.
			return DataScan{Err: fmt.Errorf("data frame claims to end at %s, but holds a record ending at %s", end, rec.End())}
		}
		s.Next = rec.End()
		to += n
		s.Records++
	}
	s.Run = recs[from:to]
	return s
}

// Data takes a scanned Data frame at now: the good run is to be appended,
// and a CRC failure or a gap asks the leader to resend from where the log
// continues.
func (f *Follower) Data(s DataScan, now time.Duration) Effects {
	if s.Err != nil {
		return Effects{Err: s.Err}
	}
	// The leader ships only what it has flushed: note that before the
	// flusher can see these bytes.
	f.leaderFlush = max(f.leaderFlush, s.End)
	e := Effects{Duplicates: s.Dups}
	if s.Records > 0 {
		e.Append, e.Records = s.Run, s.Records
		f.awaiting = false
	}
	switch s.Stop {
	case StopCRC:
		f.crcFailures++
		e.event(EvCRC, s.StopLSN, s.StopText, f.set.Name)
		f.awaiting = false // a new failure always asks again
		f.askResend(&e, s.Next, "CRC failure", now)
	case StopGap:
		f.askResend(&e, s.Next, s.StopText, now)
	}
	return e
}

func (f *Follower) askResend(e *Effects, from wal.LSN, why string, now time.Duration) {
	if f.awaiting && now-f.askedAt < ResendRetry {
		return
	}
	f.awaiting, f.askedAt = true, now
	f.resends++
	e.Resend, e.ResendFrom = true, from
	e.event(EvResend, from, fmt.Sprintf("%s: asked the leader to resend from %s", why, from), f.set.Name)
}

// Written records that the log now holds records written up to written
// (records of them just appended).
func (f *Follower) Written(written wal.LSN, records int) Effects {
	var e Effects
	f.records += uint64(records)
	p := f.pos
	p.Write = max(p.Write, written)
	f.move(p, &e)
	if p.Write >= f.leaderFlush {
		f.facts.caughtUp = true
	}
	return e
}

// ---- base backup ---------------------------------------------------------

func (f *Follower) backupChunk(p []byte) Effects {
	c, err := wire.DecodeBackupChunk(p)
	if err != nil {
		return Effects{Err: err}
	}
	var e Effects
	if c.Offset == 0 {
		if c.Total > f.set.MaxBackupSize {
			return Effects{Err: fmt.Errorf("base backup of %d bytes is over the limit of %d", c.Total, f.set.MaxBackupSize)}
		}
		f.backupBuf = make([]byte, 0, c.Total)
		f.facts.inBackup = true
		f.backup = BackupProgress{Active: true, LSN: c.LSN, Total: c.Total, Count: f.backup.Count}
		e.event(EvBackup, c.LSN, fmt.Sprintf("receiving base backup consistent at %s (%d bytes)", c.LSN, c.Total), f.set.Name)
	}
	if f.backupBuf == nil || c.LSN != f.backup.LSN || c.Offset != int64(len(f.backupBuf)) || c.Total != int64(cap(f.backupBuf)) {
		return Effects{Err: fmt.Errorf("base backup chunk out of order (offset %d, have %d)", c.Offset, len(f.backupBuf))}
	}
	f.backupBuf = append(f.backupBuf, c.Data...)
	f.backup.Done = int64(len(f.backupBuf))
	if !c.Last {
		return e
	}
	if int64(len(f.backupBuf)) != c.Total {
		return Effects{Err: fmt.Errorf("base backup ended at %d of %d bytes", len(f.backupBuf), c.Total)}
	}
	e.Install, e.InstallLSN = f.backupBuf, c.LSN
	f.backupBuf = nil
	return e
}

// Installed records that a base backup consistent at lsn, holding keys
// keys, replaced the log and the store: every position is lsn, and
// streaming goes on from there.
func (f *Follower) Installed(lsn wal.LSN, keys int) Effects {
	var e Effects
	f.facts.caughtUp = lsn >= f.leaderFlush
	// The leader sends a base backup only once its WAL is flushed to
	// the backup's LSN.
	f.leaderFlush = max(f.leaderFlush, lsn)
	f.move(Positions{Write: lsn, Flush: lsn, Replay: lsn}, &e)
	f.recovered = lsn
	f.epoch++
	f.facts.inBackup, f.facts.walRemoved = false, false
	f.wantBackup = false
	f.backup.Active = false
	f.backup.Count++
	e.event(EvBackup, lsn, fmt.Sprintf("base backup installed: %d keys at %s; streaming from there", keys, lsn), f.set.Name)
	return e
}

// ---- flush and replay ----------------------------------------------------

// Flushed records that the log is durable up to lsn.
func (f *Follower) Flushed(lsn wal.LSN) Effects {
	var e Effects
	if lsn > f.pos.Flush {
		p := f.pos
		p.Flush = lsn
		p.Write = max(p.Write, lsn)
		f.move(p, &e)
	}
	return e
}

// SetPaused pauses or resumes replay (pg_wal_replay_pause/resume).
func (f *Follower) SetPaused(on bool) { f.paused = on }

// Replay says what replay may do next: apply the log from from up to
// limit (the flushed end), in the log of epoch; streamed says the
// records were streamed rather than recovered locally (they cost the
// apply delay). ok is false when there is nothing to do: replay is
// paused or has reached the flushed end.
func (f *Follower) Replay() (from, limit wal.LSN, streamed bool, epoch uint64, ok bool) {
	if f.paused || f.pos.Replay >= f.pos.Flush {
		return 0, 0, false, 0, false
	}
	return f.pos.Replay, f.pos.Flush, f.pos.Replay >= f.recovered, f.epoch, true
}

// Replayed records that replay in the log of epoch reached to; it reports
// whether replay moved (not when a base backup replaced that log since).
func (f *Follower) Replayed(to wal.LSN, epoch uint64) (bool, Effects) {
	var e Effects
	if epoch != f.epoch || to <= f.pos.Replay {
		return false, e
	}
	p := f.pos
	p.Replay = to
	f.move(p, &e)
	return true, e
}

// Epoch counts the base backups installed: replay progress made in an
// older epoch's log is stale.
func (f *Follower) Epoch() uint64 { return f.epoch }
