package session

import (
	"slices"
	"sort"
	"sync"
	"time"

	"walship/engine/cluster"
)

// History holds snapshots in encoded form (the file format's snapshot
// records, so a minute of it costs about what a minute of a session file
// does) and gives back the snapshot at any moment it holds. The UI keeps
// its last minutes in one; a recording read from a file is one.
//
// Snapshots are indexed by world time, which never goes backwards in a
// session (a frozen stretch is many snapshots at one world time), and by
// wall time, which is what a recording plays by. It is safe for
// concurrent use: a replay reads it while the UI draws from it.
type History struct {
	mu    sync.Mutex
	limit time.Duration // world time kept behind the newest; 0 keeps all
	enc   encoder
	dec   decoder // reads recs; version is the format the bodies are in

	recs   []histRecord
	arena  []byte // the tail of the current block bodies are copied into
	bytes  int    // body bytes held
	events []cluster.Event

	// The last snapshot decoded, so that moving forward a step decodes
	// one record.
	cacheAt  int // -1: none
	cacheDec decoder
}

type histRecord struct {
	world, wall time.Duration
	lastEvent   uint64
	key         bool
	body        []byte
}

// recordOverhead is what one record costs besides its body: its index
// entry.
const recordOverhead = 64

// arenaBlock is the size of the blocks record bodies are copied into.
const arenaBlock = 64 << 10

// NewHistory returns an empty history that keeps at least limit of world
// time behind its newest snapshot (at most a keyframe interval more); 0
// keeps everything.
func NewHistory(limit time.Duration) *History {
	return &History{limit: limit, dec: decoder{version: Version}, cacheAt: -1}
}

// Add appends s, taken at wall time wall (since whatever origin the caller
// keeps; it must not go backwards). A snapshot that would draw exactly as
// the one before, and brings no events, is not stored: the one before
// stands for it. It reports whether s was stored.
func (h *History) Add(wall time.Duration, s *cluster.Snapshot) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	body, ok := h.enc.snapshot(nil, wall, s)
	if !ok {
		return false
	}
	h.store(s.World, wall, s.LastEvent, body[0]&flagKey != 0, body, s.Events)
	h.trim()
	return true
}

// store keeps an encoded snapshot body (copied) and its events. h.mu is
// held, or h is not shared yet.
func (h *History) store(world, wall time.Duration, lastEvent uint64, key bool, body []byte, evs []cluster.Event) {
	if n := len(h.recs); n > 0 {
		// A key that never goes backwards, so lookups can search.
		world = max(world, h.recs[n-1].world)
		wall = max(wall, h.recs[n-1].wall)
	}
	if len(body) > arenaBlock/4 {
		body = slices.Clone(body)
	} else {
		if cap(h.arena)-len(h.arena) < len(body) {
			h.arena = make([]byte, 0, arenaBlock)
		}
		at := len(h.arena)
		h.arena = append(h.arena, body...)
		body = h.arena[at:len(h.arena):len(h.arena)]
	}
	h.recs = append(h.recs, histRecord{world: world, wall: wall, lastEvent: lastEvent, key: key, body: body})
	h.bytes += len(body)
	for _, e := range evs {
		if n := len(h.events); n == 0 || e.Seq > h.events[n-1].Seq {
			h.events = append(h.events, e)
		}
	}
}

// trim drops whole keyframe groups from the front while the next
// keyframe still lies at or before the oldest moment to keep.
func (h *History) trim() {
	if h.limit <= 0 || len(h.recs) == 0 {
		return
	}
	cutoff := h.recs[len(h.recs)-1].world - h.limit
	drop := 0
	for i := 1; i < len(h.recs) && h.recs[i].world <= cutoff; i++ {
		if h.recs[i].key {
			drop = i
		}
	}
	if drop == 0 {
		return
	}
	for _, r := range h.recs[:drop] {
		h.bytes -= len(r.body)
	}
	h.recs = append(h.recs[:0:0], h.recs[drop:]...)
	if h.cacheAt >= 0 {
		h.cacheAt -= drop
		if h.cacheAt < 0 {
			h.cacheAt = -1
		}
	}
	oldest := h.recs[0].world
	i := sort.Search(len(h.events), func(i int) bool { return h.events[i].World >= oldest })
	if i > 0 {
		h.events = append(h.events[:0:0], h.events[i:]...)
	}
}

// Len is the number of snapshots held.
func (h *History) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.recs)
}

// Bytes is the memory the held snapshots take: their encoded bodies and
// index entries (events, which the UI keeps anyway, not counted).
func (h *History) Bytes() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.bytes + len(h.recs)*recordOverhead
}

// World is the world time of snapshot i.
func (h *History) World(i int) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recs[i].world
}

// Wall is the wall time snapshot i was taken at.
func (h *History) Wall(i int) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recs[i].wall
}

// AtWorld is the index of the last snapshot taken at or before world time
// t, or 0 when t is before the first.
func (h *History) AtWorld(t time.Duration) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.recs), func(i int) bool { return h.recs[i].world > t })
	return max(i-1, 0)
}

// AtWall is the index of the last snapshot taken at or before wall time
// t, or 0 when t is before the first.
func (h *History) AtWall(t time.Duration) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	i := sort.Search(len(h.recs), func(i int) bool { return h.recs[i].wall > t })
	return max(i-1, 0)
}

// Snapshot returns snapshot i, whole (its rows are the caller's), without
// events: Events gives the log up to it.
func (h *History) Snapshot(i int) cluster.Snapshot {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i < 0 || i >= len(h.recs) {
		return cluster.Snapshot{}
	}
	k := i
	for k > 0 && !h.recs[k].key {
		k--
	}
	from := k
	if h.cacheAt >= k && h.cacheAt <= i {
		from = h.cacheAt + 1
	} else {
		h.cacheDec = decoder{version: h.dec.version}
	}
	var s cluster.Snapshot
	if from > i { // the cached one
		s = h.cacheDec.prev
	}
	for j := from; j <= i; j++ {
		var err error
		if s, _, _, err = h.cacheDec.snapshot(h.recs[j].body); err != nil {
			// Bodies were checked when they were stored: a failure here
			// is a bug, and the snapshot before it is the best answer.
			h.cacheAt = -1
			return s
		}
	}
	h.cacheAt = i
	s.Events = nil
	s.Followers = slices.Clone(s.Followers)
	s.Frames = slices.Clone(s.Frames)
	s.Reads = slices.Clone(s.Reads)
	return s
}

// Events returns at most n events up to and including sequence number
// last, oldest first, from those the held snapshots brought.
func (h *History) Events(last uint64, n int) []cluster.Event {
	h.mu.Lock()
	defer h.mu.Unlock()
	end := sort.Search(len(h.events), func(i int) bool { return h.events[i].Seq > last })
	return slices.Clone(h.events[max(end-n, 0):end])
}

// LastEvent is the sequence number of the newest event snapshot i had
// seen.
func (h *History) LastEvent(i int) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.recs[i].lastEvent
}
