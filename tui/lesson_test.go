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

// TestPickerStartsALesson: l opens the picker over the built-in lessons;
// enter starts the one chosen, and its keys take over (. moves on).
func TestPickerStartsALesson(t *testing.T) {
	rec := fake.NewRecorder(fixture())
	started := &fakeLesson{state: scenario.LessonState{Title: "CRC failure", Chapters: 3, WaitingForKey: true, NextChapter: "One"}}
	var asked []string
	m, err := New(rec, Options{Theme: "mono", Hint: true, Lessons: scenario.Builtins(),
		StartLesson: func(name string) (scenario.Lesson, error) { asked = append(asked, name); return started, nil }})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24})
	m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0)})
	if !strings.Contains(screen(m), "new here? l picks a lesson") {
		t.Fatalf("no hint:\n%s", screen(m))
	}
	press(t, m, "l")
	sc := screen(m)
	if !m.picker.active || !strings.Contains(sc, "▸1 basic") || !strings.Contains(sc, "7 crash") || strings.Contains(sc, "new here?") {
		t.Fatalf("the picker:\n%s", sc)
	}
	press(t, m, "down")
	_, cmd := m.Update(keyMsg("enter"))
	msg, ok := cmd().(lessonMsg)
	if !ok || msg.name != "crc" || !slices.Equal(asked, []string{"crc"}) || m.picker.active {
		t.Fatalf("enter: %+v, asked %v", msg, asked)
	}
	m.Update(msg)
	s := started.State()
	m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0), lesson: &s})
	if sc := screen(m); !strings.Contains(sc, "LESSON  CRC failure") || !strings.Contains(sc, "press n for chapter 1: One") {
		t.Fatalf("the lesson started:\n%s", sc)
	}
	_, cmd = m.Update(keyMsg("."))
	cmd()
	if !slices.Equal(started.calls, []string{"next"}) {
		t.Errorf(". while a lesson plays: %v", started.calls)
	}
	if got := rec.Commands(); len(got) != 0 {
		t.Errorf(". sent %v instead of moving the lesson on", got)
	}
}

// TestNoPickerWithoutLessons: with no lessons to offer, l does nothing and
// no hint is shown.
func TestNoPickerWithoutLessons(t *testing.T) {
	m, _ := newTestModel(t, fixture(), 80, 24, "mono")
	press(t, m, "l")
	if m.picker.active || strings.Contains(screen(m), "new here?") {
		t.Error("a picker with nothing to pick")
	}
}

// TestPointers: each point of a step marks its part of the screen; a part
// a short block cannot draw marks the follower's title instead.
func TestPointers(t *testing.T) {
	m, l := lessonModel(t, 120, 36)
	l.state.Points = [scenario.MaxPoints]scenario.Point{
		{Subject: "follower-1", Field: "lane"}, {Subject: "follower-3", Field: "crc-failures"}, {Subject: "leader", Field: "retained"},
	}
	s := l.State()
	m.Update(snapMsg{gen: m.gen, snap: m.snap, lesson: &s})
	sc := screen(m)
	for _, want := range []string{"▸ this link: 300ms one way", "▸crc_failures 2", "▸retained"} {
		if !strings.Contains(sc, want) {
			t.Errorf("no %q:\n%s", want, sc)
		}
	}
	m.Update(tea.WindowSizeMsg{Width: 80, Height: 24}) // blocks of 4 rows: no crc_failures row
	if sc := screen(m); !strings.Contains(sc, "▸ 3 follower-3") || strings.Contains(sc, "▸crc_failures") {
		t.Errorf("at 80x24 the pointer should go to follower-3's title:\n%s", sc)
	}
	press(t, m, "C") // captions off: pointers off too
	if sc := screen(m); strings.Contains(sc, "▸") {
		t.Errorf("pointers with the captions hidden:\n%s", sc)
	}
}

// TestMarkers: a recording gets one marker at each chapter and step the
// lesson reaches.
func TestMarkers(t *testing.T) {
	var labels []string
	rec := fake.NewRecorder(fixture())
	l := &fakeLesson{}
	m, err := New(rec, Options{Theme: "mono", Lesson: l, Marker: func(s string) { labels = append(labels, s) }})
	if err != nil {
		t.Fatal(err)
	}
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 36})
	for _, st := range []scenario.LessonState{
		{Chapters: 2, WaitingForKey: true},
		{Chapters: 2, ChapterIndex: 1, Chapter: "One", Step: 1, Steps: 2},
		{Chapters: 2, ChapterIndex: 1, Chapter: "One", Step: 1, Steps: 2, Caption: "a"},
		{Chapters: 2, ChapterIndex: 1, Chapter: "One", Step: 2, Steps: 2, Caption: "b"},
		{Chapters: 2, ChapterIndex: 2, Chapter: "Two", Step: 1, Steps: 1, Caption: "c"},
	} {
		_, cmd := m.Update(snapMsg{gen: m.gen, snap: rec.Snapshot(0), lesson: &st})
		runAll(cmd)
	}
	if want := []string{"1/2 One", "1/2 One, step 2/2", "2/2 Two"}; !slices.Equal(labels, want) {
		t.Errorf("markers %q, want %q", labels, want)
	}
}

// runAll runs the commands of an Update after a snapshot but the first,
// the poll tick: here, the marker.
func runAll(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	if batch, ok := cmd().(tea.BatchMsg); ok {
		for _, c := range batch[1:] {
			runAll(c)
		}
	}
}
