package tui

import (
	"walship/engine/wal"
	"walship/theme"
)

// scale maps LSNs onto bar cells. Every bar of every follower uses the same
// scale, so equal lag is an equal gap and the bars can be compared by eye.
//
// The scale runs from lo (the lowest position any follower still has to
// replay from, or further back to keep a minimum window) to hi (the leader's
// flushed end). WAL the leader no longer retains (below oldest) is drawn as
// removed, so a follower that fell off retained WAL sits visibly in it.
type scale struct {
	lo, hi float64
	oldest wal.LSN
}

// frac is where v falls on the scale, 0..1.
func (s scale) frac(v wal.LSN) float64 {
	if s.hi <= s.lo {
		return 1
	}
	return min(1, max(0, (float64(v)-s.lo)/(s.hi-s.lo)))
}

// removedCells is how many of w cells lie below the leader's oldest LSN.
func (s scale) removedCells(w int) int {
	if float64(s.oldest) <= s.lo {
		return 0
	}
	f := s.frac(s.oldest)
	n := int(f*float64(w) + 0.999)
	return min(n, w)
}

// paintRun writes glyphs with as few style switches as possible.
type paintRun struct {
	r   *row
	cur *theme.Paint
}

func (p *paintRun) put(pt *theme.Paint, g string) {
	if p.r.room() <= 0 {
		return
	}
	if p.cur != pt {
		if p.cur != nil {
			p.r.b.WriteString(p.cur.Post)
		}
		p.r.b.WriteString(pt.Pre)
		p.cur = pt
	}
	p.r.b.WriteString(g)
	p.r.n++
}

func (p *paintRun) end() {
	if p.cur != nil {
		p.r.b.WriteString(p.cur.Post)
		p.cur = nil
	}
}

// barMarks are what a bar may carry besides its fill: the tail a crash
// lost, drawn from the position up to lostTo, and ticks at LSNs (the sync
// rule's watermark, the oldest waiting commit).
type barMarks struct {
	lostTo wal.LSN // 0: nothing lost
	ticks  []tick
}

// tick marks one LSN on a bar with a glyph.
type tick struct {
	lsn   wal.LSN
	glyph string
	paint *theme.Paint
}

// cell is the cell (0..w-1) position v falls in.
func (s scale) cell(v wal.LSN, w int) int {
	return min(int(s.frac(v)*float64(w)), w-1)
}

// bar draws position v as a w-cell bar on scale sc in paint fill, with
// eighth-cell resolution at its end, and what bm adds (bm may be nil).
func bar(r *row, st *theme.Styles, sc scale, v wal.LSN, w int, fill *theme.Paint, bm *barMarks) {
	if w <= 0 {
		return
	}
	g := &st.Glyphs
	eighths := int(sc.frac(v)*float64(w*8) + 0.5)
	full, part := eighths/8, eighths%8
	removed := sc.removedCells(w)
	lost := 0
	if bm != nil && bm.lostTo > v {
		lost = int(sc.frac(bm.lostTo)*float64(w) + 0.5)
	}
	pr := paintRun{r: r}
cells:
	for i := range w {
		if bm != nil {
			for _, t := range bm.ticks {
				if sc.cell(t.lsn, w) == i {
					pr.put(t.paint, t.glyph)
					continue cells
				}
			}
		}
		switch {
		case i < full && i < removed:
			pr.put(&st.Error, g.Full)
		case i < full:
			pr.put(fill, g.Full)
		case i == full && part > 0:
			if i < removed {
				pr.put(&st.Error, g.Partial[part])
			} else {
				pr.put(fill, g.Partial[part])
			}
		case i < lost:
			pr.put(&st.Error, g.Lost)
		case i < removed:
			pr.put(&st.Removed, g.Removed)
		default:
			pr.put(&st.Empty, g.Empty)
		}
	}
	pr.end()
}
