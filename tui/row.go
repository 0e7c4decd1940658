package tui

import (
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"

	"walship/theme"
)

// row writes one fixed-width segment of a screen line into a shared
// builder. It counts the cells it writes, cuts text that would overflow and
// pads what is left, so segments can be laid side by side without measuring
// styled strings afterwards (the expensive part of a lipgloss layout).
type row struct {
	b *strings.Builder
	w int // width of the segment
	n int // cells written
}

func newRow(b *strings.Builder, w int) row { return row{b: b, w: max(w, 0)} }

// room is how many cells are left.
func (r *row) room() int { return r.w - r.n }

// width is the cell width of s: rune count for the common ASCII and
// box-drawing text, the full measure otherwise.
func width(s string) int {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			if s[i] == 0xE2 { // U+2000..U+2FFF: box drawing, blocks, arrows: one cell
				continue
			}
			return ansi.StringWidth(s)
		}
	}
	return utf8.RuneCountInString(s)
}

// hasControl reports whether s holds a control character (a newline or
// an escape in an event's text would break the screen's rows): C0, DEL,
// or C1 (U+0080..U+009F, which terminals take as ESC sequences: U+009B is
// CSI).
func hasControl(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return true
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] < 0xa0: // C1 in UTF-8
			return true
		}
	}
	return false
}

// clean replaces control characters with spaces.
func clean(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// text writes s in paint p, cut to the room left.
func (r *row) text(p theme.Paint, s string) {
	if s == "" || r.n >= r.w {
		return
	}
	if hasControl(s) {
		s = clean(s)
	}
	w := width(s)
	if w > r.room() {
		s = ansi.Truncate(s, r.room(), "")
		w = width(s)
	}
	r.b.WriteString(p.Pre)
	r.b.WriteString(s)
	r.b.WriteString(p.Post)
	r.n += w
}

// whole writes s in paint p only if all of it fits.
func (r *row) whole(p theme.Paint, s string) {
	if width(s) <= r.room() {
		r.text(p, s)
	}
}

// plain writes unstyled text.
func (r *row) plain(s string) { r.text(theme.Paint{}, s) }

// repeat writes glyph g (one cell) count times in paint p.
func (r *row) repeat(p theme.Paint, g string, count int) {
	count = min(count, r.room())
	if count <= 0 {
		return
	}
	r.b.WriteString(p.Pre)
	for range count {
		r.b.WriteString(g)
	}
	r.b.WriteString(p.Post)
	r.n += count
}

// spaces pads with count blanks.
func (r *row) spaces(count int) {
	count = min(count, r.room())
	if count <= 0 {
		return
	}
	for count > len(blanks) {
		r.b.WriteString(blanks)
		count -= len(blanks)
		r.n += len(blanks)
	}
	r.b.WriteString(blanks[:count])
	r.n += count
}

// to pads up to column c of the segment.
func (r *row) to(c int) { r.spaces(c - r.n) }

// right writes s so that it ends at the segment's right edge (or as close
// as the text already written allows).
func (r *row) right(p theme.Paint, s string) {
	r.to(r.w - width(s))
	r.text(p, s)
}

// fill pads the segment to its full width.
func (r *row) fill() { r.spaces(r.w - r.n) }

const blanks = "                                                                                "

// padRight left-aligns s in n cells (plain text only).
func padRight(s string, n int) string {
	if w := width(s); w < n {
		return s + blanks[:min(n-w, len(blanks))]
	}
	return s
}

// padLeft right-aligns s in n cells (plain text only).
func padLeft(s string, n int) string {
	if w := width(s); w < n {
		return blanks[:min(n-w, len(blanks))] + s
	}
	return s
}
