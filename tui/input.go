package tui

import (
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
)

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
