package pg

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// The decisions of a poll, with no I/O: what the views' rows mean as the
// snapshot the screen draws, and which changes since the last poll are
// events. A tracker remembers what must stay stable between polls: each
// follower's index, the slot it streams through, the last state of
// everything an event reports a change of.

// States PostgreSQL's views imply that the in-process engine does not have.
const (
	// StateUnreachable: walship cannot connect to the standby, and the
	// primary has no row for it.
	StateUnreachable = "unreachable"
	// StatePromoted: the standby is out of recovery (it is a primary now).
	StatePromoted = "promoted"
	// StateNeedsRewind: the standby replayed past the point where the
	// timeline it is to follow forked off its own (inferred: PostgreSQL
	// says so only in its log, and the standby stays in recovery, never
	// streaming). pg_rewind, or a new base backup, brings it back.
	StateNeedsRewind = "needs rewind"
)

// fork is where a promoted standby's timeline began, for the standbys
// that followed the old one.
type fork struct {
	lsn      wal.LSN // the switch point: the new timeline shares the old one's WAL up to here
	tli      uint32  // the new timeline
	promoted string  // the standby promoted
}

// poll is one round of observations; standbys are polled before the
// primary, so that no standby position can pass the primary's flush LSN.
type poll struct {
	world       time.Duration // since the watcher started
	primaryAddr string
	primary     primaryObs
	standbys    []standbyPoll
	// recordEnd is the end of the last complete record at or below the
	// flush LSN, from pg_walinspect; 0 when not known.
	recordEnd wal.LSN
}

// standbyPoll is one standby's observation and who it is.
type standbyPoll struct {
	id   int    // the standby connection's number, stable for the watcher's life
	addr string // its address, the name shown until it tells its own
	obs  standbyObs
}

// member is one follower on the screen.
type member struct {
	name  string
	index int
	node  int    // standby connection id, or -1: seen only in pg_stat_replication
	slot  string // the physical slot it streams through, once matched
	prev  cluster.FollowerStatus
	seen  bool // prev holds the last poll's status
}

// tracker turns polls into snapshots and events.
type tracker struct {
	members  []*member
	indexOf  map[string]int // every name ever seen keeps its index
	nodeName map[int]string // each standby connection's last known name

	leader    cluster.LeaderStatus // the last known leader, kept while the primary is unreachable
	leaderErr string
	// forks: the standbys told to follow a promoted one, until they
	// receive on its timeline, and where it forked off theirs.
	forks    map[string]fork
	syncText string
	slots    map[string]string // slot name → wal_status, for events
	polled   bool
}

func newTracker() *tracker {
	return &tracker{indexOf: map[string]int{}, nodeName: map[int]string{}, slots: map[string]string{}, forks: map[string]fork{}}
}

// build returns the leader and followers for p, and the events for what
// changed since the previous poll.
func (t *tracker) build(p *poll) (cluster.LeaderStatus, []cluster.FollowerStatus, []cluster.Event) {
	var evs []cluster.Event
	emit := func(follower string, kind cluster.EventKind, lsn wal.LSN, format string, args ...any) {
		evs = append(evs, cluster.Event{World: p.world, Follower: follower, Kind: kind, LSN: lsn, Text: fmt.Sprintf(format, args...)})
	}
	t.buildLeader(p, emit)
	L := t.leader
	pr := &p.primary
	primaryOK := pr.err == nil && !pr.inRecovery

	rows := map[string]*replRow{}
	if primaryOK {
		for i := range pr.replication {
			r := &pr.replication[i]
			if _, dup := rows[r.appName]; !dup {
				rows[r.appName] = r
			}
		}
	}

	// Members: each standby connection, then any other row of
	// pg_stat_replication (a standby walship has no connection to).
	live := map[*member]bool{}
	sbOf := map[*member]*standbyPoll{}
	for i := range p.standbys {
		sp := &p.standbys[i]
		name := t.nodeName[sp.id]
		if sp.obs.err == nil {
			name = sp.obs.standbyName()
			t.nodeName[sp.id] = name
		} else if name == "" {
			name = sp.addr
		}
		m := t.memberFor(sp.id, name)
		live[m], sbOf[m] = true, sp
	}
	if primaryOK {
		for _, r := range pr.replication {
			m := t.byName(r.appName)
			if m == nil {
				m = t.memberFor(-1, r.appName)
			}
			live[m] = true
		}
	}
	kept := t.members[:0]
	for _, m := range t.members {
		if live[m] || (!primaryOK && m.seen) {
			kept = append(kept, m)
			continue
		}
		emit(m.name, cluster.EvDisconnect, m.prev.FlushLSN, "left pg_stat_replication (walship has no connection to this standby to say more)")
	}
	t.members = kept
	slices.SortFunc(t.members, func(a, b *member) int { return a.index - b.index })

	var fs []cluster.FollowerStatus
	for _, m := range t.members {
		var sb *standbyObs
		var sbErr error
		if sp := sbOf[m]; sp != nil {
			if sp.obs.err == nil {
				sb = &sp.obs
			} else {
				sbErr = sp.obs.err
			}
		}
		var row *replRow
		if primaryOK {
			row = rows[m.name]
		}
		f := t.follower(m, row, sb, sbErr, p, &L, primaryOK)
		if m.seen {
			followerEvents(&m.prev, &f, sb, emit)
		} else {
			emit(f.Name, cluster.EvInfo, f.FlushLSN, "%s", firstSight(&f))
		}
		m.prev, m.seen = f, true
		fs = append(fs, f)
	}
	if primaryOK {
		t.slotEvents(pr.slots, emit)
	}
	t.polled = true
	return L, fs, evs
}

// buildLeader updates t.leader from the primary's observation.
func (t *tracker) buildLeader(p *poll, emit func(string, cluster.EventKind, wal.LSN, string, ...any)) {
	pr := &p.primary
	errText := ""
	switch {
	case errors.Is(pr.err, errRetryLater) && t.leaderErr != "":
		errText = t.leaderErr // the same outage, between two tries
	case pr.err != nil:
		errText = "primary: " + pollErr(pr.err)
	case pr.inRecovery:
		errText = "the primary connection reaches a server in recovery (a standby): point it at the primary"
	}
	if errText != t.leaderErr {
		if errText != "" {
			emit("", cluster.EvError, 0, "%s", errText)
		} else if t.polled {
			emit("", cluster.EvConnect, 0, "primary %s answers again", p.primaryAddr)
		}
		t.leaderErr = errText
	}
	L := &t.leader
	L.Addr = p.primaryAddr
	L.Stale = errText != ""
	if L.Stale {
		return // keep the last known values
	}
	prev := *L
	L.InsertLSN, L.FlushLSN = pr.insert, pr.flush
	L.SegmentSize, L.WALKeep = pr.segSize, pr.walKeep
	L.Segments, L.OldestLSN = retained(pr.walFiles, pr.insert, pr.segSize)
	L.Slots = len(pr.slots) > 0
	L.MaxSlotWAL = max(pr.maxSlotWAL, 0)
	L.WaitingCommits = pr.waiting
	L.Timeline = timeline(pr.walFile)
	L.RecordEndLSN = 0
	if p.recordEnd != 0 && p.recordEnd < pr.flush {
		L.RecordEndLSN = p.recordEnd
	}
	L.Sync = syncRule(pr.syncCommit, pr.syncNames)

	if s := "synchronous_commit = " + pr.syncCommit + ", synchronous_standby_names = " + quoteLiteral(pr.syncNames); s != t.syncText {
		emit("", cluster.EvSync, 0, "%s", s)
		t.syncText = s
	}
	if !t.polled {
		return
	}
	if L.Timeline != prev.Timeline && prev.Timeline != 0 {
		emit("", cluster.EvRecovery, L.InsertLSN, "the primary writes on timeline %d", L.Timeline)
	}
	switch {
	case L.WaitingCommits > 0 && prev.WaitingCommits == 0:
		emit("", cluster.EvSync, L.FlushLSN, "%d commit(s) wait for synchronous standbys (pg_stat_activity: wait_event SyncRep)", L.WaitingCommits)
	case L.WaitingCommits == 0 && prev.WaitingCommits > 0:
		emit("", cluster.EvSync, L.FlushLSN, "no commit waits for synchronous standbys any more")
	}
	if L.OldestLSN > prev.OldestLSN && prev.OldestLSN != 0 && prev.Addr == L.Addr {
		emit("", cluster.EvInfo, L.OldestLSN, "pg_wal: WAL before %s removed or recycled (oldest segment %s)", L.OldestLSN, segmentName(L.Timeline, L.OldestLSN, L.SegmentSize))
	}
}

// memberFor returns the member for standby connection id (or, for -1,
// the watch-only member named name), creating it when there is none.
func (t *tracker) memberFor(id int, name string) *member {
	for _, m := range t.members {
		if id >= 0 && m.node == id {
			if m.name != name { // it answered for the first time, or was renamed
				delete(t.indexOf, m.name) // that name was this connection's alone
				if dup := t.byName(name); dup != nil && dup.node < 0 {
					// It was seen only in pg_stat_replication so far, as
					// another follower: they are one, under the lower index.
					m.index = min(m.index, dup.index)
					t.drop(dup)
				}
				m.name = name
				t.indexOf[name] = m.index
			}
			return m
		}
	}
	if m := t.byName(name); m != nil && m.node < 0 {
		m.node = id // a standby seen in pg_stat_replication before its connection answered
		return m
	}
	m := &member{name: name, node: id, index: t.index(name, 0)}
	t.members = append(t.members, m)
	return m
}

// drop forgets member m (its index stays reserved for its name).
func (t *tracker) drop(m *member) {
	t.members = slices.DeleteFunc(t.members, func(x *member) bool { return x == m })
}

func (t *tracker) byName(name string) *member {
	for _, m := range t.members {
		if m.name == name {
			return m
		}
	}
	return nil
}

// index is name's stable index: the one it had before, else keep (when
// not 0 and not taken), else the lowest free one.
func (t *tracker) index(name string, keep int) int {
	if i, ok := t.indexOf[name]; ok {
		return i
	}
	taken := map[int]bool{}
	for n, i := range t.indexOf {
		if n != name {
			taken[i] = true
		}
	}
	i := keep
	if i == 0 || taken[i] {
		for i = 1; taken[i]; i++ {
		}
	}
	t.indexOf[name] = i
	return i
}

// follower decides one follower's status from its row in
// pg_stat_replication (nil: none), its standby's own view (nil: no
// connection, or sbErr) and the primary's slots.
func (t *tracker) follower(m *member, row *replRow, sb *standbyObs, sbErr error, p *poll, L *cluster.LeaderStatus, primaryOK bool) cluster.FollowerStatus {
	f := cluster.FollowerStatus{Name: m.name, Index: m.index}
	if row != nil && row.state == cluster.StateStartup && sb != nil {
		// A walsender that does not stream yet, its positions NULL: a
		// standby that fell off, or forked off, asks every few seconds and
		// is refused. Its own view says more.
		row = nil
	}
	// A standby told to follow a promoted one follows the new timeline
	// once it receives on it. One that replayed past the fork cannot: each
	// time it tries, it streams the old timeline up to the fork from the
	// new primary (a row in catchup) and is refused. Its rows are its
	// tries; its own view says more.
	fk, forked := t.forks[m.name]
	if forked && (sb != nil && sb.receiver != nil && sb.receiver.receivedTLI >= fk.tli ||
		sb == nil && row != nil && row.state == cluster.StateStreaming) {
		delete(t.forks, m.name)
		forked = false
	}
	pastFork := forked && sb != nil && deref(sb.replay) > fk.lsn
	if pastFork {
		row = nil
	}
	end := L.FlushLSN
	if L.RecordEndLSN != 0 {
		end = L.RecordEndLSN
	}
	slot := t.matchSlot(m, row, sb, p.primary.slots)
	if slot != nil {
		f.Slot = cluster.SlotStatus{Enabled: true, Lost: slot.walStatus == "lost", WALStatus: slot.walStatus}
		if slot.restartLSN != nil {
			f.Slot.RestartLSN = *slot.restartLSN
		}
		if slot.safeWAL != nil {
			f.Slot.SafeWAL, f.Slot.SafeWALKnown = *slot.safeWAL, true
		}
	}

	switch {
	case row != nil:
		f.SentLSN, f.WriteLSN, f.FlushLSN, f.ReplayLSN = deref(row.sent), deref(row.write), deref(row.flush), deref(row.replay)
		f.WriteLag = lagOf(row.writeLag, f.WriteLSN, end)
		f.FlushLag = lagOf(row.flushLag, f.FlushLSN, end)
		f.ReplayLag = lagOf(row.replayLag, f.ReplayLSN, end)
		f.SyncState = row.syncState
		f.Link.Connected = true
	case sb != nil:
		// Its pg_wal reaches at least what it replayed from it: a WAL
		// receiver that restarted reports where it asked to stream from
		// (the start of a segment) until it receives again.
		f.ReplayLSN = deref(sb.replay)
		f.FlushLSN = max(deref(sb.receive), f.ReplayLSN)
		f.WriteLSN = f.FlushLSN
		if sb.receiver != nil && sb.receiver.written != nil {
			f.WriteLSN = max(*sb.receiver.written, f.FlushLSN)
		}
		f.SentLSN = f.WriteLSN // nothing is known to be in flight
		f.WriteLag = lagOf(nil, f.WriteLSN, end)
		f.FlushLag = lagOf(nil, f.FlushLSN, end)
		f.ReplayLag = lagOf(nil, f.ReplayLSN, end)
	default: // neither: the last known positions, marked stale
		f.SentLSN, f.WriteLSN, f.FlushLSN, f.ReplayLSN = m.prev.SentLSN, m.prev.WriteLSN, m.prev.FlushLSN, m.prev.ReplayLSN
		f.Stale = true
	}

	interval := 10 * time.Second // PostgreSQL's default wal_receiver_status_interval
	if sb != nil {
		interval = sb.statusInterval
		f.ReplayPaused = sb.pauseState != "" && sb.pauseState != "not paused"
		f.Timeline = sb.checkpointTLI
		if sb.receiver != nil && sb.receiver.receivedTLI != 0 {
			f.Timeline = sb.receiver.receivedTLI
		}
	}
	if row != nil && row.replyAge != nil && interval > 0 && *row.replyAge > (interval+staleSlack).Seconds() {
		f.Stale = true
	}
	switch {
	case errors.Is(sbErr, errRetryLater) && m.prev.LastError != "":
		f.LastError = m.prev.LastError // the reason of the last try
	case sbErr != nil:
		f.LastError = pollErr(sbErr)
	}
	switch {
	case sb != nil && !sb.inRecovery:
		f.State = StatePromoted
	case sb != nil && sb.conninfo == "":
		f.State = cluster.StateCut
		f.Link.Cut = true
	case pastFork:
		f.State, f.Inferred, f.LastError = StateNeedsRewind, true, rewindReason(f.ReplayLSN, fk)
		// Its positions are on the old timeline: no lag to the new one.
		f.WriteLag, f.FlushLag, f.ReplayLag = cluster.Lag{}, cluster.Lag{}, cluster.Lag{}
	case row != nil:
		f.State = row.state
	case sb == nil && sbErr != nil:
		f.State = StateUnreachable
	case sb == nil:
		f.State = m.prev.State // the primary is unreachable: the last known state, stale
	case sb.receiver != nil && sb.receiver.status == "streaming":
		f.State = cluster.StateStreaming // its WAL receiver says so; the primary has no row (yet)
	default:
		f.State = cluster.StateReconnecting
		if why := fellOff(f.FlushLSN, f.ReplayLSN, L, slot, primaryOK); why != "" {
			f.State, f.Inferred, f.LastError = cluster.StateNeedsBackup, true, why
		}
	}
	return f
}

// staleSlack is added to a standby's status interval before its report
// counts as stale: replies come on the interval, polls 10 times a second.
const staleSlack = 500 * time.Millisecond

// fellOff says why a standby that does not stream can no longer stream
// from the primary ("" when nothing says so): the WAL it needs next is
// gone from pg_wal and no live slot holds it, or its slot was lost.
// PostgreSQL's views do not say this; its log does ("requested WAL
// segment ... has already been removed"). It is an inference.
func fellOff(flush, replay wal.LSN, L *cluster.LeaderStatus, slot *slotRow, primaryOK bool) string {
	if !primaryOK || L.SegmentSize <= 0 || L.OldestLSN == 0 {
		return ""
	}
	if slot != nil && slot.walStatus == "lost" {
		return fmt.Sprintf("inferred: its slot %s was lost (max_slot_wal_keep_size), so the primary no longer streams to it", slot.name)
	}
	need := max(flush, replay)
	seg := wal.LSN(L.SegmentSize)
	start := need / seg * seg // streaming restarts at the start of the segment
	if start >= L.OldestLSN || slot != nil && slot.restartLSN != nil {
		return ""
	}
	return fmt.Sprintf("inferred: it needs WAL from %s (segment %s), and the primary keeps WAL only from %s",
		start, segmentName(L.Timeline, start, L.SegmentSize), L.OldestLSN)
}

// rewindReason says why a standby that replayed up to replay cannot
// follow the timeline that forked off at fk. PostgreSQL refuses it
// ("new timeline N forked off current database system timeline M before
// current recovery point"), in its log only.
func rewindReason(replay wal.LSN, fk fork) string {
	return fmt.Sprintf("inferred: it replayed to %s, past %s where %s's timeline %d forked off: it needs pg_rewind (or a new base backup)",
		replay, fk.lsn, fk.promoted, fk.tli)
}

// switchPoint reads a timeline history file (pg_wal/0000000N.history):
// each line is a parent timeline, the LSN where the next one forked off
// it, and a reason. The last line's LSN is where timeline N began.
func switchPoint(history string) (wal.LSN, error) {
	var last []string
	for _, line := range strings.Split(history, "\n") {
		if f := strings.Fields(line); len(f) >= 2 && !strings.HasPrefix(f[0], "#") {
			last = f
		}
	}
	if last == nil {
		return 0, errors.New("the timeline history file has no switch point")
	}
	return wal.ParseLSN(last[1])
}

// segmentName is the WAL file name holding lsn.
func segmentName(tli uint32, lsn wal.LSN, segSize int64) string {
	if segSize <= 0 {
		return "?"
	}
	perID := uint64(0x100000000) / uint64(segSize)
	seg := uint64(lsn) / uint64(segSize)
	return fmt.Sprintf("%08X%08X%08X", tli, seg/perID, seg%perID)
}

// matchSlot finds the slot a member streams through: the one whose
// active_pid is its walsender, else the standby's primary_slot_name, else
// the one matched before.
func (t *tracker) matchSlot(m *member, row *replRow, sb *standbyObs, slots []slotRow) *slotRow {
	find := func(name string) *slotRow {
		for i := range slots {
			if slots[i].name == name {
				return &slots[i]
			}
		}
		return nil
	}
	var s *slotRow
	if row != nil {
		for i := range slots {
			if slots[i].activePID != nil && *slots[i].activePID == row.pid {
				s = &slots[i]
			}
		}
	}
	if s == nil && sb != nil && sb.slotName != "" {
		s = find(sb.slotName)
	}
	if s == nil && m.slot != "" {
		s = find(m.slot)
	}
	if s != nil {
		m.slot = s.name
	}
	return s
}

// lagOf is a lag from pg_stat_replication: NULL is unknown unless the
// position has reached the last complete record (then the follower is
// idle: caught up, nothing to lag behind).
func lagOf(secs *float64, pos, end wal.LSN) cluster.Lag {
	if pos >= end && end != 0 {
		return cluster.Lag{Idle: true, Known: true}
	}
	if secs == nil {
		return cluster.Lag{}
	}
	return cluster.Lag{D: time.Duration(*secs * float64(time.Second)), Known: true}
}

func deref(l *wal.LSN) wal.LSN {
	if l == nil {
		return 0
	}
	return *l
}

// syncRule reads synchronous_commit and synchronous_standby_names as the
// rule the screen shows. With no standby names, PostgreSQL waits for no
// standby, so the rule is local (or off).
func syncRule(commit, names string) cluster.SyncRule {
	mode, err := cluster.ParseSyncMode(commit)
	if err != nil {
		mode = cluster.SyncOn // PostgreSQL also takes true, yes, 1 for on
		if commit == "false" || commit == "no" || commit == "0" {
			mode = cluster.SyncOff
		}
	}
	n := standbyCount(names)
	if n == 0 && mode > cluster.SyncLocal {
		mode = cluster.SyncLocal
	}
	return cluster.SyncRule{Mode: mode, N: n}
}

// standbyCount is how many standbys synchronous_standby_names asks for:
// ANY n (...) and FIRST n (...) say it, a bare list asks for one, an
// empty setting for none.
func standbyCount(names string) int {
	s := strings.TrimSpace(names)
	if s == "" {
		return 0
	}
	f := strings.Fields(s)
	if len(f) >= 2 && (strings.EqualFold(f[0], "ANY") || strings.EqualFold(f[0], "FIRST")) {
		if n, err := strconv.Atoi(strings.TrimSuffix(f[1], "(")); err == nil {
			return n
		}
	}
	if n, err := strconv.Atoi(f[0]); err == nil && strings.Contains(s, "(") { // "2 (a, b)": FIRST 2
		return n
	}
	return 1
}

// firstSight is the event for a follower seen for the first time.
func firstSight(f *cluster.FollowerStatus) string {
	s := f.State
	if f.SyncState != "" {
		s += ", sync_state " + f.SyncState
	}
	if f.Slot.Enabled {
		s += ", slot " + f.Slot.WALStatus
	}
	if f.Timeline != 0 {
		s += ", timeline " + strconv.Itoa(int(f.Timeline))
	}
	if f.ReplayPaused {
		s += ", replay paused"
	}
	return s
}

// followerEvents reports what changed between two polls of a follower.
func followerEvents(prev, f *cluster.FollowerStatus, sb *standbyObs, emit func(string, cluster.EventKind, wal.LSN, string, ...any)) {
	if f.State != prev.State {
		kind := cluster.EvInfo
		switch f.State {
		case cluster.StateStreaming:
			kind = cluster.EvConnect
		case cluster.StateCut:
			kind = cluster.EvLink
		case cluster.StateReconnecting, StateUnreachable:
			kind = cluster.EvDisconnect
		case cluster.StateNeedsBackup:
			kind = cluster.EvWALRemoved
		case StatePromoted, StateNeedsRewind:
			kind = cluster.EvRecovery
		}
		text := prev.State + " → " + f.State
		if f.Inferred || f.State == StateUnreachable {
			text += " (" + f.LastError + ")"
		}
		emit(f.Name, kind, f.FlushLSN, "%s", text)
	}
	if f.ReplayPaused != prev.ReplayPaused {
		if f.ReplayPaused {
			emit(f.Name, cluster.EvInfo, f.ReplayLSN, "replay %s at %s (pg_get_wal_replay_pause_state)", sb.pauseState, f.ReplayLSN)
		} else {
			emit(f.Name, cluster.EvInfo, f.ReplayLSN, "replay resumed at %s", f.ReplayLSN)
		}
	}
	if f.SyncState != prev.SyncState && f.SyncState != "" {
		emit(f.Name, cluster.EvSync, f.FlushLSN, "sync_state %s", f.SyncState)
	}
	if f.Timeline != prev.Timeline && prev.Timeline != 0 && f.Timeline != 0 {
		emit(f.Name, cluster.EvRecovery, f.FlushLSN, "receives on timeline %d", f.Timeline)
	}
	if f.Stale != prev.Stale && f.State != StateUnreachable {
		if f.Stale {
			emit(f.Name, cluster.EvInfo, f.FlushLSN, "its last report is older than its status interval: its numbers may be out of date")
		} else {
			emit(f.Name, cluster.EvInfo, f.FlushLSN, "reports again")
		}
	}
}

// slotEvents reports each slot's wal_status changes.
func (t *tracker) slotEvents(slots []slotRow, emit func(string, cluster.EventKind, wal.LSN, string, ...any)) {
	seen := map[string]bool{}
	for _, s := range slots {
		seen[s.name] = true
		prev, had := t.slots[s.name]
		t.slots[s.name] = s.walStatus
		if had && prev == s.walStatus {
			continue
		}
		text := fmt.Sprintf("slot %s wal_status %s", s.name, s.walStatus)
		if had {
			text = fmt.Sprintf("slot %s wal_status %s → %s", s.name, prev, s.walStatus)
		}
		if s.safeWAL != nil {
			text += ", safe_wal_size " + cluster.FormatSize(*s.safeWAL)
		}
		if s.walStatus == "lost" {
			text += ": the WAL it held is gone; its standby needs a new base backup"
		}
		emit("", cluster.EvSlot, deref(s.restartLSN), "%s", text)
	}
	for name := range t.slots {
		if !seen[name] {
			delete(t.slots, name)
			emit("", cluster.EvSlot, 0, "slot %s dropped", name)
		}
	}
}
