package tui

import (
	"slices"
	"strconv"
	"strings"

	"walship/engine/cluster"
	"walship/theme"
)

// The presenter layout (--room, or z): for a room that reads the screen
// from its back. Fewer numbers (no hex but the leader's flush LSN, one lag
// a bar), each bar two rows tall when there is the height, the state
// word and every alert as a badge, the selected follower's whole title a
// band. What is dropped first as the screen shrinks: the bars' second
// row, the blank between blocks, the byte lag; never a badge, the state,
// or the sentence that says what just happened.

// roomRow draws row y of follower v's block in the presenter layout.
func (p *followerPanel) roomRow(r *row, v *followerView, y int) {
	bars := 3 * p.barH
	switch {
	case y == 0:
		p.roomTitle(r, v)
	case p.barH == 0 && y == 1:
		p.stacked(r, v)
	case y <= bars:
		i, k := (y-1)/p.barH, (y-1)%p.barH
		p.roomBar(r, v, i, k)
	}
	r.fill()
}

// roomTitle is the follower's name, its state as a badge and its alerts;
// the selected follower's name is a band of its own.
func (p *followerPanel) roomTitle(r *row, v *followerView) {
	st, f := p.st, &v.f
	var buf [3]badge
	bs := p.badges(v, buf[:0])
	state, statePaint := p.stateWord(v)
	if statePaint == p.stateText(f.State) {
		state = " " + strings.ToUpper(state) + " "
	}
	name := " " + strconv.Itoa(f.Index) + " " + f.Name + " "
	short := width(name)+4+width(state)+badgesWidth(bs, false) > r.w
	need := badgesWidth(bs, short)
	switch {
	case v.marks&(markName|^shownMarks(4)) != 0:
		r.text(st.Badge, pointerGlyph+name)
	case v.selected:
		r.text(st.Badge, st.Glyphs.Selected+name+st.Glyphs.SelectedEnd)
	default:
		r.text(st.Bold, " "+name)
	}
	r.plain("  ")
	r.text(statePaint, state)
	if f.SyncState != "" && f.SyncState != "async" {
		opt := newRow(r.b, max(r.room()-need, 0))
		opt.whole(st.Muted, " "+f.SyncState)
		r.n += opt.n
	}
	r.to(r.w - need)
	for _, b := range bs {
		r.plain(" ")
		r.text(b.p, b.form(short))
	}
}

// roomBar draws row k of bar i: its name, the bar across the block and,
// on its first row, how far behind it is (time, and bytes given room).
func (p *followerPanel) roomBar(r *row, v *followerView, i, k int) {
	st := p.st
	pos, lag := v.position(i)
	edge := theme.Paint{}
	if v.selected {
		edge = st.Accent
	}
	r.text(edge, edgeGlyph(v.selected))
	label, labelPaint := "", st.Muted
	if k == 0 {
		label = positionNames[i].short
		if i == 2 && v.f.ReplayPaused {
			labelPaint = st.Warn
		}
		if v.marks&(markWrite<<i) != 0 {
			label, labelPaint = pointerGlyph+label, st.Badge
		}
	}
	r.text(labelPaint, padRight(label, 7))
	const numW = 13
	bw := r.room() - 1 - numW
	bar(r, st, p.sc, pos, bw, p.barPaint(v, i), p.barMarksFor(v, i))
	r.plain(" ")
	if k != 0 {
		return
	}
	behind := p.behind(pos)
	switch {
	case v.f.State == cluster.StateNoPrimary:
		r.text(st.Warn, padLeft("no primary", numW)) // nothing to be behind: no lag measured
	case behind == 0:
		r.text(st.Muted, padLeft("caught up", numW))
	case numW >= 6+1+width(lag.String()):
		r.text(p.numPaint(v), padLeft(cluster.FormatSize(behind), 6))
		r.text(p.lagPaint(lag), padLeft(lag.String(), numW-6))
	default:
		r.text(p.lagPaint(lag), padLeft(lag.String(), numW))
	}
}

// edgeGlyph is the left edge of a bar row: a bold rule for the selected
// follower, so its block stands out as a whole.
func edgeGlyph(selected bool) string {
	if selected {
		return "┃"
	}
	return " "
}

// roomLeaderFields are the leader's rows in the presenter layout, by the
// field a lesson's point names; fields a point names that are not here are
// drawn under them while pointed at.
var roomLeaderFields = []string{"", "flush", "rate", "sync", "waiting-commits", "latency"}

// leaderFieldOrder orders the leader's fields a lesson may point at.
var leaderFieldOrder = []string{"insert", "flush", "oldest", "retained", "wal-keep", "segments", "keys", "commits", "waiting-commits", "slots"}

// roomRow draws row y of the leader's column in the presenter layout.
func (p *leaderPanel) roomRow(in *row, s *cluster.Snapshot, y int) {
	fields := roomLeaderFields
	if y < len(fields) {
		field := fields[y]
		at, ok := leaderRows[field]
		p.roomField(in, s, field, ok && p.marks&(1<<at) != 0)
		return
	}
	// Fields a lesson points at that the short column leaves out.
	k := y - len(fields)
	for _, field := range leaderFieldOrder {
		if p.marks&(1<<leaderRows[field]) == 0 || slices.Contains(fields, field) {
			continue
		}
		if k == 0 {
			p.roomField(in, s, field, true)
			return
		}
		k--
	}
}

// roomField draws one of the leader's facts by its field name.
func (p *leaderPanel) roomField(in *row, s *cluster.Snapshot, field string, marked bool) {
	st := p.st
	L := &s.Leader
	kv := func(k, v string, vp theme.Paint) {
		if marked {
			in.text(st.Badge, pointerGlyph+k+" ")
		} else {
			in.text(st.Muted, " "+k+" ")
		}
		in.text(vp, v)
	}
	switch field {
	case "":
		name := " LEADER "
		if s.Source.Name != "" {
			name = " PRIMARY "
		}
		if marked {
			in.text(st.Badge, pointerGlyph+name)
		} else {
			in.text(st.Badge, name)
		}
		if tl := timelineText(L.Timeline); tl != "" && in.room() > width(tl)+1 {
			in.right(st.Accent, tl+" ")
		}
	case "flush":
		kv("flush", L.FlushLSN.String(), st.Bold)
	case "rate":
		kv("rate", rateText(L.Rate), st.Text)
	case "sync":
		kv("sync", L.Sync.String(), st.Text)
	case "waiting-commits":
		if L.WaitingCommits > 0 {
			kv("waiting", strconv.Itoa(L.WaitingCommits), st.Warn)
		} else if L.Sync.Mode != cluster.SyncOff {
			kv("waiting", "0", st.Muted)
		}
	case "latency":
		if c := L.CommitLatency; c.Commits > 0 && L.Sync.Mode != cluster.SyncOff {
			kv("p99", cluster.FormatLag(c.P99), st.Text)
		}
	case "insert":
		kv("insert", L.InsertLSN.String(), st.Text)
	case "oldest":
		kv("oldest", L.OldestLSN.String(), st.Text)
	case "retained":
		kv("retained", cluster.FormatSize(int64(L.InsertLSN-L.OldestLSN)), st.Text)
	case "wal-keep":
		kv("wal_keep", cluster.FormatSize(L.WALKeep), st.Text)
	case "segments":
		kv("segments", strconv.Itoa(L.Segments), st.Text)
	case "keys":
		kv("keys", strconv.Itoa(L.Keys), st.Text)
	case "commits":
		kv("commits", strconv.FormatUint(L.Commits, 10), st.Text)
	case "slots":
		on := "off"
		if L.Slots {
			on = "on"
		}
		kv("slots", on, st.Text)
	}
}
