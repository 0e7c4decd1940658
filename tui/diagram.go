package tui

import (
	"math"
	"strconv"
	"strings"
	"time"

	"walship/engine/cluster"
	"walship/session"
	"walship/theme"
)

// The message diagram: a space-time diagram of the frames, as Lamport drew
// them. One column per node (the leader, then each follower), time flowing
// down, one arrow per frame from where it was sent to where it arrived (or
// was lost), corrupted frames and CRC failures marked where they happened,
// and cuts and crashes drawn on the follower's column. The bottom row is
// the moment on screen: the present, or the past being looked at.

// traceKeep is how much world time of frames the trace remembers.
const traceKeep = 60 * time.Second

// traced is a frame remembered after it left the snapshots.
type traced struct {
	f    cluster.Frame // as last seen in flight
	seen uint64        // the trace's feed count when last seen
	end  time.Duration // world time it arrived or was lost; 0 while in flight
	lost bool
}

// spanKind is what a follower's column shows for a stretch of time.
type spanKind uint8

const (
	spanStopped spanKind = iota // crashed or stopped
	spanCut                     // link cut both ways
	spanCutTo                   // the leader's frames lost
	spanCutFrom                 // the follower's frames lost
	spanKinds
)

var spanLabels = [spanKinds]string{"crash", "cut", "cut to", "cut from"}

// nodeSpan is a stretch of world time a follower spent in a span kind; to
// is 0 while it lasts.
type nodeSpan struct {
	index    int
	kind     spanKind
	from, to time.Duration
}

// nodeMark is a moment on a follower's column: a CRC failure.
type nodeMark struct {
	index int
	at    time.Duration
}

// node is a column: the leader (index 0) or a follower.
type node struct {
	index int
	name  string
}

// frameTrace remembers frames across snapshots by id, so the diagram can
// draw each one after it has arrived, and the stretches of time each
// follower spent cut or stopped.
type frameTrace struct {
	frames []traced
	byID   map[uint64]int
	spans  []nodeSpan
	marks  []nodeMark
	nodes  []node
	feeds  uint64
	now    time.Duration // world time of the last snapshot fed
	lat    time.Duration // the longest link latency in it
	keep   time.Duration
}

func newFrameTrace() frameTrace {
	return frameTrace{byID: map[uint64]int{}, keep: traceKeep}
}

func (t *frameTrace) reset() {
	*t = frameTrace{byID: t.byID, keep: t.keep, frames: t.frames[:0], spans: t.spans[:0], marks: t.marks[:0], nodes: t.nodes[:0]}
	clear(t.byID)
}

// broken reports whether follower index has no link to carry a frame in
// s: cut, stopped, not connected or gone. A frame that leaves the
// snapshots early then was lost, not delivered.
func broken(s *cluster.Snapshot, index int) bool {
	for i := range s.Followers {
		f := &s.Followers[i]
		if f.Index == index {
			return f.Link.Cut || f.State == cluster.StateStopped || !f.Link.Connected
		}
	}
	return true
}

// feed takes the next snapshot, in world time order.
func (t *frameTrace) feed(s *cluster.Snapshot) {
	t.feeds++
	t.now = max(t.now, s.World)
	for i := range s.Frames {
		f := &s.Frames[i]
		if j, ok := t.byID[f.ID]; ok {
			t.frames[j].f, t.frames[j].seen = *f, t.feeds
			continue
		}
		t.byID[f.ID] = len(t.frames)
		t.frames = append(t.frames, traced{f: *f, seen: t.feeds})
	}
	for i := range t.frames {
		tr := &t.frames[i]
		if tr.end != 0 || tr.seen == t.feeds {
			continue
		}
		// Gone from the snapshots: arrived, or lost on the way.
		switch {
		case tr.f.Lost:
			tr.end, tr.lost = max(tr.f.Arrive, tr.f.Sent), true
		case s.World < tr.f.Arrive && broken(s, tr.f.Index):
			tr.end, tr.lost = max(s.World, tr.f.Sent), true
		default:
			tr.end = max(tr.f.Arrive, tr.f.Sent)
		}
		if tr.end == 0 {
			tr.end = 1 // 0 means in flight
		}
	}
	t.nodes = append(t.nodes[:0], node{0, "leader"})
	t.lat = 0
	for i := range s.Followers {
		f := &s.Followers[i]
		t.nodes = append(t.nodes, node{f.Index, f.Name})
		t.lat = max(t.lat, f.Link.Latency)
		on := [spanKinds]bool{
			f.State == cluster.StateStopped, f.Link.Cut, f.Link.CutTo, f.Link.CutFrom,
		}
		for k := range spanKinds {
			t.span(f.Index, k, on[k], s.World)
		}
	}
	if t.feeds%64 == 0 {
		t.trim()
	}
}

// span opens or closes follower index's span of kind k at world time at.
func (t *frameTrace) span(index int, k spanKind, on bool, at time.Duration) {
	for i := len(t.spans) - 1; i >= 0; i-- {
		sp := &t.spans[i]
		if sp.index == index && sp.kind == k && sp.to == 0 {
			if !on {
				sp.to = max(at, sp.from+1)
			}
			return
		}
	}
	if on {
		t.spans = append(t.spans, nodeSpan{index: index, kind: k, from: at})
	}
}

// addEvents notes the CRC failures among evs.
func (t *frameTrace) addEvents(evs []cluster.Event) {
	for _, e := range evs {
		if e.Kind != cluster.EvCRC {
			continue
		}
		if i, ok := cluster.FollowerIndex(e.Follower); ok {
			t.marks = append(t.marks, nodeMark{index: i, at: e.World})
		}
	}
}

// trim forgets what ended before the trace's window.
func (t *frameTrace) trim() {
	cut := t.now - t.keep
	if cut <= 0 {
		return
	}
	n := 0
	for _, tr := range t.frames {
		if tr.end == 0 || tr.end >= cut {
			t.frames[n] = tr
			n++
		}
	}
	t.frames = t.frames[:n]
	clear(t.byID)
	for i := range t.frames {
		t.byID[t.frames[i].f.ID] = i
	}
	n = 0
	for _, sp := range t.spans {
		if sp.to == 0 || sp.to >= cut {
			t.spans[n] = sp
			n++
		}
	}
	t.spans = t.spans[:n]
	n = 0
	for _, mk := range t.marks {
		if mk.at >= cut {
			t.marks[n] = mk
			n++
		}
	}
	t.marks = t.marks[:n]
}

// rebuild fills the trace from snapshots of h: the span of world time
// before snapshot to, and the CRC failures of that span.
func (t *frameTrace) rebuild(h *session.History, to int, span time.Duration) {
	t.reset()
	if h == nil || h.Len() == 0 {
		return
	}
	from := h.AtWorld(h.World(to) - span)
	for i := from; i <= to; i++ {
		s := h.Snapshot(i)
		t.feed(&s)
	}
	first := h.World(from)
	for _, e := range h.Events(h.LastEvent(to), 1<<12) {
		if e.World >= first {
			t.addEvents([]cluster.Event{e})
		}
	}
}

// rowStep is the world time one row of the diagram stands for when it has
// rows rows: the window shows about four crossings of the longest link
// (two round trips), so an arrow falls several rows from send to arrival.
// It is the nearest of 10, 20, 50, 100, 200, 500 and 1000ms.
func rowStep(lat time.Duration, rows int) time.Duration {
	want := float64(4*lat) / float64(max(rows, 1))
	best := 10 * time.Millisecond
	for _, ms := range []time.Duration{10, 20, 50, 100, 200, 500, 1000} {
		d := ms * time.Millisecond
		if math.Abs(math.Log(float64(d)/want)) < math.Abs(math.Log(float64(best)/want)) {
			best = d
		}
	}
	return best
}

// diagramCell is one cell of the diagram.
type diagramCell struct {
	g string
	p *theme.Paint
}

// diagramPane draws a frameTrace.
type diagramPane struct {
	st *theme.Styles
	on bool
	// quiet leaves out status and keepalive frames: a follower reports
	// after each write, flush and replay, and their arrows can hide the
	// data's.
	quiet bool
}

// axisW is the width of the time axis on the left.
const axisW = 8

// ViewAs draws trace t as w x h cells, one line each; the bottom row is
// the trace's present.
func (p *diagramPane) ViewAs(t *frameTrace, w, h int) []string {
	st := p.st
	lines := make([]string, 0, h)
	if h <= 0 || w <= 0 {
		return lines
	}
	legend := h >= 8
	rows := h - 1
	if legend {
		rows--
	}
	dt := rowStep(t.lat, rows)
	grid := make([][]diagramCell, rows)
	blank := diagramCell{g: " ", p: &theme.Paint{}}
	for y := range grid {
		grid[y] = make([]diagramCell, w)
		for x := range grid[y] {
			grid[y][x] = blank
		}
	}
	// Columns: the leader on the left, followers spread to the right.
	cols := map[int]int{}
	n := len(t.nodes)
	for k, nd := range t.nodes {
		x := axisW + 2
		if n > 1 {
			x += k * (w - axisW - 6) / (n - 1)
		}
		cols[nd.index] = min(x, w-2)
	}
	// The bottom row starts at the last whole step before now, so rows
	// and their labels fall on round times.
	bottom := t.now - t.now%dt
	rowOf := func(at time.Duration) int {
		if at >= bottom {
			return rows - 1
		}
		return rows - 1 - int((bottom-at+dt-1)/dt)
	}
	put := func(x, y int, g string, p *theme.Paint) {
		if y >= 0 && y < rows && x >= 0 && x < w {
			grid[y][x] = diagramCell{g, p}
		}
	}
	// Lifelines, then the spans drawn over them.
	for _, nd := range t.nodes {
		for y := range rows {
			put(cols[nd.index], y, "│", &st.Lane)
		}
	}
	spanPaint := [spanKinds]*theme.Paint{&st.Error, &st.CutLane, &st.Warn, &st.Warn}
	for _, sp := range t.spans {
		x, ok := cols[sp.index]
		if !ok {
			continue
		}
		end := rows - 1
		if sp.to != 0 {
			end = rowOf(sp.to)
		}
		for y := max(rowOf(sp.from), 0); y <= end; y++ {
			put(x, y, "┆", spanPaint[sp.kind])
		}
	}
	// Arrows, least urgent first so the urgent ones are drawn over them,
	// and behind the columns they cross.
	column := make([]bool, w)
	for _, x := range cols {
		column[x] = true
	}
	putArrow := func(x, y int, g string, p *theme.Paint) {
		if x >= 0 && x < w && !column[x] {
			put(x, y, g, p)
		}
	}
	for pass := range cellLost + 1 {
		if p.quiet && (pass == cellStatus || pass == cellKeepalive) {
			continue
		}
		for i := range t.frames {
			tr := &t.frames[i]
			if diagramPass(tr) == byte(pass) {
				p.arrow(putArrow, cols, rowOf, tr, t.now)
			}
		}
	}
	// Marks on the columns, with their labels, over everything.
	label := func(x, y int, g, text string, pt *theme.Paint) {
		put(x, y, g, pt)
		at := x + 2
		if at+len(text) > w {
			at = x - 1 - len(text) // no room on the right: on the left
		}
		for i, r := range text {
			put(at+i, y, string(r), pt)
		}
	}
	for _, sp := range t.spans {
		if x, ok := cols[sp.index]; ok && sp.from > t.now-time.Duration(rows)*dt {
			label(x, rowOf(sp.from), st.Glyphs.Cut, spanLabels[sp.kind], spanPaint[sp.kind])
		}
	}
	for _, mk := range t.marks {
		if x, ok := cols[mk.index]; ok && mk.at > t.now-time.Duration(rows)*dt {
			label(x, rowOf(mk.at), st.Glyphs.CRC, "CRC", &st.Error)
		}
	}

	// The header: node names over their columns.
	var b strings.Builder
	r := newRow(&b, w)
	r.text(st.Muted, padLeft("world", axisW-1))
	for _, nd := range t.nodes {
		name := nd.name
		if n > 3 && nd.index > 0 {
			name = strconv.Itoa(nd.index)
		}
		r.to(max(cols[nd.index]-width(name)/2, r.n+1))
		r.text(st.Bold, name)
	}
	r.fill()
	lines = append(lines, b.String())
	for y := range rows {
		b.Reset()
		r := newRow(&b, w)
		if at := bottom - time.Duration(rows-1-y)*dt; at%(5*dt) == 0 {
			r.text(st.Muted, padLeft(axisTime(at, dt), axisW-1))
		}
		r.to(axisW)
		pr := paintRun{r: &r}
		for x := axisW; x < w; x++ {
			c := grid[y][x]
			pr.put(c.p, c.g)
		}
		pr.end()
		r.fill()
		lines = append(lines, b.String())
	}
	if legend {
		b.Reset()
		r := newRow(&b, w)
		g := &st.Glyphs
		r.text(st.Muted, padLeft("1 row", axisW-1)+" = "+cluster.FormatLag(dt)+"   ")
		if p.quiet {
			r.text(st.Warn, "status and keepalives not drawn   ")
		}
		for _, it := range []struct {
			p    theme.Paint
			g, s string
		}{
			{st.Data, g.Data, "data"}, {st.Status, g.Status, "status"}, {st.Keepalive, g.Keepalive, "keepalive"},
			{st.Warn, g.Resend, "resend"}, {st.Backup, g.Backup, "backup"}, {st.Corrupt, g.Corrupt, "corrupt / CRC"},
			{st.CutLane, g.Cut, "lost"},
		} {
			if r.room() < width(it.s)+4 {
				break
			}
			r.text(it.p, it.g)
			r.text(st.Muted, " "+it.s+"  ")
		}
		r.fill()
		lines = append(lines, b.String())
	}
	return lines
}

// diagramPass is when a frame is drawn: the lane's priority, lost frames
// last of all.
func diagramPass(tr *traced) byte {
	if tr.lost {
		return cellLost
	}
	return frameCell(&tr.f)
}

// arrowBody is the glyph of a frame's arrow where it runs level: solid for
// data, lighter for the frames that come and go all the time, dashed for a
// lost one.
func arrowBody(tr *traced) string {
	switch diagramPass(tr) {
	case cellLost:
		return "╌"
	case cellStatus:
		return "┄"
	case cellKeepalive:
		return "┈"
	case cellBackup:
		return "═"
	}
	return "─"
}

// axisTime labels a row of the time axis: world time, as the event log
// shows it.
func axisTime(d, step time.Duration) string {
	prec := 1
	if step < 100*time.Millisecond {
		prec = 2
	}
	return strconv.FormatFloat(d.Seconds(), 'f', prec, 64) + "s"
}

// arrow draws one frame from its sender's column at the row it was sent
// to its receiver's at the row it arrived, or to where it is now while in
// flight, or to where it was lost.
func (p *diagramPane) arrow(put func(x, y int, g string, p *theme.Paint), cols map[int]int, rowOf func(time.Duration) int, tr *traced, now time.Duration) {
	st := p.st
	f := &tr.f
	xf, ok := cols[f.Index]
	if !ok {
		return
	}
	xl := cols[0]
	x0, x1 := xl, xf
	if f.Dir == cluster.ToLeader {
		x0, x1 = xf, xl
	}
	sgn := 1
	if x1 < x0 {
		sgn = -1
	}
	span := (x1 - x0) * sgn // cells from column to column
	if span < 2 {
		return
	}
	end := tr.end
	frac := 1.0
	if end == 0 { // in flight: as far as it has come
		end = now
		if f.Arrive > f.Sent {
			frac = min(max(float64(now-f.Sent)/float64(f.Arrive-f.Sent), 0), 1)
		}
	} else if tr.lost && !f.Lost && f.Arrive > f.Sent {
		// Lost with its link: where it was when the link broke.
		frac = min(max(float64(end-f.Sent)/float64(f.Arrive-f.Sent), 0), 1)
	}
	y0, y1 := rowOf(f.Sent), rowOf(end)
	last := 1 + int(frac*float64(span-2)+0.5) // cells to draw, the head included
	last = min(max(last, 1), span-1)
	paint, body := frameArrowPaint(st, tr), arrowBody(tr)
	bodyPaint := paint
	if pass := diagramPass(tr); pass == cellStatus || pass == cellKeepalive {
		bodyPaint = &st.Muted // they come and go all the time: data stands out
	}
	prevY := y0
	for i := 1; i <= last; i++ {
		x := x0 + i*sgn
		y := y0
		if last > 1 {
			y = y0 + int(float64((y1-y0)*(i-1))/float64(last-1)+0.5)
		}
		g, gp := body, bodyPaint
		switch {
		case i == last:
			g, gp = p.head(tr, sgn, tr.end == 0), paint
		case y != prevY && sgn > 0:
			g = "╲"
		case y != prevY:
			g = "╱"
		}
		put(x, y, g, gp)
		prevY = y
	}
}

// head is the glyph at the end of a frame's arrow: the kind's own glyph
// (an arrowhead for data and status), ✖ for a corrupted frame that
// arrived, ╳ for one lost.
func (p *diagramPane) head(tr *traced, sgn int, inFlight bool) string {
	g := &p.st.Glyphs
	switch {
	case (tr.lost || tr.f.Lost) && !inFlight:
		return g.Cut
	case tr.f.Corrupt:
		return g.Corrupt
	}
	switch tr.f.Kind {
	case "data", "status":
		if sgn > 0 {
			return g.Data
		}
		return g.Status
	case "backup":
		return g.Backup
	case "resend":
		return g.Resend
	}
	return g.Keepalive
}

func frameArrowPaint(st *theme.Styles, tr *traced) *theme.Paint {
	switch {
	case tr.lost || tr.f.Lost:
		return &st.CutLane
	case tr.f.Corrupt:
		return &st.Corrupt
	}
	switch frameCell(&tr.f) {
	case cellData:
		return &st.Data
	case cellBackup:
		return &st.Backup
	case cellResend:
		return &st.Warn
	case cellStatus:
		return &st.Status
	}
	return &st.Keepalive
}
