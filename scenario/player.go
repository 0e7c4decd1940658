package scenario

import (
	"context"
	"sync"
	"time"

	"walship/engine/cluster"
)

// Player plays a scenario for the UI: it runs the setup at once, then waits
// for Next before each chapter. It implements Lesson.
//
// Prev and Restart re-run a chapter's lines from its start; they do not
// rewind the cluster, which keeps whatever state the skipped or repeated
// lines left behind. Next skips the rest of the chapter playing (its
// remaining lines are not run). Captions and failures are per chapter:
// LessonState.Caption and LessonState.Failed are cleared when a chapter
// starts. A refused command counts as a failure as an expect does.
//
// One goroutine, owned by the Player, runs the lines; Close stops it.
type Player struct {
	ctrl cluster.Controller
	sc   *Scenario

	ctx     context.Context
	stop    context.CancelFunc
	done    chan struct{} // closed when the goroutine has returned
	wake    chan struct{} // 1-buffered: a navigation request is pending
	changed chan struct{} // 1-buffered: the state changed since the last read

	mu     sync.Mutex
	st     LessonState
	target int                // pending navigation: chapter to start; -1 none; len(Chapters)+1 finish
	cancel context.CancelFunc // cancels the chapter being played, nil between chapters
}

// NewPlayer starts playing sc against ctrl: the setup lines run at once,
// then the player waits for Next before chapter 1. Close stops it.
func NewPlayer(ctrl cluster.Controller, sc *Scenario) *Player {
	ctx, stop := context.WithCancel(context.Background())
	p := &Player{
		ctrl:    ctrl,
		sc:      sc,
		ctx:     ctx,
		stop:    stop,
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		changed: make(chan struct{}, 1),
		target:  -1,
		st:      LessonState{Title: sc.Title, Chapters: len(sc.Chapters)},
	}
	go p.loop()
	return p
}

// Close stops the player and waits for its goroutine. The cluster is left as
// it is. Close may be called more than once.
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

// Next starts the next chapter now, skipping what is left of this one.
// After the last chapter it ends the scenario.
func (p *Player) Next() {
	p.navigate(func(cur int) int { return min(cur+1, len(p.sc.Chapters)+1) })
}

// Prev goes back to the start of the previous chapter (chapter 1 restarts
// itself). Before the first chapter it does nothing.
func (p *Player) Prev() {
	p.navigate(func(cur int) int {
		if cur == 0 {
			return -1
		}
		return max(cur-1, 1)
	})
}

// Restart plays the current chapter again from its start.
func (p *Player) Restart() { p.navigate(func(cur int) int { return cur }) }

// navigate sets the pending target from the current chapter (or the pending
// one, so that two quick Nexts skip two chapters), cancels the chapter
// playing and wakes the loop.
func (p *Player) navigate(to func(cur int) int) {
	p.mu.Lock()
	cur := p.target
	if cur < 0 {
		cur = p.st.ChapterIndex
	}
	if cur > len(p.sc.Chapters) {
		cur = len(p.sc.Chapters) // Prev after the end: from the last chapter
	}
	t := to(cur)
	if t < 0 {
		p.mu.Unlock()
		return
	}
	p.target = t
	if p.cancel != nil {
		p.cancel()
	}
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

func (p *Player) notify() {
	select {
	case p.changed <- struct{}{}:
	default:
	}
}

// loop is the player's goroutine: play a chapter, then wait for a request.
func (p *Player) loop() {
	defer close(p.done)
	cur, play := 0, true
	for {
		if play {
			p.play(cur)
		}
		select {
		case <-p.ctx.Done():
			return
		case <-p.wake:
		}
		p.mu.Lock()
		t := p.target
		p.target = -1
		if t > len(p.sc.Chapters) {
			p.st.Done, p.st.WaitingForKey, play = true, false, false
		} else if t >= 0 {
			cur, play = t, true
		} else {
			play = false
		}
		p.mu.Unlock()
		p.notify()
	}
}

// play runs chapter i (0 is the setup) to its end or until cancelled.
func (p *Player) play(i int) {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	steps := p.sc.Setup
	failed := ""
	if i == 0 {
		if _, err := addFollowers(p.ctrl, p.sc.Followers); err != nil {
			failed = err.Error()
		}
	}
	p.mu.Lock()
	p.cancel = cancel
	if p.target >= 0 {
		cancel() // a request came before the chapter began
	}
	p.st.ChapterIndex, p.st.Chapter = i, ""
	if i > 0 {
		p.st.Chapter = p.sc.Chapters[i-1].Title
		steps = p.sc.Chapters[i-1].Steps
	}
	p.st.NextChapter = ""
	if i < len(p.sc.Chapters) {
		p.st.NextChapter = p.sc.Chapters[i].Title
	}
	p.st.Caption, p.st.Failed = "", failed
	p.st.WaitingForKey, p.st.Done = false, false
	p.mu.Unlock()
	p.notify()

	_ = runSteps(ctx, p.ctrl, systemClock{}, p.sc.File, steps, p)

	p.mu.Lock()
	p.cancel = nil
	if p.target < 0 && p.ctx.Err() == nil {
		if i == len(p.sc.Chapters) {
			p.st.Done = true
		} else {
			p.st.WaitingForKey = true
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

func (p *Player) finished(st *Step, _ time.Duration, _ string, err *StepError) {
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
