package tui

import (
	"fmt"
	"math"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
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

// do sends c to the controller off the UI goroutine, and assumes it took
// effect in the snapshot the keys read, so that keys pressed faster than
// the next poll step on from it (two > presses make 4x, not 2x twice).
// While the past is on screen it refuses: the world is changed in the
// present.
func (m *Model) do(c cluster.Command) tea.Cmd {
	if m.refusedInPast(c) {
		return nil
	}
	return m.send(c, false)
}

// doFromPalette is do for a command typed in the palette: its outcome
// goes back to the palette, which stays open until then.
func (m *Model) doFromPalette(c cluster.Command) tea.Cmd {
	if m.refusedInPast(c) {
		return nil
	}
	return m.send(c, true)
}

// refusedInPast says, and reports, that c cannot run while the past is
// shown.
func (m *Model) refusedInPast(c cluster.Command) bool {
	if !m.past.active {
		return false
	}
	m.say(true, "esc first: the past is only shown ("+c.String()+")")
	return true
}

// send is do without the past's guard.
func (m *Model) send(c cluster.Command, palette bool) tea.Cmd {
	anticipate(&m.snap, c)
	ctrl := m.ctrl
	return func() tea.Msg { return doneMsg{cmd: c, err: ctrl.Do(c), palette: palette} }
}

// anticipate applies the part of c that keys step or toggle from to s.
// The next snapshot from the cluster replaces it with the truth.
func anticipate(s *cluster.Snapshot, c cluster.Command) {
	switch c.Verb {
	case cluster.VerbSpeed:
		s.Speed = c.Factor
	case cluster.VerbFreeze, cluster.VerbUnfreeze:
		s.Frozen = c.Verb == cluster.VerbFreeze
	case cluster.VerbRate:
		s.Leader.TargetRate = float64(c.N)
	case cluster.VerbSync:
		s.Leader.Sync = cluster.SyncRule{Mode: c.Mode, N: int(c.N)}
	}
	for i := range s.Followers {
		f := &s.Followers[i]
		if c.Follower != f.Name && c.Follower != "all" {
			continue
		}
		switch c.Verb {
		case cluster.VerbLatency:
			f.Link.Latency, f.Link.Jitter = c.Dur, c.Jitter
		case cluster.VerbPause, cluster.VerbResume:
			f.ReplayPaused = c.Verb == cluster.VerbPause
		case cluster.VerbCut:
			switch c.Way {
			case cluster.WayTo:
				f.Link.CutTo = true
			case cluster.WayFrom:
				f.Link.CutFrom = true
			default:
				f.Link.Cut = true
			}
		case cluster.VerbRestore:
			f.Link.Cut, f.Link.CutTo, f.Link.CutFrom = false, false, false
		case cluster.VerbCrash:
			f.State = cluster.StateStopped
		case cluster.VerbRestart:
			f.State = cluster.StateStartup
		}
	}
}

// key turns a key press into a command (or a UI change).
func (m *Model) key(msg tea.KeyPressMsg) tea.Cmd {
	k := &m.keys
	m.dirty = true
	m.hint = false // any key: the newcomer has found the keyboard
	if key.Matches(msg, k.Suspend) {
		return tea.Suspend
	}
	if m.pal.active {
		if msg.String() == "enter" && m.uiCommand(m.pal.value()) {
			m.pal.close()
			return nil
		}
		if c, ok := m.pal.update(msg); ok {
			return m.doFromPalette(c)
		}
		return nil
	}
	if m.picker.active {
		if name, ok := m.picker.update(msg); ok {
			start := m.startLesson
			m.say(false, "starting lesson "+name+"…")
			return func() tea.Msg {
				l, err := start(name)
				return lessonMsg{name: name, lesson: l, err: err}
			}
		}
		return nil
	}
	if key.Matches(msg, k.Quit) {
		return tea.Quit
	}
	if m.showHelp {
		// Closing help works while the terminal is too small too: the
		// key was pressed to close it, whatever size the window had.
		if key.Matches(msg, k.Help) || msg.String() == "esc" {
			m.showHelp = false
		}
		return nil
	}
	if m.lay.tooSmall {
		return nil
	}
	if cmd, ok := m.timeKey(msg); ok {
		return cmd
	}
	if msg.String() == "esc" {
		m.msg = ""
		if m.events.sel != 0 {
			m.events.sel = 0 // the newest is shown whole again
			m.relayout()
		}
		return nil
	}
	switch {
	case key.Matches(msg, k.Help):
		m.showHelp = true
		return nil
	case key.Matches(msg, k.Palette):
		m.pal.open()
		return nil
	case key.Matches(msg, k.Lessons):
		m.picker.open()
		return nil
	case key.Matches(msg, k.Room):
		m.room = !m.room
		m.relayout()
		m.buildViews()
		return nil
	case key.Matches(msg, k.LogBack):
		m.events.scroll(m.events.h - 2)
		return nil
	case key.Matches(msg, k.LogFwd):
		m.events.scroll(-(m.events.h - 2))
		return nil
	case key.Matches(msg, k.Select):
		n := int(msg.String()[0] - '0')
		for i := range m.snap.Followers {
			if m.snap.Followers[i].Index == n {
				m.selectName(m.snap.Followers[i].Name)
				return nil
			}
		}
		if n == 0 {
			m.say(true, "0 selects the old leader once it rejoins as a follower after a failover")
			return nil
		}
		m.say(true, cluster.FollowerName(n)+" does not exist (a adds one)")
		return nil
	case key.Matches(msg, k.Next):
		m.selectStep(1)
		return nil
	case key.Matches(msg, k.Prev):
		m.selectStep(-1)
		return nil
	case m.lesson != nil && key.Matches(msg, k.Captions):
		m.captions = !m.captions
		m.relayout()
		m.buildViews() // the pointers go (or come back) with the captions
		return nil
	case m.lesson != nil && key.Matches(msg, k.Chapter, k.StepBack, k.ChapPrev, k.ChapAgain):
		l := m.lesson
		var fn func()
		switch {
		case key.Matches(msg, k.Chapter):
			fn = l.Next
		case key.Matches(msg, k.StepBack):
			fn = l.Back
		case key.Matches(msg, k.ChapPrev):
			fn = l.Prev
		default:
			fn = l.Restart
		}
		fetch := m.refresh()
		return func() tea.Msg { fn(); return fetch() }
	}
	c, err := m.commandFor(msg)
	if key.Matches(msg, k.Read, k.ReadWait) {
		c, err = m.readCommand(key.Matches(msg, k.ReadWait))
	}
	if err != nil {
		m.say(true, err.Error())
		return nil
	}
	if c.Verb == "" {
		return nil
	}
	return m.do(c)
}

// errNoFollower is what follower keys say when none is selected.
var errNoFollower = fmt.Errorf("no follower selected (a adds one)")

// commandFor is the command a cluster key sends, decided from the last
// snapshot: toggles look at the selected follower's current state.
func (m *Model) commandFor(msg tea.KeyPressMsg) (cluster.Command, error) {
	k := &m.keys
	s := &m.snap
	if key.Matches(msg, k.Pause, k.Cut, k.Corrupt, k.Drop, k.Crash, k.Backup, k.Slower, k.Quicker, k.Remove, k.Promote) {
		f, ok := m.selectedStatus()
		if !ok {
			return cluster.Command{}, errNoFollower
		}
		if f.Name == cluster.LeaderName && key.Matches(msg, k.Crash) {
			return cluster.Command{}, errOldLeaderRow
		}
		return followerCommand(k, msg, f), nil
	}
	switch {
	case key.Matches(msg, k.RateUp, k.RateDown):
		r := step(rateSteps, s.Leader.TargetRate, key.Matches(msg, k.RateUp), stepEps)
		return cluster.Command{Verb: cluster.VerbRate, N: int64(r)}, nil
	case key.Matches(msg, k.Burst):
		return cluster.Command{Verb: cluster.VerbWrite, N: burstRecords}, nil
	case key.Matches(msg, k.Sync):
		return cluster.Command{Verb: cluster.VerbSync, Mode: (s.Leader.Sync.Mode + 1) % (cluster.SyncRemoteApply + 1), N: int64(max(s.Leader.Sync.N, 1))}, nil
	case key.Matches(msg, k.SyncN):
		// ANY 1 .. ANY (followers), then back to 1.
		n := max(s.Leader.Sync.N, 1)%max(len(s.Followers), 1) + 1
		return cluster.Command{Verb: cluster.VerbSync, Mode: s.Leader.Sync.Mode, N: int64(n)}, nil
	case key.Matches(msg, k.Add):
		return cluster.Command{Verb: cluster.VerbAdd}, nil
	case key.Matches(msg, k.CrashLeader):
		return leaderKeyCommand(s), nil
	case key.Matches(msg, k.Failover):
		return cluster.Command{Verb: cluster.VerbFailover}, nil
	case key.Matches(msg, k.Freeze):
		if s.Frozen {
			return cluster.Command{Verb: cluster.VerbUnfreeze}, nil
		}
		return cluster.Command{Verb: cluster.VerbFreeze}, nil
	case key.Matches(msg, k.TimeSlow, k.TimeFast):
		sp := s.Speed
		if sp <= 0 {
			sp = 1
		}
		return cluster.Command{Verb: cluster.VerbSpeed, Factor: step(speedSteps, sp, key.Matches(msg, k.TimeFast), stepEps)}, nil
	}
	return cluster.Command{}, nil
}

// followerCommand is the command a follower key sends to f.
func followerCommand(k *KeyMap, msg tea.KeyPressMsg, f *cluster.FollowerStatus) cluster.Command {
	c := cluster.Command{Follower: f.Name}
	switch {
	case key.Matches(msg, k.Pause):
		c.Verb = cluster.VerbPause
		if f.ReplayPaused {
			c.Verb = cluster.VerbResume
		}
	case key.Matches(msg, k.Cut):
		c.Verb = cluster.VerbCut
		if f.Link.Cut {
			c.Verb = cluster.VerbRestore
		}
	case key.Matches(msg, k.Corrupt):
		c.Verb = cluster.VerbCorrupt
	case key.Matches(msg, k.Drop):
		c.Verb = cluster.VerbDrop
	case key.Matches(msg, k.Crash):
		c.Verb = cluster.VerbCrash
		if f.State == cluster.StateStopped {
			c.Verb = cluster.VerbRestart
		}
	case key.Matches(msg, k.Backup):
		c.Verb = cluster.VerbBackup
	case key.Matches(msg, k.Slower, k.Quicker):
		c.Verb, c.Jitter = cluster.VerbLatency, f.Link.Jitter
		c.Dur = step(latencySteps, f.Link.Latency, key.Matches(msg, k.Slower), 0)
	case key.Matches(msg, k.Remove):
		c.Verb = cluster.VerbRemove
	case key.Matches(msg, k.Promote):
		c.Verb = cluster.VerbPromote
	}
	return c
}

var (
	latencySteps = []time.Duration{0, 10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
		100 * time.Millisecond, 200 * time.Millisecond, 300 * time.Millisecond, 500 * time.Millisecond,
		750 * time.Millisecond, time.Second, 1500 * time.Millisecond, 2 * time.Second, 3 * time.Second, 5 * time.Second}
	rateSteps  = []float64{0, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096}
	speedSteps = []float64{1.0 / 16, 1.0 / 8, 1.0 / 4, 1.0 / 2, 1, 2, 4, 8, 16}
)

// stepEps is how close a float must be to a step to count as on it.
const stepEps = 1e-9

// step is the next of the ascending steps above cur (up) or below it,
// staying at the end when there is none; a step within eps of cur counts
// as cur.
func step[T time.Duration | float64](steps []T, cur T, up bool, eps T) T {
	if up {
		for _, s := range steps {
			if s > cur+eps {
				return s
			}
		}
		return steps[len(steps)-1]
	}
	for i := len(steps) - 1; i >= 0; i-- {
		if steps[i] < cur-eps {
			return steps[i]
		}
	}
	return steps[0]
}

// click selects the follower under the mouse, and corrupts the data frame
// clicked on a lane (drops it, with alt or ctrl held); on the time strip
// it moves to the moment clicked.
func (m *Model) click(ms tea.Mouse) tea.Cmd {
	if m.lay.tooSmall || m.showHelp || m.pal.active || ms.Button != tea.MouseLeft {
		return nil
	}
	if cmd, ok := m.clickTime(ms); ok {
		return cmd
	}
	if m.diagram.on {
		return nil
	}
	l := m.lay
	if ms.Y >= l.eventsY && ms.Y < l.eventsY+l.eventsH {
		// A line of the event log: shown whole (again: the newest).
		if m.events.click(ms.Y - l.eventsY) {
			m.relayout()
		}
		return nil
	}
	i, ry := l.follower(ms.X, ms.Y)
	if i < 0 || i >= len(m.views) {
		return nil
	}
	v := &m.views[i]
	m.selectName(v.f.Name)
	if ms.X >= l.laneX+l.laneW {
		return nil
	}
	_, down, up := l.laneRows()
	col := ms.X - l.laneX
	var dir cluster.Direction
	switch ry {
	case down:
		dir = cluster.ToFollower
	case up:
		dir = cluster.ToLeader
	default:
		return nil
	}
	// Frames move fast (a 300ms link crosses the lane in 300ms), so a
	// click counts within a few columns, and a data frame nearby wins over
	// a keepalive nearer still: data frames are what a click corrupts.
	const reach = 4
	best, bestD := -1, reach+1
	for j := range v.frames {
		f := &v.frames[j]
		if f.Dir != dir {
			continue
		}
		d := abs(laneCol(f, l.laneW) - col)
		if f.Kind != "data" {
			d += reach // only if no data frame is in reach
		}
		if d < bestD {
			best, bestD = j, d
		}
	}
	if best < 0 {
		return nil
	}
	f := &v.frames[best]
	verb, what := cluster.VerbCorrupt, "corrupt"
	if ms.Mod&(tea.ModAlt|tea.ModCtrl) != 0 {
		verb, what = cluster.VerbDrop, "drop"
	}
	if f.Dir != cluster.ToFollower || f.Kind != "data" {
		m.say(true, "that is a "+f.Kind+" frame; click a "+m.st.Glyphs.Data+" data frame to "+what+" it")
		return nil
	}
	return m.do(cluster.Command{Verb: verb, Follower: v.f.Name, LSN: f.LSN})
}

// wheelLines is how far one turn of the mouse wheel scrolls the log.
const wheelLines = 3

// wheel scrolls the event log: up for older events, down for newer.
func (m *Model) wheel(ms tea.Mouse) {
	if m.lay.tooSmall || m.showHelp || m.picker.active {
		return
	}
	switch ms.Button {
	case tea.MouseWheelUp:
		m.events.scroll(wheelLines)
	case tea.MouseWheelDown:
		m.events.scroll(-wheelLines)
	default:
		return
	}
	m.dirty = true
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

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
