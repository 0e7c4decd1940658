package tui

import (
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"

	"walship/scenario"
	"walship/theme"
)

// lessonPanel shows the scenario being played: its title, the chapter
// ("n/m") and the caption, large enough to read on a projector.
type lessonPanel struct {
	st     *theme.Styles
	keys   *KeyMap
	w, h   int
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
	if p.w != w || p.h != h {
		p.w, p.h = w, h
		p.wrap()
	}
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

// caption is the caption wrapped for a panel w cells wide (see wrapText),
// wrapped again only when the caption or w changed.
func (p *lessonPanel) caption(w int) ([]string, int) {
	c := &p.wrapped
	if c.caption != p.state.Caption || c.w != w {
		c.lines, c.widest = wrapText(p.state.Caption, w)
		c.caption, c.w = p.state.Caption, w
	}
	return c.lines, c.widest
}

// rowsFor is the height the panel wants at width w: the title, the
// caption, and a row for "press n" or the outcome.
func (p *lessonPanel) rowsFor(w int) int {
	lines, _ := p.caption(w)
	return 1 + max(len(lines), 1) + 1
}

// wrap styles the caption as one block: every line padded to the widest,
// so its background reads as a single slab on a projector.
func (p *lessonPanel) wrap() {
	p.lines, p.widths = p.lines[:0], p.widths[:0]
	lines, widest := p.caption(p.w)
	for _, l := range lines {
		l += strings.Repeat(" ", widest-width(l))
		p.lines = append(p.lines, p.st.CaptionBox.Render(l))
		p.widths = append(p.widths, widest+4)
	}
	if room := max(p.h-2, 1); room < len(p.lines) {
		p.lines, p.widths = p.lines[:room], p.widths[:room]
	}
}

func (p *lessonPanel) row(r *row, y int) {
	st, s := p.st, &p.state
	if y == 0 {
		r.text(st.Badge, " LESSON ")
		r.plain(" ")
		r.text(st.Bold, s.Title)
		if s.ChapterIndex > 0 {
			r.text(st.Muted, "  chapter ")
			r.text(st.Accent, strconv.Itoa(s.ChapterIndex)+"/"+strconv.Itoa(s.Chapters))
			r.plain(" ")
			r.text(st.Accent, s.Chapter)
		}
		k := p.keys
		hint := firstKey(k.Chapter) + " next · " + firstKey(k.ChapPrev) + " prev · " +
			firstKey(k.ChapAgain) + " restart · " + firstKey(k.Captions) + " hide"
		if r.room() > width(hint)+2 {
			r.right(st.Muted, hint)
		}
		r.fill()
		return
	}
	i := y - 1
	last := p.h - 1
	switch {
	case y == last && s.Failed != "":
		r.text(st.Error, "  ✖ expectation failed: "+s.Failed)
	case y == last && s.Done:
		r.text(st.OK, "  ✔ lesson complete — "+firstKey(p.keys.Quit)+" quits, "+firstKey(p.keys.ChapPrev)+" goes back")
	case y == last && s.WaitingForKey:
		r.text(st.Warn, "  ▶ press "+firstKey(p.keys.Chapter)+" for the next chapter")
	case i < len(p.lines):
		pad := max((p.w-p.widths[i])/2, 0)
		r.spaces(pad)
		r.b.WriteString(p.lines[i])
		r.n += p.widths[i]
	}
	r.fill()
}
