package theme

import (
	"image/color"
	"math"
)

// Contrast is WCAG 2's contrast ratio between two colours: 1 for the same
// luminance, 21 for black on white. Text wants at least 4.5 (MinText), and
// lines, bars and glyphs that carry meaning at least 3 (MinGraphic).
func Contrast(a, b color.Color) float64 {
	la, lb := luminance(a), luminance(b)
	if la < lb {
		la, lb = lb, la
	}
	return (la + 0.05) / (lb + 0.05)
}

// WCAG 2 minimum contrast ratios (success criteria 1.4.3 and 1.4.11).
const (
	MinText    = 4.5
	MinGraphic = 3.0
)

// luminance is WCAG 2's relative luminance of an sRGB colour, 0 to 1.
func luminance(c color.Color) float64 {
	r, g, b, _ := c.RGBA() // 16 bits a channel, alpha-premultiplied; ours are opaque
	lin := func(v uint32) float64 {
		x := float64(v) / 0xffff
		if x <= 0.04045 {
			return x / 12.92
		}
		return math.Pow((x+0.055)/1.055, 2.4)
	}
	return 0.2126*lin(r) + 0.7152*lin(g) + 0.0722*lin(b)
}

// IsDark reports whether a background colour is dark: darker than the
// middle grey in luminance. A nil colour (unknown) counts as dark, as most
// terminals are.
func IsDark(c color.Color) bool {
	if c == nil {
		return true
	}
	return luminance(c) < 0.18 // about #767676, where black and white text contrast equally
}
