package scenario

import (
	"context"
	"fmt"
	"io"
	"time"

	"walship/engine/cluster"
)

// PollInterval is how often an expect line looks at a fresh snapshot.
const PollInterval = 50 * time.Millisecond

// StepError is a step that did not go as written: an expect that did not
// hold in time, or a command the cluster refused.
type StepError struct {
	File   string
	Line   int
	Source string // the line as written, without its comment
	// Seen is what an expect saw last, in words; Err is a command's error.
	Seen   string
	Within time.Duration
	Err    error
}

func (e *StepError) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s:%d: %s: %v", e.File, e.Line, e.Source, e.Err)
	}
	return fmt.Sprintf("%s:%d: %s: not true after %s: saw %s", e.File, e.Line, e.Source, e.Within, e.Seen)
}

func (e *StepError) Unwrap() error { return e.Err }

// reporter hears what a run of steps does.
type reporter interface {
	caption(st *Step)
	// finished is called after each command and expect; err is nil when it
	// went as written. seen is what a passing expect saw.
	finished(st *Step, took time.Duration, seen string, err *StepError)
}

// realClock is the real time a scene clock follows: the system's, or, in
// tests, one that moves only when it is slept on.
type realClock interface {
	Now() time.Time
	// SleepUntil waits until t, or until ctx ends (then its error).
	SleepUntil(ctx context.Context, t time.Time) error
}

// systemClock is the system's real time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) SleepUntil(ctx context.Context, t time.Time) error { return sleepUntil(ctx, t) }

// sceneClock is the time a scenario's timing runs on: real time scaled by
// the world clock's speed, standing still while the world is frozen, so a
// teacher who freezes or slows the world also holds the lesson. It reads
// the speed and freeze from snapshots each time it is asked.
type sceneClock struct {
	ctrl cluster.Controller
	real realClock
	last time.Time
	t    time.Duration
}

func newSceneClock(ctrl cluster.Controller, real realClock) *sceneClock {
	return &sceneClock{ctrl: ctrl, real: real, last: real.Now()}
}

// now advances the clock by the real time since it was last asked, at the
// world's current speed, and returns it.
func (c *sceneClock) now() (time.Duration, float64) {
	s := c.ctrl.Snapshot(^uint64(0))
	return c.observe(&s)
}

// observe is now, reading speed and freeze from a snapshot the caller
// already has.
func (c *sceneClock) observe(s *cluster.Snapshot) (time.Duration, float64) {
	now := c.real.Now()
	d := now.Sub(c.last)
	c.last = now
	speed := s.Speed
	if speed <= 0 {
		speed = 1
	}
	if s.Frozen {
		speed = 0
	}
	c.t += time.Duration(float64(d) * speed)
	return c.t, speed
}

// sleepUntil waits until the scene clock reads t, or ctx ends.
func (c *sceneClock) sleepUntil(ctx context.Context, t time.Duration) error {
	for {
		now, speed := c.now()
		if now >= t {
			return ctx.Err()
		}
		wait := PollInterval
		if speed > 0 {
			wait = min(wait, time.Duration(float64(t-now)/speed)+time.Millisecond)
		}
		if err := c.real.SleepUntil(ctx, c.real.Now().Add(wait)); err != nil {
			return err
		}
	}
}

// runSteps plays steps in order on the scene clock (following real), starting
// now. It returns only when the steps are done or ctx is cancelled (then
// with ctx's error).
func runSteps(ctx context.Context, ctrl cluster.Controller, real realClock, file string, steps []Step, r reporter) error {
	clk := newSceneClock(ctrl, real)
	start, _ := clk.now()
	prev := start
	for i := range steps {
		st := &steps[i]
		due := prev
		switch st.Timing {
		case TimingAt:
			due = start + st.Delay
		case TimingAfter:
			due = prev + st.Delay
		}
		if err := clk.sleepUntil(ctx, due); err != nil {
			return err
		}
		began := real.Now()
		switch st.Kind {
		case StepCommand:
			var se *StepError
			if err := ctrl.Do(st.Command); err != nil {
				se = &StepError{File: file, Line: st.Line, Source: st.Source, Err: err}
			}
			r.finished(st, real.Now().Sub(began), "", se)
		case StepSay:
			r.caption(st)
		case StepExpect:
			seen, ok, err := poll(ctx, ctrl, clk, st.Expect)
			if err != nil {
				return err
			}
			var se *StepError
			if !ok {
				se = &StepError{File: file, Line: st.Line, Source: st.Source, Seen: seen, Within: st.Expect.Within}
			}
			r.finished(st, real.Now().Sub(began), seen, se)
		}
		prev, _ = clk.now()
	}
	return nil
}

// poll checks e against fresh snapshots until it holds or e.Within has
// passed on the scene clock. It returns what it saw last.
func poll(ctx context.Context, ctrl cluster.Controller, clk *sceneClock, e *Expect) (seen string, ok bool, err error) {
	now, _ := clk.now()
	deadline := now + e.Within
	var since uint64
	w := &watcher{e: e}
	for {
		s := ctrl.Snapshot(since)
		since = s.LastEvent
		now, _ = clk.observe(&s)
		if ok, seen = w.check(&s, now); ok {
			return seen, true, nil
		}
		if now >= deadline {
			return seen, false, nil
		}
		if err := clk.real.SleepUntil(ctx, clk.real.Now().Add(PollInterval)); err != nil {
			return seen, false, err
		}
	}
}

// sleepUntil waits for t or for ctx to end.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// addFollowers adds followers to ctrl until it has at least n. It returns
// how many it added.
func addFollowers(ctrl cluster.Controller, n int) (int, error) {
	s := ctrl.Snapshot(^uint64(0))
	added := 0
	for have := len(s.Followers); have < n; have++ {
		if err := ctrl.Do(cluster.Command{Verb: cluster.VerbAdd}); err != nil {
			return added, fmt.Errorf("scenario: it needs %d followers; adding one to %d: %w", n, have, err)
		}
		added++
	}
	return added, nil
}

// RunHeadless plays sc against ctrl with no terminal: chapters do not wait
// for a key, timing is kept, and every expect is checked. It writes one
// line to out per chapter and per expect (and per refused command), then a
// summary line. It keeps going after a failure, so that one run shows them
// all, and returns the first failure as a *StepError naming file:line and
// what was seen; or ctx's error if ctx ends first.
func RunHeadless(ctx context.Context, ctrl cluster.Controller, sc *Scenario, out io.Writer) error {
	return RunHeadlessResults(ctx, ctrl, sc, out, nil)
}

// StepResult is how one command or expect line went in a headless run.
type StepResult struct {
	Kind   StepKind // StepCommand or StepExpect
	File   string
	Line   int
	Source string // the line as written, without its comment
	Within time.Duration
	Seen   string     // what an expect saw last
	Err    *StepError // nil when the step went as written
}

// RunHeadlessResults is RunHeadless that also hands each command's and
// expect's result to results (when it is not nil) as the step finishes.
func RunHeadlessResults(ctx context.Context, ctrl cluster.Controller, sc *Scenario, out io.Writer, results func(StepResult)) error {
	return runHeadless(ctx, ctrl, systemClock{}, sc, out, results)
}

// runHeadless is RunHeadlessResults on a real clock of the caller's.
func runHeadless(ctx context.Context, ctrl cluster.Controller, real realClock, sc *Scenario, out io.Writer, results func(StepResult)) error {
	h := &headless{out: out, file: sc.File, results: results}
	fmt.Fprintf(out, "scenario %s: %s\n", sc.File, sc.Title)
	added, err := addFollowers(ctrl, sc.Followers)
	if added > 0 {
		fmt.Fprintf(out, "added %d followers: the scenario needs %d\n", added, sc.Followers)
	}
	if err != nil {
		return err
	}
	if len(sc.Setup) > 0 {
		fmt.Fprintf(out, "setup\n")
		if err := runSteps(ctx, ctrl, real, sc.File, sc.Setup, h); err != nil {
			return err
		}
	}
	for i := range sc.Chapters {
		ch := &sc.Chapters[i]
		fmt.Fprintf(out, "chapter %d/%d: %s\n", i+1, len(sc.Chapters), ch.Title)
		if err := runSteps(ctx, ctrl, real, sc.File, ch.Steps, h); err != nil {
			return err
		}
	}
	if h.first != nil {
		fmt.Fprintf(out, "FAILED: %d of %d expects, %d refused commands; first: %s:%d\n",
			h.expectFails, h.expects, h.commandFails, h.first.File, h.first.Line)
		return h.first
	}
	fmt.Fprintf(out, "PASSED: %d expects\n", h.expects)
	return nil
}

// headless reports to a writer and remembers the first failure.
type headless struct {
	out                  io.Writer
	file                 string
	expects, expectFails int
	commandFails         int
	first                *StepError
	results              func(StepResult)
}

func (h *headless) caption(*Step) {}

func (h *headless) finished(st *Step, took time.Duration, seen string, err *StepError) {
	if h.results != nil {
		r := StepResult{Kind: st.Kind, File: h.file, Line: st.Line, Source: st.Source, Seen: seen, Err: err}
		if st.Expect != nil {
			r.Within = st.Expect.Within
		}
		h.results(r)
	}
	if st.Kind == StepExpect {
		h.expects++
	}
	if err != nil {
		if st.Kind == StepExpect {
			h.expectFails++
		} else {
			h.commandFails++
		}
		if h.first == nil {
			h.first = err
		}
		fmt.Fprintf(h.out, "  FAIL %s\n", err)
		return
	}
	if st.Kind == StepExpect {
		fmt.Fprintf(h.out, "  ok   %s:%d: %s (%s: %s)\n", h.file, st.Line, st.Source, took.Round(time.Millisecond), seen)
	}
}
