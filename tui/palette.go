package tui

import (
	"strings"

	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
	"walship/theme"
)

// palette is the command line opened with ':'. It takes the same text
// commands as scenario files (cluster.ParseCommand), completes the verb
// with tab and keeps a history (up/down).
type palette struct {
	st      *theme.Styles
	active  bool
	buf     []rune
	pos     int
	err     string
	history []string
	hist    int // index into history while browsing; len(history) = the live line
	// running is set while the command entered runs: the palette stays
	// open until it is known to have worked, so that a command that
	// parses but fails (pause follower-9) keeps its line and its error,
	// and what is typed next goes into the line, not to the hotkeys.
	running bool
}

func (p *palette) open() {
	p.active, p.buf, p.pos, p.err = true, p.buf[:0], 0, ""
	p.hist = len(p.history)
}

func (p *palette) close() { p.active, p.err, p.running = false, "", false }

// done takes the outcome of the command entered: the palette closes when
// it worked and shows the error, keeping the line, when it did not.
func (p *palette) done(err error) {
	if !p.running {
		return
	}
	p.running = false
	if err != nil {
		p.err = err.Error()
		return
	}
	p.close()
}

func (p *palette) value() string { return string(p.buf) }

func (p *palette) set(s string) { p.buf = []rune(s); p.pos = len(p.buf) }

// update handles a key while the palette is open. It returns the parsed
// command when enter was pressed on a valid line.
func (p *palette) update(msg tea.KeyPressMsg) (cluster.Command, bool) {
	k := msg.Key()
	switch msg.String() {
	case "esc", "ctrl+c", "ctrl+g":
		p.close()
	case "enter":
		if p.running {
			return cluster.Command{}, false // the last one has not answered yet
		}
		line := strings.TrimSpace(p.value())
		if line == "" {
			p.close()
			return cluster.Command{}, false
		}
		c, err := cluster.ParseCommand(line)
		if err != nil {
			p.err = err.Error()
			return cluster.Command{}, false
		}
		if n := len(p.history); n == 0 || p.history[n-1] != line {
			p.history = append(p.history, line)
		}
		p.err, p.running = "", true
		return c, true
	case "backspace", "ctrl+h":
		if p.pos > 0 {
			p.buf = append(p.buf[:p.pos-1], p.buf[p.pos:]...)
			p.pos--
		} else if len(p.buf) == 0 {
			p.close()
		}
	case "delete", "ctrl+d":
		if p.pos < len(p.buf) {
			p.buf = append(p.buf[:p.pos], p.buf[p.pos+1:]...)
		}
	case "left", "ctrl+b":
		p.pos = max(p.pos-1, 0)
	case "right", "ctrl+f":
		p.pos = min(p.pos+1, len(p.buf))
	case "home", "ctrl+a":
		p.pos = 0
	case "end", "ctrl+e":
		p.pos = len(p.buf)
	case "ctrl+u":
		p.buf, p.pos = p.buf[:0], 0
	case "ctrl+w":
		i := p.pos
		for i > 0 && p.buf[i-1] == ' ' {
			i--
		}
		for i > 0 && p.buf[i-1] != ' ' {
			i--
		}
		p.buf = append(p.buf[:i], p.buf[p.pos:]...)
		p.pos = i
	case "up":
		if p.hist > 0 {
			p.hist--
			p.set(p.history[p.hist])
		}
	case "down":
		if p.hist < len(p.history)-1 {
			p.hist++
			p.set(p.history[p.hist])
		} else {
			p.hist = len(p.history)
			p.set("")
		}
	case "tab":
		p.complete()
	default:
		if k.Text != "" && k.Mod&^tea.ModShift == 0 {
			r := []rune(k.Text)
			p.buf = append(p.buf[:p.pos], append(r, p.buf[p.pos:]...)...)
			p.pos += len(r)
		}
	}
	p.err = ""
	return cluster.Command{}, false
}

// paste inserts pasted text (its first line) at the cursor.
func (p *palette) paste(text string) {
	line, _, _ := strings.Cut(text, "\n")
	r := []rune(clean(strings.TrimRight(line, "\r")))
	p.buf = append(p.buf[:p.pos], append(r, p.buf[p.pos:]...)...)
	p.pos += len(r)
	p.err = ""
}

// complete extends the verb being typed to the single verb it prefixes.
func (p *palette) complete() {
	line := p.value()
	if strings.Contains(line, " ") {
		return
	}
	var match string
	for _, v := range paletteVerbs() {
		if strings.HasPrefix(v.Verb, line) {
			if match != "" {
				return // ambiguous
			}
			match = v.Verb
		}
	}
	if match != "" {
		p.set(match + " ")
	}
}

// hint is the usage of the verb being typed, or the verbs it may start.
func (p *palette) hint() string {
	line := strings.TrimLeft(p.value(), " ")
	word, _, typed := strings.Cut(line, " ")
	var names []string
	for _, v := range paletteVerbs() {
		if v.Verb == word && (typed || len(line) > 0) {
			return v.Usage + " — " + v.Help
		}
		if strings.HasPrefix(v.Verb, word) {
			names = append(names, v.Verb)
		}
	}
	if len(names) == 0 {
		return "no such command"
	}
	return strings.Join(names, " ")
}

// paletteVerbs are the commands the palette takes: the cluster's, then
// the UI's own.
func paletteVerbs() []struct{ Verb, Usage, Help string } {
	out := make([]struct{ Verb, Usage, Help string }, 0, len(cluster.Verbs)+len(uiVerbs))
	for _, v := range cluster.Verbs {
		out = append(out, struct{ Verb, Usage, Help string }{string(v.Verb), v.Usage, v.Help})
	}
	return append(out, uiVerbs...)
}

// row draws the palette line: prompt, text with a cursor, then the error or
// a usage hint.
func (p *palette) row(r *row) {
	st := p.st
	r.text(st.Accent, ":")
	r.plain(string(p.buf[:p.pos]))
	cur := " "
	if p.pos < len(p.buf) {
		cur = string(p.buf[p.pos])
	}
	r.text(st.Badge, cur)
	if p.pos < len(p.buf) {
		r.plain(string(p.buf[p.pos+1:]))
	}
	r.plain("   ")
	if p.running {
		r.text(st.Muted, "…")
	} else if p.err != "" {
		r.text(st.Error, "✖ "+p.err)
	} else {
		r.text(st.Muted, p.hint())
	}
	r.fill()
}
