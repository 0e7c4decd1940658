package link

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	"walship/engine/wal"
	"walship/engine/wire"
)

// frame is one frame held by the relay between reading and delivery.
type frame struct {
	meta   InFlight
	buf    *[]byte       // pooled; (*buf)[:meta.Bytes] is the raw frame
	jitter time.Duration // drawn once, kept when the frame is re-stamped
	txEnd  time.Duration // when its last byte leaves the (bandwidth-limited) link
}

// pipe pumps one direction of a session: readLoop reads frames from src,
// stamps them and queues them; writeLoop delivers them to dst when they
// arrive.
type pipe struct {
	s        *session
	r        *Relay
	dir      Direction
	src, dst net.Conn
	ready    chan struct{} // 1-buffered: wakes the writer
	space    chan struct{} // 1-buffered: wakes the reader

	mu sync.Mutex
	// ring holds the queue: count frames from head, oldest first, in
	// increasing id and (non-strictly) increasing Arrive.
	// Invariant: writing <= count <= len(ring). The writer owns frames
	// [0, writing) of the queue while it writes them: nobody else touches
	// them, and only the writer moves head.
	ring          []frame
	head, count   int
	writing       int
	bytes         int  // raw bytes queued
	eof           bool // src ended cleanly: deliver what is queued, then end
	writerWaiting bool
	readerWaiting bool
	lastArrive    time.Duration // arrival of the newest frame queued or delivered
	linkFreeAt    time.Duration // when the bandwidth-limited link is next free

	rng *rand.Rand // reader only
}

func newPipe(s *session, dir Direction, src, dst net.Conn) *pipe {
	seed := uint64(s.r.opts.Seed)
	return &pipe{
		s: s, r: s.r, dir: dir, src: src, dst: dst,
		ready: make(chan struct{}, 1),
		space: make(chan struct{}, 1),
		ring:  make([]frame, maxQueueFrames),
		rng:   rand.New(rand.NewPCG(seed, uint64(s.n)<<1|uint64(dir))),
	}
}

// at is the k-th queued frame, 0 the oldest. p.mu held, or k < writing and
// called by the writer.
func (p *pipe) at(k int) *frame { return &p.ring[(p.head+k)%len(p.ring)] }

func (p *pipe) peer() string {
	if p.dir == Down {
		return "leader"
	}
	return "follower"
}

// readLoop reads frames until the source ends or the session is torn down.
func (p *pipe) readLoop() {
	r := p.r
	rd := wire.NewReader(p.src, 64<<10)
	idle := p.dir == Up && r.idle > 0
	if idle {
		p.src.SetReadDeadline(time.Now().Add(r.idle))
	}
	full := false
	first := p.dir == Up
	for {
		if full && !p.waitSpace() {
			return
		}
		// The leader is trusted, so its frames are read straight into the
		// queue's buffer; anything from a follower's side is read with
		// RawNext's guard against a length it does not send, and copied.
		var f wire.Frame
		var raw []byte
		var err error
		var owned *[]byte
		if p.dir == Down {
			f, raw, err = rd.RawNextInto(func(n int) []byte { owned = getBuf(n); return *owned })
		} else {
			f, raw, err = rd.RawNext()
		}
		if err != nil {
			putBuf(owned)
			p.readFailed(err)
			return
		}
		if idle {
			idle = false
			p.src.SetReadDeadline(time.Time{})
		}
		if first {
			first = false
			r.helloSeen(p.s, f)
		}
		now := r.clock.Now()
		set := r.set.Load()
		fr := frame{meta: InFlight{Dir: p.dir, Kind: f.Kind, Bytes: len(raw)}}
		fr.meta.LSN, fr.meta.EndLSN = wire.FrameLSN(f)
		if set.jitter > 0 {
			fr.jitter = time.Duration(p.rng.Int64N(int64(set.jitter)))
		}
		if p.dir == Down && f.Kind == wire.KindData && r.corruptPending.Load() > 0 &&
			len(f.Payload) > wire.DataHeaderSize+wal.HeaderSize+wal.TrailerSize &&
			r.takeCorrupt(fr.meta.LSN, fr.meta.EndLSN) {
			fr.meta.Corrupt = true
		}
		dropped := false
		switch {
		case r.oneWay.Load()&(1<<p.dir) != 0:
			fr.meta.Lost = true
		case p.dir == Down && f.Kind == wire.KindData && r.dropPending.Load() > 0 &&
			r.takeDrop(fr.meta.LSN, fr.meta.EndLSN):
			fr.meta.Lost, dropped = true, true
		}
		fr.meta.ID = r.ids.Add(1)
		fr.buf = owned
		full = p.push(fr, raw, now)
		if fr.meta.Corrupt {
			r.corrupted.Add(1)
			r.emitCorrupt(fr.meta)
		}
		if fr.meta.Lost {
			r.lost.Add(1)
		}
		if dropped {
			r.emitDrop(fr.meta)
		}
	}
}

// waitSpace blocks while the queue is full. It returns false when the
// session ends.
func (p *pipe) waitSpace() bool {
	p.mu.Lock()
	for p.count >= len(p.ring) || p.bytes >= maxQueueBytes {
		p.readerWaiting = true
		p.mu.Unlock()
		select {
		case <-p.space:
		case <-p.s.done:
			return false
		}
		p.mu.Lock()
	}
	p.mu.Unlock()
	return true
}

// push stamps fr (read at world time now), queues it with raw (corrupted
// if fr says so) and reports whether the queue is now full. When fr.buf is
// set, raw already lies in it and the queue takes it over; else raw is
// copied into a buffer of the queue's.
func (p *pipe) push(fr frame, raw []byte, now time.Duration) (full bool) {
	if fr.buf == nil {
		fr.buf = getBuf(len(raw))
		copy(*fr.buf, raw)
	}
	if fr.meta.Corrupt {
		wire.CorruptData((*fr.buf)[wire.HeaderSize+1:])
	}
	p.mu.Lock()
	// Load the settings under p.mu: a concurrent update either is seen
	// here or re-stamps this frame after.
	p.stamp(&fr, p.r.set.Load(), now)
	*p.at(p.count) = fr
	p.count++
	p.bytes += len(raw)
	full = p.count >= len(p.ring) || p.bytes >= maxQueueBytes
	wake := p.writerWaiting
	p.writerWaiting = false
	p.mu.Unlock()
	if wake {
		signal(p.ready)
	}
	return full
}

// stamp sets when f enters the link and when it arrives, behind the frames
// before it: with a bandwidth limit it occupies the link for size/bps from
// start = max(now, linkFreeAt); then it takes latency plus its jitter, and
// never arrives before the frame ahead of it. p.mu held.
func (p *pipe) stamp(f *frame, set *settings, now time.Duration) {
	start := now
	f.txEnd = now
	if set.bandwidth > 0 {
		start = max(now, p.linkFreeAt)
		f.txEnd = start + time.Duration(float64(f.meta.Bytes)*float64(time.Second)/float64(set.bandwidth))
		p.linkFreeAt = f.txEnd
	}
	f.meta.Sent = start
	f.meta.Arrive = max(f.txEnd+set.latency+f.jitter, p.lastArrive)
	p.lastArrive = f.meta.Arrive
}

// restamp applies new settings to the queued frames that have not yet
// entered the link (those waiting for bandwidth): lifting a bandwidth
// limit must not leave a backlog stamped far ahead. Frames already on the
// link keep their timing. It wakes the writer to look again.
func (p *pipe) restamp(set *settings, now time.Duration) {
	p.mu.Lock()
	k := p.writing
	for ; k < p.count && p.at(k).meta.Sent <= now; k++ {
	}
	if k < p.count {
		// Take the link's state back to just after frame k-1.
		p.linkFreeAt, p.lastArrive = now, now
		if k > 0 {
			prev := p.at(k - 1)
			p.linkFreeAt, p.lastArrive = max(now, prev.txEnd), prev.meta.Arrive
		}
		for ; k < p.count; k++ {
			f := p.at(k)
			p.stamp(f, set, now)
		}
	}
	p.mu.Unlock()
	signal(p.ready)
}

// readFailed ends reading: a clean end of stream lets the writer drain the
// queue first; anything else tears the session down at once.
func (p *pipe) readFailed(err error) {
	select {
	case <-p.s.done:
		return // torn down already; the error is the consequence
	default:
	}
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF):
		p.mu.Lock()
		p.eof = true
		wake := p.writerWaiting
		p.writerWaiting = false
		p.mu.Unlock()
		if wake {
			signal(p.ready)
		}
		return
	case errors.Is(err, wire.ErrFrameTooLarge):
		msg := fmt.Sprintf("hostile frame from %s: %v", p.peer(), err)
		kind := EventError
		if p.dir == Up {
			// A stranger on the relay's port: its connection is refused.
			kind = EventRefused
			msg = fmt.Sprintf("hostile frame from %s %s: %v", p.peer(), p.src.RemoteAddr(), err)
		}
		p.r.emit(Event{Kind: kind, Text: msg})
		p.s.teardown(msg)
	case p.dir == Up && errors.As(err, &ne) && ne.Timeout():
		msg := fmt.Sprintf("idle: follower sent no frame in %v", p.r.idle)
		p.s.teardown(msg)
	default:
		p.s.teardown(fmt.Sprintf("read from %s: %v", p.peer(), err))
	}
}

// writeLoop delivers queued frames at their arrival time until the session
// ends.
func (p *pipe) writeLoop() {
	r := p.r
	bw := bufio.NewWriterSize(p.dst, 64<<10)
	rng := rand.New(rand.NewPCG(uint64(r.opts.Seed)^0x5eed, uint64(p.s.n)<<1|uint64(p.dir)))
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	flush := func() bool {
		if bw.Buffered() == 0 {
			return true
		}
		if err := bw.Flush(); err != nil {
			p.writeFailed(err)
			return false
		}
		return true
	}
	for {
		p.mu.Lock()
		if p.count == 0 {
			eof := p.eof
			p.writerWaiting = !eof
			p.mu.Unlock()
			if !flush() {
				return
			}
			if eof {
				p.s.teardown(p.peer() + " closed the connection")
				return
			}
			select {
			case <-p.ready:
			case <-p.s.done:
				return
			}
			continue
		}
		p.mu.Unlock()

		// Hold everything while the world is frozen.
		if r.clock.Frozen() {
			if !flush() || !r.clock.WaitRunning(p.s.done) {
				return
			}
		}
		now := r.clock.Now()
		p.mu.Lock()
		k, n := 0, 0
		for k < p.count && p.at(k).meta.Arrive <= now {
			n += p.at(k).meta.Bytes
			k++
		}
		next := p.at(0).meta.Arrive
		p.writing = k
		p.mu.Unlock()
		if k == 0 {
			if !flush() || !p.sleepUntil(next, timer) {
				return
			}
			continue
		}

		slice := r.set.Load().slice
		lostBytes, lostFrames := 0, 0
		for i := range k {
			f := p.at(i)
			if f.meta.Lost {
				lostBytes += f.meta.Bytes // thrown away, not delivered
				lostFrames++
				continue
			}
			raw := (*f.buf)[:f.meta.Bytes]
			var err error
			if slice {
				if !flush() {
					return
				}
				err = p.writeSliced(raw, rng)
			} else {
				_, err = bw.Write(raw)
			}
			if err != nil {
				p.writeFailed(err)
				return
			}
		}

		p.mu.Lock()
		for i := range k {
			f := p.at(i)
			putBuf(f.buf)
			*f = frame{}
		}
		p.head = (p.head + k) % len(p.ring)
		p.count -= k
		p.bytes -= n
		p.writing = 0
		wake := p.readerWaiting
		p.readerWaiting = false
		p.mu.Unlock()
		if wake {
			signal(p.space)
		}
		r.frames.Add(uint64(k - lostFrames))
		if p.dir == Down {
			r.bytesDown.Add(uint64(n - lostBytes))
		} else {
			r.bytesUp.Add(uint64(n - lostBytes))
		}
	}
}

// sleepUntil waits until world time t, honouring speed changes and
// freezes, or until the writer is woken (a re-stamp may have moved the head
// frame earlier). It returns false when the session ends. One timer per
// writer is reused.
func (p *pipe) sleepUntil(t time.Duration, timer *time.Timer) bool {
	for {
		changed := p.r.clock.Changed()
		d, ok := p.r.clock.Until(t)
		if ok && d <= 0 {
			return true
		}
		var timeout <-chan time.Time
		if ok {
			timer.Reset(d)
			timeout = timer.C
		}
		select {
		case <-p.s.done:
			timer.Stop()
			return false
		case <-p.ready:
			timer.Stop()
			return true
		case <-changed:
		case <-timeout:
		}
		timer.Stop()
	}
}

// writeSliced writes raw in pieces of 1..16 bytes, one write each.
func (p *pipe) writeSliced(raw []byte, rng *rand.Rand) error {
	for len(raw) > 0 {
		n := min(1+rng.IntN(16), len(raw))
		if _, err := p.dst.Write(raw[:n]); err != nil {
			return err
		}
		raw = raw[n:]
	}
	return nil
}

func (p *pipe) writeFailed(err error) {
	select {
	case <-p.s.done:
		return
	default:
	}
	other := "follower"
	if p.dir == Up {
		other = "leader"
	}
	p.s.teardown(fmt.Sprintf("write to %s: %v", other, err))
}

// corruptQueued corrupts the first queued data frame, not yet being
// written, that match selects.
func (p *pipe) corruptQueued(match func(*InFlight) bool) (InFlight, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := p.writing; k < p.count; k++ {
		f := p.at(k)
		if f.meta.Corrupt || !match(&f.meta) {
			continue
		}
		if wire.CorruptData((*f.buf)[wire.HeaderSize+1 : f.meta.Bytes]) {
			f.meta.Corrupt = true
			return f.meta, true
		}
	}
	return InFlight{}, false
}

// loseOne marks lost the first queued frame, not yet being written and not
// lost already, that match selects.
func (p *pipe) loseOne(match func(*InFlight) bool) (InFlight, bool) {
	var f InFlight
	n := p.loseQueued(func(m *InFlight) bool {
		if match(m) {
			f = *m
			return true
		}
		return false
	}, 1)
	f.Lost = true
	return f, n > 0
}

// loseQueued marks lost at most limit (all when negative) queued frames,
// not yet being written and not lost already, that match selects, and
// returns how many it marked.
func (p *pipe) loseQueued(match func(*InFlight) bool, limit int) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for k := p.writing; k < p.count && n != limit; k++ {
		f := p.at(k)
		if !f.meta.Lost && match(&f.meta) {
			f.meta.Lost = true
			n++
		}
	}
	return n
}

// release drops whatever is still queued once the pumps have stopped.
func (p *pipe) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.count {
		f := p.at(k)
		putBuf(f.buf)
		*f = frame{}
	}
	p.count, p.bytes, p.writing = 0, 0, 0
}

// signal is a non-blocking send on a 1-buffered wake-up channel: repeated
// wake-ups merge.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// Frame buffers are pooled by size class, from 512 bytes up to the largest
// frame, so steady traffic allocates nothing per frame. Classes are powers
// of two up to 4 KiB, then four per doubling (5, 6, 7 and 8 KiB, 10, 12, 14
// and 16 KiB, ...), so a buffer is at most a quarter larger than its frame:
// with power-of-two classes a data frame just over 256 KiB held 512 KiB.
const (
	minClass  = 9  // 512 bytes
	fineClass = 12 // above 4 KiB, four steps per doubling
)

var pools [22 * 4]sync.Pool // index 4*log2 + step; up to 2 MiB >= MaxFrameSize+HeaderSize

// class returns the pool index and the buffer capacity for n bytes.
func class(n int) (idx, size int) {
	c := max(bits.Len(uint(n-1)), minClass) // 1<<c >= n
	if c <= fineClass {
		return 4 * c, 1 << c
	}
	half, step := 1<<(c-1), 1<<(c-3)
	q := (n - half + step - 1) / step // 1..4
	return 4*c + q - 1, half + q*step
}

func getBuf(n int) *[]byte {
	idx, size := class(n)
	if b, ok := pools[idx].Get().(*[]byte); ok {
		*b = (*b)[:n]
		return b
	}
	b := make([]byte, n, size)
	return &b
}

func putBuf(b *[]byte) {
	if b == nil {
		return
	}
	idx, _ := class(cap(*b))
	pools[idx].Put(b)
}
