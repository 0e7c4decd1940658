// Package tui is walship's terminal UI: a Bubble Tea program that draws a
// cluster's snapshots (the leader on the left, each follower on the right,
// frames travelling along the link lanes between them, write / flush /
// replay bars on one shared scale, an event log and a status line) and
// turns keys, clicks and typed commands into cluster.Commands.
//
// The UI only reads cluster.Snapshot values and calls cluster.Controller,
// so it runs the same over the real in-process cluster and over the fakes
// in its tests. Rendering writes fixed-width rows into one strings.Builder
// with pre-rendered paints from package theme, so a whole frame costs well
// under a millisecond; the render tick runs at 30 fps only while something
// moves, and View is memoised between changes.
package tui

import (
	"context"
	"errors"
	"io"
	"os"
	"strings"

	tea "charm.land/bubbletea/v2"

	"walship/engine/cluster"
	"walship/scenario"
	"walship/theme"
)

// Options configure Run.
type Options struct {
	// Theme is a theme name (see theme.Names); "" and "auto" follow the
	// terminal's background.
	Theme string
	// Room starts in the presenter layout (z toggles it): fewer numbers,
	// taller bars, larger badges, for a room reading the screen from its
	// back.
	Room bool
	// Lesson is the scenario being played, or nil. While it is set the
	// caption, chapter, step and lesson keys (n, pgdn, ., pgup, N/P, r, C)
	// are shown.
	Lesson scenario.Lesson
	// Lessons are the lessons the picker (l) offers, and StartLesson
	// starts one by name over the same controller, ending the lesson
	// playing (it is called off the UI goroutine). Without both there is
	// no picker.
	Lessons     []scenario.Info
	StartLesson func(name string) (scenario.Lesson, error)
	// Hint shows once, for a few seconds at the start, that lessons exist
	// and which key picks one.
	Hint bool
	// Marker, when set, is called (off the UI goroutine) with a label at
	// each chapter and step of a lesson: a recording's markers.
	Marker func(label string)
	// Output receives the terminal output (nil: stdout). To record a
	// session, pass Tee(os.Stdout, recorder): a plain io.Writer that is not
	// a terminal loses the window size, resizes and colours.
	Output io.Writer
	// Input is the terminal input (nil: stdin).
	Input io.Reader
	// Context ends the program when done (nil: never). When it is set,
	// Bubble Tea's own SIGINT/SIGTERM handling is off: the caller turns
	// signals into the context's end.
	Context context.Context
	// Size, when both are positive, fixes the initial size instead of
	// asking the terminal (for tests and recordings).
	Width, Height int
}

// Run runs the UI over ctrl until the user quits. It uses the alternate
// screen and cell-motion mouse reporting.
func Run(ctrl cluster.Controller, opts Options) error {
	m, err := New(ctrl, opts)
	if err != nil {
		return err
	}
	var po []tea.ProgramOption
	if opts.Output != nil {
		po = append(po, tea.WithOutput(opts.Output))
	}
	if opts.Input != nil {
		po = append(po, tea.WithInput(opts.Input))
	}
	if opts.Context != nil {
		// Both at once deadlock: a SIGTERM's quit message waits forever
		// for an event loop the cancelled context has already stopped.
		po = append(po, tea.WithContext(opts.Context), tea.WithoutSignalHandler())
	}
	if opts.Width > 0 && opts.Height > 0 {
		po = append(po, tea.WithWindowSize(opts.Width, opts.Height))
	}
	if env, changed := colourEnviron(opts.Theme, os.Environ()); changed {
		po = append(po, tea.WithEnvironment(env))
	}
	final, err := tea.NewProgram(m, po...).Run()
	if fm, ok := final.(*Model); ok && err == nil && fm.fatal != "" {
		err = errors.New(fm.fatal)
	}
	return err
}

// Tee returns an output for Options.Output that writes to the terminal
// tty and also to rec (a recorder). It is still the terminal as far as
// Bubble Tea can tell (it has tty's file descriptor), so the size, live
// resizes and the colour profile keep working while the session is
// recorded. A write error from rec is returned after tty was written.
func Tee(tty *os.File, rec io.Writer) io.Writer {
	return &teeTerminal{tty: tty, rec: rec}
}

// teeTerminal is a terminal whose writes are copied to a recorder. It does
// not embed the file, so no other write path (WriteString, ReadFrom) can
// bypass the recorder.
type teeTerminal struct {
	tty *os.File
	rec io.Writer
}

func (t *teeTerminal) Read(p []byte) (int, error) { return t.tty.Read(p) }
func (t *teeTerminal) Close() error               { return nil } // the terminal is not ours to close
func (t *teeTerminal) Fd() uintptr                { return t.tty.Fd() }

func (t *teeTerminal) Write(p []byte) (int, error) {
	n, err := t.tty.Write(p)
	if err != nil {
		return n, err
	}
	if _, err := t.rec.Write(p[:n]); err != nil {
		return n, err
	}
	return n, nil
}

// colourEnviron is the environment Bubble Tea reads the terminal's colour
// support from. It turns every colour off when NO_COLOR is set, whatever
// the theme's styles say, so a theme the user named (any but auto and
// mono) would come out monochrome: for one, NO_COLOR is left out, and the
// theme is drawn as asked. changed is false when environ is fine as it is.
func colourEnviron(themeName string, environ []string) (env []string, changed bool) {
	if theme.IsAuto(themeName) {
		return environ, false
	}
	if th, err := theme.ByName(themeName); err != nil || th.Name == theme.Mono().Name {
		return environ, false
	}
	for _, kv := range environ {
		if strings.HasPrefix(kv, "NO_COLOR=") {
			changed = true
			continue
		}
		env = append(env, kv)
	}
	if !changed {
		return environ, false
	}
	return env, true
}
