package scenario

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"walship/engine/cluster"
)

// fake is a Controller with a synthetic snapshot. Commands are logged with
// their time; a few change the snapshot, as the real cluster would, and
// changes registered with at happen at their time.
type fake struct {
	mu    sync.Mutex
	clk   *fakeTime // nil: the system's time
	start time.Time
	snap  cluster.Snapshot
	done  []done
	later []change
	// refuse makes Do fail for this verb.
	refuse cluster.Verb
}

type change struct {
	at time.Duration
	fn func(s *cluster.Snapshot)
}

// fakeTime is real time that moves only when the runner sleeps on it: a
// run takes no real time, and goes the same on any machine.
type fakeTime struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeTime) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeTime) SleepUntil(ctx context.Context, t time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	if t.After(c.t) {
		c.t = t
	}
	c.mu.Unlock()
	return ctx.Err()
}

// newTimedFake is newFake on a fake time of its own.
func newTimedFake(followers int) *fake {
	f := newFake(followers)
	f.clk = &fakeTime{t: time.Unix(1_000_000, 0)}
	f.start = f.clk.t
	return f
}

// elapsed is the time since the fake started.
func (f *fake) elapsed() time.Duration {
	if f.clk != nil {
		return f.clk.Now().Sub(f.start)
	}
	return time.Since(f.start)
}

// at makes fn change the snapshot once d has passed.
func (f *fake) at(d time.Duration, fn func(s *cluster.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.later = append(f.later, change{d, fn})
}

// run plays sc headless against f, on f's time.
func (f *fake) run(ctx context.Context, sc *Scenario, out *bytes.Buffer) error {
	return runHeadless(ctx, f, f.clk, sc, out, nil)
}

type done struct {
	at  time.Duration
	cmd string
}

func newFake(followers int) *fake {
	f := &fake{start: time.Now()}
	for i := 1; i <= followers; i++ {
		f.snap.Followers = append(f.snap.Followers, cluster.FollowerStatus{
			Name: cluster.FollowerName(i), Index: i, State: cluster.StateStreaming,
		})
	}
	return f
}

func (f *fake) Snapshot(since uint64) cluster.Snapshot {
	now := f.elapsed()
	f.mu.Lock()
	defer f.mu.Unlock()
	for len(f.later) > 0 && f.later[0].at <= now {
		f.later[0].fn(&f.snap)
		f.later = f.later[1:]
	}
	s := f.snap
	s.Followers = append([]cluster.FollowerStatus(nil), f.snap.Followers...)
	return s
}

func (f *fake) Do(c cluster.Command) error {
	now := f.elapsed()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = append(f.done, done{now, c.String()})
	if c.Verb == f.refuse {
		return errors.New("refused by the fake")
	}
	for i := range f.snap.Followers {
		fs := &f.snap.Followers[i]
		if c.Follower != fs.Name && c.Follower != "all" {
			continue
		}
		switch c.Verb {
		case cluster.VerbCut:
			fs.State = cluster.StateCut
		case cluster.VerbRestore:
			fs.State = cluster.StateStreaming
		case cluster.VerbPause:
			fs.ReplayPaused = true
		case cluster.VerbResume:
			fs.ReplayPaused = false
		}
	}
	switch c.Verb {
	case cluster.VerbAdd:
		n := len(f.snap.Followers) + 1
		f.snap.Followers = append(f.snap.Followers, cluster.FollowerStatus{
			Name: cluster.FollowerName(n), Index: n, State: cluster.StateStartup,
		})
	case cluster.VerbWrite:
		f.snap.Leader.InsertLSN += 100 * 64
		f.snap.Leader.FlushLSN = f.snap.Leader.InsertLSN
		f.snap.Leader.Keys += int(c.N)
	case cluster.VerbSet:
		// The followers catch up at once.
		for i := range f.snap.Followers {
			fs := &f.snap.Followers[i]
			fs.WriteLSN, fs.FlushLSN, fs.ReplayLSN = f.snap.Leader.FlushLSN, f.snap.Leader.FlushLSN, f.snap.Leader.FlushLSN
			fs.Keys = f.snap.Leader.Keys
		}
	}
	return nil
}

// update changes the snapshot under the lock.
func (f *fake) update(fn func(s *cluster.Snapshot)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.snap)
}

func (f *fake) commands() []done {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]done(nil), f.done...)
}

func mustParse(t *testing.T, src string) *Scenario {
	t.Helper()
	sc, err := Parse("t.scn", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func TestHeadlessTiming(t *testing.T) {
	f := newTimedFake(2)
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
	if err := f.run(context.Background(), sc, &out); err != nil {
		t.Fatal(err, out.String())
	}
	got := f.commands()
	want := []struct {
		cmd string
		at  time.Duration // since begin
	}{
		{"pause follower-1", 0},
		{"cut follower-2", 200 * time.Millisecond},
		{"restore follower-2", 300 * time.Millisecond},
		{"resume follower-1", 300 * time.Millisecond},
		{"write 1", 500 * time.Millisecond}, // chapter B starts after the wait
		{"write 2", 500 * time.Millisecond}, // at 50ms has passed: at once
	}
	if len(got) != len(want) {
		t.Fatalf("commands %v", got)
	}
	for i, w := range want {
		at := got[i].at
		// Due at w.at, and the runner wakes at most a poll late.
		if got[i].cmd != w.cmd || at < w.at || at > w.at+PollInterval {
			t.Errorf("command %d: %q at %s, want %q at %s", i, got[i].cmd, at, w.cmd, w.at)
		}
	}
	for _, line := range []string{"scenario t.scn: Timing", "setup", "chapter 1/2: A", "chapter 2/2: B", "PASSED: 0 expects"} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("output lacks %q:\n%s", line, out.String())
		}
	}
}

// TestFreezeHoldsTheLesson: scenario timing runs on the world clock, so a
// frozen world holds the lesson and a faster one hurries it.
func TestFreezeHoldsTheLesson(t *testing.T) {
	f := newTimedFake(1)
	f.update(func(s *cluster.Snapshot) { s.Frozen = true })
	f.at(400*time.Millisecond, func(s *cluster.Snapshot) { s.Frozen = false })
	sc := mustParse(t, `title "Freeze"
chapter "A"
at 100ms write 1
`)
	if err := f.run(context.Background(), sc, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if got := f.commands(); len(got) != 1 || got[0].cmd != "write 1" || got[0].at < 400*time.Millisecond {
		t.Fatalf("a frozen world ran %v before it was unfrozen at 400ms", got)
	}

	// At speed 8, "at 800ms" comes after 100ms of real time, and an
	// expect's "within 8s" gives up after 1s.
	g := newTimedFake(1)
	g.update(func(s *cluster.Snapshot) { s.Speed = 8 })
	sc = mustParse(t, `title "Fast"
chapter "A"
at 800ms write 1
expect follower-1 crc-failures > 0 within 8s
`)
	err := g.run(context.Background(), sc, &bytes.Buffer{})
	if err == nil {
		t.Fatal("the expect cannot hold, yet passed")
	}
	if got := g.commands(); len(got) != 1 || got[0].at < 100*time.Millisecond || got[0].at > 100*time.Millisecond+PollInterval {
		t.Fatalf("at speed 8: %v", got)
	}
	if took := g.elapsed() - g.commands()[0].at; took < time.Second || took > time.Second+PollInterval {
		t.Fatalf("within 8s at speed 8 gave up after %v", took)
	}
}

func TestHeadlessExpect(t *testing.T) {
	f := newTimedFake(3)
	// follower-3 falls behind, then catches up 150ms later.
	f.update(func(s *cluster.Snapshot) {
		s.Leader.FlushLSN, s.Leader.Keys = 1000, 10
		for i := range s.Followers {
			fs := &s.Followers[i]
			fs.WriteLSN, fs.FlushLSN, fs.ReplayLSN, fs.Keys = 1000, 1000, 1000, 10
		}
		s.Followers[2].ReplayLSN = 500
	})
	f.at(150*time.Millisecond, func(s *cluster.Snapshot) { s.Followers[2].ReplayLSN = 1000 })
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
	if err := f.run(context.Background(), sc, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if n := strings.Count(out.String(), "  ok   t.scn:"); n != 6 {
		t.Errorf("%d ok lines, want 6:\n%s", n, out.String())
	}
	if !strings.Contains(out.String(), "PASSED: 6 expects") {
		t.Errorf("no summary:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "ok   t.scn:2: expect all matches leader within 2s (150ms: ") {
		t.Errorf("the first expect did not hold at 150ms:\n%s", out.String())
	}
}

func TestHeadlessFailures(t *testing.T) {
	f := newTimedFake(2)
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
	err := f.run(context.Background(), sc, &out)
	var se *StepError
	if !errors.As(err, &se) {
		t.Fatalf("got %v, want a StepError\n%s", err, out.String())
	}
	if took := f.elapsed(); took < 300*time.Millisecond || took > 300*time.Millisecond+2*PollInterval {
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
	f := newTimedFake(1)
	f.update(func(s *cluster.Snapshot) { s.Leader.Commits = 10; s.Followers[0].ReplayLSN = 0x100 })
	f.at(100*time.Millisecond, func(s *cluster.Snapshot) { s.Leader.Commits = 11 })
	sc := mustParse(t, `expect leader commits rises within 2s
expect follower-1 replay rises within 100ms
`)
	var out bytes.Buffer
	err := f.run(context.Background(), sc, &out)
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
	f := newTimedFake(1)
	// Commits move every 20ms for 200ms, then stop; replay keeps moving.
	for i := 1; i <= 200; i++ {
		f.at(time.Duration(i)*20*time.Millisecond, func(s *cluster.Snapshot) {
			if i <= 10 {
				s.Leader.Commits++
			}
			s.Followers[0].ReplayLSN += 64
		})
	}
	sc := mustParse(t, `expect leader commits steady for 300ms within 2s
expect follower-1 replay steady for 100ms within 400ms
`)
	var out bytes.Buffer
	err := f.run(context.Background(), sc, &out)
	if !strings.Contains(out.String(), "ok   t.scn:1: expect leader commits steady for 300ms within 2s") ||
		!strings.Contains(out.String(), "leader commits 10, unchanged for 3") {
		t.Errorf("output:\n%s", out.String())
	}
	if took := f.elapsed(); took < 900*time.Millisecond {
		t.Errorf("took %s: 200ms of moving, 300ms steady, 400ms of failing", took)
	}
	var se *StepError
	if !errors.As(err, &se) || se.Line != 2 || !strings.Contains(se.Seen, "follower-1 replay") {
		t.Errorf("got %v, want line 2 to fail", err)
	}
}

func TestFollowersLine(t *testing.T) {
	f := newFake(1)
	sc := mustParse(t, "title \"Three\"\nfollowers 3\nexpect follower-3 state startup\n")
	var out bytes.Buffer
	if err := RunHeadless(context.Background(), f, sc, &out); err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if got := f.commands(); len(got) != 2 || got[0].cmd != "add" || got[1].cmd != "add" {
		t.Errorf("commands %v, want two adds", got)
	}
	if !strings.Contains(out.String(), "added 2 followers: the scenario needs 3\n") {
		t.Errorf("output:\n%s", out.String())
	}
	// Enough already: nothing added.
	if err := RunHeadless(context.Background(), f, sc, new(bytes.Buffer)); err != nil || len(f.commands()) != 2 {
		t.Errorf("second run: %v, commands %v", err, f.commands())
	}
	f.refuse = cluster.VerbAdd
	sc.Followers = 5
	if err := RunHeadless(context.Background(), f, sc, new(bytes.Buffer)); err == nil || !strings.Contains(err.Error(), "needs 5 followers") {
		t.Errorf("refused add: %v", err)
	}
}

func TestHeadlessCancel(t *testing.T) {
	f := newTimedFake(1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f.at(100*time.Millisecond, func(*cluster.Snapshot) { cancel() })
	sc := mustParse(t, "expect follower-1 paused within 10s\n")
	err := f.run(ctx, sc, new(bytes.Buffer))
	if !errors.Is(err, context.Canceled) || f.elapsed() > 100*time.Millisecond+PollInterval {
		t.Errorf("got %v after %s", err, f.elapsed())
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
	deadline := time.Now().Add(3 * time.Second)
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

func TestPlayerChapters(t *testing.T) {
	before := runtime.NumGoroutine()
	f := newFake(2)
	sc := mustParse(t, `title "Lesson"
set setup 1
say "Press a key"
chapter "One"
say "first"
write 1
chapter "Two"
say "second"
after 10s write 2
chapter "Three"
expect follower-1 paused within 50ms
`)
	p := NewPlayer(f, sc)
	defer p.Close()

	st := waitState(t, p, "the setup", func(s LessonState) bool { return s.WaitingForKey })
	if st.ChapterIndex != 0 || st.Caption != "Press a key" || st.NextChapter != "One" || st.Chapters != 3 || st.Title != "Lesson" {
		t.Errorf("after setup: %+v", st)
	}
	// Waiting for a key, the player runs nothing more.
	if n := len(f.commands()); n != 1 {
		t.Errorf("chapter one started without a key: %v", f.commands())
	}

	p.Next()
	st = waitState(t, p, "chapter one", func(s LessonState) bool { return s.ChapterIndex == 1 && s.WaitingForKey })
	if st.Chapter != "One" || st.Caption != "first" || st.NextChapter != "Two" {
		t.Errorf("chapter one: %+v", st)
	}

	// Chapter two waits 10s; Next skips the rest of it.
	p.Next()
	waitState(t, p, "chapter two", func(s LessonState) bool { return s.ChapterIndex == 2 && s.Caption == "second" })
	p.Restart()
	waitState(t, p, "chapter two again", func(s LessonState) bool { return s.ChapterIndex == 2 && s.Caption == "second" })
	p.Prev()
	waitState(t, p, "chapter one again", func(s LessonState) bool { return s.ChapterIndex == 1 && s.WaitingForKey })
	if got := f.commands(); len(got) != 3 || got[1].cmd != "write 1" || got[2].cmd != "write 1" {
		t.Errorf("commands %v: chapter one twice, chapter two's write never", got)
	}

	// Two quick Nexts skip chapter two.
	p.Next()
	p.Next()
	st = waitState(t, p, "the end", func(s LessonState) bool { return s.Done })
	if st.ChapterIndex != 3 || !strings.Contains(st.Failed, "t.scn:11: expect follower-1 paused within 50ms") {
		t.Errorf("at the end: %+v", st)
	}
	p.Next() // nothing after the end
	p.Prev()
	st = waitState(t, p, "chapter two from the end", func(s LessonState) bool { return s.ChapterIndex == 2 })
	if st.Done || st.Failed != "" {
		t.Errorf("back from the end: %+v", st)
	}

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

func TestPlayerNoChapters(t *testing.T) {
	f := newFake(1)
	p := NewPlayer(f, mustParse(t, "pause 1\n"))
	defer p.Close()
	st := waitState(t, p, "done", func(s LessonState) bool { return s.Done })
	if st.WaitingForKey || st.Chapters != 0 {
		t.Errorf("%+v", st)
	}
	p.Prev() // before any chapter: nothing to go back to
	p.Restart()
	waitState(t, p, "done again", func(s LessonState) bool { return s.Done })
}
