package tui

import (
	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
)

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
