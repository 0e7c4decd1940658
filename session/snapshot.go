package session

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"walship/engine/cluster"
)

// Bounds on what one snapshot record may hold; more is damage.
const (
	maxFollowers = 64
	maxFrames    = 1 << 16
	maxEvents    = 4 * cluster.EventRingSize
	maxReads     = 4 * cluster.ReadRingSize
)

// readsSince is the format version that records a snapshot's reads.
const readsSince = 3

// Keyframes: a snapshot record that needs no earlier one is written at
// least this often, so that reading can start at any keyframe.
const (
	keyEvery    = 64              // records
	keyInterval = 5 * time.Second // of wall time
)

// flagKey marks a keyframe in a snapshot record's flags.
const flagKey = 1

// encoder turns snapshots into snapshot record bodies, each against the
// one before (a delta) or against nothing (a keyframe).
type encoder struct {
	prev     cluster.Snapshot // the last snapshot encoded, Events nil, slices owned
	have     bool
	sinceKey int
	keyWall  time.Duration
}

// snapshot appends the record body for s, taken at wall time wall, to
// buf. It reports false, and appends nothing, when s would draw exactly
// as the snapshot before it and brings no events.
func (x *encoder) snapshot(buf []byte, wall time.Duration, s *cluster.Snapshot) ([]byte, bool) {
	if x.have && len(s.Events) == 0 && sameSnapshot(&x.prev, s) {
		return buf, false
	}
	key := !x.have || x.sinceKey >= keyEvery || wall-x.keyWall >= keyInterval
	prev := &x.prev
	if key {
		prev = &cluster.Snapshot{}
		x.sinceKey, x.keyWall = 0, wall
	}
	x.sinceKey++
	e := enc{b: buf}
	putSnapshot(&e, prev, s, key, wall)
	// Own copies: the caller may change its snapshot's rows afterwards.
	x.prev = *s
	x.prev.Events = nil
	x.prev.Followers = slices.Clone(s.Followers)
	x.prev.Frames = slices.Clone(s.Frames)
	ownFailover(&x.prev)
	x.prev.Reads = slices.Clone(s.Reads)
	x.have = true
	return e.b, true
}

func putSnapshot(e *enc, prev, cur *cluster.Snapshot, key bool, wall time.Duration) {
	flags := byte(0)
	if key {
		flags |= flagKey
	}
	e.b = append(e.b, flags)
	e.uint(uint64(max(wall, 0) / time.Microsecond))
	ps, cs := scalarsOf(prev), scalarsOf(cur)
	putDelta(e, scalarFields, &ps, &cs)
	putDelta(e, leaderFields, &prev.Leader, &cur.Leader)
	putTable(e, followerFields, prev.Followers, cur.Followers, followerKey)
	putTable(e, frameFields, prev.Frames, cur.Frames, frameKey)
	e.uint(uint64(len(cur.Events)))
	var pe cluster.Event
	for i := range cur.Events {
		putDelta(e, eventFields, &pe, &cur.Events[i])
		pe = cur.Events[i]
	}
	putFailover(e, prev, cur)
	putTable(e, readFields, prev.Reads, cur.Reads, readKey)
}

func followerKey(f *cluster.FollowerStatus) int64 { return int64(f.Index) }
func frameKey(f *cluster.Frame) int64             { return int64(f.ID) }
func readKey(r *cluster.ReadResult) int64         { return int64(r.Seq) }

// putTable writes the rows of cur: their count, then for each its key (as
// the difference from the key before it) and its fields against the row
// of prev with the same key, or against the zero row for a new one. Rows
// of prev that are not listed are gone.
func putTable[T any](e *enc, fields []field[T], prev, cur []T, key func(*T) int64) {
	e.uint(uint64(len(cur)))
	byKey := rowsByKey(prev, key)
	var zero T
	last := int64(0)
	for i := range cur {
		k := key(&cur[i])
		e.int(k - last)
		last = k
		p := &zero
		if j, ok := byKey[k]; ok {
			p = &prev[j]
		}
		putDelta(e, fields, p, &cur[i])
	}
}

func getTable[T any](d *dec, fields []field[T], prev []T, key func(*T) int64, limit int, what string) []T {
	n := d.count(limit, what)
	if n == 0 {
		return nil
	}
	out := make([]T, 0, n)
	byKey := rowsByKey(prev, key)
	var zero T
	last := int64(0)
	for range n {
		k := last + d.int()
		last = k
		p := &zero
		if j, ok := byKey[k]; ok {
			p = &prev[j]
		}
		v := getDelta(d, fields, p)
		if d.err != nil {
			return nil
		}
		if key(&v) != k {
			d.fail(fmt.Errorf("a row of %s listed as %d holds %d", what, k, key(&v)))
			return nil
		}
		out = append(out, v)
	}
	return out
}

func rowsByKey[T any](rows []T, key func(*T) int64) map[int64]int {
	m := make(map[int64]int, len(rows))
	for i := range rows {
		m[key(&rows[i])] = i
	}
	return m
}

// decoder reads snapshot record bodies in order.
type decoder struct {
	version uint16
	prev    cluster.Snapshot
	have    bool
}

var errNoKeyframe = errors.New("a delta with no keyframe before it")

// snapshot decodes one snapshot record body. The snapshot's Events are
// the events the record brought.
func (x *decoder) snapshot(body []byte) (s cluster.Snapshot, wall time.Duration, key bool, err error) {
	d := dec{b: body}
	flags := d.bytes(1)
	if d.err != nil {
		return s, 0, false, d.err
	}
	key = flags[0]&flagKey != 0
	if flags[0]&^flagKey != 0 {
		return s, 0, false, fmt.Errorf("unknown snapshot flags %#x", flags[0])
	}
	prev := &x.prev
	if key {
		prev = &cluster.Snapshot{}
	} else if !x.have {
		return s, 0, false, errNoKeyframe
	}
	wall = time.Duration(d.uint()) * time.Microsecond
	ps := scalarsOf(prev)
	cs := getDelta(&d, fieldsOf(scalarFields, x.version), &ps)
	cs.apply(&s)
	s.Leader = getDelta(&d, fieldsOf(leaderFields, x.version), &prev.Leader)
	s.Followers = getTable(&d, fieldsOf(followerFields, x.version), prev.Followers, followerKey, maxFollowers, "followers")
	s.Frames = getTable(&d, fieldsOf(frameFields, x.version), prev.Frames, frameKey, maxFrames, "frames")
	n := d.count(maxEvents, "events")
	if n > 0 {
		s.Events = make([]cluster.Event, 0, n)
	}
	var pe cluster.Event
	evFields := fieldsOf(eventFields, x.version)
	for range n {
		pe = getDelta(&d, evFields, &pe)
		s.Events = append(s.Events, pe)
	}
	if x.version >= 2 {
		getFailover(&d, x.version, prev, &s)
	}
	if x.version >= readsSince {
		s.Reads = getTable(&d, fieldsOf(readFields, x.version), prev.Reads, readKey, maxReads, "reads")
	}
	if err := d.done(); err != nil {
		return cluster.Snapshot{}, 0, false, err
	}
	x.prev = s
	x.prev.Events = nil
	x.have = true
	return s, wall, key, nil
}

// sameSnapshot reports whether b holds what a does, events aside.
func sameSnapshot(a, b *cluster.Snapshot) bool {
	return scalarsOf(a) == scalarsOf(b) && a.Leader == b.Leader &&
		slices.Equal(a.Followers, b.Followers) && slices.Equal(a.Frames, b.Frames) && sameFailover(a, b) &&
		slices.Equal(a.Reads, b.Reads)
}
