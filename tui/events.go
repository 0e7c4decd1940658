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
	w, h   int
	events []cluster.Event // oldest first, at most maxEvents
}

// SetSize sets the panel's size (its title row included).
func (e *eventLog) SetSize(w, h int) { e.w, e.h = w, h }

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
		}
	}
	if n := len(e.events); n > maxEvents {
		e.events = append(e.events[:0:0], e.events[n-maxEvents:]...)
	}
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
		r.repeat(st.Lane, "─", r.room())
		return
	}
	lines := e.h - 1
	i := len(e.events) - lines + (y - 1)
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
