package session

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/scenario"
)

// A replay plays by wall time at its pace, stops at the end, seeks by
// world time and refuses commands.
func TestReplayPlaysAndSeeks(t *testing.T) {
	rec, err := Read(bytes.NewReader(writeStream(t, stream(300), true)))
	if err != nil {
		t.Fatal(err)
	}
	r := NewReplay(rec)
	now := time.Unix(1000, 0)
	r.now = func() time.Time { return now }
	r.SetPlaying(true)
	if s := r.Snapshot(0); s.World != 0 || len(s.Events) != 1 {
		t.Fatalf("at the start: world %v, %d events", s.World, len(s.Events))
	}
	now = now.Add(100 * time.Millisecond)
	s := r.Snapshot(0)
	if s.World != 100*time.Millisecond || len(s.Events) != 11 {
		t.Fatalf("after 100ms: world %v, %d events", s.World, len(s.Events))
	}
	if s2 := r.Snapshot(s.LastEvent); len(s2.Events) != 0 {
		t.Fatalf("events since the last seen: %d", len(s2.Events))
	}
	r.SetPace(2)
	now = now.Add(50 * time.Millisecond)
	if p := r.Position(); p != 200*time.Millisecond {
		t.Fatalf("at pace 2, 50ms later: %v", p)
	}
	r.SetPlaying(false)
	now = now.Add(time.Second)
	if p := r.Position(); p != 200*time.Millisecond || r.Playing() {
		t.Fatalf("paused: %v playing %v", p, r.Playing())
	}
	r.Seek(50 * time.Millisecond)
	if p := r.Position(); p != 50*time.Millisecond {
		t.Fatalf("seek to 50ms: %v", p)
	}
	r.SetPlaying(true)
	now = now.Add(time.Hour)
	if !r.Ended() || r.Playing() || r.Position() != 299*time.Millisecond {
		t.Fatalf("at the end: ended %v playing %v at %v", r.Ended(), r.Playing(), r.Position())
	}
	if err := r.Do(cluster.Command{Verb: cluster.VerbCut, Follower: "follower-1"}); err == nil || !strings.Contains(err.Error(), "recording") {
		t.Fatalf("Do: %v", err)
	}
	if r.Note() != "" {
		t.Fatalf("a whole file has a note: %s", r.Note())
	}
}

// A recorded lesson plays its captions, and its steps are places to jump
// to.
func TestReplayLessonMarkers(t *testing.T) {
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, Meta{})
	snaps := stream(100)
	steps := map[int]scenario.LessonState{
		10: {Chapter: "one", ChapterIndex: 1, Step: 1, Caption: "first"},
		30: {Chapter: "one", ChapterIndex: 1, Step: 2, Caption: "second"},
		50: {Chapter: "two", ChapterIndex: 2, Step: 1, Caption: "third"},
		70: {Chapter: "two", ChapterIndex: 2, Step: 2, Caption: "fourth"},
	}
	for i := range snaps {
		at := time.Duration(i) * time.Millisecond
		w.Snapshot(at, &snaps[i])
		if st, ok := steps[i]; ok {
			w.Lesson(at, &st)
		}
	}
	w.Close(100 * time.Millisecond)
	rec, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	r := NewReplay(rec)
	r.SetPlaying(false)
	caption := func() string { return r.State().Caption }
	if c := caption(); c != "" {
		t.Fatalf("before the first step: %q", c)
	}
	for _, want := range []string{"first", "second", "third", "fourth", "fourth"} {
		r.Next()
		if c := caption(); c != want {
			t.Fatalf("next: %q, want %q", c, want)
		}
	}
	r.Restart()
	if c := caption(); c != "third" {
		t.Fatalf("restart: %q", c)
	}
	r.Next()
	r.Prev()
	if c := caption(); c != "first" {
		t.Fatalf("prev: %q", c)
	}
	r.Next()
	r.Back()
	if c := caption(); c != "first" {
		t.Fatalf("back: %q", c)
	}
}
