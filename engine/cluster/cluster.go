// Package cluster wires a leader, its followers, a relay per follower and a
// workload into one process, all joined by real loopback TCP sockets. It is
// the UI's only way in: Snapshot returns a value copy of everything there is
// to draw, and Do carries out a Command (the same text commands the keys, the
// palette, scenario files and recordings use).
package cluster

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
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
