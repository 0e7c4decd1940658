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

func (p *lessonPanel) wrap() {
	p.lines, p.widths = p.lines[:0], p.widths[:0]
	text := p.state.Caption
	if text == "" {
		return
	}
	inner := max(p.w-8, 10)
	for l := range strings.SplitSeq(lipgloss.Wrap(text, inner, " "), "\n") {
		l = strings.TrimRight(l, " ")
		p.lines = append(p.lines, p.st.CaptionBox.Render(l))
		p.widths = append(p.widths, width(l)+4)
	}
	if max(p.h-1, 1) < len(p.lines) {
		p.lines, p.widths = p.lines[:max(p.h-1, 1)], p.widths[:max(p.h-1, 1)]
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
