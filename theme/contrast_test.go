package theme

import (
	"fmt"
	"image/color"
	"math"
	"testing"
)

// typicalBackgrounds are the terminal backgrounds a theme of each kind must
// read well on: black and the common dark greys (VS Code's #1E1E1E, One
// Dark's #282C34); white, a light grey and Solarized Light's cream.
var typicalBackgrounds = map[bool][]string{
	true:  {"#000000", "#1E1E1E", "#282C34"},
	false: {"#FFFFFF", "#F5F5F5", "#FDF6E3"},
}

func TestContrastKnownValues(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want float64
	}{
		{"#000000", "#FFFFFF", 21},
		{"#FFFFFF", "#FFFFFF", 1},
		{"#777777", "#FFFFFF", 4.48}, // the grey that famously just fails 4.5
		{"#0000FF", "#FFFFFF", 8.59},
	} {
		got := Contrast(hex(c.a), hex(c.b))
		if math.Abs(got-c.want) > 0.01 {
			t.Errorf("Contrast(%s, %s) = %.3f, want %.2f", c.a, c.b, got, c.want)
		}
	}
}

// TestThemeContrast checks every colour theme against WCAG 2: 4.5:1 for
// text and 3:1 for lines, bars and frame glyphs, on its own background and
// on the usual backgrounds of its kind (unless it paints its own).
func TestThemeContrast(t *testing.T) {
	for _, name := range Names() {
		th, _ := ByName(name)
		if th.NoColor || IsAuto(name) {
			continue
		}
		bgs := []color.Color{th.Background}
		if !th.PaintBackground {
			for _, s := range typicalBackgrounds[th.DarkBackground] {
				bgs = append(bgs, hex(s))
			}
		}
		if th.Background == nil {
			t.Errorf("%s: no Background", name)
			continue
		}
		if IsDark(th.Background) != th.DarkBackground {
			t.Errorf("%s: DarkBackground %v, but its Background is the other kind", name, th.DarkBackground)
		}
		text := map[string]color.Color{
			"Text": th.Text, "Muted": th.Muted, "Accent": th.Accent, "Leader": th.Leader,
			"Write": th.Write, "Flush": th.Flush, "Replay": th.Replay,
			"OK": th.OK, "Warn": th.Warn, "Error": th.Error,
		}
		graphic := map[string]color.Color{
			"Border": th.Border, "Empty": th.Empty, "Removed": th.Removed,
			"Data": th.Data, "Status": th.Status, "Keepalive": th.Keepalive, "Backup": th.Backup,
		}
		for _, bg := range bgs {
			bg := rgb{bg}
			for field, c := range text {
				if r := Contrast(c, bg); r < MinText {
					t.Errorf("%s: %s on %v is %.2f:1, want >= %.1f (text)", name, field, bg, r, MinText)
				}
			}
			for field, c := range graphic {
				if r := Contrast(c, bg); r < MinGraphic {
					t.Errorf("%s: %s on %v is %.2f:1, want >= %.1f (lines and bars)", name, field, bg, r, MinGraphic)
				}
			}
		}
		if th.CaptionBg != nil {
			if r := Contrast(th.Caption, th.CaptionBg); r < MinText {
				t.Errorf("%s: caption on its band is %.2f:1, want >= %.1f", name, r, MinText)
			}
		}
		for field, c := range map[string]color.Color{"Accent": th.Accent, "Warn": th.Warn, "Error": th.Error} {
			if r := Contrast(th.BadgeText, c); r < MinText {
				t.Errorf("%s: badge text on %s is %.2f:1, want >= %.1f", name, field, r, MinText)
			}
		}
	}
}

func TestForBackground(t *testing.T) {
	for _, c := range []struct {
		bg   color.Color
		want string
	}{
		{nil, "dark"},
		{hex("#000000"), "dark"},
		{hex("#282C34"), "dark"},
		{hex("#FFFFFF"), "light"},
		{hex("#FDF6E3"), "light"},
	} {
		if got := ForBackground(c.bg).Name; got != c.want {
			t.Errorf("ForBackground(%v) = %s, want %s", c.bg, got, c.want)
		}
	}
}

// rgb prints a colour as #RRGGBB in failure messages.
type rgb struct{ color.Color }

func (c rgb) String() string {
	r, g, b, _ := c.RGBA()
	return fmt.Sprintf("#%02X%02X%02X", r>>8, g>>8, b>>8)
}
