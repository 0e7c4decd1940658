package tui

// Minimum terminal size; below it the UI says how big it must be.
const (
	MinWidth  = 80
	MinHeight = 24
)

// layout is where everything goes on a w x h screen. It is computed in
// Update (on resize and when the follower count changes) so that View and
// mouse hit-testing agree on it.
type layout struct {
	w, h     int
	tooSmall bool

	bodyY, bodyH int // leader, lanes and followers
	leaderW      int
	laneX, laneW int
	panelX       int
	panelW       int
	blockH       int // rows per follower
	blocks       int // followers shown

	lessonY, lessonH int
	eventsY, eventsH int
	footerY          int
}

// computeLayout lays out a w x h screen for the given number of followers.
// lessonRows is the height the lesson panel wants (0: no lesson shown).
func computeLayout(w, h, followers, lessonRows int) layout {
	l := layout{w: w, h: h}
	if w < MinWidth || h < MinHeight {
		l.tooSmall = true
		return l
	}
	l.footerY = h - 1
	l.bodyY = 1
	// The caption comes first when a lesson plays, up to a third of the screen.
	l.lessonH = min(lessonRows, h/3)
	minEvents := 3
	if h >= 36 {
		minEvents = 5
	}
	avail := h - 2 - l.lessonH - minEvents
	n := max(followers, 1)
	l.blockH = min(avail/n, 8)
	if l.blockH < 2 {
		minEvents = 2
		avail = h - 2 - l.lessonH - minEvents
		l.blockH = max(avail/n, 2)
	}
	l.blocks = min(followers, avail/l.blockH)
	l.bodyH = max(l.blocks, 1) * l.blockH
	// Whatever is left goes to the event log, up to a point; then to the body.
	rest := h - 2 - l.lessonH - l.bodyH
	l.eventsH = min(rest, max(minEvents, 14))
	l.bodyH += rest - l.eventsH
	l.lessonY = l.bodyY + l.bodyH
	l.eventsY = l.lessonY + l.lessonH

	l.leaderW = min(max(w/5, 21), 30)
	l.panelW = min(max(w*45/100, 46), 100)
	l.laneX = l.leaderW
	l.laneW = w - l.leaderW - l.panelW - 2
	l.panelX = l.laneX + l.laneW + 2
	return l
}

// follower returns the follower block at screen (x, y): its index in the
// shown list and the row within the block, or -1.
func (l layout) follower(x, y int) (i, rowInBlock int) {
	if l.tooSmall || y < l.bodyY || y >= l.bodyY+l.blocks*l.blockH || x < l.laneX {
		return -1, 0
	}
	return (y - l.bodyY) / l.blockH, (y - l.bodyY) % l.blockH
}

// laneRows are the rows of a block that carry the down (data) and up
// (status) lanes; the row above the down lane carries the link's label.
func (l layout) laneRows() (label, down, up int) {
	if l.blockH < 3 {
		return -1, 0, 1
	}
	return 0, 1, 2
}
