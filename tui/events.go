package tui

import (
	"strconv"
	"time"

	"walship/engine/cluster"
	"walship/theme"
)

// maxEvents is how many events the log keeps for display.
const maxEvents = 200

// eventLog is the bottom panel: the newest events, newest at the bottom,
// coloured by kind.
type eventLog struct {
	st     *theme.Styles
	h      int             // rows, the title's included
	events []cluster.Event // oldest first, at most maxEvents
	back   int             // lines scrolled back from the newest (0: following)
}

// scroll moves the view back (n > 0) or forward (n < 0), within the
// events held.
func (e *eventLog) scroll(n int) {
	e.back = min(max(e.back+n, 0), max(len(e.events)-(e.h-1), 0))
}

// SetHeight sets the panel's height (its title row included); its rows
// are as wide as the row they are drawn in.
func (e *eventLog) SetHeight(h int) { e.h = h }

// add appends events newer than the ones held and reports whether any were.
func (e *eventLog) add(evs []cluster.Event) bool {
	added := false
	var last uint64
	if n := len(e.events); n > 0 {
		last = e.events[n-1].Seq
	}
	for _, ev := range evs {
		if ev.Seq > last {
			e.events = append(e.events, ev)
			last = ev.Seq
			added = true
			if e.back > 0 {
				e.back++ // scrolled back: keep the same lines in view
			}
		}
	}
	if n := len(e.events); n > maxEvents {
		e.events = append(e.events[:0:0], e.events[n-maxEvents:]...)
	}
	e.scroll(0) // clamp
	return added
}

func (e *eventLog) kindPaint(k cluster.EventKind) theme.Paint {
	switch k {
	case cluster.EvCRC, cluster.EvError, cluster.EvWALRemoved, cluster.EvCrash, cluster.EvRefused:
		return e.st.Error
	case cluster.EvDisconnect, cluster.EvResend, cluster.EvLink, cluster.EvSlot:
		return e.st.Warn
	case cluster.EvConnect, cluster.EvRestart, cluster.EvRecovery, cluster.EvBackup:
		return e.st.OK
	case cluster.EvCommand:
		return e.st.Accent
	}
	return e.st.Text
}

func worldText(d time.Duration) string {
	s := strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	return padLeft(s, 7)
}

// row draws row y: a title rule first, then events, newest at the bottom.
func (e *eventLog) row(r *row, y int) {
	st := e.st
	if y == 0 {
		r.text(st.Muted, "── events ")
		if e.back > 0 {
			r.text(st.Warn, "(scrolled back "+strconv.Itoa(e.back)+" · pgdn for newer) ")
		}
		r.repeat(st.Lane, "─", r.room())
		return
	}
	lines := e.h - 1
	i := len(e.events) - e.back - lines + (y - 1)
	if i < 0 || i >= len(e.events) {
		r.fill()
		return
	}
	ev := &e.events[i]
	kp := e.kindPaint(ev.Kind)
	r.text(st.Muted, worldText(ev.World)+" ")
	who := ev.Follower
	if who == "" {
		who = "leader"
	}
	r.text(st.Text, who)
	r.to(20)
	r.text(kp, string(ev.Kind))
	r.to(33)
	if ev.LSN != 0 {
		r.text(st.Muted, ev.LSN.String()+" ")
	}
	r.text(kp, ev.Text)
	r.fill()
}
