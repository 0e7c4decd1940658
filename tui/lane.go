package tui

import (
	"walship/engine/cluster"
	"walship/theme"
)

// laneCol is the lane column (0..w-1) of a frame: data moves left to right
// toward the follower, status right to left toward the leader.
func laneCol(f *cluster.Frame, w int) int {
	if w <= 1 {
		return 0
	}
	pos := f.Pos
	if !(pos >= 0) { // NaN too
		pos = 0
	}
	c := int(min(pos, 1)*float64(w-1) + 0.5)
	if f.Dir == cluster.ToLeader {
		c = w - 1 - c
	}
	return min(max(c, 0), w-1)
}

// Cell kinds on a lane, in drawing priority (a higher kind hides a lower
// one in the same cell).
const (
	cellLane byte = iota
	cellKeepalive
	cellStatus
	cellResend
	cellBackup
	cellData
	cellCorrupt
	cellLost // a frame that will never arrive (lostGlyph)
)

// lostGlyphs are a lost frame on a lane, a hollow frame, toward the
// follower and toward the leader.
var lostGlyphs = [2]string{"▷", "◁"}

func frameCell(f *cluster.Frame) byte {
	switch {
	case f.Lost:
		return cellLost
	case f.Corrupt:
		return cellCorrupt
	case f.Kind == "data":
		return cellData
	case f.Kind == "backup":
		return cellBackup
	case f.Kind == "resend":
		return cellResend
	case f.Kind == "status":
		return cellStatus
	}
	return cellKeepalive
}

// lane draws one direction of a link, w cells wide, with the frames of
// that direction at their positions. cells is scratch space (len >= w).
func lane(r *row, st *theme.Styles, frames []cluster.Frame, dir cluster.Direction, cut bool, w int, cells []byte) {
	if w <= 0 {
		return
	}
	g := &st.Glyphs
	if cut {
		cutLane(r, st, w, dir == cluster.ToFollower)
		return
	}
	cells = cells[:w]
	clear(cells)
	for i := range frames {
		f := &frames[i]
		if f.Dir != dir {
			continue
		}
		c := laneCol(f, w)
		if k := frameCell(f); k > cells[c] {
			cells[c] = k
		}
	}
	pr := paintRun{r: r}
	for _, k := range cells {
		switch k {
		case cellLane:
			pr.put(&st.Lane, g.Lane)
		case cellKeepalive:
			pr.put(&st.Keepalive, g.Keepalive)
		case cellStatus:
			pr.put(&st.Status, g.Status)
		case cellResend:
			pr.put(&st.Warn, g.Resend)
		case cellBackup:
			pr.put(&st.Backup, g.Backup)
		case cellData:
			pr.put(&st.Data, g.Data)
		case cellCorrupt:
			pr.put(&st.Corrupt, g.Corrupt)
		case cellLost:
			pr.put(&st.CutLane, lostGlyphs[dir])
		}
	}
	pr.end()
}

// cutLane draws a broken link; the label row carries the word CUT.
func cutLane(r *row, st *theme.Styles, w int, label bool) {
	g := &st.Glyphs
	const word = " CUT "
	mid := w / 2
	if !label || w < len(word)+4 {
		r.repeat(st.CutLane, g.CutLane, mid)
		r.text(st.CutLane, g.Cut)
		r.repeat(st.CutLane, g.CutLane, w-mid-1)
		return
	}
	left := (w - len(word) - 2) / 2
	r.repeat(st.CutLane, g.CutLane, left)
	r.text(st.CutLane, g.Cut)
	r.text(st.CutLabel, word)
	r.text(st.CutLane, g.Cut)
	r.repeat(st.CutLane, g.CutLane, w-left-len(word)-2)
}
