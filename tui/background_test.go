package tui

import (
	"image/color"
	"testing"

	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"walship/theme"
)

// TestBackgroundPicksTheme sends the terminal's answer to the background
// request to Update, as Bubble Tea does: auto picks light on a light
// terminal and dark on a dark one and paints nothing; a theme named for
// the other kind of background paints its own; high-contrast always does;
// mono never does.
func TestBackgroundPicksTheme(t *testing.T) {
	white, black := lipgloss.Color("#FFFFFF"), lipgloss.Color("#101010")
	for _, c := range []struct {
		name      string
		bg        color.Color // nil: the terminal did not answer
		wantTheme string
		paint     bool
	}{
		{"auto", nil, "dark", false},
		{"auto", white, "light", false},
		{"auto", black, "dark", false},
		{"dark", white, "dark", true},
		{"dark", black, "dark", false},
		{"light", black, "light", true},
		{"light", white, "light", false},
		{"high-contrast", nil, "high-contrast", true},
		{"high-contrast", black, "high-contrast", true},
		{"mono", white, "mono", false},
	} {
		m, _ := newTestModel(t, fixture(), 120, 36, c.name)
		if c.bg != nil {
			m.Update(tea.BackgroundColorMsg{Color: c.bg})
		}
		got := m.st.Theme
		if got.Name != c.wantTheme {
			t.Errorf("--theme %s on %v: theme %s, want %s", c.name, c.bg, got.Name, c.wantTheme)
		}
		v := m.View()
		if painted := v.BackgroundColor != nil; painted != c.paint {
			t.Errorf("--theme %s on %v: background painted %v, want %v", c.name, c.bg, painted, c.paint)
		}
		if c.paint && theme.Contrast(v.BackgroundColor, got.Text) < theme.MinText {
			t.Errorf("--theme %s: painted background does not fit its text", c.name)
		}
		if m.panel.st != m.st || m.events.st != m.st || m.help.st != m.st {
			t.Errorf("--theme %s: a component kept the old styles", c.name)
		}
	}
}
