package tui

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/theme"
)

// View draws the screen. It is memoised: it renders again only after
// Update changed something shown.
func (m *Model) View() tea.View {
	if m.dirty || m.view == "" {
		m.view = m.render()
		m.dirty = false
	}
	v := tea.NewView(m.view)
	v.AltScreen = true
	v.BackgroundColor = m.themes.paintBg
	v.MouseMode = tea.MouseModeCellMotion
	v.WindowTitle = "walship"
	return v
}

func (m *Model) render() string {
	l := m.lay
	if m.w == 0 || m.h == 0 {
		return "walship: starting…"
	}
	if l.tooSmall {
		return m.tooSmallView()
	}
	var b strings.Builder
	b.Grow(l.w * l.h * 6)
	r := newRow(&b, l.w)
	if badge, paint := m.timeBadge(); badge != "" {
		// PAST or REPLAY first, the status of that moment after it.
		r.text(paint, badge)
		m.status.SetSize(l.w - r.n)
		rest := newRow(&b, l.w-r.n)
		m.status.row(&rest, &m.snap)
		m.status.SetSize(l.w)
	} else {
		m.status.row(&r, &m.snap)
	}
	b.WriteByte('\n')

	switch {
	case m.showHelp:
		for y := range l.h - 2 {
			r = newRow(&b, l.w)
			m.help.row(&r, y)
			b.WriteByte('\n')
		}
	case m.picker.active:
		for y := range l.h - 2 {
			r = newRow(&b, l.w)
			m.picker.row(&r, y)
			b.WriteByte('\n')
		}
	default:
		lesson := func() {
			for y := range l.lessonH {
				r = newRow(&b, l.w)
				m.lessonP.row(&r, y)
				b.WriteByte('\n')
			}
		}
		for y := range l.bannerH { // the failover band (failover.go)
			r = newRow(&b, l.w)
			m.banner.row(&r, &m.snap, y)
			b.WriteByte('\n')
		}
		if l.room {
			lesson()
		}
		if m.diagram.on {
			for _, line := range m.diagram.ViewAs(&m.trace, l.w, l.bodyH) {
				b.WriteString(line)
				b.WriteByte('\n')
			}
		} else {
			m.renderBody(&b)
		}
		for y := range l.paneH { // the reads pane (reads.go)
			r = newRow(&b, l.w)
			m.readsRow(&r, y, l.paneH)
			b.WriteByte('\n')
		}
		if !l.room {
			lesson()
		}
		_, _, _, strip := m.timeSpan()
		for y := range l.eventsH {
			r = newRow(&b, l.w)
			if y == 0 && strip {
				m.stripRow(&r)
			} else {
				m.eventsShown().row(&r, y)
			}
			b.WriteByte('\n')
		}
	}
	r = newRow(&b, l.w)
	if !m.timeFooter(&r) {
		m.footer(&r)
	}
	return b.String()
}

func (m *Model) renderBody(b *strings.Builder) {
	l := m.lay
	label, down, up := l.laneRows()
	for y := range l.bodyH {
		i, ry := y/l.blockH, y%l.blockH
		var v *followerView
		if i < len(m.views) && i < l.blocks {
			v = &m.views[i]
		}
		r := newRow(b, l.w)
		m.leader.row(&r, &m.snap, y, v != nil && ry == down)
		lr := newRow(b, l.laneW)
		switch {
		case v == nil:
			if y == 0 && len(m.views) == 0 {
				lr.text(m.st.Muted, "  no followers: a adds one")
			}
		case ry == label:
			m.laneLabel(&lr, v)
		case ry == down && !m.snap.Source.Observes(cluster.ObsFrames):
			inFlightLane(&lr, m.st, &v.f, l.laneW)
		case ry == down:
			lane(&lr, m.st, v.frames, cluster.ToFollower, v.f.Link.Cut, l.laneW, m.scratch)
		case ry == up:
			lane(&lr, m.st, v.frames, cluster.ToLeader, v.f.Link.Cut, l.laneW, m.scratch)
		}
		lr.fill()
		if v != nil && ry == down {
			b.WriteString(m.st.Lane.Pre)
			b.WriteString("┤")
			b.WriteString(m.st.Lane.Post)
			b.WriteByte(' ')
		} else {
			b.WriteString("  ")
		}
		if v != nil {
			pr := newRow(b, l.panelW)
			m.panel.row(&pr, v, ry)
		} else {
			pr := newRow(b, l.panelW)
			if y == l.blocks*l.blockH && l.blocks < len(m.views) {
				pr.text(m.st.Warn, fmt.Sprintf("  +%d more followers (enlarge the terminal)", len(m.views)-l.blocks))
			}
			pr.fill()
		}
		b.WriteByte('\n')
	}
}

// laneLabel is the row above a lane: the link's latency, or CUT.
func (m *Model) laneLabel(r *row, v *followerView) {
	st := m.st
	lk := &v.f.Link
	if !m.snap.Source.Observes(cluster.ObsLink) {
		sourceLaneLabel(r, st, &m.snap.Source, &v.f)
		return
	}
	if oneWayLabel(r, st, lk) {
		return
	}
	if v.f.State == cluster.StateNoPrimary && v.marks&markLane == 0 {
		// The leader is down: nothing flows, whatever the link's settings.
		r.to((r.w - 10) / 2)
		r.text(st.Warn, "no primary")
		return
	}
	if v.marks&markLane != 0 {
		short := cluster.FormatLag(lk.Latency)
		what := short + " one way"
		if lk.Cut {
			short, what = "CUT", "CUT"
		}
		// The longest label that fits the lane.
		s := pointerGlyph + " " + short + " "
		for _, long := range []string{pointerGlyph + " this link: " + what + " ", pointerGlyph + " " + what + " "} {
			if width(long) <= r.w {
				s = long
				break
			}
		}
		r.to((r.w - width(s)) / 2)
		r.text(st.Badge, s)
		return
	}
	if lk.Cut {
		r.to((r.w - 10) / 2)
		r.text(st.Error, "link CUT")
		return
	}
	s := cluster.FormatLag(lk.Latency)
	if lk.Jitter > 0 {
		s += " ±" + cluster.FormatLag(lk.Jitter)
	}
	if lk.Bandwidth > 0 {
		s += " " + cluster.FormatSize(lk.Bandwidth) + "/s"
	}
	if long := s + " one way"; width(long) <= r.w {
		s = long
	}
	r.to((r.w - width(s)) / 2)
	r.text(st.Muted, s)
}

func (m *Model) footer(r *row) {
	st := m.st
	if m.pal.active {
		m.pal.row(r)
		return
	}
	msg, msgPaint := m.msg, st.Accent
	if m.msgErr {
		msgPaint = st.Error
	}
	if msg == "" && m.hint {
		msg, msgPaint = "new here? "+firstKey(m.keys.Lessons)+" picks a lesson", st.Muted
	}
	// The last bindings (help, quit) are always shown; the message as
	// much as the rest of the row allows, before other bindings.
	items := m.keys.ShortHelp()
	itemW := func(b key.Binding) int { h := b.Help(); return width(h.Key) + width(shortDesc(h.Desc)) + 3 }
	reserve := 0
	for _, b := range items[max(len(items)-2, 0):] {
		reserve += itemW(b)
	}
	msgW := 0
	if msg != "" {
		msgW = min(width(msg)+2, r.w-reserve)
	}
	for i, b := range items {
		last := i >= len(items)-2
		if !last && r.room()-msgW-reserve < itemW(b) {
			continue
		}
		if last && r.room() < itemW(b) {
			break
		}
		h := b.Help()
		r.plain(" ")
		r.text(st.Key, h.Key)
		r.plain(" ")
		r.text(st.KeyDesc, shortDesc(h.Desc))
		r.plain(" ")
	}
	if msg != "" {
		r.to(r.w - msgW)
		r.text(msgPaint, msg)
	}
	r.fill()
}

// shortDesc is the first word of a binding's help ("pause/resume replay"
// gives "pause"), for the one-line footer.
func shortDesc(d string) string {
	if i := strings.IndexAny(d, " /"); i > 0 {
		return d[:i]
	}
	return d
}

func (m *Model) tooSmallView() string {
	msg := fmt.Sprintf("walship needs at least %dx%d (now %dx%d)", MinWidth, MinHeight, m.w, m.h)
	hint := "enlarge the window or shrink the font · " + firstKey(m.keys.Quit) + " quits"
	var b strings.Builder
	top := max(m.h/2-1, 0)
	for range top {
		b.WriteByte('\n')
	}
	line := func(p theme.Paint, s string) {
		r := newRow(&b, m.w)
		r.to((m.w - width(s)) / 2)
		r.text(p, s)
		r.fill()
	}
	line(m.st.Warn, msg)
	b.WriteByte('\n')
	line(m.st.Muted, hint)
	return b.String()
}

// lostTail is where f's write position stood before it crashed, while it
// is stopped: the tail between what reached its disk (its write position
// now) and there was lost. Once it runs again, recovery has said what it
// kept and nothing is drawn as lost.
func (m *Model) lostTail(f *cluster.FollowerStatus) wal.LSN {
	if f.State != cluster.StateStopped {
		delete(m.lostTo, f.Name)
		m.lastWrite[f.Name] = f.WriteLSN
		return 0
	}
	if _, ok := m.lostTo[f.Name]; !ok {
		m.lostTo[f.Name] = m.lastWrite[f.Name]
	}
	if to := m.lostTo[f.Name]; to > f.WriteLSN {
		return to
	}
	return 0
}

// syncMarks decides what the bars show of the sync rule: on the bar of
// the position it waits for, a tick where it has reached (its watermark)
// and one where the oldest waiting commit ends.
func (m *Model) syncMarks() {
	p, L, g := &m.panel, &m.snap.Leader, &m.st.Glyphs
	p.syncBar, p.syncTicks = -1, p.syncTicks[:0]
	if !L.Sync.Remote() {
		return
	}
	p.syncBar = int(L.Sync.Mode - cluster.SyncRemoteWrite)
	if L.WaitingCommits > 0 && L.OldestWaitingLSN > 0 {
		p.syncTicks = append(p.syncTicks, tick{L.OldestWaitingLSN, g.Waiting, &m.st.Warn})
	}
	if L.SyncWatermark > 0 {
		p.syncTicks = append(p.syncTicks, tick{L.SyncWatermark, g.Watermark, &m.st.Accent})
	}
}
