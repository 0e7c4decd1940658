package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/lipgloss/v2"

	"walship/theme"
)

// helpOverlay is the '?' screen, built from the keymap's FullHelp so it
// can never disagree with the keys.
type helpOverlay struct {
	st     *theme.Styles
	keys   *KeyMap
	w, h   int
	lines  []string
	widths int
}

// SetSize sets the area the overlay is centred in and rebuilds it.
func (o *helpOverlay) SetSize(w, h int) {
	o.w, o.h = w, h
	o.build()
}

func (o *helpOverlay) build() {
	st := o.st
	hm := help.New()
	hm.Styles.FullKey = lipgloss.NewStyle().Bold(true)
	hm.Styles.FullDesc = lipgloss.NewStyle()
	hm.Styles.FullSeparator = lipgloss.NewStyle()
	if !st.Theme.NoColor {
		hm.Styles.FullKey = hm.Styles.FullKey.Foreground(st.Theme.Accent)
		hm.Styles.FullDesc = hm.Styles.FullDesc.Foreground(st.Theme.Text)
	}
	hm.FullSeparator = "    "
	hm.SetWidth(o.w - 6)
	body := hm.FullHelpView(o.keys.FullHelp())
	legend := o.legend()
	title := st.Accent.Render("walship keys") + st.Muted.Render("  — every key sends a command; : types one")
	box := st.Overlay.Render(title + "\n\n" + body + "\n\n" + legend + "\n\n" + st.Muted.Render("? or esc closes · q quits"))
	o.lines = strings.Split(box, "\n")
	o.widths = lipgloss.Width(box)
}

// legend explains the glyphs and the bars, in the theme's own paints.
func (o *helpOverlay) legend() string {
	st := o.st
	g := st.Glyphs
	var b strings.Builder
	b.WriteString(st.Data.Render(g.Data) + " WAL data   " + st.Status.Render(g.Status) + " status   " +
		st.Keepalive.Render(g.Keepalive) + " keepalive   " + st.Backup.Render(g.Backup) + " backup   " +
		st.Corrupt.Render(g.Corrupt) + " corrupt   " + st.CutLane.Render(g.Cut) + " cut\n")
	b.WriteString(st.Write.Render(g.Full+g.Full) + " write_lsn: received   " + st.Flush.Render(g.Full+g.Full) + " flush_lsn: fsynced   " +
		st.Replay.Render(g.Full+g.Full) + " replay_lsn: applied   " + st.Removed.Render(g.Removed+g.Removed) + " WAL removed\n")
	b.WriteString(st.Muted.Render("bars share one scale, ending at the leader's flush LSN; lag: idle = caught up, - = not measured yet"))
	return b.String()
}

// row draws row y of the area, the box centred in it.
func (o *helpOverlay) row(r *row, y int) {
	top := max((o.h-len(o.lines))/2, 0)
	i := y - top
	if i < 0 || i >= len(o.lines) {
		r.fill()
		return
	}
	left := max((o.w-o.widths)/2, 0)
	r.spaces(left)
	line := o.lines[i]
	w := lipgloss.Width(line)
	if w > r.room() {
		r.fill()
		return
	}
	r.b.WriteString(line)
	r.n += w
	r.fill()
}
