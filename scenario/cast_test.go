package scenario

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"walship/engine/cluster"
)

// decodeCast checks that b is an asciicast v2 file and returns its header
// and events.
func decodeCast(t *testing.T, b []byte) (map[string]any, [][]any) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	if !sc.Scan() {
		t.Fatal("no header line")
	}
	var header map[string]any
	if err := json.Unmarshal(sc.Bytes(), &header); err != nil {
		t.Fatalf("header %q: %v", sc.Text(), err)
	}
	var events [][]any
	last := -1.0
	for sc.Scan() {
		if !utf8.Valid(sc.Bytes()) {
			t.Errorf("event line is not UTF-8: %q", sc.Text())
		}
		var ev []any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event %q: %v", sc.Text(), err)
		}
		if len(ev) != 3 {
			t.Fatalf("event %q: want [time, code, data]", sc.Text())
		}
		tm, ok1 := ev[0].(float64)
		code, ok2 := ev[1].(string)
		_, ok3 := ev[2].(string)
		if !ok1 || !ok2 || !ok3 || (code != "o" && code != "r" && code != "m") {
			t.Fatalf("event %q: want [number, \"o\"|\"r\"|\"m\", string]", sc.Text())
		}
		if tm < last {
			t.Errorf("event %q goes back in time from %f", sc.Text(), last)
		}
		last = tm
		events = append(events, ev)
	}
	return header, events
}

func TestCastWriter(t *testing.T) {
	t.Setenv("TERM", "xterm-test")
	var buf bytes.Buffer
	now := time.Unix(1700000000, 0)
	clock := []time.Duration{0, 100 * time.Millisecond, 50 * time.Millisecond, 2 * time.Second, 3 * time.Second, 4 * time.Second}
	i := 0
	c := newCastWriter(&buf, 100, 30, `A "quoted" <title>`, func() time.Time {
		d := clock[min(i, len(clock)-1)]
		i++
		return now.Add(d)
	})
	euro := "€" // three bytes
	for _, p := range []string{"\x1b[2J<hello> ", euro[:1], euro[1:] + "x" + euro[:2]} {
		if n, err := c.Write([]byte(p)); n != len(p) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", p, n, err)
		}
	}
	if err := c.Resize(120, 40); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Write([]byte(euro[2:])); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	header, events := decodeCast(t, buf.Bytes())
	want := map[string]any{
		"version": 2.0, "width": 100.0, "height": 30.0, "timestamp": 1700000000.0,
		"title": `A "quoted" <title>`, "env": map[string]any{"TERM": "xterm-test"},
	}
	for k, v := range want {
		if got, _ := json.Marshal(header[k]); string(got) != mustJSON(v) {
			t.Errorf("header %s = %s, want %s", k, got, mustJSON(v))
		}
	}
	var got []string
	for _, ev := range events {
		got = append(got, ev[1].(string)+":"+ev[2].(string))
	}
	// The held-back byte is flushed before the resize: it can no longer
	// join the bytes after it in the same event.
	wantEvents := []string{"o:\x1b[2J<hello> ", "o:€x", "o:\uFFFD\uFFFD", "r:120x40", "o:\uFFFD"}
	if strings.Join(got, "|") != strings.Join(wantEvents, "|") {
		t.Errorf("events\n got %q\nwant %q", got, wantEvents)
	}
	// 100ms then 50ms: the second must not go back.
	if events[0][0].(float64) != 0.1 || events[1][0].(float64) != 0.1 {
		t.Errorf("times %v %v, want 0.1 0.1", events[0][0], events[1][0])
	}
	if !strings.Contains(buf.String(), "<hello>") {
		t.Error("HTML characters should not be escaped")
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// TestCastWriterRunes writes a UTF-8 text one byte at a time and in odd
// pieces: every event is valid UTF-8 and together they are the text.
func TestCastWriterRunes(t *testing.T) {
	text := "replay_lsn ▶ 0/1A2B — ☃ 日本語 🚀 done"
	for _, size := range []int{1, 2, 3, 5, 7} {
		var buf bytes.Buffer
		c := NewCastWriter(&buf, 80, 24, "")
		for i := 0; i < len(text); i += size {
			if _, err := c.Write([]byte(text[i:min(i+size, len(text))])); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		header, events := decodeCast(t, buf.Bytes())
		if _, ok := header["title"]; ok {
			t.Error("empty title should be left out")
		}
		var all strings.Builder
		for _, ev := range events {
			all.WriteString(ev[2].(string))
		}
		if all.String() != text {
			t.Errorf("pieces of %d: got %q", size, all.String())
		}
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n == 0 {
		return 0, errors.New("disk full")
	}
	w.n--
	return len(p), nil
}

func TestCastWriterError(t *testing.T) {
	c := NewCastWriter(&failWriter{n: 1}, 80, 24, "x")
	if _, err := c.Write([]byte("a")); err == nil {
		t.Error("want the writer's error")
	}
	if _, err := c.Write([]byte("b")); err == nil || c.Resize(1, 1) == nil || c.Close() == nil {
		t.Error("errors should stick")
	}
	c = NewCastWriter(&failWriter{}, 80, 24, "x")
	if _, err := c.Write([]byte("a")); err == nil {
		t.Error("a failed header should fail the first Write")
	}
}

// TestRecorderRoundTrip saves a session with pause, a refused command,
// freeze and unfreeze, a speed change, a crash and a sync change, and
// plays the file back headless and in a Player: the same commands at the
// same times, the frozen half-minute included, and nothing hangs.
func TestRecorderRoundTrip(t *testing.T) {
	f := newFake(2)
	f.refuse = cluster.VerbBackup
	f.update(func(s *cluster.Snapshot) {
		s.Leader.TargetRate, s.Leader.WALKeep, s.Leader.SegmentSize = 4, 128<<10, 16<<10
		s.Leader.Sync = cluster.SyncRule{Mode: cluster.SyncRemoteApply, N: 1}
		for i := range s.Followers {
			fs := &s.Followers[i]
			fs.Link.Latency, fs.ApplyDelay, fs.FlushDelay = 300*time.Millisecond, 80*time.Millisecond, 150*time.Millisecond
		}
		s.Followers[1].FlushDelay = time.Second
	})
	r := NewRecorder(f, WithClock(f.clock))
	ms := time.Millisecond
	session := []struct {
		after time.Duration // real time since the command before
		line  string
	}{
		{0, "latency all 200ms"},
		{1500 * ms, "pause follower-1"},
		{500 * ms, `set "a key" "say \"hi\" # here"`},
		{250 * ms, "backup follower-2"},
		{750 * ms, "set #k v"},
		{0, "freeze"},
		{30 * time.Second, "unfreeze"}, // 30s of real time while frozen
		{time.Second, "speed 0.5"},
		{4 * time.Second, "crash follower-1"}, // 2s of world time at 1/2
		{0, "cut follower-2"},
		{0, "sync on 2"},
	}
	var cmds []cluster.Command
	for _, step := range session {
		if err := f.clock.Sleep(context.Background(), step.after); err != nil {
			t.Fatal(err)
		}
		c, err := cluster.ParseCommand(step.line)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
		err = r.Do(c)
		if (err != nil) != (c.Verb == cluster.VerbBackup) {
			t.Errorf("Do(%s) = %v", step.line, err)
		}
	}
	if s := r.Snapshot(0); len(s.Followers) != 2 {
		t.Error("Snapshot should pass through")
	}
	var buf bytes.Buffer
	if err := r.WriteScenario(&buf); err != nil {
		t.Fatal(err)
	}
	text := buf.String()
	for _, want := range []string{
		"# It ran with 16KiB WAL segments (--segment-size 16KiB).\n",
		"followers 2\n",
		"\nrate 4\nsync remote_apply 1\nwal-keep 128KiB\nslots off\nlatency all 300ms\nbandwidth all off\n" +
			"slice all off\napply-delay all 80ms\nflush-delay follower-1 150ms\nflush-delay follower-2 1s\n",
		"at 0s latency all 200ms\n",
		"at 1.5s pause follower-1\n",
		"# at 2.25s backup follower-2    (refused: refused by the fake)\n",
		"at 3s freeze\nat 33s unfreeze\nat 34s speed 0.5\nat 36s crash follower-1\n",
		"at 36s sync on 2\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scenario lacks %q:\n%s", want, text)
		}
	}
	sc, err := Parse("saved.scn", buf.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !strings.HasPrefix(sc.Title, "Recorded session") || len(sc.Chapters) != 0 || sc.Followers != 2 {
		t.Errorf("title %q, %d chapters, %d followers", sc.Title, len(sc.Chapters), sc.Followers)
	}

	// Play it back against a fresh fake: the settings, then the same
	// commands but the refused one, in order, at the real times they were
	// done.
	var want []done
	for _, c := range r.first.Settings() {
		want = append(want, done{0, c.String()})
	}
	var real time.Duration
	for j, c := range cmds {
		real += session[j].after
		if c.Verb != cluster.VerbBackup {
			want = append(want, done{real, c.String()})
		}
	}
	g := newFake(1)
	if err := RunHeadless(context.Background(), g, sc, new(bytes.Buffer), g.opts()...); err != nil {
		t.Fatal(err)
	}
	checkTimes(t, g, append([]done{{0, "add"}}, want...))

	h := newFake(2)
	p := NewPlayer(h, sc, h.opts()...)
	defer p.Close()
	waitState(t, p, "the session played", func(s LessonState) bool { return s.Done })
	checkTimes(t, h, want)
}
