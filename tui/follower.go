package tui

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/theme"
)

// followerView is one follower as the panel draws it: the status from the
// last snapshot plus what the UI adds (selection, the CRC flash).
type followerView struct {
	f        cluster.FollowerStatus
	frames   []cluster.Frame // frames in flight on its link, oldest first
	selected bool
	flash    bool  // its CRC failure count went up a moment ago
	marks    marks // what a lesson's step points at in its block
	// lostTo is where its write position stood before it crashed: the
	// tail past the write position (what reached the disk) was lost. It
	// is drawn until the follower runs again and recovery said what it
	// kept (0: nothing lost).
	lostTo wal.LSN
	hist   *lagHistory // its lag over the last minute (nil: none yet)
}

// followerPanel draws followers' blocks: a title row, the write / flush /
// replay bars on the shared scale and, given room, rows of link facts.
type followerPanel struct {
	st     *theme.Styles
	w      int // panel width
	blockH int // rows per follower
	leader *cluster.LeaderStatus
	src    *cluster.Source // what the snapshot's source can observe
	sc     scale
	room   bool // the presenter layout
	barH   int  // rows per bar in the presenter layout
	// syncBar is the bar the sync rule waits on (0 write, 1 flush, 2
	// replay; -1: none) and syncTicks the marks drawn on it.
	syncBar   int
	syncTicks []tick
	bm        barMarks // scratch for barMarksFor
	tickBuf   []tick   // scratch for barMarksFor's ticks

	histScratch []float64 // scratch for drawing history
	sparkBuf    []byte
}

// barMarksFor is what bar i of v carries besides its fill: the lost tail
// on the write bar, the sync rule's ticks on the bar it waits on.
func (p *followerPanel) barMarksFor(v *followerView, i int) *barMarks {
	p.bm = barMarks{}
	if i == 0 {
		p.bm.lostTo = v.lostTo
	}
	if i == p.syncBar {
		p.bm.ticks = p.syncTicks
	}
	if i == 0 && rewindState(&v.f) {
		// Where its WAL left the new timeline: what is past it diverged.
		p.tickBuf = append(append(p.tickBuf[:0], p.bm.ticks...), tick{v.f.ForkLSN, p.st.Glyphs.Fork, &p.st.Error})
		p.bm.ticks = p.tickBuf
	}
	return &p.bm
}

// SetSize sets the panel width and the rows each follower gets.
func (p *followerPanel) SetSize(w, blockH int) { p.w, p.blockH = w, blockH }

// wide reports whether bars carry PostgreSQL's full column names.
func (p *followerPanel) wide() bool { return p.w >= 90 }

// row draws row y (0..blockH-1) of follower v's block.
func (p *followerPanel) row(r *row, v *followerView, y int) {
	switch {
	case p.room:
		p.roomRow(r, v, y)
	case y == 0:
		p.title(r, v)
	case p.blockH < 4:
		if y == 1 {
			p.stacked(r, v)
		} else if y == 2 {
			p.stackedInfo(r, v)
		}
	case y <= 3:
		p.barRow(r, v, y-1)
	case y >= 4 && y <= 6 && p.src != nil && !p.src.Observes(cluster.ObsLink):
		p.sourceInfo(r, v, y-4)
	case y >= 4 && y <= 6:
		p.info(r, v, y-4)
	case y >= historyRow && y < historyRow+4 && p.blockH >= blockHistory:
		p.historyRow(r, v, y-historyRow)
	}
	r.fill()
}

func (p *followerPanel) stateText(state string) theme.Paint {
	switch state {
	case cluster.StateStreaming:
		return p.st.OK
	case cluster.StateCatchup, cluster.StateStartup, cluster.StateReconnecting, cluster.StateBackup,
		cluster.StateNoPrimary, cluster.StateRewinding:
		return p.st.Warn
	}
	return p.st.Error
}

func (p *followerPanel) title(r *row, v *followerView) {
	st, f := p.st, &v.f
	var buf [3]badge
	bs := p.badges(v, buf[:0])
	name := strconv.Itoa(f.Index) + " " + f.Name
	state, statePaint := p.stateWord(v)
	// The badges are never dropped: when the long forms do not fit beside
	// the name and the state, the short ones are drawn.
	short := 2+width(name)+2+width(state)+badgesWidth(bs, false) > r.w
	need := badgesWidth(bs, short)
	switch {
	case v.marks&(markName|^shownMarks(p.blockH)) != 0:
		// Pointed at as a whole, or at a part this block is too short to draw.
		r.text(st.Badge, pointerGlyph+" "+name+" ")
	case v.selected:
		r.text(st.Selected, st.Glyphs.Selected+" "+name)
	default:
		r.text(st.Bold, "  "+name)
	}
	r.plain("  ")
	opt := newRow(r.b, max(r.room()-need-width(state), 0))
	if p.wide() {
		opt.whole(st.Muted, "state ")
	}
	r.n += opt.n
	r.text(statePaint, state)
	if f.State == cluster.StateNeedsBackup && (p.src == nil || p.src.Name == "") && r.room() >= need+2 {
		r.text(st.Error, " b") // the in-process engine takes base backups
	}
	opt = newRow(r.b, max(r.room()-need, 0))
	if p.wide() && f.SyncState != "" {
		opt.whole(st.Muted, "  sync_state ")
		opt.whole(st.Text, f.SyncState)
	} else if f.SyncState != "" {
		opt.whole(st.Muted, "  "+f.SyncState)
	}
	p.sourceBadges(&opt, f)
	r.n += opt.n
	r.to(r.w - need)
	for _, b := range bs {
		r.plain(" ")
		r.text(b.p, b.form(short))
	}
}

// stateWord is the follower's state as its title shows it: a badge for
// what needs attention, a coloured word otherwise.
func (p *followerPanel) stateWord(v *followerView) (string, theme.Paint) {
	st, f := p.st, &v.f
	switch {
	case v.marks&markState != 0 || v.marks&markPaused != 0 && !f.ReplayPaused:
		return pointerGlyph + " " + strings.ToUpper(f.State) + " ", st.Badge
	case f.Backup.Active:
		pct := 0
		if f.Backup.Total > 0 {
			pct = int(f.Backup.Done * 100 / f.Backup.Total)
		}
		return " BASE BACKUP " + strconv.Itoa(pct) + "% ", st.Badge
	case f.State == cluster.StateNeedsBackup:
		return " NEEDS BASE BACKUP ", st.BadgeError
	case f.State == cluster.StateNeedsRewind:
		return " NEEDS REWIND ", st.BadgeError
	case f.State == cluster.StateRewinding:
		return " REWINDING ", st.BadgeWarn
	case f.State == cluster.PrimaryPromoting:
		return " PROMOTING ", st.BadgeWarn
	case f.State == cluster.StateCut || f.State == cluster.StateStopped:
		return " " + strings.ToUpper(f.State) + " ", st.BadgeError
	}
	return f.State, p.stateText(f.State)
}

// badge is an alert at the right of a follower's title, in a long form
// and a short one for narrow blocks. A badge is never dropped.
type badge struct {
	p           theme.Paint
	long, short string
}

func (b badge) form(short bool) string {
	if short {
		return b.short
	}
	return b.long
}

// badgesWidth is the cells the badges take, a blank before each.
func badgesWidth(bs []badge, short bool) int {
	n := 0
	for _, b := range bs {
		n += 1 + width(b.form(short))
	}
	return n
}

// badges are the follower's alerts, most urgent last so that it is
// nearest the edge: replay paused, then CRC failures (a flash at once
// when the count goes up).
func (p *followerPanel) badges(v *followerView, out []badge) []badge {
	st, f := p.st, &v.f
	if f.ReplayPaused {
		long, short := " "+st.Glyphs.Paused+" PAUSED ", " "+st.Glyphs.Paused+" PAUSED "
		if v.marks&markPaused != 0 {
			long = " " + pointerGlyph + long[1:]
		}
		out = append(out, badge{st.BadgeWarn, long, short})
	}
	n := strconv.FormatUint(f.CRCFailures, 10)
	switch {
	case v.flash:
		out = append(out, badge{st.Flash, " " + st.Glyphs.CRC + " CRC FAILURE " + n + " ", " " + st.Glyphs.CRC + " CRC " + n + " "})
	case f.CRCFailures > 0:
		out = append(out, badge{st.Error, st.Glyphs.CRC + " CRC " + n, st.Glyphs.CRC + " CRC " + n})
	}
	return out
}

// The three positions, in the order of the bar rows.
var positionNames = [3]struct{ short, lsn, lag string }{
	{"write", "write_lsn", "write_lag"},
	{"flush", "flush_lsn", "flush_lag"},
	{"replay", "replay_lsn", "replay_lag"},
}

func (v *followerView) position(i int) (wal.LSN, cluster.Lag) {
	switch i {
	case 0:
		return v.f.WriteLSN, v.f.WriteLag
	case 1:
		return v.f.FlushLSN, v.f.FlushLag
	}
	return v.f.ReplayLSN, v.f.ReplayLag
}

func (p *followerPanel) paintOf(i int) *theme.Paint {
	switch i {
	case 0:
		return &p.st.Write
	case 1:
		return &p.st.Flush
	}
	return &p.st.Replay
}

// behind is the byte lag of pos behind the leader's flushed end: the end
// of its last complete record, where a real flush LSN passes it.
func (p *followerPanel) behind(pos wal.LSN) int64 {
	if p.leader == nil {
		return 0
	}
	end := p.leader.FlushLSN
	if p.leader.RecordEndLSN != 0 {
		end = p.leader.RecordEndLSN
	}
	if pos >= end {
		return 0
	}
	return int64(end - pos)
}

func (p *followerPanel) lagPaint(l cluster.Lag) theme.Paint {
	switch {
	case !l.Known || l.Idle:
		return p.st.Muted
	case l.D >= 2*time.Second:
		return p.st.Error
	case l.D >= 500*time.Millisecond:
		return p.st.Warn
	}
	return p.st.Text
}

func (p *followerPanel) barRow(r *row, v *followerView, i int) {
	st := p.st
	pos, lag := v.position(i)
	names := positionNames[i]
	labelPaint := st.Muted
	if i == 2 && v.f.ReplayPaused {
		labelPaint = st.Warn
	}
	if v.marks&(markWrite<<i) != 0 {
		labelPaint = st.Badge
		names.lsn, names.short = pointerGlyph+names.lsn, pointerGlyph+names.short
	}
	behind := p.behind(pos)
	lagText := lag.String()
	noPrimary := v.f.State == cluster.StateNoPrimary
	if noPrimary {
		lag = cluster.Lag{} // nothing to lag behind: not measured, not zero
		lagText = lag.String()
	}
	if p.wide() {
		// replay_lsn ████░░ 0/1A2B   43B behind  replay_lag 120ms
		r.text(labelPaint, padRight(names.lsn, 11))
		bw := r.w - 11 - 1 - 10 - 2 - 12 - 2 - 11 - 7
		bar(r, st, p.sc, pos, bw, p.barPaint(v, i), p.barMarksFor(v, i))
		r.plain(" ")
		r.text(p.numPaint(v), padLeft(pos.String(), 10))
		r.plain("  ")
		switch {
		case noPrimary:
			r.text(st.Warn, padLeft("no primary", 12))
		case behind > 0:
			r.text(p.numPaint(v), padLeft(cluster.FormatSize(behind)+" behind", 12))
		default:
			r.text(st.Muted, padLeft("caught up", 12))
		}
		r.plain("  ")
		r.text(st.Muted, names.lag)
		r.text(p.lagPaint(lag), padLeft(lagText, 7+10-len(names.lag)))
		return
	}
	// replay ████░░ 0/1A2B   -43B  120ms
	r.text(labelPaint, padRight(names.short, 7))
	bw := r.w - 7 - 1 - 9 - 1 - 8 - 1 - 6
	bar(r, st, p.sc, pos, bw, p.barPaint(v, i), p.barMarksFor(v, i))
	r.plain(" ")
	r.text(p.numPaint(v), padLeft(pos.String(), 9))
	r.plain(" ")
	switch {
	case noPrimary:
		r.text(st.Muted, padLeft("-", 8))
	case behind > 0:
		r.text(p.numPaint(v), padLeft("-"+cluster.FormatSize(behind), 8))
	default:
		r.text(st.Muted, padLeft("0B", 8))
	}
	r.plain(" ")
	r.text(p.lagPaint(lag), padLeft(lagText, 6))
}

// stacked draws the three positions in one bar, for small terminals:
// replayed cells solid, flushed-only medium, written-only light.
func (p *followerPanel) stacked(r *row, v *followerView) {
	st := p.st
	bw := max(r.w-28, 4)
	cells := func(pos wal.LSN) int { return int(p.sc.frac(pos)*float64(bw) + 0.5) }
	rc, fc, wc := cells(v.f.ReplayLSN), cells(v.f.FlushLSN), cells(v.f.WriteLSN)
	pr := paintRun{r: r}
	for i := range bw {
		switch {
		case i < rc:
			pr.put(&st.Replay, "█")
		case i < fc:
			pr.put(&st.Flush, "▓")
		case i < wc:
			pr.put(&st.Write, "▒")
		default:
			pr.put(&st.Empty, st.Glyphs.Empty)
		}
	}
	pr.end()
	r.plain(" ")
	r.text(*p.paintOf(2), "replay ")
	r.text(st.Text, v.f.ReplayLSN.String())
	r.plain(" ")
	r.text(p.lagPaint(v.f.ReplayLag), v.f.ReplayLag.String())
}

// stackedInfo is the second row of a small block: the write and flush
// positions the stacked bar cannot label.
func (p *followerPanel) stackedInfo(r *row, v *followerView) {
	st, f := p.st, &v.f
	if rewindState(f) {
		r.text(st.Error, forkText(f)+"  ")
	}
	for i, pos := range [2]wal.LSN{f.WriteLSN, f.FlushLSN} {
		r.text(*p.paintOf(i), positionNames[i].short+" ")
		r.text(st.Text, pos.String())
		if b := p.behind(pos); b > 0 {
			r.text(st.Muted, " -"+cluster.FormatSize(b))
		}
		r.plain("  ")
	}
}

// info draws a row of facts about the link and the follower.
func (p *followerPanel) info(r *row, v *followerView, n int) {
	st, f := p.st, &v.f
	var facts []fact
	switch n {
	case 0:
		if rewindState(f) {
			facts = append(facts, fact{alert: forkText(f)})
		}
		facts = append(facts, fact{k: "sent_lsn", val: f.SentLSN.String(), m: markSent},
			fact{k: "latency", val: cluster.FormatLag(f.Link.Latency)})
		if f.Link.CorruptArmed > 0 {
			facts = append(facts, fact{alert: st.Glyphs.Corrupt + " corrupt armed"})
		}
		facts = append(facts, fact{k: "keys", val: strconv.Itoa(f.Keys), m: markKeys})
		if f.Resends > 0 || v.marks&markResends != 0 {
			facts = append(facts, fact{k: "resends", val: strconv.FormatUint(f.Resends, 10), m: markResends})
		}
	case 2:
		facts = append(facts, fact{k: "records", val: strconv.FormatUint(f.Records, 10), m: markRecords},
			fact{k: "crc_failures", val: strconv.FormatUint(f.CRCFailures, 10), m: markCRC},
			fact{k: "corrupted", val: strconv.FormatUint(f.Link.Corrupted, 10), m: markCorrupted},
			fact{k: "base backups", val: strconv.Itoa(f.Backup.Count), m: markBackups})
		switch {
		case f.Slot.Lost:
			facts = append(facts, fact{alert: "slot lost"})
		case f.Slot.Enabled || v.marks&markSlot != 0:
			facts = append(facts, fact{k: "slot restart_lsn", val: f.Slot.RestartLSN.String(), m: markSlot})
		}
	default:
		facts = append(facts, fact{k: "apply", val: cluster.FormatLag(f.ApplyDelay) + "/rec"},
			fact{k: "fsync", val: "+" + cluster.FormatLag(f.FlushDelay)},
			fact{k: "↓", val: cluster.FormatSize(int64(f.Link.BytesDown))},
			fact{k: "↑", val: cluster.FormatSize(int64(f.Link.BytesUp))})
	}
	// What a lesson points at goes first, so a narrow row never drops it.
	slices.SortStableFunc(facts, func(a, b fact) int {
		return cmp.Compare(b.m&v.marks, a.m&v.marks)
	})
	for _, fc := range facts {
		fc.draw(r, st, v.marks&fc.m != 0)
	}
	if n == 1 && f.LastError != "" {
		r.whole(st.Error, sentence(f.LastError)) // whole or not at all: the event log says it whole
	}
}

// fact is one item of a follower's info rows: a key and its value, or an
// alert in the error colour.
type fact struct {
	k, val string
	m      marks // the mark that points at it (0: none)
	alert  string
}

// draw writes the fact and two blanks, if it fits whole; a marked key is
// drawn as a badge with the pointer.
func (fc fact) draw(r *row, st *theme.Styles, marked bool) {
	if fc.alert != "" {
		r.text(st.Error, fc.alert+"  ")
		return
	}
	k := fc.k
	if marked {
		k = pointerGlyph + k
	}
	if r.room() < width(k)+width(fc.val)+3 {
		return
	}
	if marked {
		r.text(st.Badge, k+" ")
	} else {
		r.text(st.Muted, k+" ")
	}
	r.text(st.Text, fc.val)
	r.plain("  ")
}
