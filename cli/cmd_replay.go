package cli

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"walship/engine/cluster"
	"walship/scenario"
	"walship/session"
	"walship/tui"
)

// replayOptions are walship replay's flags.
type replayOptions struct {
	speed float64
	theme string
	cast  string // asciicast to render instead of playing
	size  string // the cast's terminal size, WxH
}

func newReplayCmd() *cobra.Command {
	var o replayOptions
	cmd := &cobra.Command{
		Use:   "replay FILE",
		Short: "Play a session recorded with --record-session, or render it as an asciicast",
		Long: "walship replay plays a session recorded with walship --record-session FILE: the\n" +
			"snapshots the screen was drawn from, not the terminal's bytes, so it plays at\n" +
			"any terminal size and in any theme. space pauses it, ←/→ move a tenth of a\n" +
			"second (with shift a second), a click on the time strip jumps there, < and >\n" +
			"set the pace, and a recorded lesson's n, N/P and r jump between its steps.\n\n" +
			"With --cast it plays nothing: it renders the session to an asciicast v2 file\n" +
			"(asciinema play OUT.cast) at --size, with a marker at each chapter and step of\n" +
			"a recorded lesson. A damaged or cut-short file plays up to the damage, and\n" +
			"walship says where it stopped.",
		Example: "  walship --record-session class.walship     # record, then:\n" +
			"  walship replay class.walship\n" +
			"  walship replay class.walship --cast class.cast --size 100x30 --theme light",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("walship replay takes one session file (made with walship --record-session FILE), not %d arguments", len(args))
			}
			return nil
		},
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]cobra.Completion, cobra.ShellCompDirective) {
			return []cobra.Completion{"walship"}, cobra.ShellCompDirectiveFilterFileExt
		},
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd, args[0], o)
		},
	}
	f := cmd.Flags()
	f.Float64Var(&o.speed, "speed", 1, "playback pace: 2 plays twice as fast (1/64 to 64)")
	f.StringVar(&o.theme, "theme", "dark", "colour theme (NO_COLOR makes the default mono when playing in the terminal)")
	f.StringVar(&o.cast, "cast", "", "render the session to this asciicast v2 file instead of playing it")
	f.StringVar(&o.size, "size", "", "with --cast: the terminal size, WxH (default: the recording's, or 120x36)")
	registerCompletions(cmd)
	_ = cmd.RegisterFlagCompletionFunc("cast", completeExt("cast"))
	return cmd
}

func runReplay(cmd *cobra.Command, path string, o replayOptions) error {
	if o.speed < 1.0/64 || o.speed > 64 {
		return badFlag("speed", o.speed, "a pace from 1/64 to 64")
	}
	th, err := themeFlag(o.theme)
	if err != nil {
		return err
	}
	if o.size != "" && o.cast == "" {
		return usagef("--size goes with --cast: a replay in the terminal takes the terminal's size")
	}
	w, h, err := castSize(o.size)
	if err != nil {
		return err
	}
	rec, err := session.Open(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if o.cast != "" {
		if o.size == "" && rec.Meta.Width >= tui.MinWidth && rec.Meta.Height >= tui.MinHeight {
			w, h = rec.Meta.Width, rec.Meta.Height
		}
		f, err := os.Create(o.cast)
		if err != nil {
			return fmt.Errorf("--cast: %w", err)
		}
		bw := bufio.NewWriterSize(f, 1<<16)
		err = renderCast(bw, rec, w, h, th, o.speed)
		if ferr := bw.Flush(); err == nil && ferr != nil {
			err = ferr
		}
		if cerr := f.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return fmt.Errorf("--cast: %w", err)
		}
		if d := rec.Stopped; d != nil {
			fmt.Fprintf(cmd.ErrOrStderr(), "walship replay: %s: %v; the cast ends there\n", path, d)
		}
		return nil
	}
	if err := checkTerminal(", or render it with --cast"); err != nil {
		return err
	}
	if !cmd.Flags().Changed("theme") && os.Getenv("NO_COLOR") != "" {
		th = "mono" // as the live UI's auto: NO_COLOR changes only the default
	}
	r := session.NewReplay(rec)
	r.SetPace(o.speed)
	opts := tui.Options{Theme: th, Context: cmd.Context()}
	if r.HasLesson() {
		opts.Lesson = r
	}
	err = tui.Run(r, opts)
	if d := rec.Stopped; d != nil {
		fmt.Fprintf(cmd.ErrOrStderr(), "walship replay: %s: %v\n", path, d)
	}
	return err
}

// castSize reads --size: WxH, at least the UI's minimum; "" is 120x36.
func castSize(s string) (w, h int, err error) {
	if s == "" {
		return 120, 36, nil
	}
	ws, hs, ok := strings.Cut(strings.ToLower(s), "x")
	w, werr := strconv.Atoi(ws)
	h, herr := strconv.Atoi(hs)
	if !ok || werr != nil || herr != nil || w < tui.MinWidth || h < tui.MinHeight || w > 1000 || h > 1000 {
		return 0, 0, badFlag("size", s, fmt.Sprintf("WxH, at least %dx%d, like 100x30", tui.MinWidth, tui.MinHeight))
	}
	return w, h, nil
}

// castFPS is how many frames a second a rendered cast holds at most.
const castFPS = 30

// renderCast draws every snapshot of rec on a w x h screen and writes
// the frames to out as an asciicast, at the times they were recorded
// (divided by pace): each frame redraws only the rows that changed.
func renderCast(out io.Writer, rec *session.Recording, w, h int, themeName string, pace float64) error {
	start := time.Unix(0, rec.Meta.Started)
	clock := start
	title := "walship replay"
	if rec.Meta.Title != "" {
		title = "walship: " + rec.Meta.Title
	}
	cast := scenario.NewCastWriterClock(out, w, h, title, func() time.Time { return clock })
	scr, err := tui.NewScreen(w, h, themeName, func(label string) { cast.Marker(label) })
	if err != nil {
		return err
	}
	hist := rec.History
	var prev []string
	var seen uint64
	shown := time.Duration(-1)
	var buf []byte
	for i := range hist.Len() {
		wall := hist.Wall(i)
		clock = start.Add(time.Duration(float64(wall) / pace))
		s := hist.Snapshot(i)
		for _, e := range hist.Events(hist.LastEvent(i), cluster.EventRingSize) {
			if e.Seq > seen {
				s.Events = append(s.Events, e)
			}
		}
		seen = max(seen, hist.LastEvent(i))
		lines := scr.Show(clock, s, rec.LessonAt(wall))
		if i < hist.Len()-1 && shown >= 0 && wall-shown < time.Second/castFPS {
			continue
		}
		shown = wall
		buf = frameDiff(buf[:0], prev, lines)
		if len(buf) > 0 {
			if _, err := cast.Write(buf); err != nil {
				return err
			}
		}
		prev = lines
	}
	return cast.Close()
}

// frameDiff appends the bytes that turn a terminal showing prev into one
// showing cur: each changed row cleared and written in place (the first
// frame clears the screen and hides the cursor).
func frameDiff(b []byte, prev, cur []string) []byte {
	if prev == nil {
		b = append(b, "\x1b[?25l\x1b[H\x1b[2J"...)
	}
	for y, line := range cur {
		if y < len(prev) && prev[y] == line {
			continue
		}
		b = fmt.Appendf(b, "\x1b[%d;1H\x1b[2K", y+1)
		b = append(b, line...)
		b = append(b, "\x1b[0m"...)
	}
	return b
}
