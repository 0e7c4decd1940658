package scenario

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// checkTimes compares the fake's commands with want (text and time since
// the fake started, within a few ms: each wait may overshoot by 1ms).
func checkTimes(t *testing.T, f *fake, want []done) {
	t.Helper()
	got := f.commands()
	if len(got) != len(want) {
		t.Fatalf("commands %v, want %v", got, want)
	}
	for i, w := range want {
		if got[i].cmd != w.cmd || got[i].at < w.at || got[i].at > w.at+10*time.Millisecond {
			t.Errorf("command %d: %q at %s, want %q at %s", i, got[i].cmd, got[i].at, w.cmd, w.at)
		}
	}
}

func TestHeadlessTiming(t *testing.T) {
	f := newFake(2)
	sc := mustParse(t, `title "Timing"
pause 1
chapter "A"
at 200ms cut 2
after 100ms restore 2
resume 1
wait 100ms
chapter "B"
at 100ms write 1
at 50ms write 2
`)
	var out bytes.Buffer
	if err := RunHeadless(context.Background(), f, sc, &out, f.opts()...); err != nil {
		t.Fatal(err, out.String())
	}
	ms := time.Millisecond
	checkTimes(t, f, []done{
		{0, "pause follower-1"},
		{200 * ms, "cut follower-2"},
		{300 * ms, "restore follower-2"},
		{300 * ms, "resume follower-1"},
		{500 * ms, "write 1"}, // chapter B starts after the wait
		{500 * ms, "write 2"}, // at 50ms has passed: at once
	})
	for _, line := range []string{"scenario t.scn: Timing", "setup", "chapter 1/2: A", "chapter 2/2: B", "PASSED: 0 expects"} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}

// TestAtCountsFromTheStep: at counts from the start of the caption's step,
// which in the UI is when the presenter moved on.
func TestAtCountsFromTheStep(t *testing.T) {
	f := newFake(1)
	sc := mustParse(t, `chapter "A"
say "one"
at 1s write 1
say "two"
at 1s write 2
`)
	if err := RunHeadless(context.Background(), f, sc, new(bytes.Buffer), f.opts()...); err != nil {
		t.Fatal(err)
	}
	checkTimes(t, f, []done{{time.Second, "write 1"}, {2 * time.Second, "write 2"}})
}

// TestFreezeHoldsTheLesson: scenario timing runs on the world clock, so a
// world the teacher froze holds the lesson and a faster one hurries it.
func TestFreezeHoldsTheLesson(t *testing.T) {
	f := newFake(1)
	f.update(func(s *cluster.Snapshot) { s.Frozen = true })
	sc := mustParse(t, `title "Freeze"
chapter "A"
at 100ms write 1
`)
	result := make(chan error, 1)
	go func() { result <- RunHeadless(context.Background(), f, sc, &bytes.Buffer{}, f.opts()...) }()
	// The runner sleeps on the test clock while the world stands still:
	// wait until a minute of it has passed.
	for f.now() < time.Minute {
		time.Sleep(time.Millisecond)
	}
	if got := f.commands(); len(got) != 0 {
		t.Fatalf("a frozen world ran %v", got)
	}
	f.update(func(s *cluster.Snapshot) { s.Frozen = false })
	if err := <-result; err != nil {
		t.Fatal(err)
	}
	if got := f.commandTexts(); len(got) != 1 || got[0] != "write 1" {
		t.Fatalf("after unfreeze: %v", got)
	}

	// At speed 8, "at 800ms" comes after 100ms of real time, and an
	// expect's "within 8s" gives up after 1s.
	g := newFake(1)
	g.update(func(s *cluster.Snapshot) { s.Speed = 8 })
	sc = mustParse(t, `title "Fast"
chapter "A"
at 800ms write 1
expect follower-1 crc-failures > 0 within 8s
write 2
`)
	if err := RunHeadless(context.Background(), g, sc, &bytes.Buffer{}, g.opts()...); err == nil {
		t.Fatal("the expect cannot hold, yet passed")
	}
	checkTimes(t, g, []done{{100 * time.Millisecond, "write 1"}, {1100 * time.Millisecond, "write 2"}})
}

// TestWithSpeed: a run at speed 4 sets the world's speed, scales the
// scenario's own speeds, and keeps every timing in world time.
func TestWithSpeed(t *testing.T) {
	f := newFake(1)
	sc := mustParse(t, `chapter "A"
at 4s write 1
speed 0.5
after 2s write 2
speed 1
expect follower-1 replay steady for 8s
write 3
`)
	var out bytes.Buffer
	if err := RunHeadless(context.Background(), f, sc, &out, f.opts(WithSpeed(4))...); err != nil {
		t.Fatal(err, out.String())
	}
	checkTimes(t, f, []done{
		{0, "speed 4"},
		{time.Second, "write 1"},
		{time.Second, "speed 2"},
		{2 * time.Second, "write 2"}, // 2s of world at 2x
		{2 * time.Second, "speed 4"},
		{4 * time.Second, "write 3"}, // steady for 8s of world at 4x
	})
	if !strings.Contains(out.String(), "world speed 4×\n") {
		t.Errorf("output:\n%s", out.String())
	}
}

// TestOwnFreeze: a world the scenario froze itself does not hold the
// scenario, so a recorded freeze is followed by its unfreeze, at the time
// it was recorded (scaled by the run's speed).
func TestOwnFreeze(t *testing.T) {
	for _, speed := range []float64{1, 2} {
		f := newFake(1)
		sc := mustParse(t, `at 1s freeze
at 31s unfreeze
at 32s write 1
`)
		if err := RunHeadless(context.Background(), f, sc, new(bytes.Buffer), f.opts(WithSpeed(speed))...); err != nil {
			t.Fatal(err)
		}
		at := func(d time.Duration) time.Duration { return time.Duration(float64(d) / speed) }
		want := []done{{at(time.Second), "freeze"}, {at(31 * time.Second), "unfreeze"}, {at(32 * time.Second), "write 1"}}
		if speed != 1 {
			want = append([]done{{0, "speed 2"}}, want...)
		}
		checkTimes(t, f, want)
	}
}

func TestHeadlessExpect(t *testing.T) {
	f := newFake(3)
	// follower-3 falls behind, then catches up 150ms later.
	f.update(func(s *cluster.Snapshot) {
		s.Leader.FlushLSN, s.Leader.Keys = 1000, 10
		for i := range s.Followers {
			fs := &s.Followers[i]
			fs.WriteLSN, fs.FlushLSN, fs.ReplayLSN, fs.Keys = 1000, 1000, 1000, 10
		}
		s.Followers[2].ReplayLSN = 500
	})
	f.script = func(at time.Duration, s *cluster.Snapshot) {
		if at >= 150*time.Millisecond {
			s.Followers[2].ReplayLSN = 1000
		}
	}
	sc := mustParse(t, `chapter "Checks"
expect all matches leader within 2s
expect follower-3 replay = flush
expect follower-1 crc-failures = 0
pause 2
expect follower-2 paused within 1s
expect follower-2 state not cut
expect leader keys = 10
`)
	var out bytes.Buffer
	if err := RunHeadless(context.Background(), f, sc, &out, f.opts()...); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "  ok   t.scn:"); n != 6 {
		t.Errorf("%d ok lines, want 6:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "PASSED: 6 expects") {
		t.Errorf("no summary:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "ok   t.scn:2: expect all matches leader within 2s (150ms: ") {
		t.Errorf("the first expect should hold after 150ms:\n%s", out.String())
	}
}

func TestHeadlessFailures(t *testing.T) {
	f := newFake(2)
	f.refuse = cluster.VerbBackup
	sc := mustParse(t, `title "Fails"
chapter "One"
cut 1
expect follower-1 state streaming within 200ms
expect follower-2 state streaming
backup 2
expect follower-9 paused within 100ms
`)
	var out bytes.Buffer
	err := RunHeadless(context.Background(), f, sc, &out, f.opts()...)
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a StepError\n%s", err, out.String())
	}
	if took := f.now(); took < 300*time.Millisecond || took > 320*time.Millisecond {
		t.Errorf("took %s: timeouts of 200ms and 100ms", took)
	}
	want := "t.scn:4: expect follower-1 state streaming within 200ms: not true after 200ms: saw follower-1 state cut"
	if err.Error() != want {
		t.Errorf("error\n got %s\nwant %s", err, want)
	}
	o := out.String()
	for _, line := range []string{
		"  FAIL " + want + "\n",
		"  ok   t.scn:5: expect follower-2 state streaming",
		"  FAIL t.scn:6: backup 2: refused by the fake\n",
		"  FAIL t.scn:7: expect follower-9 paused within 100ms: not true after 100ms: saw no follower-9 in the cluster\n",
		"FAILED: 2 of 3 expects, 1 refused commands; first: t.scn:4\n",
	} {
		if !strings.Contains(o, line) {
			t.Errorf("output lacks %q:\n%s", line, o)
		}
	}
}

func TestHeadlessRises(t *testing.T) {
	f := newFake(1)
	f.update(func(s *cluster.Snapshot) { s.Leader.Commits = 10; s.Followers[0].ReplayLSN = 0x100 })
	f.script = func(at time.Duration, s *cluster.Snapshot) {
		if at >= 100*time.Millisecond {
			s.Leader.Commits = 11
		}
	}
	sc := mustParse(t, `expect leader commits rises within 2s
expect follower-1 replay rises within 100ms
`)
	var out bytes.Buffer
	err := RunHeadless(context.Background(), f, sc, &out, f.opts()...)
	want := "t.scn:2: expect follower-1 replay rises within 100ms: not true after 100ms: saw follower-1 replay 0/100, was 0/100 (state streaming)"
	if err == nil || err.Error() != want {
		t.Errorf("got %v, want %s", err, want)
	}
	if !strings.Contains(out.String(), "ok   t.scn:1: expect leader commits rises within 2s") ||
		!strings.Contains(out.String(), "leader commits 11, was 10") {
		t.Errorf("output:\n%s", out.String())
	}
}

func TestHeadlessSteady(t *testing.T) {
	for _, speed := range []float64{1, 8} {
		f := newFake(1)
		// Commits move every 20ms of world time for 200ms, then stop;
		// replay keeps moving.
		f.script = func(at time.Duration, s *cluster.Snapshot) {
			world := time.Duration(float64(at) * speed)
			s.Leader.Commits = uint64(min(world/(20*time.Millisecond), 10))
			s.Followers[0].ReplayLSN = wal.LSN(64 * (world / (20 * time.Millisecond)))
		}
		sc := mustParse(t, `expect leader commits steady for 300ms within 2s
expect follower-1 replay steady for 100ms within 400ms
`)
		var out bytes.Buffer
		err := RunHeadless(context.Background(), f, sc, &out, f.opts(WithSpeed(speed))...)
		if !strings.Contains(out.String(), "ok   t.scn:1: expect leader commits steady for 300ms within 2s") ||
			!strings.Contains(out.String(), "leader commits 10, unchanged for 3") {
			t.Errorf("at %gx, output:\n%s", speed, out.String())
		}
		// 200ms of moving, 300ms steady, 400ms of failing, in world time.
		if took, want := f.now(), time.Duration(900*float64(time.Millisecond)/speed); took < want || took > want+want/10 {
			t.Errorf("at %gx took %s, want %s", speed, took, want)
		}
		var se *StepError
		if !errors.As(err, &se) || se.Line != 2 || !strings.Contains(se.Seen, "follower-1 replay") {
			t.Errorf("at %gx got %v, want line 2 to fail", speed, err)
		}
	}
}

func TestFollowersLine(t *testing.T) {
	f := newFake(1)
	sc := mustParse(t, "title \"Three\"\nfollowers 3\nexpect follower-3 state startup\n")
	var out bytes.Buffer
	if err := RunHeadless(context.Background(), f, sc, &out, f.opts()...); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := f.commandTexts(); len(got) != 2 || got[0] != "add" || got[1] != "add" {
		t.Errorf("commands %v, want two adds", got)
	}
	if !strings.Contains(out.String(), "added 2 followers: the scenario needs 3\n") {
		t.Errorf("output:\n%s", out.String())
	}
	// Enough already: nothing added.
	if err := RunHeadless(context.Background(), f, sc, new(bytes.Buffer), f.opts()...); err != nil || len(f.commands()) != 2 {
		t.Errorf("second run: %v, commands %v", err, f.commands())
	}
	f.refuse = cluster.VerbAdd
	sc.Followers = 5
	if err := RunHeadless(context.Background(), f, sc, new(bytes.Buffer), f.opts()...); err == nil || !strings.Contains(err.Error(), "needs 5 followers") {
		t.Errorf("refused add: %v", err)
	}
}

// A cancelled run stops in the sleep it is in (here an expect's poll),
// not at the end of the expect's within: on a clock whose sleeps end only
// with their context, nothing but the cancellation can end the run.
func TestHeadlessCancel(t *testing.T) {
	f := newFake(1)
	sc := mustParse(t, "expect follower-1 paused within 10s\n")
	clk := &stuckClock{sleeping: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errc := make(chan error, 1)
	go func() { errc <- RunHeadless(ctx, f, sc, new(bytes.Buffer), WithClock(clk)) }()
	<-clk.sleeping // the expect is polling
	cancel()
	select {
	case err := <-errc:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("got %v, want the cancellation", err)
		}
	case <-time.After(time.Minute): // a guard against a hang, not a measure
		t.Fatal("the run did not stop when cancelled")
	}
}

// The wall clock's Sleep ends with its context, whether the context ended
// before or during the sleep.
func TestWallClockSleepCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- wallClock{}.Sleep(ctx, time.Hour) }()
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Errorf("sleep cancelled while in it: %v", err)
	}
	if err := (wallClock{}).Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Errorf("sleep on a context already ended: %v", err)
	}
}

// stuckClock is a Clock on which no time passes: a sleep ends only when
// its context does. Each sleep that starts is signalled on sleeping (when
// there is room).
type stuckClock struct{ sleeping chan struct{} }

func (stuckClock) Now() time.Time { return time.Unix(1_700_000_000, 0) }

func (c *stuckClock) Sleep(ctx context.Context, d time.Duration) error {
	select {
	case c.sleeping <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestHolds: a slow hold gives the world its speed back when its until
// holds, a freeze hold lasts until the step ends, and a condition that
// never holds fails like an expect, with the world's speed given back.
func TestHolds(t *testing.T) {
	f := newFake(1)
	f.script = func(at time.Duration, s *cluster.Snapshot) {
		if at >= 2*time.Second {
			s.Followers[0].CRCFailures = 1
		}
	}
	sc := mustParse(t, `chapter "A"
say "watch"
rate 10
slow 1/8 until follower-1 crc-failures rises within 5s
point follower-1 crc-failures
freeze when follower-1 crc-failures >= 1
expect follower-1 crc-failures = 1
say "next"
write 1
slow 1/4
slow 1/2 until follower-1 paused within 1s
write 2
`)
	var out bytes.Buffer
	err := RunHeadless(context.Background(), f, sc, &out, f.opts()...)
	var se *StepError
	if !errors.As(err, &se) || se.Line != 11 || se.Within != time.Second {
		t.Fatalf("got %v, want line 11 to fail\n%s", err, out.String())
	}
	s := time.Second
	checkTimes(t, f, []done{
		{0, "rate 10"},
		{0, "speed 0.125"},
		{2 * s, "speed 1"}, // crc-failures rose at 2s (16 world seconds would be too late)
		{2 * s, "freeze"},
		{2 * s, "unfreeze"}, // the step ended
		{2 * s, "write 1"},
		{2 * s, "speed 0.25"},
		{2 * s, "speed 0.5"},
		{4 * s, "speed 0.25"}, // 1s of world at 1/2: failed, the speed before it given back
		{4 * s, "write 2"},
		{4 * s, "speed 1"}, // the step ended: slow 1/4 ends too
	})
	if !strings.Contains(out.String(), "PASSED") && !strings.Contains(out.String(), "FAILED: 1 of 4 expects, 0 refused commands; first: t.scn:11") {
		t.Errorf("output:\n%s", out.String())
	}
}
func TestCheckSeen(t *testing.T) {
	s := cluster.Snapshot{
		Leader: cluster.LeaderStatus{InsertLSN: 0x3000, FlushLSN: 0x2000, OldestLSN: 0x1000, Keys: 7, WaitingCommits: 2},
		Followers: []cluster.FollowerStatus{{
			Name: "follower-1", State: cluster.StateStreaming,
			WriteLSN: 0x2000, FlushLSN: 0x1800, ReplayLSN: 0x1000, Keys: 5,
			ReplayLag: cluster.Lag{D: 1500 * time.Millisecond, Known: true},
		}},
	}
	for _, tc := range []struct {
		expect string
		ok     bool
		seen   string
	}{
		{"follower-1 replay < flush", true, "follower-1 replay 0/1000, flush 0/1800 (state streaming)"},
		{"follower-1 write = leader", true, "follower-1 write 0/2000, leader flush 0/2000 (state streaming)"},
		{"follower-1 write = leader insert", false, "follower-1 write 0/2000, leader insert 0/3000 (state streaming)"},
		{"follower-1 matches leader", false, "follower-1 replay 0/1000 with 5 keys, leader flush 0/2000 with 7 keys (state streaming)"},
		{"waiting-commits > 0", true, "leader waiting-commits 2"},
		{"leader retained = 8KiB", true, "leader retained 8KiB"},
		{"follower-1 replay-lag > 1s", true, "follower-1 replay-lag 1.5s (state streaming)"},
		{"follower-1 write-lag < 1s", false, "follower-1 write-lag unknown (state streaming)"},
		{"follower-1 state \"needs base backup\"", false, "follower-1 state streaming"},
		{"all not paused", true, "follower-1 not paused (state streaming)"},
	} {
		sc := mustParse(t, "expect "+tc.expect)
		ok, seen := sc.Setup[0].Expect.Check(&s)
		if ok != tc.ok || seen != tc.seen {
			t.Errorf("expect %s: %v %q, want %v %q", tc.expect, ok, seen, tc.ok, tc.seen)
		}
	}
	ok, seen := mustParse(t, "expect all paused").Setup[0].Expect.Check(&cluster.Snapshot{})
	if ok || seen != "no followers in the cluster" {
		t.Errorf("all with no followers: %v %q", ok, seen)
	}
}

// waitState polls the player until cond holds.
func waitState(t *testing.T, p *Player, what string, cond func(LessonState) bool) LessonState {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second) // only against a hang
	for {
		st := p.State()
		if cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s; state %+v", what, st)
		}
		select {
		case <-p.Changed():
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// waiting is true once the step's lines are done.
func waiting(s LessonState) bool { return s.WaitingForKey }

// rewinder is a fake Rewinder: it logs its calls among the fake's
// commands, so their order can be checked.
type rewinder struct {
	f    *fake
	fail string // Checkpoint fails for this name
}

func (r *rewinder) Checkpoint(name string) error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	r.f.done = append(r.f.done, done{r.f.now(), "checkpoint " + name})
	if name == r.fail {
		return errors.New("disk full")
	}
	return nil
}

func (r *rewinder) Rewind(name string) error {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	r.f.done = append(r.f.done, done{r.f.now(), "rewind " + name})
	return nil
}

const stepsLesson = `title "Lesson"
set setup 1
chapter "One"
write 1
say "first"
point follower-1 flush
point leader oldest
write 2
say "second"
after 10s write 3
chapter "Two"
say "third"
freeze when follower-1 paused
point follower-1
`

// TestPlayerSteps: each Next plays exactly one step; a caption and its
// points stay until the next step; a freeze holds until Next.
func TestPlayerSteps(t *testing.T) {
	before := runtime.NumGoroutine()
	f := newFake(2)
	f.update(func(s *cluster.Snapshot) { s.Followers[0].ReplayPaused = true })
	p := NewPlayer(f, mustParse(t, stepsLesson), f.opts()...)
	defer p.Close()

	st := waitState(t, p, "the setup", waiting)
	if st.ChapterIndex != 0 || st.Step != 0 || st.NextChapter != "One" || st.Chapters != 2 || st.Title != "Lesson" || st.CanGoBack {
		t.Errorf("after setup: %+v", st)
	}
	if got := f.commandTexts(); len(got) != 1 {
		t.Errorf("chapter one started without a key: %v", got)
	}

	p.Next()
	st = waitState(t, p, "step 1", func(s LessonState) bool { return s.ChapterIndex == 1 && waiting(s) })
	wantPoints := [MaxPoints]Point{{"follower-1", "flush"}, {"leader", "oldest"}}
	if st.Chapter != "One" || st.Caption != "first" || st.Step != 1 || st.Steps != 2 || st.Points != wantPoints {
		t.Errorf("step 1: %+v", st)
	}
	if got := f.commandTexts(); strings.Join(got, ",") != `set setup 1,write 1,write 2` {
		t.Errorf("after step 1: %v", got)
	}

	p.Next()
	st = waitState(t, p, "step 2", func(s LessonState) bool { return s.Step == 2 && waiting(s) })
	if st.Caption != "second" || st.Points != ([MaxPoints]Point{}) || st.NextChapter != "Two" {
		t.Errorf("step 2: %+v", st)
	}

	p.Next()
	st = waitState(t, p, "chapter two", func(s LessonState) bool { return s.ChapterIndex == 2 && waiting(s) })
	if st.Caption != "third" || st.Hold != "world frozen" || st.Points[0] != (Point{Subject: "follower-1"}) || st.Done {
		t.Errorf("chapter two: %+v", st)
	}
	// Going back without a rewinder is refused, and says why.
	p.Prev()
	st = waitState(t, p, "a notice", func(s LessonState) bool { return s.Notice != "" })
	if st.ChapterIndex != 2 || !strings.Contains(st.Notice, "cannot") {
		t.Errorf("Prev without a rewinder: %+v", st)
	}
	if got := f.commandTexts(); got[len(got)-1] != "freeze" {
		t.Errorf("the hold: %v", got)
	}

	p.Next() // ends the hold and the lesson
	st = waitState(t, p, "the end", func(s LessonState) bool { return s.Done })
	if st.Hold != "" || st.WaitingForKey {
		t.Errorf("at the end: %+v", st)
	}
	if got := f.commandTexts(); got[len(got)-1] != "unfreeze" {
		t.Errorf("the hold was not ended: %v", got)
	}
	p.Next() // nothing after the end

	p.Close()
	p.Close()
	deadline := time.Now().Add(time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before", n, before)
	}
}

// TestPlayerPending: Next while a step's lines still run is kept, and the
// next step starts once they are done; a second Next meanwhile is dropped,
// so the presenter sees every caption.
func TestPlayerPending(t *testing.T) {
	f := newFake(1)
	gate := make(chan struct{})
	f.gate = func(cmd string) {
		if cmd == "write 9" {
			<-gate
		}
	}
	p := NewPlayer(f, mustParse(t, `chapter "One"
say "a"
write 9
write 1
say "b"
say "c"
`), f.opts()...)
	defer p.Close()
	waitState(t, p, "the setup", waiting)
	p.Next()
	waitState(t, p, "step a", func(s LessonState) bool { return s.Caption == "a" })
	p.Next()
	p.Next()
	st := waitState(t, p, "pending", func(s LessonState) bool { return s.Pending })
	if st.Caption != "a" || st.WaitingForKey {
		t.Errorf("pending: %+v", st)
	}
	close(gate)
	st = waitState(t, p, "step b", func(s LessonState) bool { return s.Caption == "b" && waiting(s) })
	if st.Pending {
		t.Errorf("step b: %+v", st)
	}
	if got := f.commandTexts(); strings.Join(got, ",") != "write 9,write 1" {
		t.Errorf("commands %v", got)
	}
}

// TestPlayerRewind: entering a chapter checkpoints the world; Prev,
// Restart and Back end the step's hold, rewind, and play the chapter from
// its first step.
func TestPlayerRewind(t *testing.T) {
	f := newFake(2)
	f.update(func(s *cluster.Snapshot) { s.Followers[0].ReplayPaused = true })
	rw := &rewinder{f: f}
	p := NewPlayer(f, mustParse(t, stepsLesson), f.opts(WithRewinder(rw))...)
	defer p.Close()
	waitState(t, p, "the setup", waiting)
	p.Next()
	waitState(t, p, "step 1", func(s LessonState) bool { return s.Caption == "first" && waiting(s) })
	p.Next()
	waitState(t, p, "step 2", func(s LessonState) bool { return s.Caption == "second" && waiting(s) })
	p.Back() // after the first step: restart the chapter
	st := waitState(t, p, "chapter one again", func(s LessonState) bool { return s.Caption == "first" && waiting(s) })
	if st.Step != 1 || !st.CanGoBack {
		t.Errorf("after Back: %+v", st)
	}
	p.Next()
	waitState(t, p, "step 2", func(s LessonState) bool { return s.Caption == "second" && waiting(s) })
	p.Next()
	waitState(t, p, "chapter two", func(s LessonState) bool { return s.Hold != "" && waiting(s) })
	p.Prev()
	waitState(t, p, "chapter one from two", func(s LessonState) bool { return s.ChapterIndex == 1 && s.Caption == "first" && waiting(s) })
	p.Restart()
	waitState(t, p, "chapter one restarted", func(s LessonState) bool { return s.Step == 1 && waiting(s) && len(f.commands()) >= 18 })
	p.Back() // on the first step of chapter one: it restarts itself
	waitState(t, p, "chapter one again", func(s LessonState) bool { return s.Step == 1 && waiting(s) && len(f.commands()) >= 21 })

	chapterOne := []string{"write 1", "write 2"}
	var want []string
	want = append(want, "set setup 1", "checkpoint chapter-1")
	want = append(want, chapterOne...)
	want = append(want, "write 3", "rewind chapter-1")
	want = append(want, chapterOne...)
	want = append(want, "write 3", "checkpoint chapter-2", "freeze", "unfreeze", "rewind chapter-1")
	want = append(want, chapterOne...)
	want = append(want, "rewind chapter-1")
	want = append(want, chapterOne...)
	want = append(want, "rewind chapter-1")
	want = append(want, chapterOne...)
	if got := f.commandTexts(); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("commands:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestPlayerCheckpointFails: a chapter whose checkpoint failed cannot be
// gone back to, and the screen says so.
func TestPlayerCheckpointFails(t *testing.T) {
	f := newFake(1)
	p := NewPlayer(f, mustParse(t, `chapter "One"
say "one"
chapter "Two"
say "two"
`), f.opts(WithRewinder(&rewinder{f: f, fail: "chapter-1"}))...)
	defer p.Close()
	waitState(t, p, "the setup", waiting)
	p.Next()
	st := waitState(t, p, "chapter one", func(s LessonState) bool { return s.Caption == "one" && waiting(s) })
	if !strings.Contains(st.Notice, "no checkpoint for chapter 1") || !strings.Contains(st.Notice, "disk full") {
		t.Errorf("notice %q", st.Notice)
	}
	p.Next()
	waitState(t, p, "chapter two", func(s LessonState) bool { return s.Caption == "two" && waiting(s) })
	p.Prev()
	st = waitState(t, p, "a refusal", func(s LessonState) bool { return s.Notice != "" })
	if st.ChapterIndex != 2 || st.Notice != "chapter 1 has no checkpoint to go back to" {
		t.Errorf("after Prev: %+v", st)
	}
	p.Restart()
	waitState(t, p, "chapter two again", func(s LessonState) bool {
		return s.Caption == "two" && waiting(s) && s.Notice == ""
	})
}

// TestPlayerRecording: a saved session (all lines in the setup) plays to
// its end whatever keys are pressed: Next during it skips nothing.
func TestPlayerRecording(t *testing.T) {
	f := newFake(2)
	gate := make(chan struct{})
	f.gate = func(cmd string) {
		if cmd == "write 9" {
			<-gate
		}
	}
	p := NewPlayer(f, mustParse(t, `followers 2
at 1s pause 1
at 2s write 9
at 3s freeze
at 33s unfreeze
at 34s cut 2
`), f.opts()...)
	defer p.Close()
	waitState(t, p, "the setup running", func(s LessonState) bool { return len(f.commands()) > 0 })
	p.Next()
	p.Prev()
	p.Restart()
	close(gate)
	waitState(t, p, "the end", func(s LessonState) bool { return s.Done })
	s := time.Second
	checkTimes(t, f, []done{{s, "pause follower-1"}, {2 * s, "write 9"}, {3 * s, "freeze"}, {33 * s, "unfreeze"}, {34 * s, "cut follower-2"}})
}

func TestPlayerNoChapters(t *testing.T) {
	f := newFake(1)
	p := NewPlayer(f, mustParse(t, "pause 1\n"), f.opts()...)
	defer p.Close()
	st := waitState(t, p, "done", func(s LessonState) bool { return s.Done })
	if st.WaitingForKey || st.Chapters != 0 {
		t.Errorf("%+v", st)
	}
	p.Prev() // before any chapter: nothing to go back to
	p.Restart()
	waitState(t, p, "done again", func(s LessonState) bool { return s.Done })

	// A caption in the setup stays until Next.
	q := NewPlayer(f, mustParse(t, "say \"hello\"\n"), f.opts()...)
	defer q.Close()
	waitState(t, q, "the caption", func(s LessonState) bool { return s.Caption == "hello" && waiting(s) })
	q.Next()
	waitState(t, q, "done", func(s LessonState) bool { return s.Done })
}
