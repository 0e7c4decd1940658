package tui

import (
	"fmt"
	"math"
	"time"

	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/scenario"
	"walship/session"
	"walship/theme"
)

// Frame rates. The render tick runs only while something moves; otherwise
// a slower poll notices new activity.
const (
	animInterval = time.Second / 30
	idleInterval = time.Second / 10
	flashFor     = 1500 * time.Millisecond
	messageFor   = 4 * time.Second
	hintFor      = 15 * time.Second
	burstRecords = 20
)

// Messages.
type (
	// pollMsg asks for a snapshot; gen drops ticks of a superseded chain.
	pollMsg struct{ gen int }
	// snapMsg carries a snapshot taken off the UI goroutine.
	snapMsg struct {
		gen    int
		snap   cluster.Snapshot
		lesson *scenario.LessonState
	}
	// doneMsg reports a command the controller carried out (or refused).
	doneMsg struct {
		cmd     cluster.Command
		err     error
		palette bool // typed in the palette, which waits for it
	}
	// lessonMsg reports a lesson started from the picker (or why not).
	lessonMsg struct {
		name   string
		lesson scenario.Lesson
		err    error
	}
)

// Model is the root model: it owns the last snapshot, the selection and the
// components, and turns keys and clicks into cluster commands.
type Model struct {
	ctrl        cluster.Controller
	lesson      scenario.Lesson
	startLesson func(name string) (scenario.Lesson, error)
	marker      func(label string)
	lastMark    string // the label of the last marker sent
	st          *theme.Styles
	themes      themeChoice
	keys        KeyMap

	w, h      int
	lay       layout
	room      bool // the presenter layout
	eventRows int  // the event log's least height the layout was made for

	snap    cluster.Snapshot
	have    bool
	gen     int
	now     time.Time
	fatal   string // what stopped the engine; Run returns it
	moving  bool
	sc      scale // the scale drawn
	target  scale // the scale the data asks for; sc eases toward it
	views   []followerView
	prevCRC map[string]uint64
	flashAt map[string]time.Time
	// lastWrite is each running follower's last write position, and
	// lostTo, for a stopped one, where it stood before the crash.
	lastWrite map[string]wal.LSN
	lostTo    map[string]wal.LSN
	lags      history // the sparklines' last minute (history.go)

	selected string
	showHelp bool
	captions bool
	msg      string
	msgErr   bool
	msgAt    time.Time
	hint     bool      // the one-time hint that lessons exist is showing
	started  time.Time // when the UI started, for the hint

	status  statusLine
	banner  failoverBanner
	leader  leaderPanel
	panel   followerPanel
	events  eventLog
	pal     palette
	lessonP lessonPanel
	picker  lessonPicker
	help    helpOverlay
	scratch []byte

	// Looking back, a recording's playback and the message diagram
	// (timetravel.go, diagram.go).
	hist    *session.History
	play    Playback
	past    pastView
	trace   frameTrace
	diagram diagramPane

	// View memo: View re-renders only after Update changed something shown.
	dirty bool
	view  string
}

// New returns the root model over ctrl. It is exported for tests and for
// programs that embed the UI; Run is the usual entry point.
func New(ctrl cluster.Controller, opts Options) (*Model, error) {
	th, err := theme.ByName(opts.Theme)
	if err != nil {
		return nil, err
	}
	m := &Model{
		ctrl:        ctrl,
		lesson:      opts.Lesson,
		startLesson: opts.StartLesson,
		marker:      opts.Marker,
		themes:      newThemeChoice(opts.Theme, th),
		keys:        DefaultKeyMap(),
		prevCRC:     map[string]uint64{},
		flashAt:     map[string]time.Time{},
		lastWrite:   map[string]wal.LSN{},
		lostTo:      map[string]wal.LSN{},
		room:        opts.Room,
		captions:    true,
		dirty:       true,
		now:         time.Now(),
	}
	m.started = m.now
	m.keys.lessonKeys(opts.Lesson != nil)
	m.keys.refusedKeys(ctrl)
	canPick := len(opts.Lessons) > 0 && opts.StartLesson != nil
	m.keys.Lessons.SetEnabled(canPick)
	m.hint = canPick && opts.Hint && opts.Lesson == nil
	m.picker.keys, m.picker.lessons = &m.keys, opts.Lessons
	m.lessonP.keys = &m.keys
	m.help.keys = &m.keys
	m.initTime(ctrl)
	m.setStyles(theme.NewStyles(th))
	return m, nil
}

// Init starts polling the controller and asks the terminal for its
// background colour (see background.go).
func (m *Model) Init() tea.Cmd { return tea.Batch(m.fetch(), tea.RequestBackgroundColor) }

// fetch takes a snapshot (and the lesson state) off the UI goroutine.
func (m *Model) fetch() tea.Cmd {
	ctrl, lesson, gen, since := m.ctrl, m.lesson, m.gen, m.lastEventSeen()
	return func() tea.Msg {
		msg := snapMsg{gen: gen, snap: ctrl.Snapshot(since)}
		if lesson != nil {
			s := lesson.State()
			msg.lesson = &s
		}
		return msg
	}
}

// refresh starts a new poll chain now (after a command), dropping the old one.
func (m *Model) refresh() tea.Cmd {
	m.gen++
	return m.fetch()
}

func (m *Model) schedule() tea.Cmd {
	d := idleInterval
	if m.moving {
		d = animInterval
	}
	gen := m.gen
	return tea.Tick(d, func(time.Time) tea.Msg { return pollMsg{gen} })
}

// Update handles one message. It never blocks: commands to the cluster and
// snapshots run in tea.Cmds.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	m.now = time.Now()
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.setSize(msg.Width, msg.Height)
		return m, nil
	case tea.BackgroundColorMsg:
		m.background(msg)
		return m, nil
	case pollMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		return m, m.fetch()
	case snapMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		if msg.snap.Fatal != "" && m.play == nil {
			// The engine stopped: quit through Bubble Tea, which puts the
			// terminal back, and say why (see Run). A recording that
			// ends so is played like any other.
			m.fatal = msg.snap.Fatal
			return m, tea.Quit
		}
		if m.remember(msg.snap) {
			return m, m.schedule()
		}
		return m, tea.Batch(m.schedule(), m.ingest(msg.snap, msg.lesson))
	case lessonMsg:
		if msg.err != nil {
			m.say(true, "lesson "+msg.name+": "+msg.err.Error())
			return m, nil
		}
		m.lesson, m.captions, m.lastMark = msg.lesson, true, ""
		m.lessonP.state = scenario.LessonState{}
		m.keys.lessonKeys(true)
		m.relayout()
		return m, m.refresh()
	case doneMsg:
		if msg.palette {
			m.pal.done(msg.err)
		}
		if msg.err != nil {
			m.say(true, fmt.Sprintf("%s: %v", msg.cmd, msg.err))
		} else if w := unmeetable(cluster.SyncRule{Mode: msg.cmd.Mode, N: int(msg.cmd.N)}, len(m.snap.Followers)); msg.cmd.Verb == cluster.VerbSync && w != "" {
			m.say(true, "→ "+msg.cmd.String()+": "+w+", every commit waits")
		} else {
			m.say(false, "→ "+msg.cmd.String())
		}
		return m, m.refresh()
	case tea.KeyPressMsg:
		return m, m.key(msg)
	case tea.MouseClickMsg:
		return m, m.click(msg.Mouse())
	case tea.MouseWheelMsg:
		m.wheel(msg.Mouse())
	case tea.PasteMsg:
		if m.pal.active {
			m.pal.paste(msg.Content)
			m.dirty = true
		}
	}
	return m, nil
}

func (m *Model) say(isErr bool, s string) {
	m.msg, m.msgErr, m.msgAt, m.dirty = s, isErr, m.now, true
}

func (m *Model) setSize(w, h int) {
	m.w, m.h = w, h
	m.relayout()
}

func (m *Model) lessonShown() bool { return m.lesson != nil && m.captions }

func (m *Model) relayout() {
	in := layoutInput{followers: len(m.views), room: m.room, eventRows: m.events.wantRows(m.w), bannerRows: bannerRows(&m.snap)}
	m.lessonP.room = m.room // its height depends on it
	if m.lessonShown() {
		in.lessonRows = m.lessonP.rowsFor(m.w)
	}
	in.paneRows = m.readsPaneRows() // the reads pane (reads.go)
	m.eventRows = in.eventRows
	l := computeLayout(m.w, m.h, in)
	m.lay = l
	m.dirty = true
	if l.tooSmall {
		return
	}
	m.status.SetSize(l.w)
	m.leader.SetWidth(l.leaderW)
	m.leader.room, m.leader.histY = l.room, 0
	if l.history() && l.bodyH >= leaderHistoryY+leaderHistoryRows {
		m.leader.histY = leaderHistoryY
	}
	m.panel.SetSize(l.panelW, l.blockH)
	m.panel.room, m.panel.barH = l.room, l.barH
	m.events.SetSize(l.w, l.eventsH)
	m.lessonP.SetSize(l.w, l.lessonH)
	m.help.SetSize(l.w, l.h-2)
	m.picker.SetSize(l.w, l.h-2)
	if cap(m.scratch) < l.laneW {
		m.scratch = make([]byte, l.laneW)
	}
}

// ingest takes a new snapshot: events, followers, the scale, flashes. It
// returns the command that writes a recording's marker when the lesson
// reached a new chapter or step.
func (m *Model) ingest(s cluster.Snapshot, ls *scenario.LessonState) tea.Cmd {
	changed := !m.have || !sameSnapshot(&m.snap, &s)
	if m.events.add(s.Events) {
		changed = true
		if m.events.wantRows(m.w) != m.eventRows {
			m.relayout() // the newest event, shown whole, needs another height
		}
	}
	s.Events = nil
	m.snap, m.have = s, true
	if !m.lay.tooSmall && m.readsPaneRows() != m.lay.paneH {
		m.relayout() // the reads pane appears, or grows
	}
	m.panel.leader = &m.snap.Leader
	m.panel.src = &m.snap.Source
	m.lags.sample(&m.snap, m.panel.behind)
	m.syncMarks()

	var mark tea.Cmd
	if ls != nil {
		before := m.lessonP.rowsFor(m.w)
		if m.lessonP.setState(*ls) {
			changed = true
			if m.lessonP.rowsFor(m.w) != before {
				m.relayout()
			}
			mark = m.markStep(ls)
		}
	}
	if m.msg != "" && m.now.Sub(m.msgAt) > messageFor {
		m.msg, changed = "", true
	}
	if m.hint && m.now.Sub(m.started) > hintFor {
		m.hint, changed = false, true
	}
	for name, at := range m.flashAt {
		if m.now.Sub(at) > flashFor {
			delete(m.flashAt, name)
			changed = true
		}
	}
	if changed {
		m.buildViews()
	}
	m.target = targetScale(&m.snap)
	animating := m.ease()
	// Tick at full rate while frames fly, the scale eases, a backup runs or
	// the last snapshot moved something (replay catching up after a resume
	// moves bars with no frame in flight); otherwise poll slowly.
	m.moving = !s.Frozen && (len(s.Frames) > 0 || animating || backupActive(&s) || changed)
	if changed || animating {
		m.dirty = true
	}
	return mark
}

// markStep sends a recording's marker when the lesson is at a chapter or
// step it was not at before.
func (m *Model) markStep(ls *scenario.LessonState) tea.Cmd {
	label := markerLabel(ls)
	if m.marker == nil || label == "" || label == m.lastMark {
		return nil
	}
	m.lastMark = label
	marker := m.marker
	return func() tea.Msg { marker(label); return nil }
}

func backupActive(s *cluster.Snapshot) bool {
	for i := range s.Followers {
		if s.Followers[i].Backup.Active {
			return true
		}
	}
	return false
}

// sameSnapshot reports whether b would draw exactly as a does (world time
// aside, which is not drawn).
func sameSnapshot(a, b *cluster.Snapshot) bool {
	if a.Speed != b.Speed || a.Frozen != b.Frozen || a.LastEvent != b.LastEvent ||
		a.Leader != b.Leader || len(a.Followers) != len(b.Followers) || len(a.Frames) != len(b.Frames) ||
		a.FramesOmitted != b.FramesOmitted {
		return false
	}
	for i := range a.Followers {
		if a.Followers[i] != b.Followers[i] {
			return false
		}
	}
	for i := range a.Frames {
		if a.Frames[i] != b.Frames[i] {
			return false
		}
	}
	return sameFailover(a, b)
}

// buildViews regroups followers and their frames, and notices CRC failures.
func (m *Model) buildViews() {
	s := &m.snap
	n := len(s.Followers)
	old := len(m.views)
	if cap(m.views) < n {
		m.views = append(m.views[:cap(m.views)], make([]followerView, n-cap(m.views))...)
	}
	m.views = m.views[:n]
	if m.selected == "" || m.followerIndex(m.selected) < 0 {
		if n > 0 {
			m.selected = s.Followers[0].Name
		} else {
			m.selected = ""
		}
	}
	byIndex := make(map[int]int, n)
	for i := range s.Followers {
		f := s.Followers[i]
		if prev, ok := m.prevCRC[f.Name]; ok && f.CRCFailures > prev {
			m.flashAt[f.Name] = m.now
		}
		m.prevCRC[f.Name] = f.CRCFailures
		_, flash := m.flashAt[f.Name]
		m.views[i] = followerView{f: f, frames: m.views[i].frames[:0], selected: f.Name == m.selected, flash: flash,
			lostTo: m.lostTail(&f), hist: m.lags.followers[f.Name]}
		if m.lessonShown() {
			m.views[i].marks = pointsFor(&m.lessonP.state.Points, f.Name)
		}
		byIndex[f.Index] = i
	}
	m.leader.hist = &m.lags.leader
	m.leader.marks = 0
	if m.lessonShown() {
		m.leader.marks = leaderMarks(&m.lessonP.state.Points)
	}
	for i := range s.Frames {
		if j, ok := byIndex[s.Frames[i].Index]; ok {
			m.views[j].frames = append(m.views[j].frames, s.Frames[i])
		}
	}
	if n != old || bannerRows(s) != m.lay.bannerH {
		m.relayout()
	}
}

func (m *Model) followerIndex(name string) int {
	for i := range m.snap.Followers {
		if m.snap.Followers[i].Name == name {
			return i
		}
	}
	return -1
}

// targetScale is the shared bar scale for s. It ends at the leader's
// flushed end and starts a quarter of the spread below the lowest position
// any follower holds, so the laggiest follower still shows a bar (an empty
// bar would read as "nothing received"), with a minimum window of 16 records
// so that one record of lag is a visible step. When the leader's oldest
// retained LSN falls inside, the bars draw the WAL before it as removed.
func targetScale(s *cluster.Snapshot) scale {
	hi := s.Leader.FlushLSN
	lowest := hi
	for i := range s.Followers {
		f := &s.Followers[i]
		hi = max(hi, f.WriteLSN)
		lowest = min(lowest, f.ReplayLSN)
	}
	lowest = lowestForScale(&s.Leader, lowest)
	avg := wal.LSN(64)
	if s.Leader.Records > 0 && s.Leader.InsertLSN > 0 {
		avg = max(s.Leader.InsertLSN/wal.LSN(s.Leader.Records), 16)
	}
	span := max((hi-lowest)+(hi-lowest)/4, 16*avg)
	lo := hi - min(span, hi)
	return scale{lo: float64(lo), hi: float64(hi), oldest: s.Leader.OldestLSN}
}

// ease moves the drawn scale toward the target; it reports whether it is
// still moving.
func (m *Model) ease() bool {
	t := m.target
	defer func() { m.panel.sc, m.leader.sc = m.sc, m.sc }()
	if m.sc.hi == 0 && m.sc.lo == 0 {
		m.sc = t
		return false
	}
	m.sc.hi, m.sc.oldest = t.hi, t.oldest
	d := t.lo - m.sc.lo
	if math.Abs(d) < 1 || math.Abs(d) < (t.hi-t.lo)/2000 {
		m.sc.lo = t.lo
		return false
	}
	m.sc.lo += d * 0.3
	return true
}

// selectedStatus is the selected follower in the last snapshot.
func (m *Model) selectedStatus() (*cluster.FollowerStatus, bool) {
	i := m.followerIndex(m.selected)
	if i < 0 {
		return nil, false
	}
	return &m.snap.Followers[i], true
}

func (m *Model) selectName(name string) {
	if m.selected != name {
		m.selected = name
		for i := range m.views {
			m.views[i].selected = m.views[i].f.Name == name
		}
		m.dirty = true
	}
}

func (m *Model) selectStep(d int) {
	n := len(m.snap.Followers)
	if n == 0 {
		return
	}
	i := m.followerIndex(m.selected)
	i = ((i+d)%n + n) % n
	m.selectName(m.snap.Followers[i].Name)
}
