package tui

import (
	"strconv"

	tea "charm.land/bubbletea/v2"

	"walship/scenario"
	"walship/theme"
)

// lessonPicker is the overlay the lessons key (l) opens: the built-in
// lessons with their one-line summaries. Up and down (or j and k) choose,
// enter or a lesson's number starts it, esc closes.
type lessonPicker struct {
	st      *theme.Styles
	keys    *KeyMap
	lessons []scenario.Info
	active  bool
	cursor  int
	w, h    int
}

// SetSize sets the area the overlay is drawn in.
func (p *lessonPicker) SetSize(w, h int) { p.w, p.h = w, h }

func (p *lessonPicker) open() { p.active = true }

// update handles a key while the picker is open. It returns the lesson to
// start, if one was chosen.
func (p *lessonPicker) update(msg tea.KeyPressMsg) (string, bool) {
	n := len(p.lessons)
	switch k := msg.String(); k {
	case "esc", "q", "l", "ctrl+c":
		p.active = false
	case "up", "k", "shift+tab":
		p.cursor = (p.cursor - 1 + n) % max(n, 1)
	case "down", "j", "tab":
		p.cursor = (p.cursor + 1) % max(n, 1)
	case "enter", "space":
		if n > 0 {
			p.active = false
			return p.lessons[p.cursor].Name, true
		}
	default:
		if i, err := strconv.Atoi(k); err == nil && i >= 1 && i <= n {
			p.active, p.cursor = false, i-1
			return p.lessons[i-1].Name, true
		}
	}
	return "", false
}

// rows is the picker's height: a title, a blank, two rows a lesson, a
// blank and the keys.
func (p *lessonPicker) rows() int { return 2 + 2*len(p.lessons) + 2 }

// row draws row y of the area, the list centred in it.
func (p *lessonPicker) row(r *row, y int) {
	st := p.st
	top := max((p.h-p.rows())/2, 0)
	left := max((p.w-76)/2, 2)
	i := y - top
	switch {
	case i == 0:
		r.to(left)
		r.text(st.Accent, "Lessons")
		r.text(st.Muted, "  — each plays step by step: "+firstKey(p.keys.Chapter)+" (or a clicker's PageDown) moves on")
	case i >= 2 && i < 2+2*len(p.lessons):
		j := (i - 2) / 2
		l := &p.lessons[j]
		nameW := 15 // the names' column, as wide as the longest
		for _, l := range p.lessons {
			nameW = max(nameW, width(l.Name))
		}
		r.to(left)
		if (i-2)%2 == 1 {
			r.spaces(nameW + 4)
			r.text(st.Muted, l.Summary)
			break
		}
		label := strconv.Itoa(j+1) + " " + padRight(l.Name, nameW)
		if j == p.cursor {
			r.text(st.Badge, pointerGlyph+label)
			r.plain(" ")
			r.text(st.Bold, l.Title)
		} else {
			r.text(st.Key, " "+label)
			r.plain(" ")
			r.text(st.Text, l.Title)
		}
	case i == 3+2*len(p.lessons):
		r.to(left)
		r.text(st.Muted, "↑/↓ choose · enter or 1-"+strconv.Itoa(len(p.lessons))+" starts · esc closes")
	}
	r.fill()
}
