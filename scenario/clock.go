package scenario

import (
	"context"
	"time"

	"walship/engine/cluster"
)

// Clock is the real time a scenario's timing is measured against. The
// runner, the player and the recorder read it and sleep on it. The wall
// clock is the default; a test can pass one that moves only when slept on,
// so that a scenario of minutes plays in no real time.
type Clock interface {
	Now() time.Time
	// Sleep waits for d, or until ctx ends (then it returns ctx's error).
	Sleep(ctx context.Context, d time.Duration) error
}

// wallClock is the real clock.
type wallClock struct{}

func (wallClock) Now() time.Time { return time.Now() }

func (wallClock) Sleep(ctx context.Context, d time.Duration) error {
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

// sceneClock is the time a scenario's timing runs on: the world clock, so
// that a teacher who freezes or slows the world (space, <) holds or slows
// the lesson with it. It is read from snapshots (speed and freeze) and
// integrated over real time, so it works over any Controller.
//
// One exception keeps a scenario from waiting on itself: while the world
// is frozen by the scenario's own freeze (a freeze line, or a held
// moment), scene time runs on at the base speed, so the lines after the
// freeze (an unfreeze among them) still come. A recorded session that
// froze the world for 30 s replays its 30 s freeze.
//
// A sceneClock belongs to one goroutine.
type sceneClock struct {
	ctrl  cluster.Controller
	clock Clock
	// base is the world speed the scenario calls 1x: 1 in the UI, more in
	// a fast headless run.
	base float64
	// own: the scenario froze the world and has not unfrozen it.
	own  bool
	last time.Time
	t    time.Duration
}

func newSceneClock(ctrl cluster.Controller, clock Clock, base float64) *sceneClock {
	return &sceneClock{ctrl: ctrl, clock: clock, base: base, last: clock.Now()}
}

// now advances the clock by the real time since it was last read, at the
// rate the world runs now, and returns it with that rate (scene seconds per
// real second; 0 while the world stands still).
func (c *sceneClock) now() (time.Duration, float64) {
	s := c.ctrl.Snapshot(^uint64(0))
	return c.observe(&s)
}

// observe is now, reading speed and freeze from a snapshot the caller
// already has.
func (c *sceneClock) observe(s *cluster.Snapshot) (time.Duration, float64) {
	real := c.clock.Now()
	d := real.Sub(c.last)
	c.last = real
	rate := s.Speed
	if rate <= 0 {
		rate = 1
	}
	if s.Frozen {
		rate = 0
		if c.own {
			rate = c.base
		}
	}
	if d > 0 {
		c.t += time.Duration(float64(d) * rate)
	}
	return c.t, rate
}

// pollEvery is how long the runner sleeps between looks at the cluster:
// PollInterval of world time at the base speed, but at least 10ms.
func (c *sceneClock) pollEvery() time.Duration {
	return max(time.Duration(float64(PollInterval)/max(c.base, 1)), 10*time.Millisecond)
}

// sleepUntil waits until the scene clock reads t, or ctx ends.
func (c *sceneClock) sleepUntil(ctx context.Context, t time.Duration) error {
	for {
		now, rate := c.now()
		if now >= t {
			return ctx.Err()
		}
		wait := c.pollEvery()
		if rate > 0 {
			wait = min(wait, time.Duration(float64(t-now)/rate)+time.Millisecond)
		}
		if err := c.clock.Sleep(ctx, wait); err != nil {
			return err
		}
	}
}
