package tui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"

	"walship/scenario"
	"walship/theme"
)

// lessonPanel shows the scenario being played: its title, the chapter
// and step, the caption large enough to read on a projector, and a row
// that says what the presenter's next key does (or what went wrong).
type lessonPanel struct {
	st     *theme.Styles
	keys   *KeyMap
	w, h   int
	room   bool // the presenter layout: a full-width band with a row of padding on top
	state  scenario.LessonState
	lines  []string // the caption, wrapped and styled (built in setState)
	widths []int

	// The caption last wrapped, and at what width: a snapshot that leaves
	// the caption alone does not wrap it again. (The zero value is right
	// for an empty caption at width 0.)
	wrapped struct {
		caption string
		w       int
		lines   []string
		widest  int
	}
}

// SetSize sets the panel's size and re-wraps the caption.
func (p *lessonPanel) SetSize(w, h int) {
	p.w, p.h = w, h
	p.wrap()
}

// setState takes a new lesson state; it reports whether anything shown changed.
func (p *lessonPanel) setState(s scenario.LessonState) bool {
	if s == p.state {
		return false
	}
	p.state = s
	p.wrap()
	return true
}

// wrapText wraps the caption for a panel w cells wide: lines of plain text
// and the width of the widest.
func wrapText(text string, w int) ([]string, int) {
	if text == "" {
		return nil, 0
	}
	var lines []string
	widest := 0
	for l := range strings.SplitSeq(lipgloss.Wrap(text, max(w-8, 10), " "), "\n") {
		l = strings.TrimRight(l, " ")
		lines = append(lines, l)
		widest = max(widest, width(l))
	}
	return lines, widest
}

// text is what the caption band shows: the caption, or before the first
// chapter the lesson's summary.
func (p *lessonPanel) text() string {
	if s := &p.state; s.ChapterIndex == 0 && s.Caption == "" {
		return s.Summary
	}
	return p.state.Caption
}

// caption is the caption wrapped for a panel w cells wide (see wrapText),
// wrapped again only when the caption or w changed.
func (p *lessonPanel) caption(w int) ([]string, int) {
	c := &p.wrapped
	if text := p.text(); c.caption != text || c.w != w {
		c.lines, c.widest = wrapText(text, w)
		c.caption, c.w = text, w
	}
	return c.lines, c.widest
}

// rowsFor is the height the panel wants at width w: the title, the
// caption, and a row for what comes next or the outcome.
func (p *lessonPanel) rowsFor(w int) int {
	lines, _ := p.caption(w)
	return 1 + p.pad() + max(len(lines), 1) + 1
}

// pad is the band's rows of padding above the caption.
func (p *lessonPanel) pad() int {
	if p.room {
		return 1
	}
	return 0
}

// wrap styles the caption as one block: every line padded to the widest,
// so its background reads as a single slab on a projector.
func (p *lessonPanel) wrap() {
	p.lines, p.widths = p.lines[:0], p.widths[:0]
	lines, widest := p.caption(p.w)
	if p.room && len(lines) > 0 {
		// One band across the screen, the text centred in it as a block.
		left := max((p.w-4-widest)/2, 0)
		band := func(l string) {
			l = strings.Repeat(" ", left) + l
			l += strings.Repeat(" ", max(p.w-4-width(l), 0))
			p.lines = append(p.lines, p.st.CaptionBox.Render(l))
			p.widths = append(p.widths, max(p.w, width(l)+4))
		}
		band("")
		for _, l := range lines {
			band(l)
		}
	} else {
		for _, l := range lines {
			l += strings.Repeat(" ", widest-width(l))
			p.lines = append(p.lines, p.st.CaptionBox.Render(l))
			p.widths = append(p.widths, widest+4)
		}
	}
	if room := max(p.h-2, 1); room < len(p.lines) {
		p.lines, p.widths = p.lines[:room], p.widths[:room]
	}
}

func (p *lessonPanel) row(r *row, y int) {
	st, s := p.st, &p.state
	switch {
	case y == 0:
		p.titleRow(r)
	case y == p.h-1:
		p.statusRow(r)
	case y-1 < len(p.lines):
		i := y - 1
		pad := max((p.w-p.widths[i])/2, 0)
		r.spaces(pad)
		r.b.WriteString(p.lines[i])
		r.n += p.widths[i]
	case y == 1+p.pad() && s.Caption == "" && !s.Done && s.ChapterIndex > 0:
		r.to(p.w/2 - 1)
		r.text(st.Muted, "…")
	}
	r.fill()
}

// titleRow: LESSON title  chapter 2/4 Title  step 3/5, and the keys.
func (p *lessonPanel) titleRow(r *row) {
	st, s, k := p.st, &p.state, p.keys
	r.text(st.Badge, " LESSON ")
	r.plain(" ")
	r.text(st.Bold, s.Title)
	if s.ChapterIndex > 0 {
		r.text(st.Muted, "  chapter ")
		r.text(st.Accent, strconv.Itoa(s.ChapterIndex)+"/"+strconv.Itoa(s.Chapters))
		r.plain(" ")
		r.text(st.Accent, s.Chapter)
		if s.Steps > 1 {
			r.text(st.Muted, "  step "+strconv.Itoa(s.Step)+"/"+strconv.Itoa(s.Steps))
		}
	}
	hint := firstKey(k.Chapter) + " next"
	if s.CanGoBack {
		hint += " · " + firstKey(k.ChapPrev) + " prev · " + firstKey(k.ChapAgain) + " restart"
	}
	hint += " · " + firstKey(k.Captions) + " hide"
	if r.room() > width(hint)+2 {
		r.right(st.Muted, hint)
	}
}

// statusRow says what the presenter's next key does, or what went wrong.
func (p *lessonPanel) statusRow(r *row) {
	st, s, k := p.st, &p.state, p.keys
	next := firstKey(k.Chapter)
	if s.Hold != "" {
		r.text(st.Badge, " "+strings.ToUpper(s.Hold)+" ")
		r.plain(" ")
	}
	switch {
	case s.Failed != "":
		r.text(st.Error, "  ✖ expectation failed: "+s.Failed)
	case s.Notice != "":
		r.text(st.Warn, "  "+s.Notice)
	case s.Done:
		done := "  ✔ lesson complete — " + firstKey(k.Quit) + " quits"
		if s.CanGoBack {
			done += ", " + firstKey(k.ChapPrev) + " goes back"
		}
		r.text(st.OK, done+", "+firstKey(k.Lessons)+" picks another")
	case s.Pending:
		r.text(st.Muted, "  … finishing this step, then the next")
	case s.WaitingForKey:
		r.text(st.Warn, "  ▶ press "+next+" "+p.nextText())
	}
}

// nextText is what the next key does from here.
func (p *lessonPanel) nextText() string {
	s := &p.state
	switch {
	case s.ChapterIndex > 0 && s.Step < s.Steps:
		return "for the next step"
	case s.NextChapter != "":
		return "for chapter " + strconv.Itoa(s.ChapterIndex+1) + ": " + s.NextChapter
	}
	return "to end the lesson"
}

// markerLabel names a lesson's position for a recording's marker: the
// chapter, and the step after the first.
func markerLabel(s *scenario.LessonState) string {
	if s.ChapterIndex == 0 {
		return ""
	}
	label := strconv.Itoa(s.ChapterIndex) + "/" + strconv.Itoa(s.Chapters) + " " + s.Chapter
	if s.Step > 1 {
		label += ", step " + strconv.Itoa(s.Step) + "/" + strconv.Itoa(s.Steps)
	}
	return label
}
