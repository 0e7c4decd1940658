package scenario

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"

	"walship/engine/cluster"
)

// Player plays a scenario for the UI, at the presenter's pace. It runs the
// setup at once and then waits. Each Next plays one step: a caption and
// the lines up to the next caption (the first step of a chapter also runs
// the lines before its first caption). A caption stays until the presenter
// moves on, and so does a held moment (freeze when, slow): Next ends it.
// Next asked while a step's lines still run is kept, and the next step
// starts when they are done, so a line is never skipped.
//
// Entering a chapter checkpoints the world (WithRewinder); Prev, Restart
// and Back rewind it to a chapter's checkpoint and play that chapter again
// from its first step, so its expectations hold the second time too.
// Without a Rewinder going back is refused with a notice: re-running a
// chapter's lines on a world that has moved on would fail on screen.
//
// One goroutine, owned by the Player, runs the lines; Close stops it.
// Player implements Lesson.
type Player struct {
	ctrl  cluster.Controller
	sc    *Scenario
	opts  options
	rn    *runner    // used by the goroutine only
	steps [][][]Step // [0]: the setup, as one step; [c]: chapter c's steps

	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{} // closed when the goroutine has returned
	wake    chan struct{} // 1-buffered: a request is pending
	changed chan struct{} // 1-buffered: the state changed since the last read

	mu      sync.Mutex
	st      LessonState
	req     request
	target  int                // the chapter a Prev or Restart goes back to
	playing bool               // a step's lines are running
	cancel  context.CancelFunc // cancels the step playing, nil between steps
	saved   map[int]bool       // chapters whose start has a checkpoint
}

// request is what the presenter asked for and the goroutine has not done.
type request int

const (
	reqNone request = iota
	reqNext
	reqBack // Prev or Restart: rewind to Player.target
)

// NewPlayer starts playing sc against ctrl: the setup lines run at once,
// then the player waits for Next before chapter 1. Close stops it.
func NewPlayer(ctrl cluster.Controller, sc *Scenario, opts ...Option) *Player {
	ctx, stop := context.WithCancel(context.Background())
	o := makeOptions(opts)
	p := &Player{
		ctrl:    ctrl,
		sc:      sc,
		opts:    o,
		ctx:     ctx,
		stop:    stop,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		saved:   map[int]bool{},
		st: LessonState{
			Title: sc.Title, Summary: sc.Summary, Chapters: len(sc.Chapters),
			CanGoBack: o.rewinder != nil,
		},
	}
	p.rn = newRunner(ctrl, sc.File, p.opts, p)
	p.steps = append(p.steps, [][]Step{sc.Setup})
	for i := range sc.Chapters {
		p.steps = append(p.steps, sc.Chapters[i].Captions())
	}
	go p.loop()
	return p
}

// Close stops the player and waits for its goroutine. Held moments are
// ended; the cluster is otherwise left as it is. Close may be called more
// than once.
func (p *Player) Close() {
	p.stop()
	<-p.done
}

// Changed receives a value after the state has changed, so a UI can redraw
// without polling. Changes that come quickly are merged into one.
func (p *Player) Changed() <-chan struct{} { return p.changed }

// State is what the UI shows.
func (p *Player) State() LessonState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.st
}

// Next moves on one step (see Player). After the last step it ends the
// scenario.
func (p *Player) Next() { p.ask(reqNext, 0) }

// Prev goes back to the start of the previous chapter (chapter 1 restarts
// itself). Before the first chapter it does nothing.
func (p *Player) Prev() { p.ask(reqBack, -1) }

// Restart plays the current chapter again from its start.
func (p *Player) Restart() { p.ask(reqBack, 0) }

// Back restarts the chapter after its first step, and goes to the previous
// chapter on its first step.
func (p *Player) Back() {
	p.mu.Lock()
	delta := 0
	if p.st.Step <= 1 {
		delta = -1
	}
	p.mu.Unlock()
	p.ask(reqBack, delta)
}

// ask records a request and wakes the goroutine. For reqBack, delta is
// the chapter to go back to, relative to the current one.
func (p *Player) ask(r request, delta int) {
	p.mu.Lock()
	ok := p.request(r, delta)
	p.mu.Unlock()
	p.notify()
	if ok {
		select {
		case p.wake <- struct{}{}:
		default:
		}
	}
}

// request checks and records a request; p.mu is held. A Next while one is
// pending is dropped, so that each Next shows exactly the next caption.
func (p *Player) request(r request, delta int) bool {
	st := &p.st
	if r == reqNext {
		if st.Done || p.req != reqNone {
			return false
		}
		p.req, st.Pending = reqNext, p.playing
		return true
	}
	cur := st.ChapterIndex
	if cur == 0 {
		return false // nothing to go back to before chapter 1
	}
	target := max(cur+delta, 1)
	switch {
	case p.opts.rewinder == nil:
		st.Notice = "going back needs a world that can be checkpointed, and this one cannot"
		return false
	case !p.saved[target]:
		st.Notice = "chapter " + strconv.Itoa(target) + " has no checkpoint to go back to"
		return false
	}
	p.req, p.target, st.Pending = reqBack, target, false
	if p.cancel != nil {
		p.cancel()
	}
	return true
}

func (p *Player) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// loop is the player's goroutine: play a step, then wait for a request.
func (p *Player) loop() {
	defer close(p.done)
	defer p.rn.release()
	if err := p.opts.refuse(p.sc); err != nil {
		p.mu.Lock()
		p.st.Failed, p.st.Done = err.Error(), true
		p.mu.Unlock()
		p.notify()
		return
	}
	if _, err := addFollowers(p.ctrl, p.sc.Followers); err != nil {
		p.mu.Lock()
		p.st.Failed = err.Error()
		p.mu.Unlock()
	}
	c, s := 0, 0
	for {
		p.play(c, s)
		var ok bool
		if c, s, ok = p.await(c, s); !ok {
			return
		}
	}
}

// await waits for a request after step s of chapter c and carries it out
// as far as the world goes: ending held moments, checkpointing a chapter
// entered, rewinding one gone back to. It returns the step to play next,
// or false when the player is closed.
func (p *Player) await(c, s int) (int, int, bool) {
	for {
		p.mu.Lock()
		r, target := p.req, p.target
		p.req = reqNone
		if r != reqNone {
			p.st.Notice = ""
		}
		p.mu.Unlock()
		switch r {
		case reqNone:
			select {
			case <-p.ctx.Done():
				return 0, 0, false
			case <-p.wake:
			}
			continue
		case reqNext:
			p.rn.release()
			switch {
			case s+1 < len(p.steps[c]):
				return c, s + 1, true
			case c < len(p.sc.Chapters):
				p.checkpoint(c + 1)
				return c + 1, 0, true
			}
			p.mu.Lock()
			p.st.Done, p.st.WaitingForKey, p.st.Pending = true, false, false
			p.mu.Unlock()
			p.notify()
		case reqBack:
			p.rn.release()
			if err := p.opts.rewinder.Rewind(checkpointName(target)); err != nil {
				p.mu.Lock()
				p.st.Notice = fmt.Sprintf("going back to chapter %d failed: %v", target, err)
				p.st.WaitingForKey = !p.st.Done
				p.mu.Unlock()
				p.notify()
				continue
			}
			p.rn.clk.own = false // the checkpoint's world is not frozen by us
			p.rn.clk.now()
			return target, 0, true
		}
	}
}

func checkpointName(chapter int) string { return "chapter-" + strconv.Itoa(chapter) }

// checkpoint saves the world as chapter c starts, if it can.
func (p *Player) checkpoint(c int) {
	rw := p.opts.rewinder
	if rw == nil {
		return
	}
	err := rw.Checkpoint(checkpointName(c))
	p.mu.Lock()
	p.saved[c] = err == nil
	if err != nil {
		p.st.Notice = fmt.Sprintf("no checkpoint for chapter %d, so it cannot be gone back to: %v", c, err)
	}
	p.mu.Unlock()
}

// play runs step s of chapter c (chapter 0 is the setup) to its end or
// until a request to go back cancels it.
func (p *Player) play(c, s int) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	p.mu.Lock()
	p.cancel, p.playing = cancel, true
	if p.req == reqBack {
		cancel() // a request came before the step began
	}
	st := &p.st
	if s == 0 && c > 0 {
		st.Failed = "" // failures are per chapter; the setup's stay
	}
	st.ChapterIndex, st.Chapter, st.NextChapter = c, "", ""
	st.Step, st.Steps = 0, 0
	if c > 0 {
		st.Chapter = p.sc.Chapters[c-1].Title
		st.Step, st.Steps = s+1, len(p.steps[c])
	}
	if c < len(p.sc.Chapters) {
		st.NextChapter = p.sc.Chapters[c].Title
	}
	st.Caption, st.Points, st.Hold = "", [MaxPoints]Point{}, ""
	if lines := p.steps[c][s]; len(lines) > 0 && lines[0].Kind == StepSay && lines[0].Timing == TimingNext {
		st.Caption = lines[0].Text // no blank moment between one caption and the next
	}
	st.WaitingForKey, st.Done, st.Pending = false, false, p.req == reqNext
	p.mu.Unlock()
	p.notify()

	_ = p.rn.run(ctx, p.steps[c][s])

	p.mu.Lock()
	p.cancel, p.playing = nil, false
	if p.req == reqNone && p.ctx.Err() == nil {
		last := c == len(p.sc.Chapters) && s == len(p.steps[c])-1
		if last && st.Caption == "" && len(p.rn.holds) == 0 {
			st.Done = true // nothing left on screen to talk about
		} else {
			st.WaitingForKey = true
		}
	}
	p.mu.Unlock()
	p.notify()
}

func (p *Player) caption(st *Step) {
	p.mu.Lock()
	p.st.Caption = st.Text
	p.mu.Unlock()
	p.notify()
}

func (p *Player) point(pt Point) {
	p.mu.Lock()
	ps := &p.st.Points
	i := 0
	for i < len(ps) && ps[i] != (Point{}) {
		i++
	}
	if i == len(ps) { // full: the oldest goes (the parser allows MaxPoints a step)
		copy(ps[:], ps[1:])
		i--
	}
	ps[i] = pt
	p.mu.Unlock()
	p.notify()
}

func (p *Player) held(desc string) {
	p.mu.Lock()
	p.st.Hold = desc
	p.mu.Unlock()
	p.notify()
}

func (p *Player) finished(_ *Step, _ time.Duration, _ string, err *StepError) {
	if err == nil {
		return
	}
	p.mu.Lock()
	if p.st.Failed == "" {
		p.st.Failed = err.Error()
	}
	p.mu.Unlock()
	p.notify()
}

var _ Lesson = (*Player)(nil)

// Lessons plays one lesson at a time over a controller, for a UI whose
// lesson picker starts one while another plays: starting a lesson closes
// the one playing (its held moments end). It is safe for concurrent use.
type Lessons struct {
	ctrl cluster.Controller
	opts []Option

	mu  sync.Mutex
	cur *Player
}

// NewLessons returns a Lessons that plays over ctrl with opts (see
// NewPlayer).
func NewLessons(ctrl cluster.Controller, opts ...Option) *Lessons {
	return &Lessons{ctrl: ctrl, opts: opts}
}

// Play ends the lesson playing, if any, and starts sc.
func (l *Lessons) Play(sc *Scenario) *Player {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		l.cur.Close()
	}
	l.cur = NewPlayer(l.ctrl, sc, l.opts...)
	return l.cur
}

// Start loads the built-in lesson or scenario file named, for the
// backend the Lessons play on (see LoadFor), and plays it.
func (l *Lessons) Start(name string) (Lesson, error) {
	sc, err := LoadFor(name, makeOptions(l.opts).backend)
	if err != nil {
		return nil, err
	}
	return l.Play(sc), nil
}

// Close ends the lesson playing, if any.
func (l *Lessons) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cur != nil {
		l.cur.Close()
		l.cur = nil
	}
}
