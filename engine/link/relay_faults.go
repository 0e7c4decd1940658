package link

import (
	"fmt"
	"time"

	"walship/engine/wal"
	"walship/engine/wire"
)

// SetLatency sets the one-way latency and jitter (world time) for frames
// read from now on, in both directions. Negative values count as zero.
func (r *Relay) SetLatency(latency, jitter time.Duration) {
	r.update(func(s *settings) {
		s.latency, s.jitter = max(latency, 0), max(jitter, 0)
	})
}

// SetBandwidth limits each direction to bytesPerSec of world time; 0 (or
// less) means unlimited.
func (r *Relay) SetBandwidth(bytesPerSec int64) {
	r.update(func(s *settings) { s.bandwidth = max(bytesPerSec, 0) })
}

// SetSlice turns slicing on or off: each frame is written in small random
// pieces (1..16 bytes per write) so the receiver sees short reads.
func (r *Relay) SetSlice(on bool) {
	r.update(func(s *settings) { s.slice = on })
}

// update replaces the settings and re-stamps the frames waiting to enter
// each link.
func (r *Relay) update(f func(*settings)) {
	now := r.clock.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	s := *r.set.Load()
	f(&s)
	r.set.Store(&s)
	for sess := range r.sessions {
		for _, p := range sess.pipes {
			if p != nil {
				p.restamp(&s, now)
			}
		}
	}
}

// Cut closes both sockets of every connection, dropping the frames in
// flight, and refuses new connections (accepts and closes them at once)
// until Restore.
func (r *Relay) Cut() {
	r.mu.Lock()
	if r.closed || r.cut {
		r.mu.Unlock()
		return
	}
	r.cut, r.cutRefused = true, false
	live := r.liveSessions()
	r.mu.Unlock()
	for _, s := range live {
		s.teardown("link cut")
	}
	r.emit(Event{Kind: EventCut, Text: "link cut"})
}

// Restore accepts connections again after Cut, and ends one-way cuts.
func (r *Relay) Restore() {
	r.mu.Lock()
	if r.closed || !r.cut && r.oneWay.Load() == 0 {
		r.mu.Unlock()
		return
	}
	r.cut = false
	r.oneWay.Store(0)
	r.mu.Unlock()
	r.emit(Event{Kind: EventRestore, Text: "link restored"})
}

// CutOneWay loses every frame going in direction dir, from now on and
// those already in flight that way, until Restore. Unlike Cut it closes
// no socket: the connection stays up and the other direction works, as
// when a network path fails one way. A lost frame is kept in flight until
// its arrival time, marked Lost, and then thrown away.
func (r *Relay) CutOneWay(dir Direction) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.oneWay.Load()&(1<<dir) != 0 {
		return
	}
	r.oneWay.Or(1 << dir)
	for s := range r.sessions {
		if p := s.pipes[dir]; p != nil {
			r.lost.Add(uint64(p.loseQueued(func(*InFlight) bool { return true }, -1)))
		}
	}
	text := "one-way cut: the leader's frames to the follower are lost from now on; its status still reaches the leader"
	if dir == Up {
		text = "one-way cut: the follower's status and requests are lost from now on; the leader's frames still reach it"
	}
	r.emit(Event{Kind: EventOneWay, Text: text})
}

// DropNext arms the relay to drop the next n data frames going down
// (adding to any already armed); n <= 0 disarms DropNext. A dropped frame
// travels as Lost and is thrown away when it would have arrived, so the
// follower sees a gap in the WAL.
func (r *Relay) DropNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n <= 0 {
		r.dropNext = 0
	} else {
		r.dropNext += n
	}
	r.dropPending.Store(int64(r.dropNext + len(r.dropLSNs)))
}

// DropLSN drops the data frame whose range [first, end) contains lsn: one
// already in flight (not yet being written) at once, or else the next such
// frame to pass. At most 64 LSNs are armed at once; more are ignored.
func (r *Relay) DropLSN(lsn wal.LSN) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropQueuedLocked(func(f *InFlight) bool {
		return f.Kind == wire.KindData && f.LSN <= lsn && lsn < f.EndLSN
	}) {
		return
	}
	if len(r.dropLSNs) < maxArmedLSNs {
		r.dropLSNs = append(r.dropLSNs, lsn)
		r.dropPending.Add(1)
	}
}

// DropFrame drops the frame in flight with the given id, of any kind and
// in either direction, if it is still queued and not yet being written.
// It reports whether it did.
func (r *Relay) DropFrame(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.dropQueuedLocked(func(f *InFlight) bool { return f.ID == id })
}

// dropQueuedLocked marks lost the first queued frame that match selects,
// in either direction. Called with r.mu held.
func (r *Relay) dropQueuedLocked(match func(*InFlight) bool) bool {
	for s := range r.sessions {
		for _, p := range s.pipes {
			if p == nil {
				continue
			}
			if f, ok := p.loseOne(match); ok {
				r.lost.Add(1)
				r.emitDrop(f)
				return true
			}
		}
	}
	return false
}

// takeDrop reports whether a data frame covering [first, end) going down
// is to be dropped, and disarms what it used.
func (r *Relay) takeDrop(first, end wal.LSN) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, l := range r.dropLSNs {
		if first <= l && l < end {
			r.dropLSNs = append(r.dropLSNs[:i], r.dropLSNs[i+1:]...)
			r.dropPending.Add(-1)
			return true
		}
	}
	if r.dropNext > 0 {
		r.dropNext--
		r.dropPending.Add(-1)
		return true
	}
	return false
}

func (r *Relay) emitDrop(f InFlight) {
	what := f.Kind.String() + " frame"
	if f.Kind == wire.KindData {
		what = fmt.Sprintf("data frame %s..%s", f.LSN, f.EndLSN)
	}
	r.emit(Event{Kind: EventDrop, LSN: f.LSN, Text: "dropped " + what + ": it will never arrive"})
}

// CorruptNext arms the relay to corrupt the next n data frames going down
// (adding to any already armed); n <= 0 disarms CorruptNext. A corrupted
// frame has one bit flipped in its first record's key (wire.CorruptData), so
// the follower's CRC check fails. A data frame with no record is passed
// through and not counted.
func (r *Relay) CorruptNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if n <= 0 {
		r.corruptNext = 0
	} else {
		r.corruptNext += n
	}
	r.corruptPending.Store(int64(r.corruptNext + len(r.armedLSNs)))
}

// CorruptLSN corrupts the data frame whose range [first, end) contains lsn.
// A matching frame already in flight (not yet being written) is corrupted
// where it is; otherwise the relay stays armed until such a frame passes.
// At most 64 LSNs are armed at once; more are ignored.
func (r *Relay) CorruptLSN(lsn wal.LSN) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.corruptQueuedLocked(func(f *InFlight) bool {
		return f.Kind == wire.KindData && f.LSN <= lsn && lsn < f.EndLSN
	}) {
		return
	}
	if len(r.armedLSNs) < maxArmedLSNs {
		r.armedLSNs = append(r.armedLSNs, lsn)
		r.corruptPending.Add(1)
	}
}

// CorruptFrame corrupts the data frame in flight with the given id (as
// InFlight lists it), if it is still queued and not yet being written. It
// reports whether it did.
func (r *Relay) CorruptFrame(id uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.corruptQueuedLocked(func(f *InFlight) bool {
		return f.ID == id && f.Kind == wire.KindData
	})
}

// corruptQueuedLocked corrupts the first queued down frame that match
// selects. Called with r.mu held.
func (r *Relay) corruptQueuedLocked(match func(*InFlight) bool) bool {
	for s := range r.sessions {
		p := s.pipes[Down]
		if p == nil {
			continue
		}
		if f, ok := p.corruptQueued(match); ok {
			r.corrupted.Add(1)
			r.emitCorrupt(f)
			return true
		}
	}
	return false
}

// takeCorrupt reports whether a data frame covering [first, end) going down
// is to be corrupted, and disarms what it used.
func (r *Relay) takeCorrupt(first, end wal.LSN) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i, l := range r.armedLSNs {
		if first <= l && l < end {
			r.armedLSNs = append(r.armedLSNs[:i], r.armedLSNs[i+1:]...)
			r.corruptPending.Add(-1)
			return true
		}
	}
	if r.corruptNext > 0 {
		r.corruptNext--
		r.corruptPending.Add(-1)
		return true
	}
	return false
}

func (r *Relay) emitCorrupt(f InFlight) {
	r.emit(Event{Kind: EventCorrupt, LSN: f.LSN,
		Text: fmt.Sprintf("corrupted data frame %s..%s", f.LSN, f.EndLSN)})
}
