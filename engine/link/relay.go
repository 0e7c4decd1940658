// Package link is walship's network: a fault-injecting TCP relay that sits
// between one follower and the leader, in the manner of toxiproxy.
//
//	follower --TCP--> relay (127.0.0.1:ephemeral) --TCP--> leader
//
// For every follower connection it accepts, the relay dials the leader (once
// the follower side has said something) and pumps frames both ways. It parses frame boundaries (engine/wire), so it can
// hold each frame for its latency, report the frames in flight to the UI, and
// disturb them: latency with jitter, a bandwidth limit, cut and restore,
// corruption of data frames, a one-way cut (the frames of one direction
// lost, the connection kept up), dropping a single frame, and slicing into
// small pieces to exercise short reads. Freeze is the world clock's
// (engine/clock): while the world is frozen no frame is delivered and no
// connection is torn.
//
// # Goroutines
//
// A relay owns one accept goroutine, one event goroutine (when OnEvent is
// set) and, per connection pair, an owner goroutine that dials the leader and
// waits for four pumps: a reader and a writer for each direction. The reader
// stamps each frame with its arrival time and appends it to a bounded queue;
// the writer waits for each frame's arrival in world time and writes it. A
// full queue stops its reader, so TCP pushes back on the sender. Cut and
// Close close the sockets so that blocked reads and writes return; Close
// waits for every goroutine.
package link

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"walship/engine/clock"
	"walship/engine/fatal"
	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

// Defaults.
const (
	DefaultListen      = "127.0.0.1"
	DefaultMaxTracked  = 128
	DefaultIdleTimeout = 30 * time.Second
	DefaultMaxConns    = 16
	// DialTimeout bounds one dial of the leader, in real time.
	DialTimeout = 5 * time.Second
	// DefaultEvictAfter is Options.EvictAfter when unset.
	DefaultEvictAfter = time.Second
)

// Queue bounds per direction of a connection: past either, the reader stops
// reading until the writer has delivered frames.
const (
	maxQueueFrames = 1024
	maxQueueBytes  = 4 << 20
)

// Event kinds.
const (
	EventCut        = "cut"        // Cut was called
	EventRetarget   = "retarget"   // SetTarget pointed the relay at another leader
	EventRestore    = "restore"    // Restore was called
	EventCorrupt    = "corrupt"    // a data frame was corrupted (LSN: its first LSN)
	EventDrop       = "drop"       // a data frame was marked lost (LSN: its first LSN)
	EventOneWay     = "one-way"    // CutOneWay was called
	EventRefused    = "refused"    // a follower connection was refused (the link is cut)
	EventConnect    = "connect"    // a follower is connected through to the leader
	EventDisconnect = "disconnect" // a connection pair ended (Text says why)
	EventError      = "error"      // a dial failure, a hostile frame length, ...
)

// Options configures a Relay.
type Options struct {
	Name   string // follower name, e.g. "follower-2"
	Target string // leader address to dial
	Listen string // host (or host:port) to listen on; default 127.0.0.1, ephemeral port
	// Clock is world time: latency, bandwidth and freeze are in world time.
	// Nil means a private running clock.
	Clock *clock.World
	// IDs is the frame id source shared by all relays of a cluster, so ids
	// are unique per cluster. Nil means a private counter.
	IDs *atomic.Uint64
	// MaxTracked bounds the frames InFlight lists (default 128); more are
	// counted as omitted.
	MaxTracked int
	// Seed seeds jitter and slicing.
	Seed int64
	// IdleTimeout closes a follower connection that sends no frame at all
	// for this long (real time) after it is connected. Default 30s;
	// negative means never.
	IdleTimeout time.Duration
	// MaxConns caps concurrent connections through the relay (default
	// DefaultMaxConns): each costs a dial of the leader and two frame
	// queues, and a relay serves one follower. When all are taken, a new
	// connection takes the slot of the oldest one that has not said hello
	// as this relay's follower within EvictAfter (it is closed as
	// evicted); when there is none, the new one is closed at once. A flood
	// of strangers therefore cannot hold the follower out.
	MaxConns int
	// EvictAfter is how long a connection that has not said hello as the
	// relay's follower keeps its slot against newer ones (real time;
	// default DefaultEvictAfter). A follower says hello as soon as it
	// connects.
	EvictAfter time.Duration
	// connNow reads the real time that a connection's age, against
	// EvictAfter, is counted in; nil is time.Now. Tests set it so a grace
	// runs out when they say, not after a sleep.
	connNow func() time.Time
	// OnEvent, when set, receives events in order from a goroutine of the
	// relay, never from inside a Relay method and never with a relay lock
	// held. It must not block long. Close waits for a call in progress, so
	// don't call Close while holding a lock OnEvent takes.
	OnEvent func(Event)
	// OnPanic, when set, takes a panic in one of the relay's goroutines
	// (see engine/fatal); otherwise the panic ends the program.
	OnPanic fatal.Func
}

// Event is something that happened on the link.
type Event struct {
	Kind string // one of the Event* constants
	LSN  wal.LSN
	Text string
}

// Direction of a frame through the relay.
type Direction int

// Directions.
const (
	Down Direction = iota // leader to follower: data, keepalive, welcome, refuse, backup
	Up                    // follower to leader: hello, status, resend, backup-request
)

func (d Direction) String() string {
	if d == Up {
		return "up"
	}
	return "down"
}

// InFlight is one frame read by the relay and not yet delivered.
type InFlight struct {
	ID     uint64 // unique per IDs source; stable while in flight
	Dir    Direction
	Kind   wire.Kind
	LSN    wal.LSN // see wire.FrameLSN
	EndLSN wal.LSN
	Bytes  int // on the wire, header included
	// Sent is the world time the frame entered the link: when the relay had
	// read it, or later when it waited behind other frames for bandwidth.
	Sent time.Duration
	// Arrive is the world time the relay delivers it, or, when Lost, the
	// time it is thrown away instead.
	Arrive  time.Duration
	Corrupt bool
	// Lost: the frame will never be delivered (a one-way cut, or a drop).
	// It stays in flight until Arrive, so that it can be seen, then the
	// relay discards it.
	Lost bool
}

// Status is the relay's settings and counters.
type Status struct {
	Addr         string
	Cut          bool
	Latency      time.Duration // one way, world time
	Jitter       time.Duration
	Bandwidth    int64 // bytes per second of world time; 0 = unlimited
	Slice        bool
	CorruptArmed int    // data frames still to corrupt (CorruptNext and CorruptLSN)
	Corrupted    uint64 // data frames corrupted so far
	Connected    bool   // a follower is connected through to the leader
	// LoseDown and LoseUp: a one-way cut; the frames going that way are
	// lost while the connection stays up (see CutOneWay).
	LoseDown, LoseUp bool
	DropArmed        int    // data frames still to drop (DropNext and DropLSN)
	Lost             uint64 // frames lost so far: one-way cuts and drops
	BytesUp          uint64 // delivered to the leader
	BytesDown        uint64 // delivered to the follower
	Frames           uint64 // frames delivered, both directions
}

// settings are the knobs the pumps read per frame; replaced whole (copy on
// write) so readers need no lock.
type settings struct {
	latency, jitter time.Duration
	bandwidth       int64
	slice           bool
}

// maxArmedLSNs bounds CorruptLSN's list.
const maxArmedLSNs = 64

// Relay is a fault-injecting TCP relay for one follower. Its methods are
// safe for concurrent use.
type Relay struct {
	opts  Options
	clock *clock.World
	ids   *atomic.Uint64
	ln    net.Listener
	addr  string
	idle  time.Duration

	stop  chan struct{}  // closed by Close
	wg    sync.WaitGroup // the accept loop and the sessions
	guard fatal.Group    // starts every goroutine of the relay

	evStop chan struct{} // closed by Close once wg is done
	evDone chan struct{} // closed when the event goroutine has returned

	set atomic.Pointer[settings]
	// target is the leader's address: Options.Target until SetTarget.
	target atomic.Pointer[string]

	// corruptPending = corruptNext + len(armedLSNs): lets the pumps skip
	// the lock when nothing is armed.
	corruptPending atomic.Int64
	corrupted      atomic.Uint64
	// oneWay has bit 1<<dir set while that direction is cut one way.
	oneWay atomic.Uint32
	// dropPending = dropNext + len(dropLSNs), like corruptPending.
	dropPending atomic.Int64
	lost        atomic.Uint64
	bytesUp     atomic.Uint64
	bytesDown   atomic.Uint64
	frames      atomic.Uint64

	mu          sync.Mutex
	closed      bool
	cut         bool
	cutRefused  bool // a refusal while cut was reported; the rest are not
	corruptNext int
	armedLSNs   []wal.LSN
	dropNext    int
	dropLSNs    []wal.LSN
	sessions    map[*session]struct{}
	nextSession int64
	busy        clock.Tally // connections refused over MaxConns, merged to one event a second
	evicted     clock.Tally // connections evicted for newer ones, likewise

	events    eventQueue
	closeOnce sync.Once
	closeErr  error
}

// New starts a relay: it is listening when New returns.
func New(opts Options) (*Relay, error) {
	if opts.Target == "" {
		return nil, errors.New("link: no target address")
	}
	if opts.Listen == "" {
		opts.Listen = DefaultListen
	}
	if opts.MaxTracked <= 0 {
		opts.MaxTracked = DefaultMaxTracked
	}
	if opts.MaxConns <= 0 {
		opts.MaxConns = DefaultMaxConns
	}
	if opts.EvictAfter <= 0 {
		opts.EvictAfter = DefaultEvictAfter
	}
	if opts.connNow == nil {
		opts.connNow = time.Now
	}
	r := &Relay{
		opts:     opts,
		clock:    opts.Clock,
		ids:      opts.IDs,
		idle:     opts.IdleTimeout,
		stop:     make(chan struct{}),
		evStop:   make(chan struct{}),
		evDone:   make(chan struct{}),
		sessions: make(map[*session]struct{}),
	}
	target := opts.Target
	r.target.Store(&target)
	if r.clock == nil {
		r.clock = clock.NewWorld()
	}
	if r.ids == nil {
		r.ids = new(atomic.Uint64)
	}
	if r.idle == 0 {
		r.idle = DefaultIdleTimeout
	}
	r.set.Store(&settings{})
	addr := opts.Listen
	if _, _, err := net.SplitHostPort(addr); err != nil {
		addr = net.JoinHostPort(addr, "0")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("link: %s: %w", opts.Name, err)
	}
	r.ln = ln
	r.addr = ln.Addr().String()
	r.events.init(opts.OnEvent)
	r.guard = fatal.Group{Owner: opts.Name + " relay", OnPanic: opts.OnPanic}
	if opts.OnEvent != nil {
		r.guard.Go("events", func() {
			defer close(r.evDone)
			r.events.run(r.evStop)
		})
	} else {
		close(r.evDone)
	}
	r.wg.Add(1)
	r.guard.Go("listener", r.acceptLoop)
	return r, nil
}

// Addr is the relay's listen address (host:port): followers dial it.
func (r *Relay) Addr() string { return r.addr }

// Target is the address the relay dials for each connection.
func (r *Relay) Target() string { return *r.target.Load() }

// SetTarget points the relay at another leader (after a failover, or a
// leader restarted on a new port): connections through it now are
// closed, as a moved virtual IP ends them, and each new one dials addr.
func (r *Relay) SetTarget(addr string) {
	if old := r.target.Swap(&addr); old != nil && *old == addr {
		return
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	live := r.liveSessions()
	r.mu.Unlock()
	for _, s := range live {
		s.teardown("the leader moved to " + addr)
	}
	r.emit(Event{Kind: EventRetarget, Text: "now relaying to the leader at " + addr})
}

// Status returns the relay's settings and counters.
func (r *Relay) Status() Status {
	set := r.set.Load()
	r.mu.Lock()
	st := Status{
		Addr:         r.addr,
		Cut:          r.cut,
		Latency:      set.latency,
		Jitter:       set.jitter,
		Bandwidth:    set.bandwidth,
		Slice:        set.slice,
		CorruptArmed: r.corruptNext + len(r.armedLSNs),
		DropArmed:    r.dropNext + len(r.dropLSNs),
	}
	way := r.oneWay.Load()
	st.LoseDown, st.LoseUp = way&(1<<Down) != 0, way&(1<<Up) != 0
	for s := range r.sessions {
		if s.isConnected() {
			st.Connected = true
		}
	}
	r.mu.Unlock()
	st.Corrupted = r.corrupted.Load()
	st.Lost = r.lost.Load()
	st.BytesUp = r.bytesUp.Load()
	st.BytesDown = r.bytesDown.Load()
	st.Frames = r.frames.Load()
	return st
}

// InFlight appends to dst the frames read but not yet delivered, oldest
// (lowest id) first, at most MaxTracked of them, and returns how many more
// there are.
func (r *Relay) InFlight(dst []InFlight) (frames []InFlight, omitted int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var pipeBuf [8]*pipe // sessions come and go one at a time: few pipes
	pipes := pipeBuf[:0]
	for s := range r.sessions {
		for _, p := range s.pipes {
			if p != nil {
				pipes = append(pipes, p)
			}
		}
	}
	for _, p := range pipes {
		p.mu.Lock()
	}
	defer func() {
		for _, p := range pipes {
			p.mu.Unlock()
		}
	}()
	// Each queue is in id order: merge them, oldest first.
	var posBuf [8]int
	pos := posBuf[:]
	if len(pipes) > len(pos) {
		pos = make([]int, len(pipes))
	}
	listed, queued := 0, 0
	for _, p := range pipes {
		queued += p.count
	}
	// The oldest MaxTracked are listed; the rest are only counted.
	for listed < r.opts.MaxTracked {
		best := -1
		var bestID uint64
		for i, p := range pipes {
			if pos[i] >= p.count {
				continue
			}
			if id := p.at(pos[i]).meta.ID; best < 0 || id < bestID {
				best, bestID = i, id
			}
		}
		if best < 0 {
			break
		}
		dst = append(dst, pipes[best].at(pos[best]).meta)
		listed++
		pos[best]++
	}
	return dst, queued - listed
}

// Close stops every goroutine of the relay and closes every socket. It is
// idempotent.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		live := r.liveSessions()
		r.mu.Unlock()
		close(r.stop)
		r.closeErr = r.ln.Close()
		for _, s := range live {
			s.teardown("relay closed")
		}
		r.wg.Wait()
		close(r.evStop)
		<-r.evDone
	})
	return r.closeErr
}

// evictLocked picks the session to close for a new connection when every
// slot is taken (replica.Eviction): the oldest that has not said hello as
// this relay's follower within EvictAfter. It forgets the session at once,
// so its slot is free; the caller tears it down. nil when there is none.
// r.mu is held.
func (r *Relay) evictLocked(now time.Time) *session {
	var waiting []time.Duration
	var ss []*session
	for s := range r.sessions {
		if !s.named {
			waiting = append(waiting, now.Sub(s.since))
			ss = append(ss, s)
		}
	}
	i := replica.Eviction(waiting, r.opts.EvictAfter)
	if i < 0 {
		return nil
	}
	delete(r.sessions, ss[i])
	return ss[i]
}

// helloSeen notes the first frame a session's follower side sent: a hello
// with this relay's follower name keeps the session from eviction.
func (r *Relay) helloSeen(s *session, f wire.Frame) {
	if f.Kind != wire.KindHello {
		return
	}
	if h, err := wire.DecodeHello(f.Payload); err == nil && h.Name == r.opts.Name {
		r.mu.Lock()
		s.named = true
		r.mu.Unlock()
	}
}

// liveSessions lists the sessions; r.mu held.
func (r *Relay) liveSessions() []*session {
	out := make([]*session, 0, len(r.sessions))
	for s := range r.sessions {
		out = append(out, s)
	}
	return out
}

func (r *Relay) emit(e Event) { r.events.push(e) }

// acceptLoop accepts follower connections until Close.
func (r *Relay) acceptLoop() {
	defer r.wg.Done()
	backoff := 5 * time.Millisecond
	for {
		c, err := r.ln.Accept()
		if err != nil {
			select {
			case <-r.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			// A transient failure (out of descriptors, ...): wait a little.
			r.emit(Event{Kind: EventError, Text: "accept: " + err.Error()})
			t := time.NewTimer(backoff)
			select {
			case <-r.stop:
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, time.Second)
			continue
		}
		backoff = 5 * time.Millisecond
		r.mu.Lock()
		switch {
		case r.closed:
			r.mu.Unlock()
			c.Close()
			return
		case r.cut:
			// The follower retries all the while the link is cut; the
			// first refusal says so for all of them.
			first := !r.cutRefused
			r.cutRefused = true
			r.mu.Unlock()
			c.Close()
			if first {
				r.emit(Event{Kind: EventRefused, Text: "connection from " + c.RemoteAddr().String() + " refused: link cut (further attempts are refused until the link is restored)"})
			}
			continue
		}
		now := r.opts.connNow()
		var victim *session
		if len(r.sessions) >= r.opts.MaxConns {
			if victim = r.evictLocked(now); victim == nil {
				n := r.busy.Add(now)
				r.mu.Unlock()
				addr := c.RemoteAddr().String()
				c.Close()
				if n > 0 {
					r.emit(Event{Kind: EventRefused, Text: fmt.Sprintf("refused %d connection(s), the last from %s: too many connections (max %d)", n, addr, r.opts.MaxConns)})
				}
				continue
			}
		}
		var evictions int
		if victim != nil {
			evictions = r.evicted.Add(now)
		}
		r.nextSession++
		s := newSession(r, c, r.nextSession)
		s.since = now
		r.sessions[s] = struct{}{}
		r.wg.Add(1)
		r.mu.Unlock()
		if victim != nil {
			victim.teardown("evicted: it said no hello while the relay's connections were all taken")
			if evictions > 0 {
				r.emit(Event{Kind: EventRefused, Text: fmt.Sprintf("evicted %d connection(s) that had not said hello as %s, the last from %s, to make room for newer ones", evictions, r.opts.Name, victim.follower.RemoteAddr())})
			}
		}
		r.guard.Go("session", s.run)
	}
}
