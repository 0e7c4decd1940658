// Package theme holds walship's palettes and the styles built from them.
//
// A Theme is only colours and a couple of switches; NewStyles turns one into
// every lipgloss style and pre-rendered glyph the UI uses, once, so a View
// only composes strings. Four themes ship: dark, light,
// high-contrast (for a projector: bold text, saturated colours) and mono
// (for NO_COLOR: no colour at all; every state is still spelled out in words
// or glyphs, so nothing depends on colour). The default, auto, picks dark or
// light to fit the terminal's background.
package theme

import (
	"fmt"
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Theme is a palette. Every colour names a meaning, not a hue, so that a
// light theme can swap them all. A nil colour means "the terminal's default".
type Theme struct {
	Name string

	Text   color.Color // ordinary text
	Muted  color.Color // labels, units, secondary facts
	Border color.Color // panel borders and idle lanes
	Accent color.Color // the selected follower, headings, the palette prompt

	Leader color.Color // the leader panel

	// The three follower positions and their bars, as PostgreSQL names them.
	Write  color.Color // write_lsn: received and written
	Flush  color.Color // flush_lsn: fsynced
	Replay color.Color // replay_lsn: applied to the store
	Empty  color.Color // the unfilled part of a bar

	// Frames in flight.
	Data      color.Color // WAL data, leader to follower
	Status    color.Color // status updates, follower to leader
	Keepalive color.Color // keepalives and other control frames
	Backup    color.Color // base-backup chunks

	OK      color.Color // streaming, healthy
	Warn    color.Color // catchup, reconnecting, paused
	Error   color.Color // corrupt frames, CRC failures, cut links, stopped
	Removed color.Color // WAL the leader no longer retains

	Caption   color.Color // lesson caption text
	CaptionBg color.Color // lesson caption background (nil: none)
	BadgeText color.Color // text drawn on a coloured badge

	// Background is the background the palette is designed for, and
	// DarkBackground says which kind it is. Every colour meets WCAG 2's
	// contrast ratios against it and against the usual terminal
	// backgrounds of its kind (see contrast.go and its test). The UI sets
	// the terminal's background to it when the terminal's own background
	// is of the other kind, or always when PaintBackground is set.
	Background      color.Color
	DarkBackground  bool
	PaintBackground bool

	// Bold makes ordinary text bold (a projector washes thin strokes out).
	Bold bool
	// NoColor: the theme draws with attributes only (bold, reverse), never
	// colour. States must then be readable from words and glyphs alone.
	NoColor bool
}

func hex(s string) color.Color { return lipgloss.Color(s) }

// Dark is the default theme, for dark terminal backgrounds.
func Dark() Theme {
	return Theme{
		Name:           "dark",
		Background:     hex("#1E1E1E"),
		DarkBackground: true,
		Text:           hex("#D8DEE9"),
		Muted:          hex("#9AA3B5"),
		Border:         hex("#737D91"),
		Accent:         hex("#88C0FF"),
		Leader:         hex("#B48EF0"),
		Write:          hex("#5FB3F3"),
		Flush:          hex("#E5C07B"),
		Replay:         hex("#7FD67F"),
		Empty:          hex("#6E788C"),
		Data:           hex("#5FB3F3"),
		Status:         hex("#7FD67F"),
		Keepalive:      hex("#9AA3B5"),
		Backup:         hex("#C678DD"),
		OK:             hex("#7FD67F"),
		Warn:           hex("#F0B35A"),
		Error:          hex("#FF5F5F"),
		Removed:        hex("#C06060"),
		Caption:        hex("#FFFFFF"),
		CaptionBg:      hex("#2E3A59"),
		BadgeText:      hex("#1B1B1B"),
	}
}

// Light is for light terminal backgrounds.
func Light() Theme {
	return Theme{
		Name:       "light",
		Background: hex("#FFFFFF"),
		Text:       hex("#24292F"),
		Muted:      hex("#57606A"),
		Border:     hex("#7D8590"),
		Accent:     hex("#0550AE"),
		Leader:     hex("#8250DF"),
		Write:      hex("#0969DA"),
		Flush:      hex("#8A5C00"),
		Replay:     hex("#1A7F37"),
		Empty:      hex("#7D8590"),
		Data:       hex("#0969DA"),
		Status:     hex("#1A7F37"),
		Keepalive:  hex("#6E7781"),
		Backup:     hex("#8250DF"),
		OK:         hex("#1A7F37"),
		Warn:       hex("#BC4C00"),
		Error:      hex("#CF222E"),
		Removed:    hex("#B8605A"),
		Caption:    hex("#000000"),
		CaptionBg:  hex("#DDF4FF"),
		BadgeText:  hex("#FFFFFF"),
	}
}

// HighContrast is for projectors: pure, saturated colours and bold text,
// readable from the back of a room. It always sets the terminal's
// background to black, so its contrast holds whatever the terminal had.
func HighContrast() Theme {
	return Theme{
		Name:            "high-contrast",
		Background:      hex("#000000"),
		DarkBackground:  true,
		PaintBackground: true,
		Text:            hex("#FFFFFF"),
		Muted:           hex("#C0C0C0"),
		Border:          hex("#A0A0A0"),
		Accent:          hex("#00FFFF"),
		Leader:          hex("#FF80FF"),
		Write:           hex("#00AFFF"),
		Flush:           hex("#FFFF00"),
		Replay:          hex("#00FF00"),
		Empty:           hex("#7A7A7A"),
		Data:            hex("#00DFFF"),
		Status:          hex("#00FF00"),
		Keepalive:       hex("#C0C0C0"),
		Backup:          hex("#FF80FF"),
		OK:              hex("#00FF00"),
		Warn:            hex("#FFAF00"),
		Error:           hex("#FF2020"),
		Removed:         hex("#C04040"),
		Caption:         hex("#FFFFFF"),
		CaptionBg:       hex("#0000A0"),
		BadgeText:       hex("#000000"),
		Bold:            true,
	}
}

// Mono draws without colour (NO_COLOR): bold and reverse video only.
func Mono() Theme {
	return Theme{Name: "mono", NoColor: true}
}

// Auto is the default theme name: dark or light, whichever fits the
// terminal's background (the UI asks the terminal for it).
const Auto = "auto"

// Names lists the theme names ByName accepts, default first.
func Names() []string { return []string{Auto, "dark", "light", "high-contrast", "mono"} }

// IsAuto reports whether name asks for the theme to follow the terminal.
func IsAuto(name string) bool {
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "", Auto, "default":
		return true
	}
	return false
}

// ForBackground is the theme Auto picks for a terminal background: Light
// on a light one, Dark otherwise (also when the terminal does not say).
func ForBackground(bg color.Color) Theme {
	if IsDark(bg) {
		return Dark()
	}
	return Light()
}

// ByName returns the named theme. Matching ignores case, and "hc",
// "highcontrast", "none" and "no-color" are accepted as aliases. Auto (and
// "") gives Dark, the theme to draw with until the terminal says what its
// background is (see ForBackground).
func ByName(name string) (Theme, error) {
	if IsAuto(name) {
		return Dark(), nil
	}
	switch strings.ToLower(strings.TrimSpace(name)) {
	case "dark":
		return Dark(), nil
	case "light":
		return Light(), nil
	case "high-contrast", "highcontrast", "hc", "projector":
		return HighContrast(), nil
	case "mono", "none", "no-color", "nocolor":
		return Mono(), nil
	}
	return Theme{}, fmt.Errorf("theme: unknown theme %q (want one of: %s)", name, strings.Join(Names(), ", "))
}
