package tui

import (
	"strconv"
	"strings"
	"time"

	"walship/engine/cluster"
	"walship/theme"
)

// The reads pane: the recent reads (the read command and its probes,
// Snapshot.Reads), newest last, between the followers and the event log.
// It appears with the first read. On a screen at least readsTallH rows
// high it has a title and up to readsShown reads; on a shorter one (80x24)
// a single row with the newest read.
const (
	readsShown = 3
	readsTallH = 30
)

// readsRowsFor is how many rows the reads pane takes on a screen h rows
// high with n reads recorded.
func readsRowsFor(h, n int) int {
	switch {
	case n == 0:
		return 0
	case h < readsTallH:
		return 1
	}
	return 1 + min(n, readsShown)
}

// readsPaneRows is the reads pane's height for the snapshot shown.
func (m *Model) readsPaneRows() int { return readsRowsFor(m.h, len(m.snap.Reads)) }

// readsPointed reports whether the lesson's step points at the reads.
func (m *Model) readsPointed() bool {
	if !m.lessonShown() {
		return false
	}
	for _, pt := range m.lessonP.state.Points {
		if pt.Subject == "reads" {
			return true
		}
	}
	return false
}

// readsRow draws row y of the reads pane, which is rows high.
func (m *Model) readsRow(r *row, y, rows int) {
	st, reads := m.st, m.snap.Reads
	title := "── reads "
	paint := st.Muted
	if m.readsPointed() {
		title, paint = pointerGlyph+" reads ", st.Badge
	}
	if rows == 1 {
		// One row: the label, then the newest read.
		r.text(paint, strings.TrimPrefix(title, "── "))
		r.spaces(1)
		if len(reads) > 0 {
			readLine(r, st, &reads[len(reads)-1])
		}
		r.fill()
		return
	}
	if y == 0 {
		r.text(paint, title)
		r.text(st.Muted, "(newest last: g reads, G waits) ")
		r.repeat(st.Lane, "─", r.room())
		return
	}
	i := len(reads) - (rows - 1) + (y - 1)
	if i >= 0 && i < len(reads) {
		r.spaces(1)
		readLine(r, st, &reads[i])
	}
	r.fill()
}

// readLine writes one read in one row, what matters most first: the node,
// the key and the value with its version LSN; STALE and an anomaly as
// badges; then the node's replay LSN and how long a waiting read waited.
// A read that failed says why.
func readLine(r *row, st *theme.Styles, rd *cluster.ReadResult) {
	r.text(st.Bold, padRight(rd.Node, 11))
	r.text(st.Text, rd.Key)
	if rd.Err != "" {
		r.text(st.Error, " ✖ "+rd.Err)
		return
	}
	if rd.Found {
		r.text(st.Text, " = "+cluster.ShowValue(rd.Value))
		r.text(st.Accent, " @"+rd.VersionLSN.String())
	} else {
		r.text(st.Muted, " not found")
	}
	r.spaces(1)
	if rd.Stale {
		r.text(st.BadgeWarn, " STALE ")
		if rd.PrimaryLSN > 0 {
			r.text(st.Warn, " leader @"+rd.PrimaryLSN.String())
		} else {
			r.text(st.Warn, " deleted on the leader")
		}
		r.spaces(1)
	}
	switch rd.Anomaly {
	case cluster.AnomalyRYW:
		r.text(st.BadgeError, " READ-YOUR-WRITES ")
		r.spaces(1)
	case cluster.AnomalyMonotonic:
		r.text(st.BadgeError, " MONOTONIC READS ")
		r.spaces(1)
	}
	r.text(st.Muted, "replay "+rd.ReplayLSN.String())
	if rd.WaitLSN > 0 {
		r.text(st.OK, " waited "+waitedText(rd.Waited)+" for "+rd.WaitLSN.String())
	}
}

// waitedText prints how long a read waited: 1.2s, 340ms, 0s.
func waitedText(d time.Duration) string {
	switch {
	case d >= time.Second:
		return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
	case d >= time.Millisecond:
		return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
	}
	return "0s"
}

// readCommand is the read a read key sends: the last key written, on the
// selected follower; wait makes it wait for the client's last commit.
func (m *Model) readCommand(wait bool) (cluster.Command, error) {
	f, ok := m.selectedStatus()
	if !ok {
		return cluster.Command{}, errNoFollower
	}
	return cluster.Command{Verb: cluster.VerbRead, Follower: f.Name, Wait: wait}, nil
}
