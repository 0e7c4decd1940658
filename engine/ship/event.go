package ship

import "walship/engine/ship/replica"

// EventFunc receives events. It is called without locks held and must not
// block for long.
type EventFunc func(replica.Event)

func (f EventFunc) emit(evs ...replica.Event) {
	if f == nil {
		return
	}
	for _, e := range evs {
		f(e)
	}
}
