package session

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"walship/engine/cluster"
	"walship/scenario"
)

// Replay plays a Recording as a cluster.Controller, so the UI draws it as
// it drew the live session: Snapshot gives the recorded snapshot at the
// playhead, which moves with real time at the playback's pace. Commands
// are refused with a sentence: a recording shows what happened. The UI
// moves the playhead and sets the pace through the playback methods, and
// when the recording holds a lesson, Replay is that lesson too: its
// captions at the playhead, and its steps as places to jump to.
type Replay struct {
	rec     *Recording
	markers []marker
	now     func() time.Time

	mu      sync.Mutex
	at      time.Duration // the playhead's wall time when anchored
	anchor  time.Time     // the real time at was current (while playing)
	playing bool
	pace    float64
}

// marker is where a lesson reached a new chapter or step.
type marker struct {
	wall          time.Duration
	chapter, step int
}

// NewReplay returns a replay of rec, at its start, playing at pace 1.
func NewReplay(rec *Recording) *Replay {
	r := &Replay{rec: rec, now: time.Now, pace: 1}
	r.anchor, r.playing = r.now(), true
	last := marker{chapter: -1}
	for _, l := range rec.Lessons {
		if l.State == nil || l.State.ChapterIndex == 0 {
			continue
		}
		if l.State.ChapterIndex != last.chapter || l.State.Step != last.step {
			last = marker{wall: l.Wall, chapter: l.State.ChapterIndex, step: l.State.Step}
			r.markers = append(r.markers, last)
		}
	}
	return r
}

// Recording is what is being played.
func (r *Replay) Recording() *Recording { return r.rec }

// wallLocked is the playhead's wall time now; reaching the end stops it.
func (r *Replay) wallLocked() time.Duration {
	if !r.playing {
		return r.at
	}
	t := r.at + time.Duration(float64(r.now().Sub(r.anchor))*r.pace)
	if t >= r.rec.Duration {
		r.at, r.playing = r.rec.Duration, false
		return r.at
	}
	return t
}

// seekWallLocked puts the playhead at wall time t.
func (r *Replay) seekWallLocked(t time.Duration) {
	r.at, r.anchor = min(max(t, 0), r.rec.Duration), r.now()
}

// Snapshot is the recorded snapshot at the playhead, with the recorded
// events after sinceEvent up to it (at most the event ring's size).
func (r *Replay) Snapshot(sinceEvent uint64) cluster.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.rec.History
	i := h.AtWall(r.wallLocked())
	s := h.Snapshot(i)
	for _, e := range h.Events(h.LastEvent(i), cluster.EventRingSize) {
		if e.Seq > sinceEvent {
			s.Events = append(s.Events, e)
		}
	}
	return s
}

// Do refuses every command: a recording shows what happened.
func (r *Replay) Do(c cluster.Command) error {
	return errors.New("a recording shows what happened and cannot be changed (space pauses it, ←/→ move through it)")
}

// Span is the world time of the first and the last snapshot.
func (r *Replay) Span() (first, last time.Duration) {
	h := r.rec.History
	return h.World(0), h.World(h.Len() - 1)
}

// Position is the world time at the playhead.
func (r *Replay) Position() time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.rec.History
	return h.World(h.AtWall(r.wallLocked()))
}

// Seek moves the playhead to the last snapshot at or before world time t
// (or the first after it, when t is the world time the playhead is at
// already and moving forward would otherwise stay put).
func (r *Replay) Seek(t time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := r.rec.History
	cur := h.AtWall(r.wallLocked())
	i := h.AtWorld(t)
	if i == cur && t > h.World(cur) && cur+1 < h.Len() {
		i = cur + 1 // a frozen stretch: step out of it
	}
	r.seekWallLocked(h.Wall(i))
}

// Playing reports whether the playhead moves.
func (r *Replay) Playing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wallLocked()
	return r.playing
}

// SetPlaying starts or stops the playhead; started at the end, it plays
// from the beginning.
func (r *Replay) SetPlaying(on bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	t := r.wallLocked()
	if on && t >= r.rec.Duration {
		t = 0
	}
	r.seekWallLocked(t)
	r.playing = on
}

// Pace is the playback speed (1: as recorded).
func (r *Replay) Pace() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pace
}

// SetPace sets the playback speed, from 1/64 to 64.
func (r *Replay) SetPace(p float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seekWallLocked(r.wallLocked())
	r.pace = min(max(p, 1.0/64), 64)
}

// Ended reports whether the playhead reached the end of the recording.
func (r *Replay) Ended() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.wallLocked() >= r.rec.Duration
}

// Note is what the UI should say about the recording itself: where a
// damaged or cut-short file stopped, or "".
func (r *Replay) Note() string {
	if d := r.rec.Stopped; d != nil {
		return fmt.Sprintf("played up to %s: byte %d: %v", formatWall(d.Wall), d.Offset, d.Err)
	}
	return ""
}

// HasLesson reports whether the recording holds a lesson's captions.
func (r *Replay) HasLesson() bool { return len(r.rec.Lessons) > 0 }

// State is the recorded lesson's state at the playhead.
func (r *Replay) State() scenario.LessonState {
	r.mu.Lock()
	defer r.mu.Unlock()
	var s scenario.LessonState
	if st := r.rec.LessonAt(r.wallLocked()); st != nil {
		s = *st
	}
	s.CanGoBack = true // to any step: it is a recording
	return s
}

// markerAt is the index of the last marker at or before wall time t, or
// -1.
func (r *Replay) markerAt(t time.Duration) int {
	i := -1
	for j, m := range r.markers {
		if m.wall <= t {
			i = j
		}
	}
	return i
}

// jump moves the playhead to the marker chosen from the current one.
func (r *Replay) jump(pick func(cur int) int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.markers) == 0 {
		return
	}
	i := pick(r.markerAt(r.wallLocked()))
	i = min(max(i, 0), len(r.markers)-1)
	r.seekWallLocked(r.markers[i].wall)
}

// Next jumps to the lesson's next step.
func (r *Replay) Next() { r.jump(func(cur int) int { return cur + 1 }) }

// Back jumps to the step before.
func (r *Replay) Back() { r.jump(func(cur int) int { return cur - 1 }) }

// Restart jumps to the start of this chapter.
func (r *Replay) Restart() { r.jump(r.chapterStart) }

// Prev jumps to the start of the chapter before.
func (r *Replay) Prev() { r.jump(func(cur int) int { return r.chapterStart(r.chapterStart(cur) - 1) }) }

// chapterStart is the first marker of marker i's chapter.
func (r *Replay) chapterStart(i int) int {
	if i < 0 {
		return 0
	}
	for i > 0 && r.markers[i-1].chapter == r.markers[i].chapter {
		i--
	}
	return i
}
