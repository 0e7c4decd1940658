package tui

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"walship/scenario"
)

// TestEndToEndLesson plays the crc lesson in tmux as a presenter would,
// recording it: each key that moves on (n, a clicker's PageDown and .)
// shows exactly the next caption; the slowed and the frozen moments are
// on screen with their pointers; P in the last chapter takes the world
// back to the start of the one before, whose corrupted frame and CRC
// failure then happen again with every expectation holding; the lesson
// ends cleanly; and the recording has a marker at every chapter and step.
func TestEndToEndLesson(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	sc, err := scenario.Load("crc")
	if err != nil {
		t.Fatal(err)
	}
	var captions []string
	first := map[int]int{} // chapter (1-based) -> index of its first caption
	for i := range sc.Chapters {
		first[i+1] = len(captions)
		for _, step := range sc.Chapters[i].Captions() {
			for _, line := range step {
				if line.Kind == scenario.StepSay {
					captions = append(captions, line.Text)
					break
				}
			}
		}
	}
	bin := buildWalship(t)
	cast := filepath.Join(t.TempDir(), "crc.cast")
	s := startTmux(t, tmux, bin, 100, 30, "--scenario", "crc", "--record", cast)
	s.waitFor("the lesson waiting for the first chapter", 15*time.Second, func(sc string) bool {
		return strings.Contains(sc, "LESSON") && strings.Contains(sc, "press n for chapter 1")
	})
	next := []string{"n", "NPage", "."} // what a keyboard and a clicker send
	wentBack := false
	for i, pressed := 0, 0; i < len(captions); i++ {
		want := captions[i]
		if !(wentBack && i == first[2]) { // going back showed it already
			s.press(next[pressed%len(next)])
			pressed++
		}
		s.waitFor(fmt.Sprintf("caption %d", i+1), 15*time.Second, func(sc string) bool {
			got := shownCaption(sc)
			if slices.Contains(captions[i+1:], got) {
				t.Fatalf("one key skipped caption %d:\n%s", i+1, sc)
			}
			return got == want
		})
		shown := s.waitFor(fmt.Sprintf("step %d to be ready", i+1), 30*time.Second, func(sc string) bool {
			return strings.Contains(sc, "▶ press n") || strings.Contains(sc, "lesson complete")
		})
		if strings.Contains(shown, "expectation failed") {
			t.Fatalf("at caption %d:\n%s", i+1, shown)
		}
		switch {
		case strings.HasPrefix(want, "We tell follower-1's link"):
			if !strings.Contains(shown, "SLOW MOTION 1/16×") || !strings.Contains(shown, "speed 1/16×") || !strings.Contains(shown, "▸ this link") {
				t.Errorf("the slowed moment and its pointer are not on screen:\n%s", shown)
			}
		case strings.HasPrefix(want, "It arrived, and the CRC check failed"):
			if !strings.Contains(shown, "WORLD FROZEN") || !strings.Contains(shown, "▸crc_failures 1") {
				t.Errorf("the frozen moment and its pointer are not on screen:\n%s", shown)
			}
		case i == first[3] && !wentBack:
			// Back to chapter 2: its world (no CRC failure yet) comes back.
			wentBack = true
			s.press("P")
			back := s.waitFor("chapter 2 again", 30*time.Second, func(sc string) bool {
				return shownCaption(sc) == captions[first[2]] && strings.Contains(sc, "chapter 2/3") && strings.Contains(sc, "▶ press n")
			})
			if !strings.Contains(block(back, 1), "crc_failures 0") {
				t.Fatalf("the world did not go back to chapter 2's start:\n%s", back)
			}
			i = first[2] - 1
		}
	}
	s.press("n")
	s.waitFor("the end of the lesson", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "lesson complete") })
	s.press("q")
	end := s.waitFor("walship to quit", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "walship exited:") })
	if !strings.Contains(end, "walship exited: 0") {
		t.Fatalf("walship did not exit cleanly:\n%s", end)
	}
	b, err := os.ReadFile(cast)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if !strings.HasPrefix(lines[0], `{"version":2,"width":100,"height":30`) {
		t.Fatalf("not an asciicast v2 recording of a 100x30 screen: header %.120s", lines[0])
	}
	var markers []string
	for _, l := range lines[1:] {
		var ev []any
		if err := json.Unmarshal([]byte(l), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("bad event %q", l)
		}
		if ev[1] == "m" {
			markers = append(markers, ev[2].(string))
		}
	}
	// Chapter 2's steps and chapter 3's first were played twice, and so
	// marked twice.
	if want := len(captions) + (first[3] - first[2]) + 1; len(markers) != want {
		t.Errorf("%d markers, want %d: %q", len(markers), want, markers)
	}
	for i, ch := range sc.Chapters {
		label := fmt.Sprintf("%d/%d %s", i+1, len(sc.Chapters), ch.Title)
		if !slices.Contains(markers, label) {
			t.Errorf("no marker %q for chapter %d among %q", label, i+1, markers)
		}
	}
}

// statusStarts begin the rows after the caption: the status row and the
// event log.
var statusStarts = []string{"▶", "…", "✔", "✖", "WORLD FROZEN", "SLOW MOTION", "going back", "── events"}

// shownCaption is the caption in the lesson band of a screen, its wrapped
// lines joined again.
func shownCaption(screen string) string {
	lines := strings.Split(screen, "\n")
	for i, l := range lines {
		if !strings.Contains(l, " LESSON ") {
			continue
		}
		var words []string
		for _, c := range lines[i+1:] {
			c = strings.TrimSpace(c)
			if c == "" || slices.ContainsFunc(statusStarts, func(p string) bool { return strings.HasPrefix(c, p) }) {
				break
			}
			words = append(words, c)
		}
		return strings.Join(words, " ")
	}
	return ""
}

// TestEndToEndPicker: a bare walship says once that lessons exist; l opens
// the picker, and a lesson's number starts it.
func TestEndToEndPicker(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	bin := buildWalship(t)
	s := startTmux(t, tmux, bin, 80, 24)
	s.waitFor("the hint", 15*time.Second, func(sc string) bool { return strings.Contains(sc, "new here? l picks a lesson") })
	s.keys("l")
	s.waitFor("the picker", 5*time.Second, func(sc string) bool {
		return strings.Contains(sc, "Lessons") && strings.Contains(sc, "2 crc") && strings.Contains(sc, "paused-replay")
	})
	s.keys("2")
	s.waitFor("the crc lesson", 15*time.Second, func(sc string) bool {
		return strings.Contains(sc, "LESSON  CRC failure") && strings.Contains(sc, "press n for chapter 1") && !strings.Contains(sc, "new here?")
	})
	s.keys("q")
	if sc := s.waitFor("walship to quit", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "walship exited:") }); !strings.Contains(sc, "walship exited: 0") {
		t.Fatalf("walship did not exit cleanly:\n%s", sc)
	}
}

// TestEndToEndSavedSession saves a session (pause, cut, a freeze held a
// few seconds, crash, a sync change) and plays the file back in the UI and
// headless: both reach the end, and nothing hangs.
func TestEndToEndSavedSession(t *testing.T) {
	t.Parallel()
	tmux := tmuxPath(t)
	bin := buildWalship(t)
	saved := filepath.Join(t.TempDir(), "session.scn")
	s := startTmux(t, tmux, bin, 100, 30, "--save-scenario", saved)
	s.waitFor("three followers streaming", 15*time.Second, func(sc string) bool {
		return strings.Contains(sc, "3 follower-3") && strings.Contains(sc, "streaming")
	})
	s.keys("2", "p", "3", "c", " ")
	s.waitFor("the world frozen", 5*time.Second, func(sc string) bool { return strings.Contains(sc, "FROZEN") })
	time.Sleep(2 * time.Second) // a frozen stretch, to be played back as one
	s.keys(" ", "1", "k", "s")
	s.waitFor("follower-1 stopped", 10*time.Second, func(sc string) bool { return strings.Contains(block(sc, 1), "STOPPED") })
	s.keys("q")
	s.waitFor("walship to quit", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "walship exited: 0") })
	b, err := os.ReadFile(saved)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"followers 3\n", "latency all 300ms\n", " pause follower-2\n", " cut follower-3\n",
		" freeze\n", " unfreeze\n", " crash follower-1\n", " sync local\n"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("the saved session lacks %q:\n%s", want, b)
		}
	}

	// Headless: it passes, in time.
	out, err := exec.Command(bin, "check", "--scenario", saved, "--timeout", "60s").CombinedOutput()
	if err != nil {
		t.Fatalf("walship check --scenario on the saved session: %v\n%s", err, out)
	}
	// In the UI: it plays to its end without a key, and the world is the
	// one the session left.
	r := startTmux(t, tmux, bin, 100, 30, "--scenario", saved)
	sc := r.waitFor("the session played back", 30*time.Second, func(sc string) bool { return strings.Contains(sc, "lesson complete") })
	if !strings.Contains(block(sc, 1), "STOPPED") || !strings.Contains(block(sc, 2), "PAUSED") ||
		!strings.Contains(block(sc, 3), "CUT") || strings.Contains(sc, " FROZEN ") {
		t.Errorf("the played-back world is not the saved one:\n%s", sc)
	}
	r.keys("q")
	r.waitFor("walship to quit", 10*time.Second, func(sc string) bool { return strings.Contains(sc, "walship exited: 0") })
}
