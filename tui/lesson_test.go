package tui

import (
	"slices"
	"strings"
	"sync"
	"testing"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"github.com/charmbracelet/x/exp/golden"

	"walship/scenario"
	"walship/tui/internal/fake"
)

// fakeLesson records the chapter keys and serves a fixed state.
type fakeLesson struct {
	mu    sync.Mutex
	state scenario.LessonState
	calls []string
}

func (l *fakeLesson) State() scenario.LessonState { l.mu.Lock(); defer l.mu.Unlock(); return l.state }
func (l *fakeLesson) Next()                       { l.call("next") }
func (l *fakeLesson) Prev()                       { l.call("prev") }
func (l *fakeLesson) Restart()                    { l.call("restart") }
func (l *fakeLesson) Back()                       { l.call("back") }
func (l *fakeLesson) call(s string)               { l.mu.Lock(); defer l.mu.Unlock(); l.calls = append(l.calls, s) }

func lessonModel(t *testing.T, w, h int) (*Model, *fakeLesson) {
	t.Helper()
	l := &fakeLesson{state: scenario.LessonState{
		Title: "Paused replay: stale reads", Chapter: "Pause follower-2", ChapterIndex: 2, Chapters: 5,
		Caption: "Replay on follower-2 is paused. It still receives and flushes WAL, " +
			"so write_lsn and flush_lsn keep up, but replay_lsn stands still: reads there are stale.",
		Step: 2, Steps: 3, NextChapter: "Nothing is lost",
		Points:        [scenario.MaxPoints]scenario.Point{{Subject: "follower-2", Field: "replay"}, {Subject: "leader", Field: "flush"}},
		Hold:          "world frozen",
		WaitingForKey: true, CanGoBack: true,
	}}
	rec := fake.NewRecorder(fixture())
	m, err := New(rec, Options{Theme: "mono", Lesson: l})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: w, Height: h})
	s := l.State()
	m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0), lesson: &s})
	return m, l
}

func TestGoldenLesson(t *testing.T) {
	for _, c := range []struct {
		name string
		w, h int
	}{{"80x24", 80, 24}, {"120x36", 120, 36}} {
		t.Run(c.name, func(t *testing.T) {
			m, _ := lessonModel(t, c.w, c.h)
			golden.RequireEqual(t, screen(m))
		})
	}
}

func TestLessonKeys(t *testing.T) {
	m, l := lessonModel(t, 120, 36)
	for _, k := range []string{"n", "pgdown", ".", "pgup", "N", "P", "r"} {
		_, cmd := m.Update(keyMsg(k))
		// The key's command makes the lesson call off the UI goroutine,
		// then takes a fresh snapshot.
		if cmd == nil {
			t.Fatalf("%s: no command", k)
		}
		if _, ok := cmd().(snapMsg); !ok {
			t.Fatalf("%s: the command did not end in a snapshot", k)
		}
	}
	if want := []string{"next", "next", "next", "back", "prev", "prev", "restart"}; !slices.Equal(l.calls, want) {
		t.Errorf("lesson calls = %q, want %q", l.calls, want)
	}
	press(t, m, "C")
	if m.lessonShown() || m.lay.lessonH != 0 {
		t.Error("C did not hide the captions")
	}
	press(t, m, "C")
	if !m.lessonShown() {
		t.Error("C did not show the captions again")
	}
}

// TestWideCaptionFillsItsWidth: on a wide terminal the caption's lines are
// padded to the widest however far short of it they fall, so each row of
// the panel is as wide as it claims and the screen's rows stay aligned.
func TestWideCaptionFillsItsWidth(t *testing.T) {
	const w = 130
	m, l := lessonModel(t, w, 40)
	l.state.Caption = strings.Repeat("abcdefghi ", 13) + "end."
	s := l.State()
	m.Update(snapMsg{gen: m.gen, snap: m.snap, lesson: &s})
	p := &m.lessonP
	if len(p.lines) != 2 {
		t.Fatalf("caption wrapped into %d lines, want 2 (one long, one short)", len(p.lines))
	}
	for i, line := range p.lines {
		if got := ansi.StringWidth(line); got != p.widths[i] {
			t.Errorf("caption line %d is %d cells wide, but claims %d", i, got, p.widths[i])
		}
	}
	for i, line := range strings.Split(m.View().Content, "\n") {
		if got := ansi.StringWidth(line); got != w {
			t.Errorf("screen row %d is %d cells wide, want %d", i, got, w)
		}
	}
}
