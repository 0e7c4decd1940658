package tui

import (
	"image/color"

	tea "charm.land/bubbletea/v2"

	"walship/theme"
)

// The theme that fits the terminal. The UI asks the terminal for its
// background colour at start (tea.RequestBackgroundColor). Under the auto
// theme the answer picks dark or light; a theme chosen by name is kept,
// and when it was designed for the other kind of background (light on a
// dark terminal, say) the UI paints the terminal's background with the
// theme's own, so its contrast holds. High-contrast always paints its
// background. A terminal that does not answer leaves the dark theme (most
// terminals are dark) and an unpainted background.

// themeChoice is what --theme asked for and what the terminal said.
type themeChoice struct {
	auto    bool        // follow the terminal's background
	bg      color.Color // the terminal's background, once it answered
	paintBg color.Color // the background the view sets (nil: the terminal's own)
}

// newThemeChoice starts with the theme named: auto draws dark until the
// terminal answers; a theme that always paints its background does so
// from the first frame.
func newThemeChoice(name string, th theme.Theme) themeChoice {
	c := themeChoice{auto: theme.IsAuto(name)}
	if th.PaintBackground && !th.NoColor {
		c.paintBg = th.Background
	}
	return c
}

// onBackground takes the terminal's answer: it returns the theme to draw
// with (and whether it differs from cur) and sets the background to paint.
func (c *themeChoice) onBackground(bg color.Color, cur theme.Theme) (theme.Theme, bool) {
	c.bg = bg
	th := cur
	if c.auto {
		th = theme.ForBackground(bg)
	}
	c.paintBg = nil
	if !th.NoColor && th.Background != nil && (th.PaintBackground || theme.IsDark(bg) != th.DarkBackground) {
		c.paintBg = th.Background
	}
	return th, th.Name != cur.Name
}

// setStyles gives every component the styles st, and rebuilds what was
// pre-rendered with the old ones (the caption, the help box).
func (m *Model) setStyles(st *theme.Styles) {
	m.st = st
	m.picker.st = st
	m.status.st = st
	m.banner.st = st
	m.leader.st = st
	m.panel.st = st
	m.events.st = st
	m.pal.st = st
	m.lessonP.st = st
	m.help.st = st
	m.diagram.st = st
	m.past.events.st = st
	if m.lessonP.w > 0 {
		m.lessonP.wrap()
	}
	if m.help.w > 0 {
		m.help.build()
	}
	m.dirty = true
}

// background handles the terminal's answer to the background request.
func (m *Model) background(msg tea.BackgroundColorMsg) {
	th, changed := m.themes.onBackground(msg.Color, m.st.Theme)
	if changed {
		m.setStyles(theme.NewStyles(th))
	}
	m.dirty = true
}
