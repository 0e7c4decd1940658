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

// rowsFor is the height the panel wants at width w: the title, the
// caption, and a row for "press n" or the outcome.
func (p *lessonPanel) rowsFor(w int) int {
	lines, _ := wrapText(p.state.Caption, w)
	return 1 + max(len(lines), 1) + 1
}

// wrap styles the caption as one block: every line padded to the widest,
// so its background reads as a single slab on a projector.
func (p *lessonPanel) wrap() {
	p.lines, p.widths = p.lines[:0], p.widths[:0]
	lines, widest := wrapText(p.state.Caption, p.w)
	for _, l := range lines {
		l += blanks[:min(widest-width(l), len(blanks))]
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
		hint := "n next · N prev · r restart · C hide"
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
		r.text(st.OK, "  ✔ lesson complete — q quits, N goes back")
	case y == last && s.WaitingForKey:
		r.text(st.Warn, "  ▶ press n for the next chapter")
	case i < len(p.lines):
		pad := max((p.w-p.widths[i])/2, 0)
		r.spaces(pad)
		r.b.WriteString(p.lines[i])
		r.n += p.widths[i]
	}
	r.fill()
}
