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
		if !ok1 || !ok2 || !ok3 || (code != "o" && code != "r") {
			t.Fatalf("event %q: want [number, \"o\"|\"r\", string]", sc.Text())
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

func TestRecorderRoundTrip(t *testing.T) {
	f := newFake(2)
	f.refuse = cluster.VerbBackup
	r := NewRecorder(f)
	base := r.start
	times := []time.Duration{0, 1500 * time.Millisecond, 2 * time.Second, 2*time.Second + 250*time.Millisecond, 3 * time.Second, 4 * time.Second}
	i := 0
	r.now = func() time.Time { d := times[i]; i++; return base.Add(d) }
	lines := []string{"latency all 300ms", "pause follower-1", `set "a key" "say \"hi\" # here"`, "backup follower-2", "set #k v", "sync remote_apply 2"}
	var cmds []cluster.Command
	for _, l := range lines {
		c, err := cluster.ParseCommand(l)
		if err != nil {
			t.Fatal(err)
		}
		cmds = append(cmds, c)
		err = r.Do(c)
		if (err != nil) != (c.Verb == cluster.VerbBackup) {
			t.Errorf("Do(%s) = %v", l, err)
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
		"at 0s latency all 300ms\n",
		"at 1.5s pause follower-1\n",
		"# at 2.25s backup follower-2    (refused: refused by the fake)\n",
		"at 4s sync remote_apply 2\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("scenario lacks %q:\n%s", want, text)
		}
	}
	sc, err := Parse("saved.scn", buf.Bytes())
	if err != nil {
		t.Fatalf("%v\n%s", err, text)
	}
	if !strings.HasPrefix(sc.Title, "Recorded session") || len(sc.Chapters) != 0 {
		t.Errorf("title %q, %d chapters", sc.Title, len(sc.Chapters))
	}

	// Play it back against a fresh fake: the same commands but the
	// refused one, in order, at their times.
	g := newFake(2)
	start := time.Now()
	if err := RunHeadless(context.Background(), g, sc, new(bytes.Buffer)); err != nil {
		t.Fatal(err)
	}
	var want []string
	var wantAt []time.Duration
	for j, c := range cmds {
		if c.Verb != cluster.VerbBackup {
			want = append(want, c.String())
			wantAt = append(wantAt, times[j])
		}
	}
	got := g.commands()
	if len(got) != len(want) {
		t.Fatalf("replayed %v, want %v", got, want)
	}
	offset := start.Sub(g.start)
	for j, d := range got {
		if at := d.at - offset; d.cmd != want[j] || at < wantAt[j] || at > wantAt[j]+300*time.Millisecond {
			t.Errorf("replayed %q at %s, want %q at %s", d.cmd, at, want[j], wantAt[j])
		}
	}
}
