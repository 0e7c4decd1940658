package cluster

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"walship/engine/wal"
)

// Verb names a control action. Every action on the cluster (keys, the
// command palette, scenario files, the recorder) is a Command with a text
// form; ParseCommand and Command.String are inverses.
type Verb string

// The verbs. The comment is the text form; F is a follower name
// (follower-2), its index (2), or "all" where noted.
const (
	VerbPause      Verb = "pause"       // pause F|all: pause replay (pg_wal_replay_pause)
	VerbResume     Verb = "resume"      // resume F|all
	VerbCut        Verb = "cut"         // cut F|all [to|from]: close the link, refuse reconnects; or lose one way only
	VerbRestore    Verb = "restore"     // restore F|all
	VerbLatency    Verb = "latency"     // latency F|all DUR [JITTER]: one-way latency
	VerbBandwidth  Verb = "bandwidth"   // bandwidth F|all SIZE|off: bytes per second
	VerbCorrupt    Verb = "corrupt"     // corrupt F [LSN]: corrupt the next data frame (or the one at LSN)
	VerbDrop       Verb = "drop"        // drop F [LSN]: lose the next data frame (or the one at LSN)
	VerbSlice      Verb = "slice"       // slice F|all on|off
	VerbCrash      Verb = "crash"       // crash F: kill, losing what was not fsynced
	VerbRestart    Verb = "restart"     // restart F: recover and rejoin
	VerbBackup     Verb = "backup"      // backup F: take a base backup from the leader
	VerbApplyDelay Verb = "apply-delay" // apply-delay F|all DUR: replay cost per record
	VerbFlushDelay Verb = "flush-delay" // flush-delay F|all DUR: extra cost per fsync
	VerbAdd        Verb = "add"         // add: a new follower
	VerbRemove     Verb = "remove"      // remove F
	VerbSync       Verb = "sync"        // sync MODE [N]: synchronous_commit, ANY N
	VerbRate       Verb = "rate"        // rate N: workload records per second (0 stops it)
	VerbWrite      Verb = "write"       // write N: a burst of N records now
	VerbSet        Verb = "set"         // set KEY VALUE: one write
	VerbDel        Verb = "del"         // del KEY
	VerbFreeze     Verb = "freeze"      // freeze: stop world time
	VerbUnfreeze   Verb = "unfreeze"    // unfreeze
	VerbSpeed      Verb = "speed"       // speed X: world clock factor (0.25, 1, 4)
	VerbWALKeep    Verb = "wal-keep"    // wal-keep SIZE: bytes retained behind the end
	VerbSlots      Verb = "slots"       // slots on|off
	VerbCheckpoint Verb = "checkpoint"  // checkpoint: on the leader (CHECKPOINT)
	VerbPromote    Verb = "promote"     // promote F: make F the leader (pg_promote)
	VerbFailover   Verb = "failover"    // failover: promote the follower with the highest flush LSN
	VerbRead       Verb = "read"        // read NODE [KEY] [wait]: read a key on the leader or a follower (reads.go)
	VerbProbe      Verb = "probe"       // probe ryw F | probe monotonic F1 F2 [KEY]: show a read anomaly (reads.go)
)

// Command is one parsed control action. Only the fields its verb uses are
// set; String gives the canonical text form.
type Command struct {
	Verb     Verb
	Follower string        // follower name, or "all"
	Dur      time.Duration // latency, apply-delay, flush-delay
	Jitter   time.Duration // latency
	N        int64         // bandwidth (bytes/s), rate, write count, sync N, wal-keep bytes
	LSN      wal.LSN       // corrupt or drop at this LSN (0 = next frame)
	Way      Way           // cut: one way only (WayTo, WayFrom), or both (WayBoth)
	On       bool          // slice, slots; restart leader primary
	Mode     SyncMode      // sync
	Factor   float64       // speed
	Key      string        // set, del; read and probe monotonic ("" = the last key written)
	Value    string        // set
	Wait     bool          // read: wait for the client's last commit LSN first
	Probe    Probe         // probe: which anomaly
	Other    string        // probe monotonic: the second node read
}

// Way is the direction a one-way cut loses, seen from the follower.
type Way string

// The ways a link can be cut.
const (
	WayBoth Way = ""     // both ways: the sockets are closed and reconnects refused
	WayTo   Way = "to"   // the leader's frames to the follower are lost; the connection stays up
	WayFrom Way = "from" // the follower's frames to the leader are lost; the connection stays up
)

// Verbs lists every verb with its usage, for help and the palette.
var Verbs = []struct {
	Verb  Verb
	Usage string
	Help  string
}{
	{VerbPause, "pause F|all", "pause replay on a follower"},
	{VerbResume, "resume F|all", "resume replay"},
	{VerbCut, "cut F|all [to|from]", "cut the link (close sockets, refuse reconnects); to or from: lose only the frames to or from the follower"},
	{VerbRestore, "restore F|all", "restore a cut link"},
	{VerbLatency, "latency F|all DUR [JITTER]", "one-way link latency, e.g. 300ms"},
	{VerbBandwidth, "bandwidth F|all SIZE|off", "link bandwidth per second, e.g. 64KiB"},
	{VerbCorrupt, "corrupt F [LSN]", "flip a bit in the next data frame"},
	{VerbDrop, "drop F [LSN]", "lose the next data frame (or the one at LSN) on the way"},
	{VerbSlice, "slice F|all on|off", "forward in small random pieces"},
	{VerbCrash, "crash F|leader", "kill a follower or the leader, losing its unflushed tail"},
	{VerbRestart, "restart F|leader [primary]", "restart a crashed node (recovery); an old leader rejoins as a follower after a rewind, or with primary runs fenced on its old timeline"},
	{VerbBackup, "backup F", "take a base backup from the leader"},
	{VerbApplyDelay, "apply-delay F|all DUR", "replay cost per record"},
	{VerbFlushDelay, "flush-delay F|all DUR", "extra cost per fsync"},
	{VerbAdd, "add", "add a follower"},
	{VerbRemove, "remove F", "remove a follower"},
	{VerbSync, "sync MODE [N]", "synchronous_commit: off local remote_write on remote_apply, ANY N"},
	{VerbRate, "rate N", "workload records per second"},
	{VerbWrite, "write N", "write a burst of N records"},
	{VerbSet, "set KEY VALUE", "write one key"},
	{VerbDel, "del KEY", "delete one key"},
	{VerbFreeze, "freeze", "stop world time"},
	{VerbUnfreeze, "unfreeze", "restart world time"},
	{VerbSpeed, "speed X", "world clock speed factor"},
	{VerbWALKeep, "wal-keep SIZE", "WAL kept behind the end (wal_keep_size)"},
	{VerbSlots, "slots on|off", "replication slots pin WAL for each follower"},
	{VerbCheckpoint, "checkpoint", "a checkpoint on the leader (removes WAL no longer kept)"},
	{VerbPromote, "promote F", "promote a follower to leader on a new timeline"},
	{VerbFailover, "failover", "the leader is down: promote the follower with the highest flush LSN"},
	{VerbRead, "read NODE [KEY] [wait]", "read a key on leader (or primary) or a follower (default: the last key written); wait: first wait until it has replayed your last commit"},
	{VerbProbe, "probe ryw F | probe monotonic F1 F2 [KEY]", "read-your-writes: write on the leader, read at once on F; monotonic reads: read on F1, then on F2"},
}

// ErrSyntax wraps every parse error.
var ErrSyntax = errors.New("bad command")

// ParseError says which word of a command was wrong and what was expected.
type ParseError struct {
	Column int    // 1-based column of the offending word
	Msg    string // what was expected
}

func (e *ParseError) Error() string { return fmt.Sprintf("column %d: %s", e.Column, e.Msg) }
func (e *ParseError) Unwrap() error { return ErrSyntax }

// Word is one word of a command line, or of a scenario line.
type Word struct {
	Text   string // the word, its quotes and escapes removed
	Col    int    // 1-based byte column where it (or its opening quote) starts
	End    int    // 0-based byte offset just past it (its closing quote included)
	Quoted bool   // it was a double-quoted string
}

// SplitWords splits line into words separated by spaces or tabs. A
// double-quoted string is one word, in which a backslash takes the next
// byte literally (\" and \\); its closing quote ends the word, even with
// text right after it. With comments, a # at the start of a word (outside
// quotes) begins a comment that runs to the end of the line. An unclosed
// quote is a *ParseError at the quote, returned with the words before it.
func SplitWords(line string, comments bool) ([]Word, error) {
	var words []Word
	i := 0
	for i < len(line) {
		for i < len(line) && (line[i] == ' ' || line[i] == '\t') {
			i++
		}
		if i >= len(line) || comments && line[i] == '#' {
			break
		}
		start := i
		if line[i] == '"' {
			j := i + 1
			var b strings.Builder
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' && j+1 < len(line) {
					j++
				}
				b.WriteByte(line[j])
				j++
			}
			if j >= len(line) {
				return words, &ParseError{start + 1, "closing quote"}
			}
			i = j + 1
			words = append(words, Word{Text: b.String(), Col: start + 1, End: i, Quoted: true})
			continue
		}
		for i < len(line) && line[i] != ' ' && line[i] != '\t' {
			i++
		}
		words = append(words, Word{Text: line[start:i], Col: start + 1, End: i})
	}
	return words, nil
}

// ParseCommand parses one command line. Follower names are normalised
// ("2" becomes "follower-2") but not checked against the running cluster.
func ParseCommand(line string) (Command, error) {
	words, err := SplitWords(line, false)
	if err != nil {
		return Command{}, err
	}
	if len(words) == 0 {
		return Command{}, &ParseError{1, "a command (try: pause, cut, latency, sync, write, ...)"}
	}
	p := parser{words: words, end: len(line) + 1}
	c := Command{Verb: Verb(strings.ToLower(words[0].Text))}
	p.i = 1
	switch c.Verb {
	case VerbPause, VerbResume, VerbRestore:
		c.Follower, err = p.follower(true)
	case VerbCut:
		if c.Follower, err = p.follower(true); err == nil && p.more() {
			w := p.next()
			switch Way(strings.ToLower(w.Text)) {
			case WayTo:
				c.Way = WayTo
			case WayFrom:
				c.Way = WayFrom
			default:
				err = &ParseError{w.Col, "to or from (one way only), or the end of the command"}
			}
		}
	case VerbCrash, VerbRestart:
		if p.more() && strings.EqualFold(p.peek(), LeaderName) {
			p.next()
			c.Follower = LeaderName
			if c.Verb == VerbRestart && p.more() {
				w := p.next()
				if !strings.EqualFold(w.Text, "primary") {
					err = &ParseError{w.Col, "primary (start it as a primary on its old timeline), or the end of the command"}
				}
				c.On = true
			}
			break
		}
		c.Follower, err = p.follower(false)
	case VerbBackup, VerbRemove, VerbPromote:
		c.Follower, err = p.follower(false)
	case VerbLatency:
		if c.Follower, err = p.follower(true); err == nil {
			if c.Dur, err = p.duration(); err == nil && p.more() {
				c.Jitter, err = p.duration()
			}
		}
	case VerbApplyDelay, VerbFlushDelay:
		if c.Follower, err = p.follower(true); err == nil {
			c.Dur, err = p.duration()
		}
	case VerbBandwidth:
		if c.Follower, err = p.follower(true); err == nil {
			if p.more() && strings.EqualFold(p.peek(), "off") {
				p.i++
			} else {
				c.N, err = p.size()
			}
		}
	case VerbCorrupt, VerbDrop:
		if c.Follower, err = p.follower(false); err == nil && p.more() {
			w := p.next()
			if c.LSN, err = wal.ParseLSN(w.Text); err != nil {
				err = &ParseError{w.Col, "an LSN like 0/1A2B"}
			}
		}
	case VerbSlice:
		if c.Follower, err = p.follower(true); err == nil {
			c.On, err = p.onOff()
		}
	case VerbSlots:
		c.On, err = p.onOff()
	case VerbAdd, VerbFreeze, VerbUnfreeze, VerbCheckpoint, VerbFailover:
	case VerbSync:
		var w Word
		if w, err = p.want("a sync mode (off, local, remote_write, on, remote_apply)"); err != nil {
			break
		}
		if c.Mode, err = ParseSyncMode(strings.ToLower(w.Text)); err != nil {
			err = &ParseError{w.Col, err.Error()}
			break
		}
		c.N = 1
		if p.more() {
			if strings.EqualFold(p.peek(), "any") {
				p.i++
			}
			c.N, err = p.count(1)
		}
	case VerbRate:
		c.N, err = p.count(0)
	case VerbWrite:
		c.N, err = p.count(1)
	case VerbSet, VerbDel:
		var w Word
		if w, err = p.want("a key"); err != nil {
			break
		}
		c.Key = w.Text
		if c.Verb == VerbSet {
			if w, err = p.want("a value"); err == nil {
				c.Value = w.Text
			}
		}
	case VerbSpeed:
		var w Word
		if w, err = p.want("a speed factor like 0.5 or 2"); err != nil {
			break
		}
		f, perr := strconv.ParseFloat(strings.TrimSuffix(w.Text, "x"), 64)
		if perr != nil || f < 1.0/64 || f > 64 {
			err = &ParseError{w.Col, "a speed factor between 0.02 and 64"}
		}
		c.Factor = f
	case VerbWALKeep:
		c.N, err = p.size()
	case VerbRead:
		err = p.read(&c)
	case VerbProbe:
		err = p.probe(&c)
	default:
		return Command{}, &ParseError{words[0].Col, fmt.Sprintf("a command, not %q (try: pause, cut, latency, sync, write, ...)", words[0].Text)}
	}
	if err != nil {
		return Command{}, err
	}
	if p.more() {
		w := p.next()
		return Command{}, &ParseError{w.Col, fmt.Sprintf("end of %s command, not %q", c.Verb, w.Text)}
	}
	return c, nil
}

type parser struct {
	words []Word
	i     int
	end   int // column just past the line
}

func (p *parser) more() bool   { return p.i < len(p.words) }
func (p *parser) peek() string { return p.words[p.i].Text }
func (p *parser) next() Word   { w := p.words[p.i]; p.i++; return w }

// want returns the next word, or a ParseError saying what was expected.
func (p *parser) want(what string) (Word, error) {
	if !p.more() {
		return Word{}, &ParseError{p.end, what}
	}
	return p.next(), nil
}

func (p *parser) follower(allowAll bool) (string, error) {
	what := "a follower (follower-2 or 2)"
	if allowAll {
		what = "a follower (follower-2, 2 or all)"
	}
	w, err := p.want(what)
	if err != nil {
		return "", err
	}
	s := strings.ToLower(w.Text)
	if s == "all" {
		if !allowAll {
			return "", &ParseError{w.Col, "one follower, not all"}
		}
		return s, nil
	}
	if i, ok := FollowerIndex(s); ok {
		return FollowerName(i), nil
	}
	if s == LeaderName {
		// The old leader, rejoined as a follower after a failover.
		return s, nil
	}
	return "", &ParseError{w.Col, what}
}

func (p *parser) duration() (time.Duration, error) {
	w, err := p.want("a duration like 300ms or 2s")
	if err != nil {
		return 0, err
	}
	s := w.Text
	if s == "0" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d > time.Hour {
		return 0, &ParseError{w.Col, "a duration like 300ms or 2s (0 to 1h)"}
	}
	return d, nil
}

func (p *parser) count(minimum int64) (int64, error) {
	w, err := p.want("a number")
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseInt(w.Text, 10, 64)
	if err != nil || n < minimum || n > 10_000_000 {
		return 0, &ParseError{w.Col, fmt.Sprintf("a whole number from %d to 10000000", minimum)}
	}
	return n, nil
}

func (p *parser) size() (int64, error) {
	w, err := p.want("a size like 64KiB or 1MiB")
	if err != nil {
		return 0, err
	}
	n, err := ParseSize(w.Text)
	if err != nil {
		return 0, &ParseError{w.Col, "a size like 64KiB, 1MiB or 4096"}
	}
	return n, nil
}

func (p *parser) onOff() (bool, error) {
	w, err := p.want("on or off")
	if err != nil {
		return false, err
	}
	switch strings.ToLower(w.Text) {
	case "on", "true", "yes":
		return true, nil
	case "off", "false", "no":
		return false, nil
	}
	return false, &ParseError{w.Col, "on or off"}
}

// FollowerName is the name of the follower with the given 1-based index.
func FollowerName(i int) string { return fmt.Sprintf("follower-%d", i) }

// FollowerIndex reads a follower's name, follower-2 or just 2 (in any
// case), as its 1-based index; ok is false for anything else.
// FollowerName(i) is the name normalised.
func FollowerIndex(s string) (i int, ok bool) {
	n, _ := strings.CutPrefix(strings.ToLower(s), "follower-")
	i, err := strconv.Atoi(n)
	return i, err == nil && i > 0
}

// ParseSize reads a byte count: 4096, 64KiB, 64KB, 1MiB, 2GiB (binary units
// either way). Negative sizes are refused.
func ParseSize(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"gib", 1 << 30}, {"mib", 1 << 20}, {"kib", 1 << 10}, {"gb", 1 << 30}, {"mb", 1 << 20}, {"kb", 1 << 10}, {"g", 1 << 30}, {"m", 1 << 20}, {"k", 1 << 10}, {"b", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(t, 64)
	if err != nil || !(n >= 0) || n*float64(mult) > 1<<50 { // !(n >= 0): NaN too
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(n * float64(mult)), nil
}

// FormatSize prints a byte count in binary units: 512B, 64KiB, 1.5MiB.
func FormatSize(n int64) string {
	switch {
	case n < 1<<10:
		return fmt.Sprintf("%dB", n)
	case n < 1<<20:
		return trimFloat(float64(n)/(1<<10)) + "KiB"
	case n < 1<<30:
		return trimFloat(float64(n)/(1<<20)) + "MiB"
	}
	return trimFloat(float64(n)/(1<<30)) + "GiB"
}

func trimFloat(f float64) string {
	s := strconv.FormatFloat(f, 'f', 1, 64)
	return strings.TrimSuffix(s, ".0")
}

func durText(d time.Duration) string {
	if d == 0 {
		return "0"
	}
	return d.String()
}

func onOffText(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// quoteIfNeeded quotes a word the way SplitWords reads it back: inside
// double quotes a backslash takes the next byte literally. Words that are
// empty, hold spaces, quotes or backslashes, or start with # (a comment in
// scenario files) are quoted.
func quoteIfNeeded(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\"\\") && s[0] != '#' {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		if s[i] == '"' || s[i] == '\\' {
			b.WriteByte('\\')
		}
		b.WriteByte(s[i])
	}
	b.WriteByte('"')
	return b.String()
}

// String is the canonical text form; ParseCommand(c.String()) == c.
func (c Command) String() string {
	switch c.Verb {
	case VerbCut:
		if c.Way != WayBoth {
			return fmt.Sprintf("cut %s %s", c.Follower, c.Way)
		}
		return "cut " + c.Follower
	case VerbRestart:
		if c.On {
			return fmt.Sprintf("restart %s primary", c.Follower)
		}
		return "restart " + c.Follower
	case VerbPause, VerbResume, VerbRestore, VerbCrash, VerbBackup, VerbRemove, VerbPromote:
		return fmt.Sprintf("%s %s", c.Verb, c.Follower)
	case VerbLatency:
		if c.Jitter > 0 {
			return fmt.Sprintf("latency %s %s %s", c.Follower, durText(c.Dur), durText(c.Jitter))
		}
		return fmt.Sprintf("latency %s %s", c.Follower, durText(c.Dur))
	case VerbApplyDelay, VerbFlushDelay:
		return fmt.Sprintf("%s %s %s", c.Verb, c.Follower, durText(c.Dur))
	case VerbBandwidth:
		if c.N == 0 {
			return fmt.Sprintf("bandwidth %s off", c.Follower)
		}
		return fmt.Sprintf("bandwidth %s %s", c.Follower, FormatSize(c.N))
	case VerbCorrupt, VerbDrop:
		if c.LSN != 0 {
			return fmt.Sprintf("%s %s %s", c.Verb, c.Follower, c.LSN)
		}
		return fmt.Sprintf("%s %s", c.Verb, c.Follower)
	case VerbSlice:
		return fmt.Sprintf("slice %s %s", c.Follower, onOffText(c.On))
	case VerbSlots:
		return "slots " + onOffText(c.On)
	case VerbSync:
		if c.Mode <= SyncLocal {
			return "sync " + c.Mode.String()
		}
		return fmt.Sprintf("sync %s %d", c.Mode, c.N)
	case VerbRate, VerbWrite:
		return fmt.Sprintf("%s %d", c.Verb, c.N)
	case VerbSet:
		return fmt.Sprintf("set %s %s", quoteIfNeeded(c.Key), quoteIfNeeded(c.Value))
	case VerbDel:
		return "del " + quoteIfNeeded(c.Key)
	case VerbSpeed:
		return "speed " + strconv.FormatFloat(c.Factor, 'g', -1, 64)
	case VerbWALKeep:
		return "wal-keep " + FormatSize(c.N)
	case VerbRead, VerbProbe:
		return readString(c)
	}
	return string(c.Verb)
}

// Controller is what the UI and the scenario runner need from a cluster.
// Tests implement it with synthetic snapshots.
type Controller interface {
	// Snapshot returns the current state with the events after sinceEvent.
	Snapshot(sinceEvent uint64) Snapshot
	// Do carries out one command. Errors are for a person to read.
	Do(Command) error
}
