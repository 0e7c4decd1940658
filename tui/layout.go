package tui

// Minimum terminal size; below it the UI says how big it must be.
const (
	MinWidth  = 80
	MinHeight = 24
)

// Rows of a follower's block in the ordinary layout: the title, the three
// bars, three rows of facts, then (given the room) lag history.
const (
	blockBasic   = 8  // title, bars, facts and a blank
	blockHistory = 12 // and a history heading, three sparklines
	historyRow   = 7  // the first history row of a block
)

// layoutInput is what the layout depends on besides the screen's size.
type layoutInput struct {
	followers  int
	lessonRows int  // the lesson panel's wanted height (0: no lesson shown)
	eventRows  int  // the event log's least height: its title and the newest event whole
	room       bool // the presenter layout
	// Rows other panels may claim: a banner under the status line and an
	// optional pane between the followers and the lesson (0: none).
	bannerRows, paneRows int
}

// layout is where everything goes on a w x h screen. It is computed in
// Update (on resize and when what it depends on changes) so that View and
// mouse hit-testing agree on it.
type layout struct {
	w, h     int
	tooSmall bool
	room     bool

	bannerY, bannerH int
	bodyY, bodyH     int // leader, lanes and followers
	leaderW          int
	laneX, laneW     int
	panelX           int
	panelW           int
	blockH           int // rows per follower
	blocks           int // followers shown
	barH             int // rows per bar (the presenter layout's are taller)

	paneY, paneH     int
	lessonY, lessonH int
	eventsY, eventsH int
	footerY          int
}

// computeLayout lays out a w x h screen.
func computeLayout(w, h int, in layoutInput) layout {
	l := layout{w: w, h: h, room: in.room, barH: 1}
	if w < MinWidth || h < MinHeight {
		l.tooSmall = true
		return l
	}
	l.footerY = h - 1
	l.bannerY, l.bannerH = 1, in.bannerRows
	l.lessonH = min(in.lessonRows, h/3)
	l.paneH = in.paneRows
	n := max(in.followers, 1)
	fixed := 2 + l.bannerH + l.lessonH + l.paneH
	if in.room {
		l.roomRows(fixed, n, in)
	} else {
		l.rows(fixed, n, in)
	}
	l.bodyY = 1 + l.bannerH
	if in.room {
		// The caption first, under the status line, where the room looks.
		l.lessonY = l.bodyY
		l.bodyY += l.lessonH
		l.paneY = l.bodyY + l.bodyH
		l.eventsY = l.paneY + l.paneH
	} else {
		l.paneY = l.bodyY + l.bodyH
		l.lessonY = l.paneY + l.paneH
		l.eventsY = l.lessonY + l.lessonH
	}
	l.columns(w)
	return l
}

// rows shares the ordinary layout's height: each follower a block of up
// to blockHistory rows (fewer as followers are added: history first,
// then facts, then the bars go to one stacked bar), the event log what
// is left.
func (l *layout) rows(fixed, n int, in layoutInput) {
	h := l.h
	minEvents := max(3, in.eventRows)
	if h >= 36 {
		minEvents = max(5, in.eventRows)
	}
	avail := h - fixed - minEvents
	most := blockBasic
	if l.w >= 160 {
		most = blockHistory
	}
	l.blockH = min(avail/n, most)
	if l.blockH < 2 {
		minEvents = 2
		avail = h - fixed - minEvents
		l.blockH = max(avail/n, 2)
	}
	l.blocks = min(in.followers, avail/l.blockH)
	l.bodyH = max(l.blocks, 1) * l.blockH
	// Whatever is left goes to the event log, up to a point; then to the body.
	rest := h - fixed - l.bodyH
	l.eventsH = min(rest, max(minEvents, 14))
	l.bodyH += rest - l.eventsH
}

// roomRows shares the presenter layout's height: the sentence that says
// what just happened first (never cut), then each follower a block with
// its title and three bars, up to four rows tall as they fit, and a blank
// between blocks; when even one row a bar does not fit, one stacked bar.
func (l *layout) roomRows(fixed, n int, in layoutInput) {
	l.eventsH = max(in.eventRows, 2)
	avail := l.h - fixed - l.eventsH
	l.blockH, l.barH = 2, 0 // at the least, a title and one stacked bar
	for _, try := range []struct{ block, bar int }{{14, 4}, {11, 3}, {8, 2}, {7, 2}, {5, 1}, {4, 1}} {
		if avail/n >= try.block {
			l.blockH, l.barH = try.block, try.bar
			break
		}
	}
	l.blocks = max(min(in.followers, avail/l.blockH), 0)
	l.bodyH = avail
}

// columns shares the width: the leader's column, the lanes, the
// followers' panel.
func (l *layout) columns(w int) {
	if l.room {
		l.leaderW = min(max(w/6, 16), 24)
		l.panelW = min(max(w*55/100, 44), 110)
	} else {
		l.leaderW = min(max(w/5, 21), 30)
		l.panelW = min(max(w*45/100, 46), 100)
	}
	l.laneX = l.leaderW
	l.laneW = w - l.leaderW - l.panelW - 2
	l.panelX = l.laneX + l.laneW + 2
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

// history reports whether the blocks have rows for lag history.
func (l layout) history() bool { return !l.room && l.blockH >= blockHistory }
