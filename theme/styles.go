package theme

import (
	"image/color"
	"strings"

	"charm.land/lipgloss/v2"
)

// Paint is a style rendered once into the escape sequences that open and
// close it, so hot paths (lanes, bars) can colour a run of cells with two
// string writes instead of a lipgloss Render per cell.
type Paint struct {
	Pre, Post string
}

// PaintOf pre-renders a lipgloss style. Only inline attributes survive
// (colours, bold, reverse, ...); padding, margins and borders do not.
func PaintOf(s lipgloss.Style) Paint {
	const mark = "\x01"
	r := s.Render(mark)
	i := strings.Index(r, mark)
	if i < 0 {
		return Paint{}
	}
	return Paint{Pre: r[:i], Post: r[i+len(mark):]}
}

// Render wraps s in the paint. Empty strings stay empty.
func (p Paint) Render(s string) string {
	if s == "" || (p.Pre == "" && p.Post == "") {
		return s
	}
	return p.Pre + s + p.Post
}

// Glyphs are the characters the UI draws with. Mono swaps the few that
// would otherwise differ only by colour.
type Glyphs struct {
	Data        string // WAL data frame, toward the follower
	Status      string // status update, toward the leader
	Keepalive   string // keepalive or other control frame
	Backup      string // base-backup chunk
	Resend      string // resend request
	Corrupt     string // a frame with a flipped bit
	Lane        string // an idle stretch of link
	CutLane     string // a broken stretch of a cut link
	Cut         string // the break itself
	Full        string // a filled bar cell
	Empty       string // an unfilled bar cell
	Removed     string // a bar cell of WAL the leader no longer keeps
	Lost        string // a bar cell of WAL a crash lost (written, never fsynced)
	Watermark   string // on a bar: what the sync rule has reached
	Waiting     string // on a bar: where the oldest waiting commit ends
	Fork        string // on a bar: the fork LSN a follower's WAL went past (needs rewind)
	Partial     []string
	Selected    string // marks the selected follower
	SelectedEnd string // closes the selected follower's name in the presenter layout
	Paused      string
	CRC         string
}

// Styles is everything the UI draws with, built once from a Theme.
type Styles struct {
	Theme  Theme
	Glyphs Glyphs

	// Inline paints.
	Text, Muted, Bold, Accent, Leader       Paint
	Write, Flush, Replay, Empty, Removed    Paint
	Data, Status, Keepalive, Backup, Frozen Paint
	Corrupt, Lane, CutLane, CutLabel        Paint
	OK, Warn, Error                         Paint
	Selected                                Paint // the selected follower's title
	BadgeWarn, BadgeError, Badge            Paint // reverse-video tags: PAUSED, CUT, CRC
	Flash                                   Paint // the CRC failure flash
	Key, KeyDesc                            Paint // help and footer: a key and what it does

	// Block styles, for the few places that want lipgloss layout.
	Overlay    lipgloss.Style // the help overlay box
	CaptionBox lipgloss.Style // the lesson caption
}

// NewStyles builds every style of t. Call it once and share the result.
func NewStyles(t Theme) *Styles {
	st := &Styles{Theme: t}
	base := lipgloss.NewStyle()
	fg := func(c color.Color) lipgloss.Style {
		s := base
		if !t.NoColor && c != nil {
			s = s.Foreground(c)
		}
		if t.Bold {
			s = s.Bold(true)
		}
		return s
	}
	badge := func(c color.Color) lipgloss.Style {
		if t.NoColor || c == nil {
			return base.Reverse(true).Bold(true)
		}
		s := base.Background(c).Bold(true)
		if t.BadgeText != nil {
			s = s.Foreground(t.BadgeText)
		}
		return s
	}
	p := PaintOf

	st.Text = p(fg(t.Text))
	st.Muted = p(fg(t.Muted))
	st.Bold = p(fg(t.Text).Bold(true))
	st.Accent = p(fg(t.Accent).Bold(true))
	st.Leader = p(fg(t.Leader).Bold(true))
	st.Write = p(fg(t.Write))
	st.Flush = p(fg(t.Flush))
	st.Replay = p(fg(t.Replay))
	st.Empty = p(fg(t.Empty).Bold(false))
	st.Removed = p(fg(t.Removed))
	st.Data = p(fg(t.Data).Bold(true))
	st.Status = p(fg(t.Status).Bold(true))
	st.Keepalive = p(fg(t.Keepalive))
	st.Backup = p(fg(t.Backup).Bold(true))
	st.Corrupt = p(fg(t.Error).Bold(true).Blink(false))
	st.Lane = p(fg(t.Border).Bold(false))
	st.CutLane = p(fg(t.Error))
	st.CutLabel = p(badge(t.Error))
	st.OK = p(fg(t.OK))
	st.Warn = p(fg(t.Warn).Bold(true))
	st.Error = p(fg(t.Error).Bold(true))
	st.Frozen = p(badge(t.Accent))
	st.Badge = p(badge(t.Accent))
	st.BadgeWarn = p(badge(t.Warn))
	st.BadgeError = p(badge(t.Error))
	st.Flash = p(badge(t.Error).Blink(false))
	st.Key = p(fg(t.Accent).Bold(true))
	st.KeyDesc = p(fg(t.Muted))
	if t.NoColor {
		st.Selected = p(base.Reverse(true).Bold(true))
	} else {
		st.Selected = p(fg(t.Accent).Bold(true).Underline(true))
	}

	border := base.Border(lipgloss.RoundedBorder()).Padding(0, 1)
	if !t.NoColor {
		border = border.BorderForeground(t.Accent)
	}
	st.Overlay = border

	caption := base.Bold(true).Padding(0, 2)
	if !t.NoColor {
		if t.Caption != nil {
			caption = caption.Foreground(t.Caption)
		}
		if t.CaptionBg != nil {
			caption = caption.Background(t.CaptionBg)
		}
	}
	st.CaptionBox = caption

	st.Glyphs = Glyphs{
		Data:        "▶",
		Status:      "◀",
		Keepalive:   "•",
		Backup:      "▣",
		Resend:      "↺",
		Corrupt:     "✖",
		Lane:        "─",
		CutLane:     "╌",
		Cut:         "╳",
		Full:        "█",
		Empty:       "░",
		Removed:     "▒",
		Lost:        "╳",
		Watermark:   "┃",
		Waiting:     "◆",
		Fork:        "┼",
		Partial:     []string{"", "▏", "▎", "▍", "▌", "▋", "▊", "▉"},
		Selected:    "▶",
		SelectedEnd: "◀",
		Paused:      "‖",
		CRC:         "✖",
	}
	if t.NoColor {
		st.Glyphs.Empty = "·"
		st.Glyphs.Removed = "×"
	}
	return st
}
