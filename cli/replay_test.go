package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/ansi"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/scenario"
	"walship/session"
	"walship/tui"
)

// recordSession runs a real cluster through a cut, a corrupted frame and a
// crash while a poller stands in for the UI, recording what it is shown,
// and returns the session file's bytes.
func recordSessionForTest(t *testing.T) []byte {
	t.Helper()
	c, err := cluster.New(cluster.Config{Dir: t.TempDir(), Followers: 2, BatchBytes: 1, Latency: 150 * time.Millisecond, Rate: 20})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var file bytes.Buffer
	w, err := session.NewWriter(&file, session.Meta{Started: time.Now().UnixNano(), Program: "test", Title: "cut, corrupt, crash", Width: 200, Height: 50})
	if err != nil {
		t.Fatal(err)
	}
	rec := session.NewRecorder(c, w)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the UI: a snapshot every 20ms, asking for the events it has not seen
		defer wg.Done()
		var last uint64
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			last = rec.Snapshot(last).LastEvent
		}
	}()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	wait := func(what string, cond func(s cluster.Snapshot) bool) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for !cond(c.Snapshot(^uint64(0))) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s", what)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	do := func(line string) {
		t.Helper()
		if err := c.Exec(line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	follower := func(s cluster.Snapshot, i int) cluster.FollowerStatus { return s.Followers[i-1] }
	wait("records flowing", func(s cluster.Snapshot) bool { return follower(s, 1).ReplayLSN > 0 })
	do("corrupt follower-1")
	wait("a CRC failure", func(s cluster.Snapshot) bool { return follower(s, 1).CRCFailures > 0 })
	do("cut follower-2")
	wait("the cut", func(s cluster.Snapshot) bool { return follower(s, 2).State == cluster.StateCut })
	time.Sleep(200 * time.Millisecond) // writes go on while it is cut
	do("restore follower-2")
	do("crash follower-1")
	time.Sleep(200 * time.Millisecond)
	do("restart follower-1")
	do("rate 0")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := c.WaitConverged(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	close(stop)
	wg.Wait()
	if err := rec.Close(); err != nil {
		t.Fatal(err)
	}
	return file.Bytes()
}

// castFrames reads an asciicast: its header and its output events.
func castFrames(t *testing.T, b []byte) (header map[string]any, outputs []string, markers []string) {
	t.Helper()
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for i := 0; sc.Scan(); i++ {
		if i == 0 {
			if err := json.Unmarshal(sc.Bytes(), &header); err != nil {
				t.Fatalf("header: %v", err)
			}
			continue
		}
		var ev []any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil || len(ev) != 3 {
			t.Fatalf("event %d: %v %s", i, err, sc.Bytes())
		}
		switch ev[1] {
		case "o":
			outputs = append(outputs, ev[2].(string))
		case "m":
			markers = append(markers, ev[2].(string))
		}
	}
	return header, outputs, markers
}

// The whole path: a session with a cut, a corrupted frame and a crash is
// recorded at 200x50, read back, and rendered headless to casts at two
// sizes; the moment the corrupted frame was in flight shows it (✖ on the
// lane), and the moment after its CRC failure shows the CRC badge.
func TestRecordedSessionRendersAtAnySize(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	file := recordSessionForTest(t)
	rec, err := session.Read(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if !rec.Complete || rec.Meta.Width != 200 {
		t.Fatalf("complete %v, meta %+v", rec.Complete, rec.Meta)
	}
	h := rec.History
	corrupt, failed := -1, -1
	for i := range h.Len() {
		s := h.Snapshot(i)
		for _, f := range s.Frames {
			if f.Corrupt && corrupt < 0 && f.Pos > 0.2 {
				corrupt = i
			}
		}
		if failed < 0 && len(s.Followers) > 0 && s.Followers[0].CRCFailures > 0 {
			failed = i
		}
	}
	if corrupt < 0 || failed < 0 {
		t.Fatalf("no corrupted frame in flight (%d) or no CRC failure (%d) in %d snapshots", corrupt, failed, h.Len())
	}
	var sawCut, sawCrash bool
	for _, e := range h.Events(^uint64(0), 1<<12) {
		sawCut = sawCut || strings.Contains(e.Text, "link cut")
		sawCrash = sawCrash || e.Kind == cluster.EvCrash
	}
	if !sawCut || !sawCrash {
		t.Fatalf("the recording lacks the cut (%v) or the crash (%v)", sawCut, sawCrash)
	}

	for _, size := range [][2]int{{120, 36}, {80, 24}} {
		// The past moments, drawn as a cast draws them.
		scr, err := tui.NewScreen(size[0], size[1], "mono", nil)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Unix(0, rec.Meta.Started)
		var seen uint64
		for i := 0; i <= failed; i++ {
			s := h.Snapshot(i)
			s.Events = h.Events(h.LastEvent(i), 512)
			for len(s.Events) > 0 && s.Events[0].Seq <= seen {
				s.Events = s.Events[1:]
			}
			seen = max(seen, h.LastEvent(i))
			lines := scr.Show(start.Add(h.Wall(i)), s, nil)
			screen := ansi.Strip(strings.Join(lines, "\n"))
			if len(lines) != size[1] {
				t.Fatalf("%dx%d: %d lines", size[0], size[1], len(lines))
			}
			for _, l := range lines {
				if w := ansi.StringWidth(l); w != size[0] {
					t.Fatalf("%dx%d: a line %d wide: %q", size[0], size[1], w, ansi.Strip(l))
				}
			}
			if i == corrupt && !laneHas(screen, "✖") {
				t.Errorf("%dx%d, the corrupted frame in flight: no ✖ on a lane:\n%s", size[0], size[1], screen)
			}
			// The badge flashes in the follower's title; at 80 columns the
			// title has no room for it, and the counter says it.
			badge := "✖ CRC FAILURE 1"
			if size[0] < 100 {
				badge = "crc_failures 1"
			}
			if i == failed && !strings.Contains(screen, badge) {
				t.Errorf("%dx%d, after the CRC failure: no %q:\n%s", size[0], size[1], badge, screen)
			}
		}

		// The cast itself.
		var cast bytes.Buffer
		if err := renderCast(&cast, rec, size[0], size[1], "light", 1); err != nil {
			t.Fatal(err)
		}
		header, outputs, _ := castFrames(t, cast.Bytes())
		if header["width"] != float64(size[0]) || header["height"] != float64(size[1]) || header["version"] != float64(2) {
			t.Fatalf("cast header %v", header)
		}
		all := strings.Join(outputs, "")
		for _, want := range []string{"✖", "CRC", "CUT", "STOPPED", "crash"} {
			if !strings.Contains(all, want) {
				t.Errorf("%dx%d cast never shows %q", size[0], size[1], want)
			}
		}
		if len(outputs) < 10 {
			t.Errorf("%dx%d cast: only %d frames", size[0], size[1], len(outputs))
		}
	}
}

// laneHas reports whether a lane row of screen (one starting with the
// leader column's │ or ├) holds s.
func laneHas(screen, s string) bool {
	for _, l := range strings.Split(screen, "\n") {
		if (strings.Contains(l, "│") || strings.Contains(l, "├")) && strings.Contains(l, s) && !strings.Contains(l, "CRC") {
			return true
		}
	}
	return false
}

// walship replay --cast through the command line: a damaged file renders
// up to its damage and says where it stopped.
func TestReplayCastCommand(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a cluster")
	}
	dir := t.TempDir()
	file := recordSessionForTest(t)
	path := filepath.Join(dir, "s.walship")
	if err := os.WriteFile(path, file[:len(file)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "s.cast")
	var stdout, stderr bytes.Buffer
	cmd := newRootCmd()
	cmd.SetArgs([]string{"replay", path, "--cast", out, "--size", "100x30", "--theme", "light"})
	cmd.SetOut(&stdout)
	cmd.SetErr(&stderr)
	if err := cmd.Execute(); err != nil {
		t.Fatalf("replay --cast: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped at byte") || !strings.Contains(stderr.String(), "the cast ends there") {
		t.Errorf("no word of where the damaged file stopped: %q", stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	header, outputs, _ := castFrames(t, b)
	if header["width"] != float64(100) || len(outputs) == 0 {
		t.Fatalf("cast header %v, %d frames", header, len(outputs))
	}

	for _, args := range [][]string{
		{"replay", filepath.Join(dir, "missing.walship"), "--cast", out},
		{"replay", out, "--cast", out + "2"}, // a cast is no session
		{"replay", path, "--cast", out, "--size", "60x20"},
		{"replay", path, "--size", "100x30"},
	} {
		cmd := newRootCmd()
		cmd.SetArgs(args)
		cmd.SetOut(&stdout)
		cmd.SetErr(&stderr)
		if err := cmd.Execute(); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// BenchmarkSessionMinute measures what a minute of world time costs: in
// the UI's look-back history and in a session file, with the UI's default
// settings (three followers, 4 records/s, 300ms links), polled 30 times a
// second as the UI polls while frames fly. It runs one minute of wall
// time (WALSHIP_MEASURE_SECONDS changes it):
//
//	go test -run '^$' -bench SessionMinute -benchtime 1x ./cli/
func BenchmarkSessionMinute(b *testing.B) {
	secs := 60
	if s := os.Getenv("WALSHIP_MEASURE_SECONDS"); s != "" {
		fmt.Sscan(s, &secs)
	}
	o := tuiOptions{followers: 3, rate: 4, latency: 300 * time.Millisecond, sync: "off", walKeep: "128KiB",
		theme: "dark", seed: 1, applyDelay: 80 * time.Millisecond, flushDelay: 150 * time.Millisecond, segmentSize: "16KiB"}
	cfg, _, err := o.config()
	if err != nil {
		b.Fatal(err)
	}
	for range b.N {
		cfg.Dir = b.TempDir()
		c, err := cluster.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		var file countingWriter
		w, err := session.NewWriter(&file, session.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		h := session.NewHistory(0)
		if err := c.Start(); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		var last uint64
		polls := 0
		var snaps []cluster.Snapshot
		var walls []time.Duration
		for time.Since(start) < time.Duration(secs)*time.Second {
			time.Sleep(time.Second / 30)
			s := c.Snapshot(last)
			last = s.LastEvent
			wall := time.Since(start)
			h.Add(wall, &s)
			w.Snapshot(wall, &s)
			snaps, walls = append(snaps, s), append(walls, wall)
			polls++
		}
		world := c.Snapshot(^uint64(0)).World
		w.Close(time.Since(start))
		c.Close()
		perMin := func(n int64) float64 { return float64(n) / world.Minutes() }
		b.ReportMetric(perMin(int64(h.Bytes())), "history-B/world-min")
		// What the history really holds on the heap: the same snapshots
		// into a fresh one, the cluster gone.
		// (Two collections each: pools keep what they drop for one more.)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&before)
		fresh := session.NewHistory(0)
		for j := range snaps {
			fresh.Add(walls[j], &snaps[j])
		}
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(perMin(int64(after.HeapAlloc)-int64(before.HeapAlloc)), "history-heap-B/world-min")
		runtime.KeepAlive(fresh)
		runtime.KeepAlive(snaps)
		runtime.KeepAlive(h)
		b.ReportMetric(perMin(file.n), "file-B/world-min")
		b.ReportMetric(perMin(int64(h.Len())), "snapshots/world-min")
		b.ReportMetric(float64(polls)/world.Minutes(), "polls/world-min")
	}
}

type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// A recorded lesson's cast has a marker at each chapter and step, as the
// live recording's would.
func TestReplayCastMarkers(t *testing.T) {
	var file bytes.Buffer
	w, err := session.NewWriter(&file, session.Meta{Title: "a lesson"})
	if err != nil {
		t.Fatal(err)
	}
	steps := map[int]scenario.LessonState{
		5:  {Title: "a lesson", Chapter: "one", ChapterIndex: 1, Chapters: 2, Step: 1, Steps: 2, Caption: "first"},
		10: {Title: "a lesson", Chapter: "one", ChapterIndex: 1, Chapters: 2, Step: 2, Steps: 2, Caption: "second"},
		15: {Title: "a lesson", Chapter: "two", ChapterIndex: 2, Chapters: 2, Step: 1, Steps: 1, Caption: "third"},
	}
	for i := range 20 {
		at := time.Duration(i) * 100 * time.Millisecond
		s := cluster.Snapshot{World: at, Speed: 1, Leader: cluster.LeaderStatus{FlushLSN: wal.LSN(0x100 * i)}}
		w.Snapshot(at, &s)
		if st, ok := steps[i]; ok {
			w.Lesson(at, &st)
		}
	}
	w.Close(2 * time.Second)
	rec, err := session.Read(&file)
	if err != nil {
		t.Fatal(err)
	}
	var cast bytes.Buffer
	if err := renderCast(&cast, rec, 100, 30, "mono", 1); err != nil {
		t.Fatal(err)
	}
	header, outputs, markers := castFrames(t, cast.Bytes())
	want := []string{"1/2 one", "1/2 one, step 2/2", "2/2 two"}
	if !slices.Equal(markers, want) {
		t.Fatalf("markers %q, want %q", markers, want)
	}
	if header["title"] != "walship: a lesson" || !strings.Contains(strings.Join(outputs, ""), "third") {
		t.Fatalf("title %v; the last caption drawn: %v", header["title"], strings.Contains(strings.Join(outputs, ""), "third"))
	}
}
