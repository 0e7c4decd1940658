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
// every command with the time it was done, so that a live session can be
// written down as a scenario (WriteScenario) and played back.
type Recorder struct {
	ctrl  cluster.Controller
	start time.Time
	now   func() time.Time

	mu  sync.Mutex
	log []Recorded
}

// Recorded is one command done through a Recorder.
type Recorded struct {
	At      time.Duration // since NewRecorder
	Command cluster.Command
	Err     error // what the cluster said, if it refused
}

// NewRecorder starts recording the commands done through it to ctrl. Time
// counts from now.
func NewRecorder(ctrl cluster.Controller) *Recorder {
	return &Recorder{ctrl: ctrl, start: time.Now(), now: time.Now}
}

// Snapshot passes through to the recorded controller.
func (r *Recorder) Snapshot(sinceEvent uint64) cluster.Snapshot { return r.ctrl.Snapshot(sinceEvent) }

// Do carries out c on the recorded controller and logs it with its time.
func (r *Recorder) Do(c cluster.Command) error {
	at := r.now().Sub(r.start)
	err := r.ctrl.Do(c)
	r.mu.Lock()
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

// WriteScenario writes the session as a scenario file: a title, then each
// command with its time as an at line, all before any chapter so that
// playback starts at once. A command the cluster refused is written as a
// comment, so the file does what the session did.
func (r *Recorder) WriteScenario(w io.Writer) error {
	log := r.Commands()
	bw := bufio.NewWriter(w)
	var total time.Duration
	if len(log) > 0 {
		total = log[len(log)-1].At
	}
	fmt.Fprintf(bw, "# A walship session recorded %s: %d commands over %s.\n",
		r.start.Format("2006-01-02 15:04"), len(log), total.Round(time.Second))
	fmt.Fprintf(bw, "# Play it back with walship --scenario FILE, or walship check --scenario FILE.\n")
	fmt.Fprintf(bw, "title %s\n\n", quote("Recorded session, "+r.start.Format("2006-01-02 15:04")))
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
