package scenario

import (
	"context"
	"fmt"
	"io"
	"time"

	"walship/engine/cluster"
)

// PollInterval is how often an expect line looks at a fresh snapshot, in
// world time at the scenario's normal speed.
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

// Option tunes RunHeadless, NewPlayer and NewRecorder.
type Option func(*options)

type options struct {
	speed    float64
	clock    Clock
	rewinder Rewinder
	backend  Backend
}

func makeOptions(opts []Option) options {
	o := options{speed: 1, clock: wallClock{}, backend: BackendEngine}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WithSpeed plays the scenario with the world running speed times as fast
// as written: every duration (at, after, wait, within, steady for) is
// world time, so the lesson is the same, only quicker (or slower). The
// run sets the world's speed at its start, and scales the scenario's own
// speed and slow lines by the same factor. Headless tests use it to play
// the lessons in a fraction of their time. Speeds outside 1/64..64 are
// clamped (as the world clock clamps them).
func WithSpeed(speed float64) Option {
	return func(o *options) {
		if speed > 0 {
			o.speed = min(max(speed, 1.0/64), 64)
		}
	}
}

// WithClock measures real time on c instead of the wall clock.
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// refuse says why sc cannot play with these options: it was not written
// for the backend, or asks a real cluster to run at another speed.
func (o *options) refuse(sc *Scenario) error {
	if !sc.Runs(o.backend) {
		return fmt.Errorf("scenario: %s is written for %s, not for %s (a backends line says what a scenario is for)",
			sc.File, sc.Backends.Words(), o.backend.Words())
	}
	if o.backend == BackendPG && o.speed != 1 {
		return fmt.Errorf("scenario: %s plays in real time on PostgreSQL: its servers cannot run %s as fast", sc.File, speedWords(o.speed))
	}
	return nil
}

// reporter hears what a run of steps does.
type reporter interface {
	caption(st *Step)
	point(pt Point)
	// held says a held moment began (its description), or that every one
	// has ended ("").
	held(desc string)
	// finished is called after each command, expect and hold; err is nil
	// when it went as written. seen is what a passing expect saw.
	finished(st *Step, took time.Duration, seen string, err *StepError)
}

// runner plays lines against a controller on one scene clock, and keeps
// the held moments in effect until the step they belong to ends. It
// belongs to one goroutine.
type runner struct {
	ctrl  cluster.Controller
	file  string
	clk   *sceneClock
	r     reporter
	holds []heldMoment // held until the step ends, oldest first
	// realTime: the world's clock cannot be slowed or frozen (PostgreSQL),
	// so a held moment only waits for its conditions.
	realTime bool
}

// heldMoment is a hold in effect and how to end it.
type heldMoment struct {
	freeze bool
	speed  float64 // a slow hold: the world speed to go back to
}

func newRunner(ctrl cluster.Controller, file string, o options, r reporter) *runner {
	return &runner{ctrl: ctrl, file: file, clk: newSceneClock(ctrl, o.clock, o.speed), r: r, realTime: o.backend == BackendPG}
}

// run plays lines in order on the scene clock, starting now (at lines
// count from here). It returns only when the lines are done or ctx is
// cancelled (then with ctx's error). Holds without an until stay in
// effect: release ends them.
func (rn *runner) run(ctx context.Context, lines []Step) error {
	start, _ := rn.clk.now()
	prev := start
	for i := range lines {
		st := &lines[i]
		due := prev
		switch st.Timing {
		case TimingAt:
			due = start + st.Delay
		case TimingAfter:
			due = prev + st.Delay
		}
		if err := rn.clk.sleepUntil(ctx, due); err != nil {
			return err
		}
		began := rn.clk.clock.Now()
		took := func() time.Duration { return rn.clk.clock.Now().Sub(began) }
		switch st.Kind {
		case StepCommand:
			var se *StepError
			if err := rn.do(st.Command); err != nil {
				se = rn.stepError(st, err)
			}
			rn.r.finished(st, took(), "", se)
		case StepSay:
			rn.r.caption(st)
		case StepPoint:
			rn.r.point(st.Point)
		case StepExpect:
			seen, se, err := rn.expect(ctx, st, st.Expect)
			if err != nil {
				return err
			}
			rn.r.finished(st, took(), seen, se)
		case StepHold:
			seen, se, err := rn.hold(ctx, st)
			if err != nil {
				return err
			}
			rn.r.finished(st, took(), seen, se)
		}
		prev, _ = rn.clk.now()
	}
	return nil
}

func (rn *runner) stepError(st *Step, err error) *StepError {
	return &StepError{File: rn.file, Line: st.Line, Source: st.Source, Err: err}
}

// do carries out a command of the scenario: speeds are scaled to the base
// speed, and the scene clock learns of the scenario's own freezes.
func (rn *runner) do(c cluster.Command) error {
	switch c.Verb {
	case cluster.VerbSpeed:
		c.Factor = scaleSpeed(c.Factor, rn.clk.base)
		fallthrough
	case cluster.VerbFreeze, cluster.VerbUnfreeze:
		rn.clk.now() // the time until now ran at the rate before the change
	}
	err := rn.ctrl.Do(c)
	if err == nil && (c.Verb == cluster.VerbFreeze || c.Verb == cluster.VerbUnfreeze) {
		rn.clk.own = c.Verb == cluster.VerbFreeze
	}
	return err
}

// setSpeed sets the world's speed as it is (not scaled to the base).
func (rn *runner) setSpeed(f float64) error {
	rn.clk.now()
	return rn.ctrl.Do(cluster.Command{Verb: cluster.VerbSpeed, Factor: f})
}

// expect polls e until it holds or its within has passed on the scene
// clock. A failure is a *StepError for st; err is ctx's.
func (rn *runner) expect(ctx context.Context, st *Step, e *Expect) (string, *StepError, error) {
	seen, ok, err := rn.poll(ctx, e)
	if err != nil || ok {
		return seen, nil, err
	}
	return seen, &StepError{File: rn.file, Line: st.Line, Source: st.Source, Seen: seen, Within: e.Within}, nil
}

// poll checks e against fresh snapshots until it holds or e.Within has
// passed on the scene clock. It returns what it saw last.
func (rn *runner) poll(ctx context.Context, e *Expect) (seen string, ok bool, err error) {
	clk := rn.clk
	now, _ := clk.now()
	deadline := now + e.Within
	var since uint64
	w := &watcher{e: e}
	for {
		s := rn.ctrl.Snapshot(since)
		since = s.LastEvent
		now, _ = clk.observe(&s)
		if ok, seen = w.check(&s, now); ok {
			return seen, true, nil
		}
		if now >= deadline {
			return seen, false, nil
		}
		if err := clk.clock.Sleep(ctx, clk.pollEvery()); err != nil {
			return seen, false, err
		}
	}
}

// hold plays a held moment: waits for its when, slows or freezes the
// world, and for an until waits for it and gives the world its speed back.
// A hold with no until stays until release.
func (rn *runner) hold(ctx context.Context, st *Step) (string, *StepError, error) {
	h := st.Hold
	seen := ""
	if h.When != nil {
		s, se, err := rn.expect(ctx, st, h.When)
		if err != nil || se != nil {
			return s, se, err
		}
		seen = s
	}
	if rn.realTime {
		// Real servers cannot be held: the moment passes as it happens.
		if h.Until != nil {
			return rn.expect(ctx, st, h.Until)
		}
		return seen, nil, nil
	}
	snap := rn.ctrl.Snapshot(^uint64(0))
	if h.Freeze {
		if snap.Frozen {
			return seen, nil, nil // frozen already (by the teacher): not ours to end
		}
		if err := rn.do(cluster.Command{Verb: cluster.VerbFreeze}); err != nil {
			return seen, rn.stepError(st, err), nil
		}
		rn.holds = append(rn.holds, heldMoment{freeze: true})
		rn.r.held(h.String())
		return seen, nil, nil
	}
	back := snap.Speed
	if back <= 0 {
		back = 1
	}
	if err := rn.setSpeed(scaleSpeed(h.Speed, rn.clk.base)); err != nil {
		return seen, rn.stepError(st, err), nil
	}
	if h.Until == nil {
		rn.holds = append(rn.holds, heldMoment{speed: back})
		rn.r.held(h.String())
		return seen, nil, nil
	}
	rn.r.held(h.String())
	s, se, err := rn.expect(ctx, st, h.Until)
	if rerr := rn.setSpeed(back); rerr != nil && se == nil && err == nil {
		se = rn.stepError(st, rerr)
	}
	rn.r.held(rn.holdsText())
	return s, se, err
}

// holdsText describes the newest hold in effect ("" when none).
func (rn *runner) holdsText() string {
	if len(rn.holds) == 0 {
		return ""
	}
	if rn.holds[len(rn.holds)-1].freeze {
		return (&Hold{Freeze: true}).String()
	}
	s := rn.ctrl.Snapshot(^uint64(0))
	return (&Hold{Speed: s.Speed / rn.clk.base}).String()
}

// release ends the held moments of the step that is over, newest first:
// the world is unfrozen and gets its speed back.
func (rn *runner) release() {
	if len(rn.holds) == 0 {
		return
	}
	for i := len(rn.holds) - 1; i >= 0; i-- {
		h := rn.holds[i]
		if h.freeze {
			_ = rn.do(cluster.Command{Verb: cluster.VerbUnfreeze})
		} else {
			_ = rn.setSpeed(h.speed)
		}
	}
	rn.holds = rn.holds[:0]
	rn.r.held("")
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

// RunHeadless plays sc against ctrl with no terminal: it never waits for a
// presenter, timing is kept, held moments end as soon as their step's lines
// are done, and every expect is checked. It writes one line to out per
// chapter and per expect and hold (and per refused command), then a
// summary line. It keeps going after a failure, so that one run shows them
// all, and returns the first failure as a *StepError naming file:line and
// what was seen; or ctx's error if ctx ends first.
func RunHeadless(ctx context.Context, ctrl cluster.Controller, sc *Scenario, out io.Writer, opts ...Option) error {
	return RunHeadlessResults(ctx, ctrl, sc, out, nil, opts...)
}

// StepResult is how one command, expect or held moment's condition went
// in a headless run.
type StepResult struct {
	Kind   StepKind // StepCommand, StepExpect, or StepHold (a slow or freeze with when or until)
	File   string
	Line   int
	Source string // the line as written, without its comment
	Within time.Duration
	Seen   string     // what an expect (or a hold's condition) saw last
	Err    *StepError // nil when the step went as written
}

// RunHeadlessResults is RunHeadless that also hands each command's,
// expect's and held moment's result to results (when it is not nil) as the
// step finishes.
func RunHeadlessResults(ctx context.Context, ctrl cluster.Controller, sc *Scenario, out io.Writer, results func(StepResult), opts ...Option) error {
	o := makeOptions(opts)
	if err := o.refuse(sc); err != nil {
		return err
	}
	h := &headless{out: out, file: sc.File, results: results}
	fmt.Fprintf(out, "scenario %s: %s\n", sc.File, sc.Title)
	added, err := addFollowers(ctrl, sc.Followers)
	if added > 0 {
		fmt.Fprintf(out, "added %d followers: the scenario needs %d\n", added, sc.Followers)
	}
	if err != nil {
		return err
	}
	if o.speed != 1 {
		if err := ctrl.Do(cluster.Command{Verb: cluster.VerbSpeed, Factor: o.speed}); err != nil {
			return fmt.Errorf("scenario: setting the world's speed to %g: %w", o.speed, err)
		}
		fmt.Fprintf(out, "world speed %s\n", speedWords(o.speed))
	}
	rn := newRunner(ctrl, sc.File, o, h)
	defer rn.release()
	play := func(lines []Step) error {
		for _, step := range splitAtCaptions(lines) {
			err := rn.run(ctx, step)
			rn.release()
			if err != nil {
				return err
			}
		}
		return nil
	}
	if len(sc.Setup) > 0 {
		fmt.Fprintf(out, "setup\n")
		if err := rn.run(ctx, sc.Setup); err != nil {
			return err
		}
		rn.release()
	}
	for i := range sc.Chapters {
		ch := &sc.Chapters[i]
		fmt.Fprintf(out, "chapter %d/%d: %s\n", i+1, len(sc.Chapters), ch.Title)
		if err := play(ch.Steps); err != nil {
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
func (h *headless) point(Point)   {}
func (h *headless) held(string)   {}

func (h *headless) finished(st *Step, took time.Duration, seen string, err *StepError) {
	checks := st.Kind == StepExpect || st.Kind == StepHold && (st.Hold.When != nil || st.Hold.Until != nil)
	if h.results != nil && (checks || st.Kind == StepCommand || err != nil) {
		r := StepResult{Kind: st.Kind, File: h.file, Line: st.Line, Source: st.Source, Seen: seen, Err: err}
		switch {
		case st.Expect != nil:
			r.Within = st.Expect.Within
		case !checks:
			r.Kind = StepCommand // a slow or freeze the cluster refused
		case st.Hold.When != nil:
			r.Within = st.Hold.When.Within
		default:
			r.Within = st.Hold.Until.Within
		}
		h.results(r)
	}
	if checks {
		h.expects++
	}
	if err != nil {
		if checks && err.Err == nil {
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
	if checks {
		fmt.Fprintf(h.out, "  ok   %s:%d: %s (%s: %s)\n", h.file, st.Line, st.Source, took.Round(time.Millisecond), seen)
	}
}
