package tui

import (
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"walship/engine/cluster"
	"walship/theme"
)

// maxEvents is how many events the log keeps for display.
const maxEvents = 200

// Columns of an event line: world time, who, kind, then the text.
const (
	eventWhoCol  = 8
	eventKindCol = 22
	eventTextCol = 35
	wholeIndent  = 4 // continuation lines of an event shown whole
)

// logEntry is one line of the log: an event, and how many identical ones
// from other nodes were merged into it (the leader and three followers
// that all recovered an empty WAL are said once).
type logEntry struct {
	cluster.Event
	others int
}

// eventLog is the bottom panel: events in the order they happened, newest
// at the bottom, coloured by kind. The newest (or the one clicked) is
// shown whole, wrapped, in plain words, never cut; lines above it are cut
// to the width. It scrolls back with pgup and the mouse wheel.
type eventLog struct {
	st     *theme.Styles
	w, h   int        // rows, the title's included
	events []logEntry // oldest first, at most maxEvents
	back   int        // lines scrolled back from the newest (0: following)
	sel    uint64     // Seq of the entry clicked (0: the newest is shown whole)
	rows   []planRow  // what each row below the title shows (see plan)

	// The entry shown whole, wrapped for w (built when it or w changes).
	whole struct {
		seq   uint64
		w     int
		raw   bool
		lines []string
	}
}

// SetSize sets the panel's size (its title row included).
func (e *eventLog) SetSize(w, h int) {
	e.w, e.h = w, h
	e.scroll(0)
	e.prepare()
}

// scroll moves the view back (n > 0) or forward (n < 0), within the
// events held.
func (e *eventLog) scroll(n int) {
	e.back = min(max(e.back+n, 0), max(len(e.events)-e.listRows(), 0))
	e.prepare()
}

// add appends events newer than the ones held and reports whether any were.
func (e *eventLog) add(evs []cluster.Event) bool {
	added := false
	var last uint64
	if n := len(e.events); n > 0 {
		last = e.events[n-1].Seq
	}
	for _, ev := range evs {
		if ev.Seq <= last {
			continue
		}
		last, added = ev.Seq, true
		if n := len(e.events); n > 0 && sameNews(&e.events[n-1], &ev) {
			e.events[n-1].others++
			continue
		}
		e.events = append(e.events, logEntry{Event: ev})
		if e.back > 0 {
			e.back++ // scrolled back: keep the same lines in view
		}
	}
	if n := len(e.events); n > maxEvents {
		e.events = append(e.events[:0:0], e.events[n-maxEvents:]...)
	}
	e.scroll(0) // clamp
	e.prepare()
	return added
}

// reset replaces the log with evs, from the top (for a moment of the past
// or a jump in a recording).
func (e *eventLog) reset(evs []cluster.Event) {
	e.events, e.back, e.sel = e.events[:0:0], 0, 0
	e.add(evs)
}

// sameNews reports whether ev says what last says, about another node at
// about the same moment: it is merged into last.
func sameNews(last *logEntry, ev *cluster.Event) bool {
	return ev.Kind == last.Kind && ev.Text == last.Text && ev.LSN == last.LSN &&
		ev.Follower != last.Follower && ev.World-last.World < time.Second && ev.Kind != cluster.EvCommand
}

// who names the node an entry is about, and the others merged into it.
func (en *logEntry) who() string {
	who := en.Follower
	if who == "" {
		who = "leader"
	}
	if en.others > 0 {
		who += " +" + strconv.Itoa(en.others)
	}
	return who
}

func (e *eventLog) kindPaint(k cluster.EventKind) theme.Paint {
	switch k {
	case cluster.EvCRC, cluster.EvError, cluster.EvWALRemoved, cluster.EvCrash, cluster.EvRefused, cluster.EvLost:
		return e.st.Error
	case cluster.EvDisconnect, cluster.EvResend, cluster.EvLink, cluster.EvSlot, cluster.EvRewind:
		return e.st.Warn
	case cluster.EvConnect, cluster.EvRestart, cluster.EvRecovery, cluster.EvBackup:
		return e.st.OK
	case cluster.EvCommand, cluster.EvPromote, cluster.EvTimeline:
		return e.st.Accent
	}
	return e.st.Text
}

func worldText(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	return padLeft(s, 7)
}

// shown is the index of the entry shown whole: the one clicked, else the
// one that says most about what just happened: of the entries of the last
// moment (newsWindow of world time), the most severe, the newest of those
// (a crash, not the disconnect it caused; a CRC failure, not the resend
// that follows). -1: none.
func (e *eventLog) shown() int {
	if e.sel != 0 {
		for i := len(e.events) - 1; i >= 0; i-- {
			if e.events[i].Seq == e.sel {
				return i
			}
		}
	}
	n := len(e.events)
	if n == 0 {
		return -1
	}
	best := n - 1
	for i := n - 2; i >= 0 && e.events[n-1].World-e.events[i].World <= newsWindow; i-- {
		if severity(e.events[i].Kind) > severity(e.events[best].Kind) {
			best = i
		}
	}
	return best
}

// newsWindow is how far back "what just happened" looks for the event
// that says most.
const newsWindow = 2 * time.Second

// severity ranks event kinds for shown: failures, then trouble, then
// recovery, then the rest.
func severity(k cluster.EventKind) int {
	switch k {
	case cluster.EvCRC, cluster.EvError, cluster.EvWALRemoved, cluster.EvCrash, cluster.EvRefused, cluster.EvLost:
		return 3
	case cluster.EvDisconnect, cluster.EvLink, cluster.EvSlot, cluster.EvPromote, cluster.EvRewind:
		return 2
	case cluster.EvRestart, cluster.EvRecovery, cluster.EvBackup, cluster.EvCommand, cluster.EvTimeline:
		return 1
	}
	return 0
}

// wholeLines is the entry shown whole, wrapped for width w: its text as a
// sentence, and, when it was clicked and the engine's own words differ,
// those words too.
func (e *eventLog) wholeLines(w int) []string {
	i := e.shown()
	if i < 0 || w <= 0 {
		return nil
	}
	en := &e.events[i]
	c := &e.whole
	raw := e.sel != 0
	if c.seq == en.Seq && c.w == w && c.raw == raw && c.lines != nil {
		return c.lines
	}
	text := sentence(clean(en.Text))
	if en.LSN != 0 {
		text = en.LSN.String() + " " + text
	}
	first := max(w-eventTextCol, 10)
	c.lines = wrapIndented(text, first, max(w-wholeIndent, 10))
	if raw && sentence(en.Text) != en.Text {
		c.lines = append(c.lines, wrapIndented("in the engine's words: "+clean(en.Text), max(w-wholeIndent, 10), max(w-wholeIndent, 10))...)
	}
	c.seq, c.w, c.raw = en.Seq, w, raw
	return c.lines
}

// wrapIndented wraps s into a first line of first cells and further lines
// of rest cells, breaking at blanks (and inside words only when a word is
// longer than a line).
func wrapIndented(s string, first, rest int) []string {
	if width(s) <= first {
		return []string{s}
	}
	line, _, _ := strings.Cut(lipgloss.Wrap(s, first, " "), "\n")
	line = strings.TrimRight(line, " ")
	if !strings.HasPrefix(s, line) { // Wrap changed the text: wrap all of it at one width
		line = ""
	}
	var lines []string
	if line != "" {
		lines = append(lines, line)
	}
	for l := range strings.SplitSeq(lipgloss.Wrap(strings.TrimLeft(s[len(line):], " "), rest, " "), "\n") {
		lines = append(lines, strings.TrimRight(l, " "))
	}
	return lines
}

// wantRows is the height the log needs at width w to show its title and
// the entry shown whole, at least one line of it.
func (e *eventLog) wantRows(w int) int { return 1 + max(len(e.wholeLines(w)), 1) }

// planRow is what a row of the panel below its title shows: line k of
// entry i (k > 0 only for the entry shown whole), or nothing (i < 0).
type planRow struct{ i, k int }

// plan lays the entries out bottom up from the newest (less the ones
// scrolled back): one row each, the one shown whole as many as it wraps
// to. It is made again for each frame drawn (see prepare).
func (e *eventLog) plan(dst []planRow) []planRow {
	rows := max(e.h-1, 0)
	dst = dst[:0]
	for range rows {
		dst = append(dst, planRow{i: -1})
	}
	whole := e.shown()
	wholeN := max(len(e.wholeLines(e.w)), 1)
	from := len(e.events) - 1 - e.back
	if e.back == 0 && whole >= 0 {
		// The entry shown whole fits whole: of those after it, only as
		// many as the rows left below it (the newest wait their turn).
		from = min(from, whole+max(rows-wholeN, 0))
	}
	y := rows - 1
	for i := from; i >= 0 && y >= 0; i-- {
		n := 1
		if i == whole {
			n = wholeN
		}
		for k := n - 1; k >= 0 && y >= 0; k-- {
			dst[y] = planRow{i, k}
			y--
		}
	}
	return dst
}

// prepare makes the plan for the frame about to be drawn.
func (e *eventLog) prepare() { e.rows = e.plan(e.rows) }

// listRows is how many entries fit cut to one row each.
func (e *eventLog) listRows() int {
	return max(e.h-1-(len(e.wholeLines(e.w))-1), 1)
}

// entryAt is the entry drawn on row y of the panel (-1: none or the
// title), by the last plan.
func (e *eventLog) entryAt(y int) int {
	if y < 1 || y-1 >= len(e.rows) {
		return -1
	}
	return e.rows[y-1].i
}

// click selects the entry on row y to be shown whole, or goes back to the
// newest when it was selected already.
func (e *eventLog) click(y int) bool {
	i := e.entryAt(y)
	if i < 0 {
		return false
	}
	if e.events[i].Seq == e.sel {
		e.sel = 0
	} else {
		e.sel = e.events[i].Seq
	}
	e.prepare()
	return true
}

// row draws row y: a title rule first, then the entries as planned.
func (e *eventLog) row(r *row, y int) {
	st := e.st
	if y == 0 {
		r.text(st.Muted, "── events ")
		if e.back > 0 {
			r.text(st.Warn, "(scrolled back "+strconv.Itoa(e.back)+" · pgdn or the wheel for newer) ")
		}
		if e.sel != 0 {
			r.text(st.Muted, "(click it again, or esc, for the newest) ")
		}
		r.repeat(st.Lane, "─", r.room())
		return
	}
	if y-1 >= len(e.rows) || e.rows[y-1].i < 0 {
		r.fill()
		return
	}
	pr := e.rows[y-1]
	en := &e.events[pr.i]
	selected := en.Seq == e.sel
	if pr.i != e.shown() {
		e.line(r, en, selected)
		r.fill()
		return
	}
	lines := e.wholeLines(e.w)
	switch {
	case pr.k == 0:
		e.head(r, en, selected)
		r.text(e.kindPaint(en.Kind), lines[0])
	case pr.k < len(lines):
		r.spaces(wholeIndent)
		r.text(e.kindPaint(en.Kind), lines[pr.k])
	}
	r.fill()
}

// head draws an entry's time, who and kind.
func (e *eventLog) head(r *row, en *logEntry, selected bool) {
	st := e.st
	mark := " "
	if selected {
		mark = pointerGlyph
	}
	r.text(st.Muted, mark+worldText(en.World)[1:]+" ")
	r.to(eventWhoCol)
	r.text(st.Text, en.who())
	r.to(eventKindCol)
	r.text(e.kindPaint(en.Kind), string(en.Kind))
	r.to(eventTextCol)
}

// line draws an entry on one row, cut to the width.
func (e *eventLog) line(r *row, en *logEntry, selected bool) {
	e.head(r, en, selected)
	if en.LSN != 0 {
		r.text(e.st.Muted, en.LSN.String()+" ")
	}
	r.text(e.kindPaint(en.Kind), sentence(en.Text))
}
