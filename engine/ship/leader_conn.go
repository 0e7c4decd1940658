package ship

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

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
		now := l.cfg.connNow()
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
	c.SetReadDeadline(time.Now()) // real time, whatever connNow says
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
	writeRefuse(c, wire.RefuseProtocol, reason)
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
		writeRefuse(c, a.Code, a.Reason)
	}
	if a.Event != nil {
		l.cfg.OnEvent.emit(*a.Event)
	}
}

// writeRefuse writes a Refuse frame in one write, best effort: the
// connection is closed right after either way, and a write deadline
// running out between two writes would leave half a frame.
func writeRefuse(c net.Conn, code byte, reason string) {
	c.Write(wire.AppendFrame(nil, wire.KindRefuse, wire.Refuse{Code: code, Reason: reason}.Encode()))
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
	history := l.core.Settings().History
	var epoch uint64
	if a.Accept {
		st.named = true
		l.streams[h.Name] = c
		epoch = pr.Epoch
	}
	l.mu.Unlock()
	if !a.Accept {
		l.refuse(c, a)
		return
	}
	l.progress.broadcast() // its old reports no longer count

	c.SetReadDeadline(time.Time{})
	bw := bufio.NewWriterSize(c, 64<<10)
	// The handshake writes to bw before the sender, which then owns it, starts.
	err := wire.WriteFrame(bw, wire.KindWelcome, wire.Welcome{
		Flushed: facts.Flushed, SegmentSize: l.log.SegmentSize(), Oldest: facts.Oldest,
		Timeline: history.Timeline(), History: wireHistory(history),
	}.Encode())
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
