package tui

import (
	"errors"
	"strings"
	"time"

	"walship/engine/cluster"
	"walship/scenario"
)

// Screen draws the UI without a terminal, one frame per snapshot given
// to it, as it would have been drawn live: walship replay renders a
// recorded session to an asciicast with it, at any size and in any theme.
type Screen struct {
	m *Model
}

// noControl is the controller behind a Screen: it is only shown
// snapshots, and changes nothing.
type noControl struct{}

func (noControl) Snapshot(uint64) cluster.Snapshot { return cluster.Snapshot{} }
func (noControl) Do(cluster.Command) error         { return errors.New("a screen only shows") }

// shownLesson is a lesson whose state the Screen is told.
type shownLesson struct{ st scenario.LessonState }

func (l *shownLesson) State() scenario.LessonState { return l.st }
func (l *shownLesson) Next()                       {}
func (l *shownLesson) Prev()                       {}
func (l *shownLesson) Restart()                    {}
func (l *shownLesson) Back()                       {}

// NewScreen returns a w x h screen in the theme named. marker, when set,
// is called with a label each time a lesson reaches a new chapter or
// step, as a recording's markers are.
func NewScreen(w, h int, themeName string, marker func(label string)) (*Screen, error) {
	m, err := New(noControl{}, Options{Theme: themeName, Marker: marker})
	if err != nil {
		return nil, err
	}
	m.hist = nil // the screen is shown its snapshots; it keeps none
	m.setSize(w, h)
	return &Screen{m: m}, nil
}

// Show takes the next snapshot, with the events it brought, and the
// lesson's state at that moment (nil when none plays), at time now, and
// returns the screen, one line per row.
func (s *Screen) Show(now time.Time, snap cluster.Snapshot, ls *scenario.LessonState) []string {
	m := s.m
	m.now = now
	if ls != nil && m.lesson == nil {
		m.lesson = &shownLesson{}
		m.keys.lessonKeys(true)
		m.relayout()
	}
	if ls != nil {
		m.lesson.(*shownLesson).st = *ls
	}
	m.trace.feed(&snap)
	m.trace.addEvents(snap.Events)
	if mark := m.ingest(snap, ls); mark != nil {
		mark() // the marker, at this frame's time
	}
	m.dirty = true
	return strings.Split(m.render(), "\n")
}
