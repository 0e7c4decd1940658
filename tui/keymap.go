package tui

import "charm.land/bubbles/v2/key"

// KeyMap is every key the UI answers to. Rebind a key here and the help
// overlay, the footer, the hints that name a key and the handlers all
// follow, because they read these bindings and nothing else.
type KeyMap struct {
	// Selecting a follower.
	Select key.Binding // 1-9, and 0 for the old leader a failover made a follower
	Next   key.Binding
	Prev   key.Binding

	// Faults and fixes on the selected follower.
	Pause   key.Binding // pause / resume replay
	Cut     key.Binding // cut / restore the link
	Corrupt key.Binding
	Drop    key.Binding // lose the next data frame on the way
	Crash   key.Binding // crash / restart
	Backup  key.Binding
	Slower  key.Binding // latency up
	Quicker key.Binding // latency down

	// Reads on the selected follower (reads.go).
	Read     key.Binding // read the last key written
	ReadWait key.Binding // the same, waiting for the client's last commit first

	// The workload and the leader.
	RateUp   key.Binding
	RateDown key.Binding
	Burst    key.Binding
	Sync     key.Binding
	Add      key.Binding
	Remove   key.Binding

	// Failover (failover.go): the leader crashes and restarts, a follower
	// is promoted.
	CrashLeader key.Binding // crash / restart the node named leader
	Failover    key.Binding // promote the follower with the highest flush LSN
	Promote     key.Binding // promote the selected follower

	// World time.
	Freeze    key.Binding
	TimeSlow  key.Binding
	TimeFast  key.Binding
	Palette   key.Binding
	LogBack   key.Binding // scroll the event log back
	LogFwd    key.Binding // and forward again
	Help      key.Binding
	Quit      key.Binding
	Suspend   key.Binding // back to the shell; fg resumes
	Captions  key.Binding
	Chapter   key.Binding // the lesson's next step (n, and a clicker's PageDown and .)
	StepBack  key.Binding // a clicker's PageUp: restart the chapter, or the previous one
	ChapPrev  key.Binding
	ChapAgain key.Binding
	Lessons   key.Binding // the lesson picker
	Room      key.Binding // the presenter layout on and off
	SyncN     key.Binding // the sync rule's ANY n, cycled

	// Looking back at the world's last minutes (timetravel.go), or moving
	// through a recording, and the message diagram.
	// Scrub: ← and → a tenth of a second back and forward (← freezes the
	// world; → past the present comes back to it), with shift a second.
	Scrub   key.Binding
	Diagram key.Binding // the space-time diagram of the messages
}

// DefaultKeyMap is the keymap of issue 4.
func DefaultKeyMap() KeyMap {
	b := func(keys []string, k, desc string) key.Binding {
		return key.NewBinding(key.WithKeys(keys...), key.WithHelp(k, desc))
	}
	return KeyMap{
		Select:  b([]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "0"}, "1-9", "select follower"),
		Next:    b([]string{"tab", "down"}, "tab/↓", "next follower"),
		Prev:    b([]string{"shift+tab", "up"}, "⇧tab/↑", "previous follower"),
		Pause:   b([]string{"p"}, "p", "pause/resume replay"),
		Cut:     b([]string{"c"}, "c", "cut/restore link"),
		Corrupt: b([]string{"x"}, "x", "corrupt next frame"),
		Drop:    b([]string{"X"}, "X", "drop next data frame"),
		Crash:   b([]string{"k"}, "k", "crash/restart follower"),
		Backup:  b([]string{"b"}, "b", "base backup"),
		Slower:  b([]string{"]"}, "]", "latency up"),
		Quicker: b([]string{"["}, "[", "latency down"),

		Read:     b([]string{"g"}, "g", "read last key on follower"),
		ReadWait: b([]string{"G"}, "G", "read, waiting for your commit"),

		RateUp:   b([]string{"+", "="}, "+", "write rate up"),
		RateDown: b([]string{"-", "_"}, "-", "write rate down"),
		Burst:    b([]string{"w"}, "w", "write a burst"),
		Sync:     b([]string{"s"}, "s", "cycle synchronous_commit"),
		Add:      b([]string{"a"}, "a", "add follower"),
		Remove:   b([]string{"d"}, "d", "remove follower"),

		CrashLeader: b([]string{"K"}, "K", "crash/restart leader"),
		Failover:    b([]string{"F"}, "F", "failover (highest flush)"),
		Promote:     b([]string{"O"}, "O", "promote follower"),

		Freeze:   b([]string{"space"}, "space", "freeze/unfreeze world"),
		TimeSlow: b([]string{"<", ","}, "<", "slower time"),
		TimeFast: b([]string{">", "."}, ">", "faster time"),
		Palette:  b([]string{":"}, ":", "command palette"),
		LogBack:  b([]string{"pgup"}, "pgup", "scroll events back"),
		LogFwd:   b([]string{"pgdown"}, "pgdn", "scroll events forward"),
		Help:     b([]string{"?"}, "?", "help"),
		Quit:     b([]string{"q", "ctrl+c"}, "q", "quit"),
		Suspend:  b([]string{"ctrl+z"}, "ctrl+z", "suspend (fg resumes)"),

		Captions:  b([]string{"C"}, "C", "captions on/off"),
		Chapter:   b([]string{"n", "pgdown", "."}, "n/pgdn", "next lesson step"),
		StepBack:  b([]string{"pgup"}, "pgup", "lesson: back to chapter start"),
		ChapPrev:  b([]string{"N", "P"}, "N/P", "previous chapter"),
		ChapAgain: b([]string{"r"}, "r", "restart chapter"),
		Lessons:   b([]string{"l"}, "l", "lessons"),
		Room:      b([]string{"z"}, "z", "presenter layout on/off"),
		SyncN:     b([]string{"S"}, "S", "cycle ANY n of the sync rule"),

		Scrub:   b([]string{"left", "right", "shift+left", "shift+right"}, "←/→", "look back / forward"),
		Diagram: b([]string{"m"}, "m", "message diagram on/off"),
	}
}

// ShortHelp is the footer: the keys a newcomer needs first, of those
// switched on.
func (k KeyMap) ShortHelp() []key.Binding {
	var on []key.Binding
	for _, b := range []key.Binding{k.Pause, k.Cut, k.Corrupt, k.Crash, k.Freeze, k.Help, k.Quit} {
		if b.Enabled() {
			on = append(on, b)
		}
	}
	return on
}

// FullHelp is the help overlay, one column per group.
func (k KeyMap) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Select, k.Next, k.Prev, k.Pause, k.Cut, k.Corrupt, k.Drop, k.Crash, k.Backup, k.Slower, k.Quicker, k.Promote, k.Read, k.ReadWait},
		{k.RateUp, k.RateDown, k.Burst, k.Sync, k.SyncN, k.Add, k.Remove, k.CrashLeader, k.Failover, k.LogBack, k.LogFwd, k.Diagram},
		{k.Freeze, k.TimeSlow, k.TimeFast, k.Scrub, k.Palette, k.Lessons, k.Room, k.Help, k.Quit},
		{k.Chapter, k.StepBack, k.ChapPrev, k.ChapAgain, k.Captions},
	}
}

// lessonKeys switches the lesson keys on only while a lesson plays, so the
// help shows them only then. A presenter's clicker sends PageDown, PageUp
// and . (as RaftScope found), so while a lesson plays those drive it: the
// event log then scrolls no more, and . no longer speeds time up (> does).
func (k *KeyMap) lessonKeys(on bool) {
	for _, b := range []*key.Binding{&k.Chapter, &k.StepBack, &k.ChapPrev, &k.ChapAgain, &k.Captions} {
		b.SetEnabled(on)
	}
	k.LogBack.SetEnabled(!on)
	k.LogFwd.SetEnabled(!on)
	if on {
		k.TimeFast.SetKeys(">")
	} else {
		k.TimeFast.SetKeys(">", ".")
	}
}

// firstKey is the first key b answers to, for hints that name a key.
func firstKey(b key.Binding) string {
	if ks := b.Keys(); len(ks) > 0 {
		return ks[0]
	}
	return ""
}
