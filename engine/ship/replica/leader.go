package replica

import (
	"sort"
	"time"

	"walship/engine/wal"
	"walship/engine/wire"
)

// LeaderSettings are the leader's settings the rules read.
type LeaderSettings struct {
	Rule       SyncRule
	WALKeep    int64 // bytes kept behind the flushed end (wal_keep_size)
	Slots      bool  // a replication slot per follower pins WAL
	MaxSlotWAL int64 // max_slot_wal_keep_size; 0 = no cap
	// History is the leader's timeline history: it leads on
	// History.Timeline() (timeline 1 when empty).
	History History
}

// Leader is the leader's decisions and what they are made from: every
// follower's Progress, the settings, the flush times lags are measured
// against. It is not safe for concurrent use: its owner's lock guards it.
type Leader struct {
	set       LeaderSettings
	followers map[string]*Progress
	// toldRemoved: followers already told their WAL is gone (see
	// WALRemoved); cleared when they connect again.
	toldRemoved map[string]bool
	lag         lagRing
}

// NewLeader returns a leader's decisions with no follower known yet.
func NewLeader(s LeaderSettings) *Leader {
	s.WALKeep = max(s.WALKeep, 0)
	return &Leader{set: s, followers: make(map[string]*Progress), toldRemoved: make(map[string]bool)}
}

// Settings returns the settings in force.
func (l *Leader) Settings() LeaderSettings { return l.set }

// SetRule changes the sync rule.
func (l *Leader) SetRule(r SyncRule) { l.set.Rule = r }

// SetWALKeep changes wal_keep_size.
func (l *Leader) SetWALKeep(n int64) { l.set.WALKeep = max(n, 0) }

// SetSlots turns replication slots on or off. A new slot starts at its
// follower's last reported flush position, or oldest (the oldest WAL
// retained) when that is gone already.
func (l *Leader) SetSlots(on bool, oldest wal.LSN) {
	l.set.Slots = on
	for _, pr := range l.followers {
		l.setSlot(pr, on, oldest)
	}
}

func (l *Leader) setSlot(pr *Progress, on bool, oldest wal.LSN) {
	switch {
	case !on:
		pr.Slot = Slot{}
	case !pr.Slot.Enabled:
		pr.Slot = Slot{Enabled: true, Restart: max(pr.Flush, oldest)}
	}
}

// Follower returns the progress of the follower name, or nil when the
// leader has not heard of it.
func (l *Leader) Follower(name string) *Progress { return l.followers[name] }

// Forget drops what the leader knows of a follower (removed for good),
// its slot with it.
func (l *Leader) Forget(name string) {
	delete(l.followers, name)
	delete(l.toldRemoved, name)
}

// Connect records an admitted connection of the follower name from addr,
// streaming from start (or taking a base backup first), and returns its
// progress with its new epoch. It is the follower's first connection when
// the leader has not heard of it; with slots on, it gets a slot.
func (l *Leader) Connect(name, addr string, start wal.LSN, backup bool, oldest wal.LSN) *Progress {
	pr := l.followers[name]
	if pr == nil {
		pr = &Progress{Name: name}
		l.followers[name] = pr
		if l.set.Slots {
			l.setSlot(pr, true, oldest)
		}
	}
	delete(l.toldRemoved, name) // streaming again: a new fall-off is news
	pr.Epoch++
	pr.Connected, pr.Streaming, pr.Addr = true, false, addr
	pr.Sent, pr.SentMax = start, start
	if !backup {
		// It asks from the end of its log, which may hold bytes it has
		// not fsynced: nothing it reported counts for more than that, and
		// nothing counts as written or flushed that it has not reported
		// (a synchronous commit must not be acknowledged on a guess). Its
		// first status, sent at once, says the rest.
		pr.Write = min(pr.Write, start)
		pr.Flush = min(pr.Flush, start)
		pr.Replay = min(pr.Replay, start)
	}
	return pr
}

// Disconnect records the end of pr's connection epoch, and why. It
// reports whether that was its current connection (an older one's end
// changes nothing). Its reports stop counting toward commits.
func (l *Leader) Disconnect(pr *Progress, epoch uint64, reason string) bool {
	if pr.Epoch != epoch || !pr.Connected {
		return false
	}
	pr.Connected, pr.Streaming = false, false
	pr.LastError = reason
	return true
}

// Sent records that pr's sender has sent (or rewound to) lsn. Sent
// before it is written: the follower may report it at once.
func (l *Leader) Sent(pr *Progress, lsn wal.LSN) {
	pr.Sent = lsn
	pr.SentMax = max(pr.SentMax, lsn)
}

// CaughtUp records that pr's sender has sent everything the leader has
// flushed: it is streaming. It reports whether that is news.
func (l *Leader) CaughtUp(pr *Progress) bool {
	changed := !pr.Streaming && pr.Connected
	pr.Streaming = pr.Streaming || pr.Connected
	return changed
}

// Report takes a status report from pr's connection epoch at now, the
// leader having flushed flushed, unless it cannot be true: then it
// returns why, and nothing of it is taken (the caller drops the
// connection: nothing it says can be trusted). A report from an ended
// connection is ignored.
func (l *Leader) Report(pr *Progress, epoch uint64, s wire.Status, flushed wal.LSN, now time.Duration) string {
	if pr.Epoch != epoch || !pr.Connected {
		return ""
	}
	if lie := StatusLie(s, pr.SentMax); lie != "" {
		return lie
	}
	// Positions only move forward, except after a base backup or a crash,
	// where the follower's word is the truth.
	pr.Write, pr.Flush, pr.Replay = s.Write, s.Flush, s.Replay
	pr.lags[0].advance(&l.lag, s.Write, now)
	pr.lags[1].advance(&l.lag, s.Flush, now)
	pr.lags[2].advance(&l.lag, s.Replay, now)
	if s.Write >= flushed {
		pr.Streaming = true
	}
	if pr.Slot.Enabled && !pr.Slot.Lost && s.Flush > pr.Slot.Restart {
		pr.Slot.Restart = s.Flush
	}
	return ""
}

// BackupSent records that pr was sent a base backup consistent at lsn:
// its slot, if any, restarts there and is no longer lost.
func (l *Leader) BackupSent(pr *Progress, lsn, oldest wal.LSN) {
	if pr.Slot.Enabled {
		pr.Slot = Slot{Enabled: true, Restart: max(lsn, oldest)}
	}
}

// WALRemoved records that the follower name was told the WAL it needs is
// gone, and reports whether that is news for the event log: every
// reconnect attempt gets the answer until it takes a base backup or
// streams again, the event log hears it once.
func (l *Leader) WALRemoved(name string) bool {
	told := l.toldRemoved[name]
	l.toldRemoved[name] = true
	if pr := l.followers[name]; pr != nil {
		pr.LastError = "WAL removed"
	}
	return !told
}

// Flushed notes that the leader flushed up to lsn at now, for the lags.
func (l *Leader) Flushed(lsn wal.LSN, now time.Duration) { l.lag.add(lsn, now) }

// Rows returns every follower the leader knows of at now, sorted by name,
// with its lags against the leader's flushed LSN.
func (l *Leader) Rows(flushed wal.LSN, now time.Duration) []Row {
	out := make([]Row, 0, len(l.followers))
	for _, pr := range l.sorted() {
		out = append(out, Row{
			Progress:  *pr,
			WriteLag:  pr.lags[0].view(&l.lag, pr.Write, flushed, now),
			FlushLag:  pr.lags[1].view(&l.lag, pr.Flush, flushed, now),
			ReplayLag: pr.lags[2].view(&l.lag, pr.Replay, flushed, now),
			SyncState: l.set.Rule.SyncState(*pr),
		})
	}
	return out
}

// sorted returns the followers by name.
func (l *Leader) sorted() []*Progress {
	out := make([]*Progress, 0, len(l.followers))
	for _, pr := range l.followers {
		out = append(out, pr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// SlotRecord is one replication slot as the leader keeps it across a
// restart (PostgreSQL keeps its slots in pg_replslot/).
type SlotRecord struct {
	Name    string
	Restart wal.LSN
	Lost    bool
}

// SlotRecords returns whether slots are on and every slot, by name: what
// a restart must find again.
func (l *Leader) SlotRecords() (on bool, slots []SlotRecord) {
	for _, pr := range l.sorted() {
		if pr.Slot.Enabled {
			slots = append(slots, SlotRecord{Name: pr.Name, Restart: pr.Slot.Restart, Lost: pr.Slot.Lost})
		}
	}
	return l.set.Slots, slots
}

// RestoreSlots takes back the slots a restarted leader kept: slots are on
// when they were or when asked for (a kept slot is never dropped by a
// restart), and each follower that had one has it again, restarting no
// earlier than oldest, the oldest WAL the leader still has.
func (l *Leader) RestoreSlots(on bool, slots []SlotRecord, oldest wal.LSN) {
	l.set.Slots = l.set.Slots || on
	for _, s := range slots {
		pr := l.followers[s.Name]
		if pr == nil {
			pr = &Progress{Name: s.Name}
			l.followers[s.Name] = pr
		}
		pr.Slot = Slot{Enabled: true, Restart: max(s.Restart, oldest), Lost: s.Lost}
	}
}
