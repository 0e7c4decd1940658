package scenario

import (
	"context"
	"errors"
	"os"
	"runtime"
	"sync"
	"testing"
	"time"

	"walship/engine/cluster"
)

func writeFile(path, s string) error { return os.WriteFile(path, []byte(s), 0o644) }

// testClock is a Clock that moves only when slept on, so a scenario of
// minutes plays in no real time and its timings are exact.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newTestClock() *testClock { return &testClock{t: time.Unix(1_700_000_000, 0)} }

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(max(d, 0))
	c.mu.Unlock()
	runtime.Gosched() // a loop that sleeps (a frozen world) must not starve others
	return nil
}

// fake is a Controller with a synthetic snapshot, on a test clock.
// Commands are logged with their time on that clock; a few change the
// snapshot, as the real cluster would. A script, when set, changes the
// snapshot as time passes.
type fake struct {
	mu    sync.Mutex
	clock *testClock
	start time.Time
	snap  cluster.Snapshot
	done  []done
	// refuse makes Do fail for this verb.
	refuse cluster.Verb
	// script is called with the time since the start on every Snapshot.
	script func(at time.Duration, s *cluster.Snapshot)
	// gate, when set, is called with each command's text before it is
	// done, outside the lock: a test can hold a command there.
	gate func(cmd string)
}

type done struct {
	at  time.Duration
	cmd string
}

func newFake(followers int) *fake {
	c := newTestClock()
	f := &fake{clock: c, start: c.Now()}
	f.snap.Speed = 1
	for i := 1; i <= followers; i++ {
		f.snap.Followers = append(f.snap.Followers, cluster.FollowerStatus{
			Name: cluster.FollowerName(i), Index: i, State: cluster.StateStreaming,
		})
	}
	return f
}

// opts are the options that run a scenario on the fake's clock.
func (f *fake) opts(more ...Option) []Option { return append([]Option{WithClock(f.clock)}, more...) }

func (f *fake) now() time.Duration { return f.clock.Now().Sub(f.start) }

func (f *fake) Snapshot(since uint64) cluster.Snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.script != nil {
		f.script(f.now(), &f.snap)
	}
	s := f.snap
	s.Followers = append([]cluster.FollowerStatus(nil), f.snap.Followers...)
	return s
}

func (f *fake) Do(c cluster.Command) error {
	if f.gate != nil {
		f.gate(c.String())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.done = append(f.done, done{f.now(), c.String()})
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
	case cluster.VerbFreeze, cluster.VerbUnfreeze:
		f.snap.Frozen = c.Verb == cluster.VerbFreeze
	case cluster.VerbSpeed:
		f.snap.Speed = c.Factor
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

func (f *fake) commandTexts() []string {
	var out []string
	for _, d := range f.commands() {
		out = append(out, d.cmd)
	}
	return out
}

func mustParse(t *testing.T, src string) *Scenario {
	t.Helper()
	sc, err := Parse("t.scn", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return sc
}
