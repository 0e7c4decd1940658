// Package cluster wires a leader, its followers, a relay per follower and a
// workload into one process, all joined by real loopback TCP sockets. It is
// the UI's only way in: Snapshot returns a value copy of everything there is
// to draw, and Do carries out a Command (the same text commands the keys, the
// palette, scenario files and recordings use).
package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"walship/engine/clock"
	"walship/engine/fatal"
	"walship/engine/link"
	"walship/engine/ship"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// MaxFollowers bounds how many followers one cluster runs.
const MaxFollowers = 9

// Cluster is a leader with followers, relays and a workload.
type Cluster struct {
	cfg     Config
	clk     *clock.World
	dir     string
	tempDir bool
	ids     atomic.Uint64

	// failMu serialises what changes who leads: crashing and restarting
	// the primary, promotions, rewinds.
	failMu sync.Mutex
	// The primary, guarded by mu (see failover.go): leader is nil while
	// it is down or a follower is being promoted.
	leader       *ship.Leader
	primaryName  string            // the node that leads (LeaderName until a promotion)
	primaryDir   string            // its directory
	primaryState string            // PrimaryUp, PrimaryDown, PrimaryPromoting
	primaryLast  ship.LeaderStatus // its status when it went down
	primaryAddr  string            // its last listen address
	history      replica.History   // the primary's timeline history
	promoting    *member           // the follower being promoted
	primaryMoved chan struct{}     // closed and replaced when the primary changes
	deposed      []deposedNode     // old primaries left down by a promotion
	fenced       []*fencedNode     // old primaries running on a timeline the cluster left
	lost         []LostWrites
	acked        ackLog       // commits acknowledged by each primary, for lost writes
	downPrimary  *ship.Leader // the primary process that crashed, while down
	// rewinds are the rewinds under way (see needsRewind); none starts
	// once stopping is set, under mu.
	rewinds  sync.WaitGroup
	stopping bool

	// addMu serialises starting followers, so two adds can't pick one index.
	addMu     sync.Mutex
	mu        sync.Mutex // guards followers, rng, closed
	followers []*member
	rng       *rand.Rand
	closed    bool

	evMu   sync.Mutex
	events [EventRingSize]Event
	evSeq  uint64

	work    *workload
	commits commitTracker // how long the workload's commits took
	reads   reads         // the client's last write and its recent reads (reads.go)

	// guard starts the cluster's own goroutines; every goroutine of the
	// engine hands a panic to onPanic, which records the first in fatal
	// and stops the cluster.
	guard   fatal.Group
	fatalMu sync.Mutex
	fatal   *fatal.Panic

	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
}

// member is one follower slot: its relay and (unless crashed) its follower process.
type member struct {
	name     string
	index    int
	dir      string
	relay    *link.Relay
	follower *ship.Follower // nil while crashed
	crashed  bool
	// rewinding: a rewind (or the base backup that replaces one) is
	// under way; its follower is stopped meanwhile.
	rewinding bool
	// rewindPending: the primary refused it for divergence, and a rewind
	// is due (see needsRewind).
	rewindPending bool
	// Settings kept across restarts.
	paused     bool
	applyDelay time.Duration
	flushDelay time.Duration
	last       ship.FollowerStatus // status when it crashed
}

func (c *Config) defaults() {
	if c.Followers <= 0 {
		c.Followers = 1
	}
	if c.SegmentSize <= 0 {
		c.SegmentSize = wal.DefaultSegmentSize
	}
	if c.WALKeep == 0 {
		c.WALKeep = 64 << 20
	}
	if c.Keys <= 0 {
		c.Keys = 1000
	}
	if c.ValueSize <= 0 {
		c.ValueSize = 16
	}
	if c.DelRatio < 0 || c.DelRatio > 1 {
		c.DelRatio = 0
	}
	if c.Clients <= 0 {
		c.Clients = 4
	}
	if c.StatusInterval <= 0 {
		c.StatusInterval = time.Second
	}
	switch {
	case c.RewindAfter == 0:
		c.RewindAfter = 2 * time.Second
	case c.RewindAfter < 0:
		c.RewindAfter = 0
	}
	if c.Listen == "" {
		c.Listen = "127.0.0.1"
	}
	if c.Sync.N <= 0 {
		c.Sync.N = 1
	}
}

// Validate reports a configuration a person must fix.
func (c Config) Validate() error {
	switch {
	case c.Followers < 0 || c.Followers > MaxFollowers:
		return fmt.Errorf("followers must be 0..%d, not %d", MaxFollowers, c.Followers)
	case c.SegmentSize != 0 && c.SegmentSize < wal.MaxRecordSize:
		return fmt.Errorf("segment size must be at least %s, not %s", FormatSize(wal.MaxRecordSize), FormatSize(c.SegmentSize))
	case c.WALKeep < NoWALKeep:
		return fmt.Errorf("wal keep must not be negative")
	case c.Rate < 0:
		return fmt.Errorf("rate must not be negative")
	case c.ValueSize > wal.MaxValueSize-32:
		return fmt.Errorf("value size must be at most %d bytes", wal.MaxValueSize-32)
	case c.Latency < 0 || c.Jitter < 0 || c.ApplyDelay < 0 || c.FlushDelay < 0:
		return fmt.Errorf("latency and delays must not be negative")
	case c.Sync.N > MaxFollowers:
		return fmt.Errorf("sync ANY %d: at most %d followers", c.Sync.N, MaxFollowers)
	}
	return nil
}

// New starts a cluster: the leader, and each follower behind its relay. The
// workload starts with Start.
//
// A data directory that already holds a cluster restarts the whole of it,
// as a database restarts from its data directory: the leader recovers from
// its checkpoint and WAL, every follower directory in it recovers from its
// own files and streams from where its WAL ends, and new followers are
// added only to reach Followers, each starting from a base backup. Damage in any node's files stops New with
// the file and offset, and nothing is deleted.
func New(cfg Config) (*Cluster, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	wantFollowers := cfg.Followers
	kept, primary, deposed, err := keptCluster(&cfg)
	if err != nil {
		return nil, err
	}
	cfg.defaults()
	if wantFollowers == 0 {
		cfg.Followers = 0
	}
	c := &Cluster{
		cfg:  cfg,
		clk:  clock.NewWorld(),
		rng:  rand.New(rand.NewPCG(uint64(cfg.Seed), 0x5eed)),
		stop: make(chan struct{}),
	}
	c.guard = fatal.Group{Owner: "cluster", OnPanic: c.onPanic}
	if cfg.Dir == "" {
		d, err := os.MkdirTemp("", "walship-")
		if err != nil {
			return nil, err
		}
		c.dir, c.tempDir = d, true
	} else {
		if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
			return nil, fmt.Errorf("data directory: %w", err)
		}
		c.dir = cfg.Dir
	}
	p, err := ship.StartLeader(ship.LeaderConfig{
		Dir:                nodeDir(c.dir, primary),
		SegmentSize:        cfg.SegmentSize,
		NoSync:             cfg.NoFsync,
		Clock:              c.clk,
		Listen:             net.JoinHostPort(cfg.Listen, "0"),
		BatchBytes:         cfg.BatchBytes,
		CheckpointInterval: cfg.CheckpointInterval,
		WALKeep:            max(cfg.WALKeep, 0), // NoWALKeep is none
		Slots:              cfg.Slots,
		MaxSlotWAL:         cfg.MaxSlotWAL,
		Sync:               cfg.Sync,
		Known:              c.known,
		OnEvent:            c.shipEvent,
		OnPanic:            c.onPanic,

		HandshakeTimeout: cfg.HandshakeTimeout,
		IdleTimeout:      cfg.IdleTimeout,
		MaxConns:         cfg.MaxConns,
	})
	if err != nil {
		c.removeTemp()
		return nil, err
	}
	c.leader, c.primaryName, c.primaryDir, c.primaryState = p, primary, nodeDir(c.dir, primary), PrimaryUp
	c.primaryAddr, c.history = p.Addr(), p.History()
	c.primaryMoved = make(chan struct{})
	for _, name := range deposed {
		c.deposed = append(c.deposed, deposedNode{name: name, dir: nodeDir(c.dir, name)})
	}
	c.work = newWorkload(c)
	for _, idx := range kept {
		c.addMu.Lock()
		_, err := c.startMember(idx, true, false)
		c.addMu.Unlock()
		if err != nil {
			c.Close()
			return nil, err
		}
	}
	for len(c.Names()) < cfg.Followers {
		// A new follower joining a kept cluster starts from a base
		// backup, as a standby made with pg_basebackup, rather than
		// replaying the cluster's whole history.
		if _, err := c.addFollower(c.leader.Log().End() > 0); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, nil
}

// Start starts the workload at the configured rate.
func (c *Cluster) Start() error {
	c.work.start()
	return nil
}

// Dir is the cluster's data directory.
func (c *Cluster) Dir() string { return c.dir }

// Clock is the world clock.
func (c *Cluster) Clock() *clock.World { return c.clk }

// Leader is the primary, or nil while none is up.
func (c *Cluster) Leader() *ship.Leader { return c.primary() }

func (c *Cluster) known(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.followers {
		if m.name == name {
			return true
		}
	}
	return false
}

func (c *Cluster) removeTemp() {
	if c.tempDir {
		os.RemoveAll(c.dir)
	}
}

// Close stops the workload, every follower, relay and the leader, and
// removes a temporary data directory. It is idempotent.
func (c *Cluster) Close() error {
	return c.shutdown(func(s *ship.Follower) error { return s.Close() }, func(l *ship.Leader) error { return l.Close() })
}

// Crash stops the whole cluster as a power loss would: the workload stops,
// and every node stops without syncing anything more, keeping its flushed
// WAL and keep(n) bytes of the n it had written but not fsynced (a cut
// that may end inside a record). New on the same directory restarts the
// cluster from what survived. A temporary data directory is removed, as
// by Close, which does nothing after Crash.
func (c *Cluster) Crash(keep func(unsynced int64) int64) error {
	crash := func(unsynced int64) int64 { return keep(max(unsynced, 0)) }
	return c.shutdown(
		func(s *ship.Follower) error {
			p := s.Status().Positions
			return s.Crash(crash(int64(p.Write - p.Flush)))
		},
		func(l *ship.Leader) error {
			log := l.Log()
			return l.Crash(crash(int64(log.Written() - log.Flushed())))
		})
}

// shutdown stops the workload, every follower with stopFollower, the
// relays and the primary (and any fenced old primary) with stopLeader,
// once.
func (c *Cluster) shutdown(stopFollower func(*ship.Follower) error, stopLeader func(*ship.Leader) error) error {
	var err error
	c.stopOnce.Do(func() {
		close(c.stop)
		c.mu.Lock()
		c.stopping = true
		c.mu.Unlock()
		c.work.close()
		c.wg.Wait()
		c.rewinds.Wait()
		// Nothing changes who leads from here on.
		c.failMu.Lock()
		defer c.failMu.Unlock()
		c.mu.Lock()
		c.closed = true
		members := c.followers
		leaders := []*ship.Leader{}
		if c.leader != nil {
			leaders = append(leaders, c.leader)
		}
		for _, f := range c.fenced {
			leaders = append(leaders, f.l)
		}
		c.mu.Unlock()
		for _, m := range members {
			if m.follower != nil {
				err = errors.Join(err, stopFollower(m.follower))
			}
			err = errors.Join(err, m.relay.Close())
		}
		for _, l := range leaders {
			err = errors.Join(err, stopLeader(l))
		}
		c.removeTemp()
	})
	return err
}

// ---- followers -----------------------------------------------------------

// addFollower adds a new follower, with an empty directory, at the lowest
// free index (so keys 1-9 keep working); fromBackup makes it start with a
// base backup.
func (c *Cluster) addFollower(fromBackup bool) (*member, error) {
	c.addMu.Lock()
	defer c.addMu.Unlock()
	c.mu.Lock()
	idx := 1
	for used := true; used; {
		used = c.nodeNameTakenLocked(FollowerName(idx))
		for _, m := range c.followers {
			if m.index == idx {
				used = true
				break
			}
		}
		if used {
			idx++
		}
	}
	c.mu.Unlock()
	return c.startMember(idx, false, fromBackup)
}

// startMember starts the follower with index idx behind a new relay: from
// its own files when kept, else from an empty directory, with a base
// backup when fromBackup. addMu is held.
func (c *Cluster) startMember(idx int, kept, fromBackup bool) (*member, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, errors.New("cluster is closed")
	}
	if len(c.followers) >= MaxFollowers {
		c.mu.Unlock()
		return nil, fmt.Errorf("at most %d followers", MaxFollowers)
	}
	for _, m := range c.followers {
		if m.index == idx {
			c.mu.Unlock()
			return nil, fmt.Errorf("%s is already running", m.name)
		}
	}
	m := &member{
		name: memberName(idx), index: idx,
		applyDelay: c.cfg.ApplyDelay, flushDelay: c.cfg.FlushDelay,
	}
	m.dir = filepath.Join(c.dir, m.name)
	if idx == 0 {
		m.dir = filepath.Join(c.dir, leaderDir)
	}
	m.last.State = StateStartup
	seed := c.rng.Int64()
	c.mu.Unlock()

	if !kept {
		if err := clearFollowerDir(m.dir); err != nil { // a new follower starts empty
			return nil, err
		}
	} else if !fromBackup {
		// An old primary (after a failover) rewinds first.
		var err error
		if fromBackup, err = c.prepareOldPrimary(m.name, m.dir); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	target := c.primaryAddr
	c.mu.Unlock()
	r, err := link.New(link.Options{
		Name: m.name, Target: target, Listen: c.cfg.Listen,
		Clock: c.clk, IDs: &c.ids, Seed: seed,
		OnEvent: func(e link.Event) { c.linkEvent(m.name, e) },
		OnPanic: c.onPanic,
		// Longer than the leader's, so a stranger's silence through the
		// relay is answered by the leader's Refuse, with its reason.
		IdleTimeout: 3 * cmp.Or(c.cfg.HandshakeTimeout, ship.DefaultHandshakeTimeout),
	})
	if err != nil {
		return nil, err
	}
	r.SetLatency(c.cfg.Latency, c.cfg.Jitter)
	// Publish the member only now that its relay exists: Snapshot and the
	// commands use m.relay without a lock, and it never changes after.
	m.relay = r
	c.mu.Lock()
	c.followers = append(c.followers, m)
	sort.Slice(c.followers, func(i, j int) bool { return c.followers[i].index < c.followers[j].index })
	c.mu.Unlock()
	if err := c.startFollower(m, fromBackup); err != nil {
		r.Close()
		c.dropMember(m)
		return nil, err
	}
	return m, nil
}

func (c *Cluster) dropMember(m *member) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for i, x := range c.followers {
		if x == m {
			c.followers = append(c.followers[:i], c.followers[i+1:]...)
			return
		}
	}
}

// startFollower starts m's follower from its directory; fromBackup makes
// its first connection ask for a base backup.
func (c *Cluster) startFollower(m *member, fromBackup bool) error {
	s, err := ship.StartFollower(ship.FollowerConfig{
		Name: m.name, Dir: m.dir, Leader: m.relay.Addr(),
		SegmentSize: c.cfg.SegmentSize, NoSync: c.cfg.NoFsync, Clock: c.clk,
		ApplyDelay: m.applyDelay, FlushDelay: m.flushDelay, Paused: m.paused,
		StatusInterval: c.cfg.StatusInterval,
		AutoBackup:     c.cfg.AutoBackup,
		WantBackup:     fromBackup,
		OnEvent:        c.shipEvent,
		OnPanic:        c.onPanic,
	})
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.follower, m.crashed = s, false
	c.mu.Unlock()
	return nil
}

// members returns the followers a command names ("all" or one).
func (c *Cluster) members(name string) ([]*member, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if name == "all" {
		return append([]*member(nil), c.followers...), nil
	}
	for _, m := range c.followers {
		if m.name == name {
			return []*member{m}, nil
		}
	}
	if len(c.followers) == 0 {
		return nil, fmt.Errorf("no follower %s: there are no followers", name)
	}
	return nil, fmt.Errorf("no follower %s (there are %s)", name, c.namesLocked())
}

func (c *Cluster) namesLocked() string {
	var s string
	for i, m := range c.followers {
		if i > 0 {
			s += ", "
		}
		s += m.name
	}
	return s
}

// Names lists the followers in index order.
func (c *Cluster) Names() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]string, len(c.followers))
	for i, m := range c.followers {
		out[i] = m.name
	}
	return out
}

// Follower returns a running follower by name, or nil.
func (c *Cluster) Follower(name string) *ship.Follower {
	ms, err := c.members(name)
	if err != nil || len(ms) != 1 {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return ms[0].follower
}

// ---- a fatal error -------------------------------------------------------

// onPanic takes a panic recovered in any of the engine's goroutines: the
// first is the cluster's fatal error (an event, Snapshot.Fatal, Fatal),
// and the cluster stops, as Close stops it, so the UI can quit through
// Bubble Tea and put the terminal back. It runs on the goroutine that
// panicked, whose owner Close waits for: Close runs on a goroutine of its
// own, which ends when Close returns.
func (c *Cluster) onPanic(p fatal.Panic) {
	c.fatalMu.Lock()
	first := c.fatal == nil
	if first {
		c.fatal = &p
	}
	c.fatalMu.Unlock()
	if !first {
		return
	}
	c.emit(Event{Kind: EvError, Text: "fatal: " + p.Error() + "; the cluster stops"})
	go c.Close()
}

// Fatal returns the panic that stopped the cluster, with its stack, or nil.
func (c *Cluster) Fatal() *fatal.Panic {
	c.fatalMu.Lock()
	defer c.fatalMu.Unlock()
	return c.fatal
}

// ---- events --------------------------------------------------------------

func (c *Cluster) emit(e Event) {
	if c.cfg.eventHook != nil {
		c.cfg.eventHook(e)
	}
	c.evMu.Lock()
	c.evSeq++
	e.Seq = c.evSeq
	if e.World == 0 {
		e.World = c.clk.Now()
	}
	c.events[e.Seq%EventRingSize] = e
	c.evMu.Unlock()
}

func (c *Cluster) shipEvent(e replica.Event) {
	c.emit(Event{Follower: e.Follower, Kind: EventKind(e.Kind), LSN: e.LSN, Text: e.Text})
	if e.Kind == replica.EvTimeline && e.Follower != "" && strings.HasPrefix(e.Text, "refused:") {
		// The primary refused it for divergence: rewind it.
		c.needsRewind(e.Follower)
	}
}

func (c *Cluster) linkEvent(name string, e link.Event) {
	kind := EvLink
	switch e.Kind {
	case link.EventRefused:
		kind = EvRefused
	case link.EventError:
		kind = EvError
	case link.EventConnect, link.EventDisconnect:
		return // the leader reports these with more to say
	}
	if kind == EvError && strings.HasPrefix(e.Text, "dial leader") && c.primary() == nil {
		return // no primary is up: the leader's state says so, once
	}
	c.emit(Event{Follower: name, Kind: kind, LSN: e.LSN, Text: e.Text})
}

// eventsSince copies the events after seq, oldest first.
func (c *Cluster) eventsSince(seq uint64) ([]Event, uint64) {
	c.evMu.Lock()
	defer c.evMu.Unlock()
	last := c.evSeq
	if seq >= last {
		return nil, last
	}
	from := seq + 1
	if last-from >= EventRingSize {
		from = last - EventRingSize + 1
	}
	out := make([]Event, 0, last-from+1)
	for s := from; s <= last; s++ {
		out = append(out, c.events[s%EventRingSize])
	}
	return out, last
}

// ---- snapshot ------------------------------------------------------------

// Snapshot returns the whole state as a value copy, with the events after
// sinceEvent.
func (c *Cluster) Snapshot(sinceEvent uint64) Snapshot {
	now := c.clk.Now()
	c.mu.Lock()
	l, name, state, last, addr := c.leader, c.primaryName, c.primaryState, c.primaryLast, c.primaryAddr
	promoting := c.promoting
	history := c.history
	c.mu.Unlock()
	ps := last
	var rows []replica.Row
	if l != nil {
		ps = l.Status()
		rows = l.Followers()
	}
	snap := Snapshot{
		World: now, Speed: c.clk.Speed(), Frozen: c.clk.Frozen(),
		Leader: LeaderStatus{
			Addr: addr, InsertLSN: ps.InsertLSN, FlushLSN: ps.FlushLSN, ReplayLSN: ps.FlushLSN,
			OldestLSN: ps.OldestLSN, Segments: ps.Segments, SegmentSize: ps.SegmentSize,
			WALKeep: ps.WALKeep, Slots: ps.Slots, MaxSlotWAL: c.cfg.MaxSlotWAL,
			Keys: ps.Keys, Records: ps.Records,
			Rate: c.work.measuredRate(now, ps.Records), TargetRate: c.work.rate(),
			Sync: ps.Sync, WaitingCommits: ps.Waiting, Commits: ps.Commits, CommitWait: ps.CommitWait,
			OldestWaitingLSN: ps.OldestWaiting, SyncWatermark: ps.Watermark, CommitLatency: c.commits.latency(),
			Name: name, State: state, Timeline: history.Timeline(),
		},
		History: append([]TimelineSwitch(nil), history...),
	}
	if l == nil {
		snap.Leader.Sync = c.syncRule()
	}
	if promoting != nil {
		// The promoted follower's own positions: its replay is seen
		// catching up to its flush before it opens.
		c.mu.Lock()
		f := promoting.follower
		c.mu.Unlock()
		if f != nil {
			st := f.Status()
			snap.Leader.InsertLSN, snap.Leader.FlushLSN, snap.Leader.ReplayLSN = st.Positions.Write, st.Positions.Flush, st.Positions.Replay
			snap.Leader.Keys = st.Keys
		}
	}
	snap.Lost, snap.Fenced = c.lostAndFenced()
	peers := map[string]replica.Row{}
	for _, p := range rows {
		peers[p.Name] = p
	}
	c.mu.Lock()
	members := append([]*member(nil), c.followers...)
	nodes := make([]*ship.Follower, len(members))
	lasts := make([]ship.FollowerStatus, len(members))
	crashed := make([]bool, len(members))
	for i, m := range members {
		nodes[i], lasts[i], crashed[i] = m.follower, m.last, m.crashed
	}
	c.mu.Unlock()
	var buf []link.InFlight
	for i, m := range members {
		var st ship.FollowerStatus
		if nodes[i] != nil {
			st = nodes[i].Status()
		} else {
			st = lasts[i] // its last status; startup before it first runs
			if crashed[i] {
				st.State = StateStopped
			}
			st.Connected = false
		}
		rs := m.relay.Status()
		pr := peers[m.name]
		f := FollowerStatus{
			Name: m.name, Index: m.index, State: st.State,
			SentLSN: pr.Sent, WriteLSN: st.Positions.Write, FlushLSN: st.Positions.Flush,
			ReplayLSN: st.Positions.Replay, StartLSN: st.StartLSN,
			WriteLag: pr.WriteLag, FlushLag: pr.FlushLag, ReplayLag: pr.ReplayLag,
			ReplayPaused: st.Paused, ApplyDelay: st.ApplyDelay, FlushDelay: st.FlushDelay,
			Link: LinkStatus{
				Addr: rs.Addr, Cut: rs.Cut, Latency: rs.Latency, Jitter: rs.Jitter,
				Bandwidth: rs.Bandwidth, Slice: rs.Slice, CorruptArmed: rs.CorruptArmed,
				Corrupted: rs.Corrupted, Connected: rs.Connected,
				CutTo: rs.LoseDown, CutFrom: rs.LoseUp, DropArmed: rs.DropArmed, Lost: rs.Lost,
				BytesUp: rs.BytesUp, BytesDown: rs.BytesDown,
			},
			Records: st.Records, CRCFailures: st.CRCFailures, Resends: st.Resends, Keys: st.Keys,
			Backup:    BackupStatus{Active: st.Backup.Active, LSN: st.Backup.LSN, Done: st.Backup.Done, Total: st.Backup.Total, Count: st.Backup.Count},
			Slot:      SlotStatus{Enabled: pr.Slot.Enabled, RestartLSN: pr.Slot.Restart, Lost: pr.Slot.Lost},
			LastError: st.LastError,
			SyncState: pr.SyncState,
		}
		if rs.Cut && f.State != StateStopped && f.State != StateNeedsBackup {
			f.State = StateCut
		}
		f.Timeline = st.Timeline
		c.mu.Lock()
		rewinding := m.rewinding
		c.mu.Unlock()
		switch {
		case rewinding:
			f.State = StateRewinding
		case l == nil && !st.Connected && (f.State == StateReconnecting || f.State == StateStartup || f.State == StateCatchup):
			f.State = StateNoPrimary
		}
		if f.State == StateNeedsRewind || f.State == StateRewinding {
			f.ForkLSN, _ = history.Fork(max(f.Timeline, 1))
		}
		if !pr.Connected {
			// pg_stat_replication has no row for it: no lag to show.
			f.WriteLag, f.FlushLag, f.ReplayLag = Lag{}, Lag{}, Lag{}
		}
		snap.Followers = append(snap.Followers, f)

		var omitted int
		buf, omitted = m.relay.InFlight(buf[:0])
		snap.FramesOmitted += omitted
		for _, fl := range buf {
			fr := Frame{
				ID: fl.ID, Follower: m.name, Index: m.index, Kind: fl.Kind.String(),
				LSN: fl.LSN, EndLSN: fl.EndLSN, Bytes: fl.Bytes,
				Sent: fl.Sent, Arrive: fl.Arrive, Corrupt: fl.Corrupt, Lost: fl.Lost, Pos: 1,
			}
			if fl.Dir == link.Up {
				fr.Dir = ToLeader
			}
			if fl.Arrive > fl.Sent {
				fr.Pos = min(max(float64(now-fl.Sent)/float64(fl.Arrive-fl.Sent), 0), 1)
			}
			snap.Frames = append(snap.Frames, fr)
		}
	}
	sort.Slice(snap.Frames, func(i, j int) bool { return snap.Frames[i].ID < snap.Frames[j].ID })
	snap.Events, snap.LastEvent = c.eventsSince(sinceEvent)
	snap.Reads = c.recentReads()
	if p := c.Fatal(); p != nil {
		snap.Fatal = p.Error()
	}
	return snap
}
