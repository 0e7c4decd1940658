package tui

import (
	"fmt"
	"strconv"

	"walship/engine/cluster"
	"walship/theme"
)

// leaderPanel is the left column: the leader's log, retention and workload.
type leaderPanel struct {
	st    *theme.Styles
	w     int
	marks uint32 // rows a lesson's step points at, one bit a row
	room  bool   // the presenter layout
	hist  *leaderHistory
	// histY is the first row of the history (0: none shown).
	histY int

	sc          scale     // the followers' bar scale, for a promoting leader's replay bar
	histScratch []float64 // scratch for drawing history
	sparkBuf    []byte
}

// SetWidth sets the column's width (its right border included).
func (p *leaderPanel) SetWidth(w int) { p.w = w }

// leaderHistoryY is the first row of the leader's history, under its
// facts and its commit latency.
const leaderHistoryY = 15

// row draws row y. connect marks rows where a lane leaves the leader.
func (p *leaderPanel) row(r *row, s *cluster.Snapshot, y int, connect bool) {
	st := p.st
	in := newRow(r.b, p.w-1)
	L := &s.Leader
	// A failover's rows go under the title; the others move down.
	if ex, n := leaderExtras(s); n > 0 && y > 0 {
		if y <= n {
			p.extraRow(&in, s, ex[y-1])
			y = -1
		} else {
			y -= n
		}
	}
	marked := y >= 0 && y < 32 && p.marks&(1<<y) != 0
	kv := func(k, v string, vp theme.Paint) {
		if marked {
			in.text(st.Badge, padRight(pointerGlyph+k, 9))
		} else {
			in.text(st.Muted, " "+k)
		}
		in.to(10)
		in.text(leaderPaint(st, L, vp), v)
	}
	switch {
	case y < 0:
	case p.room:
		p.roomRow(&in, s, y)
		y = -1
	case p.histY > 0 && y >= p.histY && y < p.histY+leaderHistoryRows && p.hist != nil:
		p.historyRow(&in, p.hist, y-p.histY)
		y = -1
	}
	switch y {
	case 0:
		name := " LEADER"
		if s.Source.Name != "" {
			name = " PRIMARY" // PostgreSQL's word
		}
		if marked {
			in.text(st.Badge, pointerGlyph+name+" ")
		} else {
			in.text(st.Leader, name)
		}
		leaderBadge(&in, st, L)
		// The timeline, unless a row below shows it (see row 8).
		if tl := timelineText(L.Timeline); tl != "" && s.Source.Observes(cluster.ObsKeys) && in.room() > width(tl)+1 {
			in.right(st.Accent, tl+" ")
		}
	case 1:
		in.text(st.Muted, " "+L.Addr)
	case 2:
		kv("insert", L.InsertLSN.String(), st.Text)
	case 3:
		kv("flush", L.FlushLSN.String(), st.Bold)
	case 4:
		kv("oldest", L.OldestLSN.String(), st.Text)
	case 5:
		kv("retained", cluster.FormatSize(int64(L.InsertLSN-L.OldestLSN)), st.Text)
	case 6:
		kv("wal_keep", cluster.FormatSize(L.WALKeep), st.Text)
	case 7:
		kv("segments", fmt.Sprintf("%d×%s", L.Segments, cluster.FormatSize(L.SegmentSize)), st.Text)
	case 8:
		if s.Source.Observes(cluster.ObsKeys) {
			kv("keys", strconv.Itoa(L.Keys), st.Text)
		} else {
			kv("timeline", strconv.Itoa(int(L.Timeline)), st.Text)
		}
	case 9:
		kv(commits(st, &s.Source, L, p.w-11))
	case 10:
		if L.WaitingCommits > 0 {
			kv("waiting", strconv.Itoa(L.WaitingCommits), st.Warn)
		} else {
			kv("waiting", "0", st.Muted)
		}
	case 11:
		switch {
		case !L.Slots:
			kv("slots", "off", st.Muted)
		case L.MaxSlotWAL > 0:
			kv("slots", "≤"+cluster.FormatSize(L.MaxSlotWAL), st.Text)
		default:
			kv("slots", "on", st.Text)
		}
	case 12:
		if c := L.CommitLatency; c.Commits > 0 && L.Sync.Mode != cluster.SyncOff {
			kv("commit", "p50 "+cluster.FormatLag(c.P50), st.Text)
		}
	case 13:
		if c := L.CommitLatency; c.Commits > 0 && L.Sync.Mode != cluster.SyncOff {
			kv("", "p99 "+cluster.FormatLag(c.P99), st.Text)
		}
	}
	in.fill()
	r.n += in.n
	if connect {
		r.text(st.Lane, "├")
	} else {
		r.text(st.Lane, "│")
	}
}
