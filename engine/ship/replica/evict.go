package replica

import "time"

// Eviction is the rule for a full set of connection slots, as a pure
// function: given how long each connection that has not yet said who it
// is (a valid hello) has been waiting, it picks the oldest of them that
// has had at least grace to say it, to be closed for the newcomer; -1
// means none may go, and the newcomer is refused. A connection that has
// said who it is is never a candidate, so a flood of strangers cannot
// hold a known follower out: its connection takes a stranger's slot, and
// grace protects it while its hello is on the way.
func Eviction(waiting []time.Duration, grace time.Duration) int {
	victim := -1
	for i, age := range waiting {
		if age >= grace && (victim < 0 || age > waiting[victim]) {
			victim = i
		}
	}
	return victim
}
