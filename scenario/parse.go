package scenario

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"walship/engine/cluster"
)

// Scenario is a parsed scenario file.
type Scenario struct {
	File    string // name used in messages: the file name, or NAME.scn for a built-in
	Title   string // from the title line; the file name when there is none
	Summary string // from the summary line, if any
	// Followers is how many followers the scenario needs (from a followers
	// line; 0 when it does not say). Players add followers up to it before
	// the setup runs.
	Followers int
	// Backends are what the scenario was written for (a backends line);
	// BackendEngine alone when it does not say.
	Backends Backend
	// Setup holds the steps before the first chapter. They run as soon as
	// the scenario starts, without waiting for a key.
	Setup    []Step
	Chapters []Chapter
}

// Chapter is a titled run of steps. In the UI a chapter waits for a key
// before it starts; headless runs never wait.
type Chapter struct {
	Title string
	Line  int // line of the chapter statement
	Steps []Step
}

// StepKind says what a step does.
type StepKind int

// The kinds of step.
const (
	StepCommand StepKind = iota // a cluster command (Step.Command)
	StepSay                     // a caption (Step.Text)
	StepExpect                  // an expectation (Step.Expect)
	StepWait                    // wait DUR: nothing but the delay
	StepHold                    // slow or freeze the world around an event (Step.Hold)
	StepPoint                   // point at something on the screen (Step.Point)
)

// Timing says when a step starts.
type Timing int

// The timings.
const (
	// Next: as soon as the previous step has finished.
	TimingNext Timing = iota
	// At: Delay after the start of the chapter (or of the setup); at once
	// when that moment has already passed.
	TimingAt
	// After: Delay after the previous step finished (or the chapter began).
	TimingAfter
)

// Step is one timed line of a scenario. (What a presenter steps through
// with n is a caption and the lines up to the next caption: see
// Chapter.Captions.)
type Step struct {
	Line    int // 1-based line in the file
	Source  string
	Timing  Timing
	Delay   time.Duration
	Kind    StepKind
	Command cluster.Command // StepCommand
	Text    string          // StepSay
	Expect  *Expect         // StepExpect
	Hold    *Hold           // StepHold
	Point   Point           // StepPoint
}

// SyntaxError is a mistake in a scenario file, placed at a line and column.
type SyntaxError struct {
	File   string
	Line   int // 1-based
	Column int // 1-based, in bytes
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Column, e.Msg)
}

// Unwrap makes every SyntaxError match ErrSyntax.
func (e *SyntaxError) Unwrap() error { return ErrSyntax }

// ErrSyntax is wrapped by every error Parse returns.
var ErrSyntax = errors.New("scenario: syntax error")

// MaxDelay bounds the durations of at, after and wait (a recorded session
// may be long; a typo of 3000h should still be caught).
const MaxDelay = 24 * time.Hour

// DefaultWithin is how long an expect line waits when it names no time.
const DefaultWithin = 15 * time.Second

// Parse reads a scenario. file names it in error messages. The first
// mistake is returned as a *SyntaxError.
func Parse(file string, src []byte) (*Scenario, error) {
	p := &parser{sc: &Scenario{File: file}}
	for n, line := range strings.Split(string(src), "\n") {
		p.line = n + 1
		if err := p.parseLine(strings.TrimSuffix(line, "\r")); err != nil {
			return nil, err
		}
	}
	if p.sc.Title == "" {
		p.sc.Title = strings.TrimSuffix(filepath.Base(file), ".scn")
	}
	if p.sc.Backends == 0 {
		p.sc.Backends = BackendEngine
	}
	return p.sc, nil
}

type parser struct {
	sc      *Scenario
	line    int
	started bool // a step or chapter has been seen: header lines are over
	points  int  // point lines since the last caption or chapter
}

func (p *parser) errorf(col int, format string, args ...any) error {
	return &SyntaxError{File: p.sc.File, Line: p.line, Column: col, Msg: fmt.Sprintf(format, args...)}
}

// addStep appends to the current chapter, or to the setup before any.
func (p *parser) addStep(s Step) {
	p.started = true
	if n := len(p.sc.Chapters); n > 0 {
		p.sc.Chapters[n-1].Steps = append(p.sc.Chapters[n-1].Steps, s)
		return
	}
	p.sc.Setup = append(p.sc.Setup, s)
}

func (p *parser) parseLine(line string) error {
	if !utf8.ValidString(line) {
		for i := range line {
			if r, size := utf8.DecodeRuneInString(line[i:]); r == utf8.RuneError && size == 1 {
				return p.errorf(i+1, "expected UTF-8 text")
			}
		}
	}
	toks, end, lerr := lex(line)
	if lerr != nil {
		return p.errorf(lerr.col, "%s", lerr.msg)
	}
	if len(toks) == 0 {
		return nil
	}
	first := toks[0]
	switch kw := keyword(first); kw {
	case "title", "summary":
		if p.started {
			return p.errorf(first.Col, "%s belongs at the top of the file, before any chapter or step", kw)
		}
		if kw == "title" && (p.sc.Title != "" || p.sc.Summary != "") {
			return p.errorf(first.Col, "only one title, before the summary")
		}
		if kw == "summary" && p.sc.Summary != "" {
			return p.errorf(first.Col, "only one summary")
		}
		text, err := p.quoted(toks, 1, end, kw)
		if err != nil {
			return err
		}
		if kw == "title" {
			p.sc.Title = text
		} else {
			p.sc.Summary = text
		}
		return nil
	case "followers":
		if p.started {
			return p.errorf(first.Col, "followers belongs at the top of the file, before any chapter or step")
		}
		if p.sc.Followers != 0 {
			return p.errorf(first.Col, "only one followers line")
		}
		if len(toks) < 2 {
			return p.errorf(end+1, "expected a number of followers, 1 to %d", cluster.MaxFollowers)
		}
		n, err := strconv.Atoi(toks[1].Text)
		if err != nil || n < 1 || n > cluster.MaxFollowers || toks[1].Quoted {
			return p.errorf(toks[1].Col, "expected a number of followers, 1 to %d", cluster.MaxFollowers)
		}
		if len(toks) > 2 {
			return p.errorf(toks[2].Col, "expected the end of the line after followers %d", n)
		}
		p.sc.Followers = n
		return nil
	case "backends":
		return p.backends(toks, end)
	case "chapter":
		text, err := p.quoted(toks, 1, end, "chapter title")
		if err != nil {
			return err
		}
		p.started = true
		p.points = 0
		p.sc.Chapters = append(p.sc.Chapters, Chapter{Title: text, Line: p.line})
		return nil
	case "wait":
		d, err := p.duration(toks, 1, end)
		if err != nil {
			return err
		}
		if len(toks) > 2 {
			return p.errorf(toks[2].Col, "expected the end of the line after wait %s", toks[1].Text)
		}
		p.addStep(Step{Line: p.line, Source: line[first.Col-1 : end], Timing: TimingAfter, Delay: d, Kind: StepWait})
		return nil
	}
	step := Step{Line: p.line, Source: line[first.Col-1 : end]}
	i := 0
	switch keyword(first) {
	case "at", "after":
		step.Timing = TimingAt
		if keyword(first) == "after" {
			step.Timing = TimingAfter
		}
		d, err := p.duration(toks, 1, end)
		if err != nil {
			return err
		}
		step.Delay = d
		i = 2
		if i >= len(toks) {
			return p.errorf(end+1, "expected a command, say or expect after %s %s", first.Text, toks[1].Text)
		}
		switch kw := keyword(toks[i]); kw {
		case "title", "summary", "followers", "backends", "chapter", "wait", "at", "after":
			return p.errorf(toks[i].Col, "expected a command, say or expect, not %s (%s cannot be timed)", kw, kw)
		}
	}
	if err := p.action(&step, toks[i:], line, end); err != nil {
		return err
	}
	p.addStep(step)
	return nil
}

// backends parses `backends NAME...`: what the scenario was written for.
func (p *parser) backends(toks []token, end int) error {
	const want = "expected a backend: engine (walship's own) or pg (PostgreSQL)"
	if p.started {
		return p.errorf(toks[0].Col, "backends belongs at the top of the file, before any chapter or step")
	}
	if p.sc.Backends != 0 {
		return p.errorf(toks[0].Col, "only one backends line")
	}
	if len(toks) < 2 {
		return p.errorf(end+1, want)
	}
	for _, t := range toks[1:] {
		b, ok := parseBackend(keyword(t))
		if !ok {
			return p.errorf(t.Col, "%s, not %q", want, t.Text)
		}
		if p.sc.Backends&b != 0 {
			return p.errorf(t.Col, "%s is named twice", t.Text)
		}
		p.sc.Backends |= b
	}
	return nil
}

// action parses a say, an expect or a command into step.
func (p *parser) action(step *Step, toks []token, line string, end int) error {
	switch keyword(toks[0]) {
	case "say":
		text, err := p.quoted(toks, 1, end, "caption")
		if err != nil {
			return err
		}
		step.Kind, step.Text = StepSay, text
		p.points = 0
		return nil
	case "slow":
		h, err := p.slow(toks, end)
		if err != nil {
			return err
		}
		step.Kind, step.Hold = StepHold, h
		return nil
	case "point":
		pt, err := p.point(toks, end)
		if err != nil {
			return err
		}
		step.Kind, step.Point = StepPoint, pt
		return nil
	case "freeze":
		if len(toks) > 1 { // freeze alone is the cluster command
			h, err := p.freezeWhen(toks, end)
			if err != nil {
				return err
			}
			step.Kind, step.Hold = StepHold, h
			return nil
		}
	case "expect":
		e, err := p.expect(toks[1:], end)
		if err != nil {
			return err
		}
		step.Kind, step.Expect = StepExpect, e
		return nil
	}
	// A command: hand its text to the one command parser, and place its
	// errors in the file.
	start := toks[0].Col - 1
	c, err := cluster.ParseCommand(line[start:end])
	if err != nil {
		var pe *cluster.ParseError
		if errors.As(err, &pe) {
			return p.errorf(start+pe.Column, "expected %s", pe.Msg)
		}
		return p.errorf(start+1, "%v", err)
	}
	step.Kind, step.Command = StepCommand, c
	return nil
}

// keyword is a bare token's lower-case text, or "" for a quoted one.
func keyword(t token) string {
	if t.Quoted {
		return ""
	}
	return strings.ToLower(t.Text)
}

// quoted reads the one quoted string at toks[i] that must end the line.
func (p *parser) quoted(toks []token, i, end int, what string) (string, error) {
	if i >= len(toks) {
		return "", p.errorf(end+1, "expected a quoted %s like \"...\"", what)
	}
	t := toks[i]
	if !t.Quoted {
		return "", p.errorf(t.Col, "expected a quoted %s like \"...\"", what)
	}
	if i+1 < len(toks) {
		return "", p.errorf(toks[i+1].Col, "expected the end of the line after the %s", what)
	}
	if !printable(t.Text) {
		return "", p.errorf(t.Col, "expected printable text in the %s (no control characters)", what)
	}
	return t.Text, nil
}

// duration reads the duration at toks[i].
func (p *parser) duration(toks []token, i, end int) (time.Duration, error) {
	const want = "expected a duration like 300ms or 2s"
	if i >= len(toks) {
		return 0, p.errorf(end+1, want)
	}
	d, ok := parseDuration(toks[i])
	if !ok {
		return 0, p.errorf(toks[i].Col, want)
	}
	if d > MaxDelay {
		return 0, p.errorf(toks[i].Col, "expected a duration of at most %s", MaxDelay)
	}
	return d, nil
}

// parseDuration reads a non-negative Go duration; a bare 0 is allowed.
func parseDuration(t token) (time.Duration, bool) {
	if t.Quoted {
		return 0, false
	}
	if t.Text == "0" {
		return 0, true
	}
	d, err := time.ParseDuration(t.Text)
	if err != nil || d < 0 {
		return 0, false
	}
	return d, true
}
