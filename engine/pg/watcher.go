package pg

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"walship/engine/cluster"
	"walship/engine/fatal"
	"walship/engine/wal"
)

// Config configures a Watcher.
type Config struct {
	// Primary is the connection to the primary; Standbys, optional, one
	// per standby (without one, a standby is seen only as the primary
	// sees it, in pg_stat_replication).
	Primary  *pgx.ConnConfig
	Standbys []*pgx.ConnConfig
	// Control lets Do run SQL on the servers. Off, the watcher only reads
	// the views, which pg_monitor rights allow.
	Control bool
	// Interval between polls (0: 100ms).
	Interval time.Duration
}

// Unobservable is what PostgreSQL's views do not show.
const Unobservable = cluster.ObsFrames | cluster.ObsCRC | cluster.ObsLink | cluster.ObsApplyCost | cluster.ObsKeys

// SourceName names PostgreSQL as a snapshot's source.
const SourceName = "PostgreSQL"

// Timeouts. Generous: a loaded machine makes a server slow to answer.
const (
	pollTimeout    = 5 * time.Second
	connectTimeout = 5 * time.Second
	commandTimeout = 15 * time.Second
	retryAfter     = time.Second // after a failed connection to a node
	recordsQuiet   = 5 * time.Second
)

// Watcher polls a primary and its standbys and keeps the snapshot the UI
// draws. It implements cluster.Controller. One goroutine polls (the
// watcher's own, stopped by Close); Snapshot and Do may be called from any
// goroutine.
type Watcher struct {
	cfg   Config
	start time.Time

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{} // closed when the poll goroutine has ended
	work   *workload     // nil unless Control

	mu       sync.Mutex
	primary  *node
	standbys []*node
	gen      int // bumped when the primary changes (promotion)
	tr       *tracker
	snap     cluster.Snapshot // without events
	fatal    string           // a panic in one of the watcher's goroutines
	events   []cluster.Event  // the newest EventRingSize
	seq      uint64
	saved    map[string]string // primary_conninfo saved by cut, by follower name
	paused   map[string]bool   // standbys whose replay walship paused, by follower name
	settings []setting         // settings walship changed, as they were before
	undone   bool              // Undo has run

	// Owned by the poll goroutine.
	conns       map[*node]*pgx.Conn
	retryAt     map[*node]time.Time
	recs        recordLog
	recAnchored bool      // recFrom is set for the current primary
	recFrom     wal.LSN   // the next record to inspect starts here
	recEnd      wal.LSN   // end of the last complete record read
	recGen      int       // the primary generation recFrom belongs to
	recShown    time.Time // when the last records summary was emitted
	recShape    string    // and what it looked like
	inspErr     string
	inspectOff  bool // no rights to pg_walinspect: no more tries
	noRecords   bool // record types are not observable (no pg_walinspect, or no rights)
	rates       rateMeter
}

// node is one server walship connects to.
type node struct {
	id   int // stable: standbys are numbered from 1 in the order given, the primary is 0
	cfg  *pgx.ConnConfig
	addr string
}

// Watch connects to the primary (it must answer) and starts polling.
// Standbys that do not answer yet are shown as unreachable.
func Watch(cfg Config) (*Watcher, error) {
	if cfg.Primary == nil {
		return nil, errors.New("pg: no primary to watch")
	}
	if cfg.Interval <= 0 {
		cfg.Interval = 100 * time.Millisecond
	}
	w := &Watcher{
		cfg:     cfg,
		start:   time.Now(),
		done:    make(chan struct{}),
		tr:      newTracker(),
		saved:   map[string]string{},
		paused:  map[string]bool{},
		conns:   map[*node]*pgx.Conn{},
		retryAt: map[*node]time.Time{},
	}
	w.ctx, w.cancel = context.WithCancel(context.Background())
	w.primary = newNode(0, cfg.Primary)
	for i, c := range cfg.Standbys {
		w.standbys = append(w.standbys, newNode(i+1, c))
	}
	if _, err := w.conn(w.primary); err != nil {
		w.cancel()
		return nil, fmt.Errorf("pg: cannot connect to the primary %s: %w", w.primary.addr, err)
	}
	if cfg.Control {
		w.work = newWorkload(w)
		// pg_walinspect names the records flowing; creating it is the one
		// write walship makes on its own, and only with controls on.
		w.execSQL(w.primary, "", "CREATE EXTENSION IF NOT EXISTS pg_walinspect")
	}
	w.pollOnce()
	w.guard().Go("poller", w.loop)
	return w, nil
}

func newNode(id int, c *pgx.ConnConfig) *node {
	c = c.Copy()
	if c.ConnectTimeout == 0 || c.ConnectTimeout > connectTimeout {
		c.ConnectTimeout = connectTimeout
	}
	if c.RuntimeParams == nil {
		c.RuntimeParams = map[string]string{}
	}
	if c.RuntimeParams["application_name"] == "" {
		c.RuntimeParams["application_name"] = "walship"
	}
	return &node{id: id, cfg: c, addr: addrOf(c)}
}

// addrOf is how a server is named on screen: host:port, or unix:port for
// a Unix socket directory.
func addrOf(c *pgx.ConnConfig) string {
	host := c.Host
	if strings.HasPrefix(host, "/") {
		host = "unix"
	}
	return host + ":" + strconv.Itoa(int(c.Port))
}

// Close puts back what walship changed on the servers (see Undo: a cut
// standby's primary_conninfo exists nowhere else once cut has cleared
// it), then stops polling and the workload and closes every connection.
// The error names what it could not put back, with the SQL that does it
// by hand. It is safe to call more than once.
func (w *Watcher) Close() error {
	_, err := w.Undo()
	w.cancel()
	<-w.done
	if w.work != nil {
		w.work.close()
	}
	for n, c := range w.conns {
		c.Close(context.Background())
		delete(w.conns, n)
	}
	return err
}

func (w *Watcher) loop() {
	defer close(w.done)
	t := time.NewTicker(w.cfg.Interval)
	defer t.Stop()
	for {
		select {
		case <-w.ctx.Done():
			return
		case <-t.C:
		}
		w.pollOnce()
	}
}

// conn is the poll goroutine's connection to n, made when there is none
// (at most once a retryAfter after a failure).
func (w *Watcher) conn(n *node) (*pgx.Conn, error) {
	if c := w.conns[n]; c != nil && !c.IsClosed() {
		return c, nil
	}
	if at, ok := w.retryAt[n]; ok && time.Now().Before(at) {
		return nil, errRetryLater
	}
	c, err := pgx.ConnectConfig(w.ctx, n.cfg)
	if err != nil {
		w.retryAt[n] = time.Now().Add(retryAfter)
		return nil, err
	}
	delete(w.retryAt, n)
	w.conns[n] = c
	return c, nil
}

var errRetryLater = errors.New("not answering (retrying)")

// drop closes n's connection after an error: its state is unknown.
func (w *Watcher) drop(n *node) {
	if c := w.conns[n]; c != nil {
		c.Close(context.Background())
		delete(w.conns, n)
	}
}

// pollOnce polls the standbys (in parallel), then the primary, then the
// new WAL records, and builds the snapshot.
func (w *Watcher) pollOnce() {
	w.mu.Lock()
	primary, standbys, gen := w.primary, slices.Clone(w.standbys), w.gen
	w.mu.Unlock()
	for n := range w.conns { // nodes gone since (an old primary)
		if n != primary && !slices.Contains(standbys, n) {
			w.drop(n)
		}
	}

	p := poll{primaryAddr: primary.addr, standbys: make([]standbyPoll, len(standbys))}
	conns := make([]*pgx.Conn, len(standbys))
	for i, n := range standbys {
		p.standbys[i] = standbyPoll{id: n.id, addr: n.addr}
		conns[i], p.standbys[i].obs.err = w.conn(n)
	}
	var wg sync.WaitGroup
	for i := range standbys {
		if conns[i] == nil {
			continue
		}
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(w.ctx, pollTimeout)
			defer cancel()
			p.standbys[i].obs = pollStandby(ctx, conns[i])
		})
	}
	wg.Wait()
	for i, n := range standbys {
		if conns[i] != nil && p.standbys[i].obs.err != nil {
			w.drop(n)
		}
	}

	pc, err := w.conn(primary)
	if err == nil {
		ctx, cancel := context.WithTimeout(w.ctx, pollTimeout)
		p.primary = pollPrimary(ctx, pc)
		cancel()
		if p.primary.err != nil {
			w.drop(primary)
		}
	} else {
		p.primary.err = err
	}
	if w.ctx.Err() != nil {
		return // closing: the errors above are ours
	}
	var inspectedNow inspected
	if p.primary.err == nil && !p.primary.inRecovery {
		inspectedNow = w.inspect(primary, pc, &p.primary, gen)
		p.recordEnd = w.recEnd
		w.noRecords = w.inspectOff || !p.primary.walInspect
	}

	w.mu.Lock()
	defer w.mu.Unlock()
	if w.gen != gen {
		return // the primary changed while polling: this poll is of the old one
	}
	now := time.Now()
	p.world = now.Sub(w.start)
	L, fs, evs := w.tr.build(&p)
	for _, ev := range evs {
		w.addEventLocked(ev)
	}
	w.rates.add(now, inspectedNow.total)
	L.Rate = w.rates.rate()
	if w.work != nil {
		L.TargetRate = w.work.rate()
		L.Commits = w.work.committed()
	}
	// Records go to the log once a second while they change shape, and
	// once every recordsQuiet while the same workload goes on, so that
	// they do not push the state changes out of sight.
	if since := now.Sub(w.recShown); !w.recs.empty() && since >= time.Second {
		if shape := w.recs.shape(); shape != w.recShape || since >= recordsQuiet {
			w.addEventLocked(cluster.Event{Kind: cluster.EvInfo, LSN: w.recs.from, Text: w.recs.summary()})
			w.recShown, w.recShape = now, shape
		}
	}
	w.snap = cluster.Snapshot{
		World:     p.world,
		Speed:     1,
		Leader:    L,
		Followers: fs,
		Source:    cluster.Source{Name: SourceName, Unobservable: Unobservable},
	}
	if w.noRecords {
		w.snap.Source.Unobservable |= cluster.ObsRecords
	}
	if w.work == nil {
		// Only the workload's own commits are counted (see committed).
		w.snap.Source.Unobservable |= cluster.ObsCommits
	}
}

// inspect reads the records flushed since the last poll with
// pg_walinspect, and gathers them for the next summary.
func (w *Watcher) inspect(n *node, c *pgx.Conn, pr *primaryObs, gen int) inspected {
	if w.inspectOff {
		return inspected{}
	}
	if !pr.walInspect {
		w.inspectFailed("record types not observable: pg_walinspect is not installed on the primary (CREATE EXTENSION pg_walinspect, or run with --control)")
		return inspected{}
	}
	ctx, cancel := context.WithTimeout(w.ctx, pollTimeout)
	defer cancel()
	if !w.recAnchored || w.recGen != gen || pr.flush < w.recFrom {
		// Start a little before the flush LSN, to learn where the last
		// complete record ends; those records are not news. Where that
		// finds none (a segment switch leaves the rest of a segment
		// empty), start at the flush LSN itself.
		w.recAnchored, w.recGen, w.recEnd, w.recFrom = true, gen, 0, pr.flush
		w.recs = recordLog{}
		recs, err := walRecords(ctx, c, pr.flush-min(pr.flush, tailBytes), pr.flush)
		if err == nil && len(recs) > 0 {
			w.recEnd = recs[len(recs)-1].end
			w.recFrom = w.recEnd
		}
		w.noteInspectErr(n, err)
		return inspected{}
	}
	if pr.flush <= w.recFrom {
		return inspected{}
	}
	from := w.recFrom
	in, err := inspect(ctx, c, from, pr.flush)
	if err != nil {
		// WAL removed under us, or no record to be found in the range:
		// say what was not inspected, and start again from the flush LSN.
		w.recs.add(from, pr.flush, inspected{skipped: int64(pr.flush - from)})
		w.recAnchored = false
		w.noteInspectErr(n, err)
		return inspected{}
	}
	w.inspErr = ""
	if k := len(in.records); k > 0 {
		w.recEnd = in.records[k-1].end
		w.recFrom = w.recEnd
	}
	w.recs.add(from, w.recFrom, in)
	return in
}

// noteInspectErr stops inspecting after an error that will not pass by
// itself (no rights), saying why, and drops the connection after an error
// that did not come from the server.
func (w *Watcher) noteInspectErr(n *node, err error) {
	if err == nil {
		return
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		w.drop(n) // not an answer from the server: the connection's state is unknown
		return
	}
	if pe.Code == "42501" || pe.Code == "42883" { // insufficient_privilege, undefined_function
		w.inspectOff = true
		w.inspectFailed("record types not observable: pg_walinspect needs superuser or pg_read_server_files rights: " + pe.Message)
	}
}

// inspectFailed reports why record types are not shown, once per reason.
func (w *Watcher) inspectFailed(why string) {
	if w.inspErr == why {
		return
	}
	w.inspErr = why
	w.mu.Lock()
	w.addEventLocked(cluster.Event{Kind: cluster.EvInfo, Text: why})
	w.mu.Unlock()
}

// Snapshot implements cluster.Controller.
func (w *Watcher) Snapshot(sinceEvent uint64) cluster.Snapshot {
	w.mu.Lock()
	defer w.mu.Unlock()
	s := w.snap
	s.World = time.Since(w.start)
	s.Followers = slices.Clone(s.Followers)
	s.LastEvent = w.seq
	i, _ := slices.BinarySearchFunc(w.events, sinceEvent+1, func(e cluster.Event, seq uint64) int {
		return int(e.Seq) - int(seq)
	})
	s.Events = slices.Clone(w.events[i:])
	s.Fatal = w.fatal
	return s
}

// guard starts the watcher's goroutines: a panic in one is the watcher's
// fatal error (Snapshot.Fatal), and the UI quits with it.
func (w *Watcher) guard() fatal.Group {
	return fatal.Group{Owner: "pg watcher", OnPanic: func(p fatal.Panic) {
		w.mu.Lock()
		if w.fatal == "" {
			w.fatal = p.Error()
			w.addEventLocked(cluster.Event{Kind: cluster.EvError, Text: "fatal: " + p.Error()})
		}
		w.mu.Unlock()
	}}
}

// emit adds an event.
func (w *Watcher) emit(ev cluster.Event) {
	w.mu.Lock()
	w.addEventLocked(ev)
	w.mu.Unlock()
}

func (w *Watcher) addEventLocked(ev cluster.Event) {
	w.seq++
	ev.Seq = w.seq
	if ev.World == 0 {
		ev.World = time.Since(w.start)
	}
	w.events = append(w.events, ev)
	if n := len(w.events); n > cluster.EventRingSize {
		w.events = append(w.events[:0], w.events[n-cluster.EventRingSize:]...)
	}
}

// rateMeter measures records per second over the last two seconds.
type rateMeter struct {
	samples []rateSample
}

type rateSample struct {
	at    time.Time
	total int // cumulative
}

func (r *rateMeter) add(at time.Time, n int) {
	total := n
	if k := len(r.samples); k > 0 {
		total += r.samples[k-1].total
	}
	r.samples = append(r.samples, rateSample{at, total})
	cut := 0
	for cut < len(r.samples)-1 && at.Sub(r.samples[cut].at) > 2*time.Second {
		cut++
	}
	r.samples = r.samples[cut:]
}

func (r *rateMeter) rate() float64 {
	if len(r.samples) < 2 {
		return 0
	}
	a, b := r.samples[0], r.samples[len(r.samples)-1]
	dt := b.at.Sub(a.at).Seconds()
	if dt <= 0 {
		return 0
	}
	return float64(b.total-a.total) / dt
}
