package replica

import (
	"fmt"
	"time"

	"walship/engine/wal"
)

// Lag tracking, as PostgreSQL's walsender does it: the leader remembers when
// it flushed each LSN (a bounded ring of samples); when a follower reports a
// position, the lag is the time since the newest sample at or below it was
// flushed. The ring drops the oldest samples when full, which can only make
// a lag read shorter than it was for a follower so far behind that it fell
// out of the ring; positions further behind than that show as stuck anyway.

const lagRingSize = 4096

type lagSample struct {
	lsn wal.LSN
	at  time.Duration // world time the leader flushed lsn
}

// lagRing holds flush samples with increasing LSN. seq numbers are global
// so each reader keeps its own cursor.
type lagRing struct {
	buf  [lagRingSize]lagSample
	next uint64 // sequence number of the next sample
}

func (r *lagRing) add(lsn wal.LSN, at time.Duration) {
	if r.next > 0 {
		last := &r.buf[(r.next-1)%lagRingSize]
		if last.lsn >= lsn {
			return
		}
		// Coalesce samples closer than 1ms: a busy leader flushes far more
		// often than lag needs resolving.
		if at-last.at < time.Millisecond && r.next > 1 {
			last.lsn = lsn
			return
		}
	}
	r.buf[r.next%lagRingSize] = lagSample{lsn, at}
	r.next++
}

func (r *lagRing) oldest() uint64 {
	if r.next > lagRingSize {
		return r.next - lagRingSize
	}
	return 0
}

// lagCursor measures one position (write, flush or replay) of one follower.
type lagCursor struct {
	seq      uint64        // next sample not yet reached by the position
	measured time.Duration // last measured lag
	known    bool
}

// advance consumes the samples the position pos has reached, measuring the
// lag at now from the newest of them.
func (c *lagCursor) advance(r *lagRing, pos wal.LSN, now time.Duration) {
	if c.seq < r.oldest() {
		c.seq = r.oldest()
	}
	var last *lagSample
	for c.seq < r.next {
		s := &r.buf[c.seq%lagRingSize]
		if s.lsn > pos {
			break
		}
		last = s
		c.seq++
	}
	if last != nil {
		c.measured = max(now-last.at, 0)
		c.known = true
	}
}

// Lag is a time lag as shown to a person: idle and stuck kept apart.
type Lag struct {
	D     time.Duration // world time
	Idle  bool          // the position is at the leader's flushed end
	Known bool          // at least one measurement (PostgreSQL shows NULL before)
}

// view is the lag to show at now for a position pos when the leader has
// flushed up to flushed: idle when caught up; otherwise the larger of the
// last measurement and the age of the oldest sample the position has not
// reached, so a stuck follower's lag grows instead of freezing.
func (c *lagCursor) view(r *lagRing, pos, flushed wal.LSN, now time.Duration) Lag {
	l := Lag{D: c.measured, Known: c.known}
	if pos >= flushed {
		l.Idle = true
		return l
	}
	seq := max(c.seq, r.oldest())
	if seq < r.next {
		s := r.buf[seq%lagRingSize]
		if age := now - s.at; age > l.D {
			l.D = age
		}
		l.Known = true
	}
	return l
}

func (l Lag) String() string {
	switch {
	case !l.Known:
		return "-"
	case l.Idle:
		return "idle"
	}
	return FormatLag(l.D)
}

// FormatLag prints a duration compactly: 0ms, 340ms, 2.4s, 1m05s.
func FormatLag(d time.Duration) string {
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%.1fs", d.Seconds())
	}
	return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
}
