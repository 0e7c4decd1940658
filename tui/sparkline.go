package tui

import "math"

// sparkGlyphs are a sparkline's eight heights. Block glyphs, not braille,
// so that casts and fonts without braille show them.
var sparkGlyphs = [8]string{"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}

// appendSpark appends vals (oldest first) drawn as a w-cell sparkline to
// b, and returns it. Each cell shows the largest value that falls in it,
// scaled so that hi is a full block: zero is the lowest block, anything
// above zero at least the second, so a little lag never looks like none.
// NaN (no sample) is a blank. With fewer values than cells, the newest
// sit at the right edge and the cells before them are blank. It is pure:
// the same values give the same glyphs.
func appendSpark(b []byte, vals []float64, w int, hi float64) []byte {
	if w <= 0 {
		return b
	}
	n := len(vals)
	if n < w {
		for range w - n {
			b = append(b, ' ')
		}
		w = n
	}
	for i := range w {
		lo, up := i*n/w, (i+1)*n/w
		v := math.NaN()
		for _, x := range vals[lo:max(up, lo+1)] {
			if !math.IsNaN(x) && (math.IsNaN(v) || x > v) {
				v = x
			}
		}
		b = append(b, sparkGlyph(v, hi)...)
	}
	return b
}

// sparkGlyph is the glyph for v on a scale topped by hi.
func sparkGlyph(v, hi float64) string {
	switch {
	case math.IsNaN(v):
		return " "
	case v <= 0 || hi <= 0:
		return sparkGlyphs[0]
	}
	level := 1 + int(math.Round(min(v/hi, 1)*6))
	return sparkGlyphs[level]
}

// sparkTop is the largest value in vals (0 when there is none), the top
// of their scale.
func sparkTop(vals ...[]float64) float64 {
	top := 0.0
	for _, vs := range vals {
		for _, v := range vs {
			if v > top { // false for NaN
				top = v
			}
		}
	}
	return top
}
