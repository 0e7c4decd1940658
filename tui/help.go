package tui

import (
	"strings"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/lipgloss/v2"

	"walship/theme"
)

// helpOverlay is the '?' screen, built from the keymap's FullHelp so it
// can never disagree with the keys.
type helpOverlay struct {
	st     *theme.Styles
	keys   *KeyMap
	w, h   int
	lines  []string // the box, one screen row each
	widths []int    // the cell width of each line
	boxW   int      // the box's width: its widest line
}

// SetSize sets the area the overlay is centred in and rebuilds it.
func (o *helpOverlay) SetSize(w, h int) {
	o.w, o.h = w, h
	o.build()
}

// build lays the bindings out in the keymap's groups when they fit, else in
// two balanced columns, and adds the legend when there is height for it.
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

	groups := o.keys.FullHelp()
	var all []key.Binding
	for _, g := range groups {
		for _, b := range g {
			if b.Enabled() {
				all = append(all, b)
			}
		}
	}
	half := (len(all) + 1) / 2
	twoCols := [][]key.Binding{all[:half], all[half:]}

	title := st.Accent.Render("walship keys") + st.Muted.Render("  — every key sends a command; : types one")
	closing := st.Muted.Render(firstKey(o.keys.Help) + " or esc closes · " + firstKey(o.keys.Quit) + " quits")
	legend := o.legend()
	var box string
	for _, try := range []struct {
		groups [][]key.Binding
		legend bool
	}{{groups, true}, {twoCols, true}, {twoCols, false}} {
		body := hm.FullHelpView(try.groups)
		content := title + "\n\n" + body + "\n\n"
		if try.legend {
			content += legend + "\n\n"
		}
		box = st.Overlay.Render(content + closing)
		bw, bh := lipgloss.Size(box)
		if bw <= o.w && bh <= o.h {
			break
		}
	}
	o.lines = strings.Split(box, "\n")
	o.widths, o.boxW = o.widths[:0], 0
	for _, l := range o.lines {
		w := lipgloss.Width(l)
		o.widths = append(o.widths, w)
		o.boxW = max(o.boxW, w)
	}
}

// legend explains the glyphs and the bars, in the theme's own paints.
func (o *helpOverlay) legend() string {
	st := o.st
	g := st.Glyphs
	var b strings.Builder
	b.WriteString(st.Data.Render(g.Data) + " WAL data  " + st.Status.Render(g.Status) + " status  " +
		st.Keepalive.Render(g.Keepalive) + " keepalive  " + st.Backup.Render(g.Backup) + " backup  " +
		st.Corrupt.Render(g.Corrupt) + " corrupt  " + st.CutLane.Render(g.Cut) + " cut\n")
	b.WriteString(st.Write.Render(g.Full+g.Full) + " write_lsn: received  " + st.Flush.Render(g.Full+g.Full) + " flush_lsn: fsynced  " +
		st.Replay.Render(g.Full+g.Full) + " replay_lsn: applied\n")
	b.WriteString(st.Removed.Render(g.Removed+g.Removed) + " WAL the leader removed  " +
		st.Error.Render(g.Lost+g.Lost) + " lost in a crash  " +
		st.Muted.Render("one scale for all bars, ending at the leader's flush LSN\n"))
	b.WriteString(st.Accent.Render(g.Watermark) + " what the sync rule has reached  " + st.Warn.Render(g.Waiting) +
		" where the oldest waiting commit ends (on the bar the rule waits for)\n")
	b.WriteString(st.Muted.Render("lag: idle = caught up · - = not measured yet · a growing time = stuck"))
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
	left := max((o.w-o.boxW)/2, 0)
	r.spaces(left)
	w := o.widths[i]
	if w > r.room() {
		r.fill()
		return
	}
	r.b.WriteString(o.lines[i])
	r.n += w
	r.fill()
}
