package tui

import (
	"strconv"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
	"walship/session"
	"walship/theme"
)

// Looking back. The UI keeps its last minutes of snapshots (a
// session.History, encoded as a session file is), and ← shows an earlier
// moment: the whole screen, bars, lanes with the frames then in flight,
// badges, the event log up to then and the message diagram, under a PAST
// banner. The world is frozen while it is looked at, and nothing in it is
// rewound: → past the present, or esc, comes back to now. This is not a
// lesson's going back (pgup, P, r), which really takes the world back to
// a chapter's checkpoint.
//
// Over a recording (walship replay, a Playback) the same keys move the
// playhead instead, and space pauses it.

// Playback is a controller that plays a recording (session.Replay).
type Playback interface {
	Span() (first, last time.Duration) // world time
	Position() time.Duration
	Seek(world time.Duration)
	Playing() bool
	SetPlaying(bool)
	Pace() float64
	SetPace(float64)
	Note() string // where a damaged recording stopped, or ""
	Recording() *session.Recording
}

const (
	historyKeep = 3 * time.Minute        // world time the UI keeps to look back at
	scrubStep   = 100 * time.Millisecond // ←, →
	scrubJump   = time.Second            // shift+←, shift+→
)

// pastView is the past on screen, while it is.
type pastView struct {
	active   bool
	at       int              // the history's snapshot shown
	target   time.Duration    // the world time asked for: steps add up from it
	live     cluster.Snapshot // the present, kept aside
	unfreeze bool             // ← froze the world: coming back unfreezes it
	events   eventLog         // the log as it stood then
}

// initTime sets up looking back over ctrl: its own history, or the
// recording it plays.
func (m *Model) initTime(ctrl cluster.Controller) {
	m.trace = newFrameTrace()
	if p, ok := ctrl.(Playback); ok {
		m.play = p
		m.hist = p.Recording().History
		return
	}
	m.hist = session.NewHistory(historyKeep)
}

// lastEventSeen is the newest event the UI has: the present's, also while
// the past is shown.
func (m *Model) lastEventSeen() uint64 {
	if m.past.active {
		return m.past.live.LastEvent
	}
	return m.snap.LastEvent
}

// remember keeps a new snapshot in the history and the frame trace. While
// the past is shown it only keeps it aside, and reports true: the screen
// stays in the past.
func (m *Model) remember(s cluster.Snapshot) bool {
	if m.play == nil {
		m.hist.Add(m.now.Sub(m.started), &s)
	}
	if m.past.active {
		m.events.add(s.Events)
		m.past.live = s
		m.past.live.Events = nil
		return true
	}
	if m.play != nil && (s.World < m.trace.now || s.World > m.trace.now+time.Second) {
		// The playhead jumped (a key, a click, a lesson's step): the
		// event log and the diagram are drawn again from the recording.
		m.events.reset(m.hist.Events(s.LastEvent, maxEvents))
		m.retrace(m.hist.AtWorld(s.World))
		m.trace.now = s.World
		return false
	}
	m.trace.feed(&s)
	m.trace.addEvents(s.Events)
	return false
}

// timeKey handles the keys of looking back, of a recording's playback,
// and the diagram's. It reports false for keys that are not its own.
func (m *Model) timeKey(msg tea.KeyPressMsg) (tea.Cmd, bool) {
	k := &m.keys
	switch {
	case key.Matches(msg, k.Diagram):
		m.toggleDiagram()
		return nil, true
	case key.Matches(msg, k.Scrub):
		d := scrubStep
		if msg.Key().Mod&tea.ModShift != 0 {
			d = scrubJump
		}
		if msg.Key().Code == tea.KeyLeft {
			d = -d
		}
		if m.play != nil {
			m.play.SetPlaying(false)
			m.play.Seek(m.play.Position() + d)
			return m.sought(), true
		}
		return m.scrub(d), true
	}
	if m.play != nil {
		switch {
		case key.Matches(msg, k.Freeze):
			m.play.SetPlaying(!m.play.Playing())
			return m.refresh(), true
		case key.Matches(msg, k.TimeSlow, k.TimeFast):
			m.play.SetPace(step(speedSteps, m.play.Pace(), key.Matches(msg, k.TimeFast), stepEps))
			m.say(false, "playback "+speedText(m.play.Pace()))
			return m.refresh(), true
		}
		return nil, false
	}
	if !m.past.active {
		return nil, false
	}
	switch {
	case msg.String() == "esc":
		return m.toPresent(), true
	case key.Matches(msg, k.Freeze):
		// Running the world again is done in the present.
		m.past.unfreeze = true
		return m.toPresent(), true
	}
	return nil, false
}

// scrub moves the moment shown by d of world time: into the past from the
// present (freezing the world when it runs), and back to the present past
// its newest snapshot.
func (m *Model) scrub(d time.Duration) tea.Cmd {
	if m.hist.Len() == 0 {
		return nil
	}
	newest := m.hist.Len() - 1
	var cmd tea.Cmd
	if !m.past.active {
		if d > 0 {
			return nil // already now
		}
		m.past = pastView{active: true, at: newest, target: m.hist.World(newest), live: m.snap, events: m.past.events}
		if !m.snap.Frozen {
			m.past.unfreeze = true
			cmd = m.send(cluster.Command{Verb: cluster.VerbFreeze}, false)
		}
	}
	t := m.past.target + d
	i := m.hist.AtWorld(t)
	if d > 0 && i == m.past.at {
		i++ // out of a frozen stretch
	}
	if d > 0 && i >= newest {
		return tea.Batch(cmd, m.toPresent())
	}
	m.showPast(i)
	m.past.target = max(t, m.hist.World(0))
	return cmd
}

// showPast puts snapshot i of the history on screen.
func (m *Model) showPast(i int) {
	s := m.hist.Snapshot(i)
	m.past.at, m.past.target = i, s.World
	m.snap = s
	m.panel.leader = &m.snap.Leader
	m.panel.src = &m.snap.Source
	m.past.events.w, m.past.events.h = m.events.w, m.events.h
	m.past.events.reset(m.hist.Events(s.LastEvent, maxEvents))
	m.buildViews()
	// The CRC badge flashes as it did then: a failure counted within
	// flashFor of world time before.
	then := m.hist.Snapshot(m.hist.AtWorld(s.World - flashFor))
	for j := range m.views {
		v := &m.views[j]
		v.flash = false
		for _, f := range then.Followers {
			if f.Index == v.f.Index {
				v.flash = v.f.CRCFailures > f.CRCFailures
			}
		}
	}
	m.target = targetScale(&m.snap)
	m.sc = m.target
	m.panel.sc, m.leader.sc = m.sc, m.sc
	m.retrace(i)
	m.dirty = true
}

// retrace draws the diagram's trace again from the history, up to its
// snapshot i: as much of it as the diagram shows, and only while it is
// shown (toggling it on retraces).
func (m *Model) retrace(i int) {
	if !m.diagram.on || m.hist == nil || m.hist.Len() == 0 {
		m.trace.reset()
		return
	}
	lat := time.Duration(0)
	for _, f := range m.snap.Followers {
		lat = max(lat, f.Link.Latency)
	}
	rows := max(m.lay.bodyH, 1)
	span := time.Duration(rows)*rowStep(lat, rows) + 2*lat + time.Second
	m.trace.rebuild(m.hist, min(i, m.hist.Len()-1), span)
}

// toPresent leaves the past: the present back on screen, and the world
// running again if looking back froze it.
func (m *Model) toPresent() tea.Cmd {
	if !m.past.active {
		return nil
	}
	live, unfreeze := m.past.live, m.past.unfreeze
	m.past.active, m.past.unfreeze = false, false
	m.snap = live
	m.panel.leader = &m.snap.Leader
	m.panel.src = &m.snap.Source
	m.buildViews()
	m.target = targetScale(&m.snap)
	m.sc = m.target
	m.panel.sc, m.leader.sc = m.sc, m.sc
	m.retrace(m.hist.Len() - 1)
	m.dirty = true
	if unfreeze {
		return m.send(cluster.Command{Verb: cluster.VerbUnfreeze}, false)
	}
	return m.refresh()
}

// sought follows a move of a recording's playhead: the next snapshot is
// fetched at once (remember draws the log and the diagram again).
func (m *Model) sought() tea.Cmd {
	m.dirty = true
	return m.refresh()
}

func (m *Model) toggleDiagram() {
	m.diagram.on = !m.diagram.on
	m.dirty = true
	if !m.diagram.on || m.hist == nil || m.hist.Len() == 0 {
		return
	}
	switch {
	case m.past.active:
		m.retrace(m.past.at)
	case m.play != nil:
		m.retrace(m.hist.AtWorld(m.snap.World))
	default:
		m.retrace(m.hist.Len() - 1)
	}
}

// eventsShown is the event log on screen: the past's while it is shown.
func (m *Model) eventsShown() *eventLog {
	if m.past.active {
		m.past.events.h = m.events.h
		return &m.past.events
	}
	return &m.events
}

// uiCommand carries out a palette line that is the UI's own rather than
// the cluster's, and reports whether it was.
func (m *Model) uiCommand(line string) bool {
	words, _ := cluster.SplitWords(line, false)
	if len(words) == 0 || words[0].Text != "diagram" || len(words) > 2 {
		return false
	}
	want := !m.diagram.on
	if len(words) == 2 {
		switch words[1].Text {
		case "on", "all":
			want, m.diagram.quiet = true, false
		case "data":
			want, m.diagram.quiet = true, true
		case "off":
			want = false
		default:
			return false
		}
	}
	if m.diagram.on != want {
		m.toggleDiagram()
	}
	m.dirty = true
	return true
}

// uiVerbs are the palette's commands that are the UI's own, for its
// completion and hints.
var uiVerbs = []struct{ Verb, Usage, Help string }{
	{"diagram", "diagram [on|off|data|all]", "the space-time diagram of every message (key m); data leaves out status and keepalives"},
}

// timeSpan is the world time the strip spans, and the moment shown.
func (m *Model) timeSpan() (first, last, at time.Duration, ok bool) {
	switch {
	case m.play != nil:
		first, last = m.play.Span()
		return first, last, m.snap.World, true
	case m.past.active && m.hist.Len() > 0:
		return m.hist.World(0), m.hist.World(m.hist.Len() - 1), m.snap.World, true
	}
	return 0, 0, 0, false
}

// timeBadge is the banner at the start of the status line: PAST and how
// far back, or the recording's place.
func (m *Model) timeBadge() (string, theme.Paint) {
	switch {
	case m.play != nil:
		state := "▶ " + speedText(m.play.Pace())
		if !m.play.Playing() {
			state = m.st.Glyphs.Paused + " paused"
		}
		first, last := m.play.Span()
		return " REPLAY " + worldShort(m.snap.World-first) + " / " + worldShort(last-first) + " " + state + " ", m.st.Badge
	case m.past.active:
		back := m.past.live.World - m.snap.World
		return " PAST −" + strconv.FormatFloat(back.Seconds(), 'f', 1, 64) + " s ", m.st.BadgeWarn
	}
	return "", theme.Paint{}
}

// worldShort is a duration as seconds with one decimal.
func worldShort(d time.Duration) string {
	return strconv.FormatFloat(max(d, 0).Seconds(), 'f', 1, 64) + "s"
}

// stripRow draws the time strip over the events title row: the span held,
// the moment shown, the CRC failures and crashes as marks.
func (m *Model) stripRow(r *row) {
	st := m.st
	first, last, at, _ := m.timeSpan()
	label := " time "
	r.text(st.Muted, "──"+label)
	x0 := r.n
	right := " now ─"
	if m.play != nil {
		right = " end ─"
	}
	w := r.w - x0 - width(right) - 1
	if w < 4 {
		r.fill()
		return
	}
	cells := make([]string, w)
	paints := make([]*theme.Paint, w)
	for i := range cells {
		cells[i], paints[i] = "─", &st.Lane
	}
	col := func(t time.Duration) int {
		if last <= first {
			return w - 1
		}
		return min(max(int(float64(t-first)/float64(last-first)*float64(w-1)+0.5), 0), w-1)
	}
	for _, e := range m.hist.Events(^uint64(0), 1<<12) {
		if e.World < first || e.World > last {
			continue
		}
		switch e.Kind {
		case cluster.EvCRC:
			c := col(e.World)
			cells[c], paints[c] = st.Glyphs.CRC, &st.Error
		case cluster.EvCrash:
			c := col(e.World)
			cells[c], paints[c] = st.Glyphs.Cut, &st.Error
		}
	}
	c := col(at)
	cells[c], paints[c] = "●", &st.Accent
	r.text(st.Lane, "├")
	pr := paintRun{r: r}
	for i := range cells {
		pr.put(paints[i], cells[i])
	}
	pr.end()
	r.text(st.Lane, "┤")
	r.text(st.Muted, right)
	r.fill()
}

// stripX is the strip's column range on screen (in the events title row).
func (m *Model) stripX() (x0, w int) {
	x0 = width("── time ") + 1
	right := width(" now ─")
	return x0, m.lay.w - x0 + 1 - right - 1 - 1
}

// clickTime moves to the moment clicked on the time strip.
func (m *Model) clickTime(ms tea.Mouse) (tea.Cmd, bool) {
	first, last, _, ok := m.timeSpan()
	if !ok || ms.Y != m.lay.eventsY || m.lay.eventsH == 0 {
		return nil, false
	}
	x0, w := m.stripX()
	x := ms.X - x0
	if x < 0 || x >= w {
		return nil, true
	}
	t := first
	if w > 1 {
		t += time.Duration(float64(last-first) * float64(x) / float64(w-1))
	}
	if m.play != nil {
		m.play.SetPlaying(false)
		m.play.Seek(t)
		return m.sought(), true
	}
	if x == w-1 {
		return m.toPresent(), true
	}
	m.showPast(m.hist.AtWorld(t))
	return nil, true
}

// timeFooter is the footer while the past or a recording is shown: what
// the screen is, and the keys that move through it.
func (m *Model) timeFooter(r *row) bool {
	st := m.st
	var what string
	var keys [][2]string
	switch {
	case m.play != nil:
		what = "a recording: it shows what happened"
		if note := m.play.Note(); note != "" {
			what = note
		}
		keys = [][2]string{{"space", "pause"}, {"←→", "0.1s"}, {"⇧←→", "1s"}, {"<>", "pace"}}
	case m.past.active:
		what = "world frozen, nothing in it rewound"
		if !m.past.live.Frozen && !m.past.unfreeze {
			what = "the world runs on, nothing in it rewound"
		}
		keys = [][2]string{{"esc", "now"}, {"←→", "0.1s"}, {"⇧←→", "1s"}}
	default:
		return false
	}
	paint := st.Muted
	if m.play != nil && m.play.Note() != "" {
		paint = st.Warn
	}
	msgW := 0
	if m.msg != "" {
		msgW = min(width(m.msg)+2, r.w*2/3)
	}
	left := newRow(r.b, r.w-msgW)
	for _, k := range keys {
		if left.room() < width(k[0])+width(k[1])+3 {
			break
		}
		left.text(st.Key, " "+k[0])
		left.text(st.KeyDesc, " "+k[1]+" ")
	}
	left.text(paint, " "+what)
	left.fill()
	r.n = left.n
	if m.msg != "" {
		p := st.Accent
		if m.msgErr {
			p = st.Error
		}
		r.text(p, " "+m.msg)
	}
	r.fill()
	return true
}
