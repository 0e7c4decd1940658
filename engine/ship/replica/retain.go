package replica

import (
	"fmt"
	"sort"

	"walship/engine/wal"
)

// RetainPlan is what a checkpoint does to the leader's WAL. The caller
// carries it out: the checkpoint first, then the removal.
type RetainPlan struct {
	// KeepFrom: WAL below it is needed by nobody (wal_keep_size and
	// every live slot keep from here).
	KeepFrom wal.LSN
	// Remove: KeepFrom is past the oldest WAL retained, so segments
	// wholly below it can go.
	Remove bool
	// Checkpoint: the store's last checkpoint is older than KeepFrom, so
	// a new one must be written first (the store is rebuilt from the
	// checkpoint and the WAL after it).
	Checkpoint bool
	// Lost names the slots lost now, more than max_slot_wal_keep_size
	// behind; Events says so.
	Lost   []string
	Events []Event
}

// RetainInput is what retention is decided from.
type RetainInput struct {
	Flushed    wal.LSN // the leader's flushed end
	Oldest     wal.LSN // the oldest WAL retained
	Checkpoint wal.LSN // the LSN of the store's last checkpoint
	WALKeep    int64   // wal_keep_size
	MaxSlotWAL int64   // max_slot_wal_keep_size; 0 = no cap
	// Slots are the live slots (enabled, not lost) by follower name.
	Slots map[string]wal.LSN
}

// Retain decides retention: WAL is kept for wal_keep_size behind the
// flushed end, and from every live slot's restart LSN, unless that slot
// is more than MaxSlotWAL behind: then it is lost, and keeps nothing.
func Retain(in RetainInput) RetainPlan {
	var p RetainPlan
	if int64(in.Flushed) > in.WALKeep {
		p.KeepFrom = in.Flushed - wal.LSN(in.WALKeep)
	}
	for _, name := range sortedKeys(in.Slots) {
		restart := in.Slots[name]
		if in.MaxSlotWAL > 0 && restart < in.Flushed && int64(in.Flushed-restart) > in.MaxSlotWAL {
			p.Lost = append(p.Lost, name)
			p.Events = append(p.Events, Event{Follower: name, Kind: EvSlot, LSN: in.Flushed,
				Text: fmt.Sprintf("slot lost: more than %d bytes behind (max_slot_wal_keep_size)", in.MaxSlotWAL)})
			continue
		}
		p.KeepFrom = min(p.KeepFrom, restart)
	}
	p.Remove = p.KeepFrom > in.Oldest
	p.Checkpoint = p.Remove && in.Checkpoint < p.KeepFrom
	return p
}

// Retain decides retention with the leader's settings and slots (see
// Retain), and marks the slots it loses as lost.
func (l *Leader) Retain(flushed, oldest, checkpoint wal.LSN) RetainPlan {
	in := RetainInput{
		Flushed: flushed, Oldest: oldest, Checkpoint: checkpoint,
		WALKeep: l.set.WALKeep, MaxSlotWAL: l.set.MaxSlotWAL,
	}
	if l.set.Slots {
		in.Slots = make(map[string]wal.LSN)
		for name, pr := range l.followers {
			if pr.Slot.Enabled && !pr.Slot.Lost {
				in.Slots[name] = pr.Slot.Restart
			}
		}
	}
	p := Retain(in)
	for _, name := range p.Lost {
		l.followers[name].Slot.Lost = true
	}
	return p
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
