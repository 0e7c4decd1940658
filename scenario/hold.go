package scenario

import (
	"strconv"
	"strings"
)

// Hold is a held moment: the world slowed or frozen around an event, so
// that what a caption is about stays on screen long enough to talk about.
//
//	slow FACTOR                        slow the world until the step ends
//	slow FACTOR until EXPECTATION      ... until EXPECTATION holds
//	slow FACTOR when EXPECTATION       wait for EXPECTATION, then slow until the step ends
//	freeze when EXPECTATION            wait for EXPECTATION, then freeze until the step ends
//
// "The step ends" means the presenter moves on (n); headless runs move on
// as soon as the step's lines are done. EXPECTATION is anything an expect
// line takes, within DUR included; a condition that does not hold in time
// fails as an expect does, and the world is given back its speed.
type Hold struct {
	Freeze bool    // freeze the world; else slow it to Speed
	Speed  float64 // the world's speed while slowed, 1 being the scenario's normal speed
	When   *Expect // begin once this holds (nil: at once)
	Until  *Expect // end once this holds (nil: when the step ends)
}

// String is the hold as a person reads it on screen.
func (h *Hold) String() string {
	if h.Freeze {
		return "world frozen"
	}
	return "slow motion " + speedWords(h.Speed)
}

// speedWords writes a speed factor as 1/8x, 0.3x or 2x.
func speedWords(f float64) string {
	if f > 0 && f < 1 {
		if inv := 1 / f; inv == float64(int64(inv)) {
			return "1/" + strconv.FormatInt(int64(inv), 10) + "×"
		}
	}
	return strconv.FormatFloat(f, 'g', 3, 64) + "×"
}

// Point is something on the screen a step points at, for instance
// follower-2's flush bar: the UI marks it until the next step.
type Point struct {
	// Subject is a follower name, "leader" (the primary), "old-leader"
	// (the original leader once it follows) or "reads" (the reads panel).
	Subject string
	Field   string // "" for the follower (or the leader) as a whole; see pointFields
}

// MaxPoints is how many point lines one step may have.
const MaxPoints = 3

// pointFields are what `point` can name on a follower and on the leader,
// with their aliases: what the screen shows.
var pointFields = map[string]map[string]string{
	"follower": {
		"state": "state", "paused": "paused", "lane": "lane", "link": "lane",
		"sent": "sent", "write": "write", "received": "write", "flush": "flush", "flushed": "flush",
		"replay": "replay", "replayed": "replay",
		"write-lag": "write", "flush-lag": "flush", "replay-lag": "replay",
		"crc-failures": "crc-failures", "resends": "resends", "keys": "keys", "records": "records",
		"corrupted": "corrupted", "backups": "backups", "slot": "slot",
	},
	"leader": {
		"insert": "insert", "flush": "flush", "flushed": "flush", "oldest": "oldest",
		"retained": "retained", "wal-keep": "wal-keep", "segments": "segments", "keys": "keys",
		"commits": "commits", "waiting-commits": "waiting-commits", "slots": "slots",
	},
}

// pointFieldList names a subject's point fields, for error messages.
func pointFieldList(kind string) string {
	if kind == "leader" {
		return "insert, flush, oldest, retained, wal-keep, segments, keys, commits, waiting-commits, slots"
	}
	return "state, paused, lane, sent, write, flush, replay, crc-failures, resends, keys, records, corrupted, backups, slot"
}

// point parses `point SUBJECT [FIELD]`.
func (p *parser) point(toks []token, end int) (Point, error) {
	if len(toks) < 2 {
		return Point{}, p.errorf(end+1, "expected what to point at: a follower (follower-2, 2) or leader, then optionally a field")
	}
	if keyword(toks[1]) == "reads" {
		// The recent reads, as a whole.
		if len(toks) > 2 {
			return Point{}, p.errorf(toks[2].Col, "expected the end of the line after point reads")
		}
		if p.points++; p.points > MaxPoints {
			return Point{}, p.errorf(toks[0].Col, "expected at most %d point lines in one step (a say starts the next)", MaxPoints)
		}
		return Point{Subject: "reads"}, nil
	}
	name, ok := subjectName(toks[1].Text)
	if !ok || name == "all" || toks[1].Quoted {
		return Point{}, p.errorf(toks[1].Col, "expected a follower (follower-2, 2), leader or reads to point at")
	}
	pt := Point{Subject: name}
	kind := "follower"
	if name == "leader" {
		kind = "leader"
	}
	if len(toks) > 2 {
		f, ok := pointFields[kind][keyword(toks[2])]
		if !ok {
			return Point{}, p.errorf(toks[2].Col, "expected a field of the %s to point at (%s)", kind, pointFieldList(kind))
		}
		pt.Field = f
	}
	if len(toks) > 3 {
		return Point{}, p.errorf(toks[3].Col, "expected the end of the line after point %s", toks[2].Text)
	}
	if p.points++; p.points > MaxPoints {
		return Point{}, p.errorf(toks[0].Col, "expected at most %d point lines in one step (a say starts the next)", MaxPoints)
	}
	return pt, nil
}

// slow parses `slow FACTOR [until|when EXPECTATION]`.
func (p *parser) slow(toks []token, end int) (*Hold, error) {
	const want = "expected a speed below 1 like 1/8 or 0.25 after slow"
	if len(toks) < 2 {
		return nil, p.errorf(end+1, want)
	}
	f, ok := parseFactor(toks[1])
	if !ok || !(f >= 1.0/64 && f < 1) { // NaN too
		return nil, p.errorf(toks[1].Col, "%s (at least 1/64)", want)
	}
	h := &Hold{Speed: f}
	if len(toks) == 2 {
		return h, nil
	}
	var err error
	switch keyword(toks[2]) {
	case "until":
		h.Until, err = p.expect(toks[3:], end)
	case "when":
		h.When, err = p.expect(toks[3:], end)
	default:
		return nil, p.errorf(toks[2].Col, "expected until or when after slow %s, or the end of the line", toks[1].Text)
	}
	return h, err
}

// freezeWhen parses `freeze when EXPECTATION` (freeze alone is a command).
func (p *parser) freezeWhen(toks []token, end int) (*Hold, error) {
	if keyword(toks[1]) != "when" {
		return nil, p.errorf(toks[1].Col, "expected when after freeze (freeze when EXPECTATION holds the moment until the next step; freeze alone freezes until unfreeze)")
	}
	e, err := p.expect(toks[2:], end)
	if err != nil {
		return nil, err
	}
	return &Hold{Freeze: true, When: e}, nil
}

// parseFactor reads a speed factor: a fraction like 1/8 or a decimal.
func parseFactor(t token) (float64, bool) {
	if t.Quoted {
		return 0, false
	}
	if num, den, ok := strings.Cut(t.Text, "/"); ok {
		n, err1 := strconv.ParseFloat(num, 64)
		d, err2 := strconv.ParseFloat(den, 64)
		if err1 != nil || err2 != nil || d <= 0 || n <= 0 {
			return 0, false
		}
		return n / d, true
	}
	f, err := strconv.ParseFloat(t.Text, 64)
	return f, err == nil && f > 0
}

// Captions splits a chapter's lines into the steps a presenter moves
// through with n: each caption (say) with the lines after it up to the
// next caption. Lines before the chapter's first caption go with it, so a
// chapter without captions is one step.
func (ch *Chapter) Captions() [][]Step {
	return splitAtCaptions(ch.Steps)
}

func splitAtCaptions(lines []Step) [][]Step {
	var steps [][]Step
	start, said := 0, false
	for i := range lines {
		if lines[i].Kind != StepSay {
			continue
		}
		if said {
			steps = append(steps, lines[start:i])
			start = i
		}
		said = true
	}
	return append(steps, lines[start:])
}

// scaleSpeed is the world speed for a scenario speed f at base speed
// base, within what the world clock takes.
func scaleSpeed(f, base float64) float64 {
	return min(max(f*base, 1.0/64), 64)
}
