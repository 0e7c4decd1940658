package session

import (
	"slices"

	"walship/engine/cluster"
)

// A failover's lists (format version 2): the timeline history, the lost
// writes and the fenced primaries. Each is written after a snapshot's
// events as a table keyed by its timeline (see putTable), so a record
// repeats only what changed.

// Bounds on the failover lists of one snapshot record; more is damage.
const (
	maxHistory  = 1 << 12
	maxLostKeys = 64
)

type (
	tsw = cluster.TimelineSwitch
	lw  = cluster.LostWrites
	fp  = cluster.FencedPrimary
)

var switchFields = []field[tsw]{
	uintF(func(v *tsw) *uint32 { return &v.Timeline }),
	uintF(func(v *tsw) *lsn { return &v.ForkLSN }),
	strF(func(v *tsw) *string { return &v.Reason }),
}

var lostFields = []field[lw]{
	uintF(func(v *lw) *uint32 { return &v.Timeline }),
	uintF(func(v *lw) *lsn { return &v.ForkLSN }),
	strF(func(v *lw) *string { return &v.Promoted }),
	intF(func(v *lw) *syncMode { return &v.Rule.Mode }),
	intF(func(v *lw) *int { return &v.Rule.N }),
	uintF(func(v *lw) *lsn { return &v.From }),
	uintF(func(v *lw) *lsn { return &v.To }),
	uintF(func(v *lw) *uint64 { return &v.Count }),
	strsF(func(v *lw) *[]string { return &v.Keys }, maxLostKeys, "lost keys"),
}

var fencedFields = []field[fp]{
	strF(func(v *fp) *string { return &v.Name }),
	uintF(func(v *fp) *uint32 { return &v.Timeline }),
	uintF(func(v *fp) *lsn { return &v.InsertLSN }),
	uintF(func(v *fp) *lsn { return &v.FlushLSN }),
	uintF(func(v *fp) *uint64 { return &v.Commits }),
}

// strsF is a list of strings: its count, then each string; at most limit.
func strsF[T any](at func(*T) *[]string, limit int, what string) field[T] {
	return field[T]{
		eq: func(a, b *T) bool { return slices.Equal(*at(a), *at(b)) },
		put: func(e *enc, v *T) {
			ss := (*at(v))[:min(len(*at(v)), limit)]
			e.uint(uint64(len(ss)))
			for _, s := range ss {
				e.str(s)
			}
		},
		get: func(d *dec, v *T) {
			n := d.count(limit, what)
			var ss []string
			if n > 0 {
				ss = make([]string, 0, n)
			}
			for range n {
				ss = append(ss, d.str())
			}
			*at(v) = ss
		},
	}
}

func switchKey(s *tsw) int64 { return int64(s.Timeline) }
func lostKey(l *lw) int64    { return int64(l.Timeline) }
func fencedKey(f *fp) int64  { return int64(f.Timeline) }

// putFailover writes cur's failover lists against prev's.
func putFailover(e *enc, prev, cur *cluster.Snapshot) {
	putTable(e, switchFields, prev.History, cur.History, switchKey)
	putTable(e, lostFields, prev.Lost, cur.Lost, lostKey)
	putTable(e, fencedFields, prev.Fenced, cur.Fenced, fencedKey)
}

// getFailover reads the failover lists into s, against prev's.
func getFailover(d *dec, version uint16, prev, s *cluster.Snapshot) {
	s.History = getTable(d, fieldsOf(switchFields, version), prev.History, switchKey, maxHistory, "timeline switches")
	s.Lost = getTable(d, fieldsOf(lostFields, version), prev.Lost, lostKey, maxHistory, "lost writes")
	s.Fenced = getTable(d, fieldsOf(fencedFields, version), prev.Fenced, fencedKey, maxHistory, "fenced primaries")
}

// sameFailover reports whether a and b hold the same failover lists.
func sameFailover(a, b *cluster.Snapshot) bool {
	return slices.Equal(a.History, b.History) && slices.Equal(a.Fenced, b.Fenced) &&
		slices.EqualFunc(a.Lost, b.Lost, func(x, y cluster.LostWrites) bool {
			return x.Timeline == y.Timeline && x.ForkLSN == y.ForkLSN && x.Promoted == y.Promoted &&
				x.Rule == y.Rule && x.From == y.From && x.To == y.To && x.Count == y.Count && slices.Equal(x.Keys, y.Keys)
		})
}

// ownFailover gives s its own copies of the failover lists.
func ownFailover(s *cluster.Snapshot) {
	s.History, s.Fenced = slices.Clone(s.History), slices.Clone(s.Fenced)
	s.Lost = slices.Clone(s.Lost)
	for i := range s.Lost {
		s.Lost[i].Keys = slices.Clone(s.Lost[i].Keys)
	}
}
