package clock

import "time"

// Tally merges a flood of like events into at most one report per second
// of real time, counting what it merged, so that a flood cannot bury an
// event log. The zero value is ready. It is not safe for concurrent use:
// its owner's lock guards it.
type Tally struct {
	n      int       // occurrences since the last report
	lastAt time.Time // when the last report went out
}

// Add counts one occurrence at now. When a second or more has passed since
// the last report it returns the count to report (this one included) and
// starts over; otherwise it returns 0.
func (t *Tally) Add(now time.Time) int {
	t.n++
	if now.Sub(t.lastAt) < time.Second {
		return 0
	}
	n := t.n
	t.n, t.lastAt = 0, now
	return n
}
