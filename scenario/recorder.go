package scenario

import (
	"bufio"
	"cmp"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"walship/engine/cluster"
)

// Recorder is a Controller that passes everything to another one and logs
// every command with its time, so that a live session can be written down
// as a scenario (WriteScenario) that plays it back: in the UI, or headless.
//
// Times are scene time, as a Player keeps it: world time (so a session
// slowed with speed plays back slowed the same way), except that while
// the world is frozen they run on in real time, so a 30 s freeze plays
// back as a 30 s freeze and its unfreeze still comes. Every freeze in a
// recorded session is done through the Recorder, which is what makes that
// right.
type Recorder struct {
	ctrl  cluster.Controller
	start time.Time        // wall time at the start, for the file's title
	first cluster.Snapshot // the world as the session began: the file's setup

	mu  sync.Mutex
	clk *sceneClock
	log []Recorded
}

// Recorded is one command done through a Recorder.
type Recorded struct {
	At      time.Duration // scene time since NewRecorder
	Command cluster.Command
	Err     error // what the cluster said, if it refused
}

// NewRecorder starts recording the commands done through it to ctrl. Time
// counts from now. WithClock is the only Option it heeds.
func NewRecorder(ctrl cluster.Controller, opts ...Option) *Recorder {
	o := makeOptions(opts)
	clk := newSceneClock(ctrl, o.clock, 1)
	clk.own = true
	return &Recorder{ctrl: ctrl, start: o.clock.Now(), first: ctrl.Snapshot(^uint64(0)), clk: clk}
}

// Snapshot passes through to the recorded controller.
func (r *Recorder) Snapshot(sinceEvent uint64) cluster.Snapshot { return r.ctrl.Snapshot(sinceEvent) }

// Do carries out c on the recorded controller and logs it with its time.
func (r *Recorder) Do(c cluster.Command) error {
	r.mu.Lock()
	at, _ := r.clk.now()
	r.mu.Unlock()
	err := r.ctrl.Do(c)
	r.mu.Lock()
	r.clk.now() // a new speed or a freeze counts from here
	r.log = append(r.log, Recorded{At: at, Command: c, Err: err})
	r.mu.Unlock()
	return err
}

// Commands returns the log so far, oldest first.
func (r *Recorder) Commands() []Recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	log := slices.Clone(r.log)
	slices.SortStableFunc(log, func(a, b Recorded) int { return cmp.Compare(a.At, b.At) })
	return log
}

// WriteScenario writes the session as a scenario file: a title, the
// follower count and the settings the session began with (see
// cluster.Snapshot.Settings), then each command with its time as an at
// line, all before any chapter so that playback starts at once and
// never waits for a key. A command the cluster refused is written as a
// comment, so the file does what the session did.
func (r *Recorder) WriteScenario(w io.Writer) error {
	log := r.Commands()
	bw := bufio.NewWriter(w)
	var total time.Duration
	if len(log) > 0 {
		total = log[len(log)-1].At
	}
	stamp := r.start.Format("2006-01-02 15:04")
	fmt.Fprintf(bw, "# A walship session recorded %s: %d commands over %s.\n", stamp, len(log), total.Round(time.Second))
	fmt.Fprintf(bw, "# Play it back with walship --scenario FILE, or walship check --scenario FILE.\n")
	if seg := r.first.Leader.SegmentSize; seg > 0 {
		fmt.Fprintf(bw, "# It ran with %s WAL segments (--segment-size %s).\n", cluster.FormatSize(seg), cluster.FormatSize(seg))
	}
	fmt.Fprintf(bw, "title %s\n", quote("Recorded session, "+stamp))
	if n := len(r.first.Followers); n > 0 {
		fmt.Fprintf(bw, "followers %d\n", n)
	}
	fmt.Fprintf(bw, "\n# The settings the session began with.\n")
	for _, c := range r.first.Settings() {
		fmt.Fprintln(bw, c.String())
	}
	fmt.Fprintf(bw, "\n# What was done, at the time it was done.\n")
	for _, rec := range log {
		at := rec.At.Round(time.Millisecond)
		line := fmt.Sprintf("at %s %s", at, rec.Command.String())
		switch {
		case rec.Err != nil:
			fmt.Fprintf(bw, "# %s    (refused: %s)\n", line, oneLine(rec.Err.Error()))
		case !replays(line, rec.Command):
			fmt.Fprintf(bw, "# %s    (cannot be written as a scenario line)\n", oneLine(line))
		default:
			fmt.Fprintln(bw, line)
		}
	}
	return bw.Flush()
}

// replays reports whether line parses back to c.
func replays(line string, c cluster.Command) bool {
	sc, err := Parse("recorded", []byte(line))
	return err == nil && len(sc.Setup) == 1 && sc.Setup[0].Kind == StepCommand && sc.Setup[0].Command == c
}

// quote writes s as a scenario string: backslash before " and \.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\r' {
			return ' '
		}
		return r
	}, s)
}
