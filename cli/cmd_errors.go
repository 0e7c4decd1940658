package cli

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"charm.land/fang/v2"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"walship/scenario"
)

// Exit statuses, as the README and the man page list them.
const (
	exitOK     = 0
	exitFailed = 1 // a check failed (an expect, a divergence), or the run could not finish
	exitUsage  = 2 // a bad command line or scenario file
	// An interrupt exits with 128 plus the signal's number, as a shell
	// reports a process a signal ended: 130 for SIGINT (ctrl+c), 129 for
	// SIGHUP, 143 for SIGTERM.
	exitSignalBase = 128
)

// usageError is a mistake in the command line or in a scenario file:
// walship exits with exitUsage and suggests --help.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef is a usageError with a message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// badFlag is the one form every complaint about a flag's value takes: the
// flag, the value as given, and what the flag wants.
func badFlag(name string, value any, want string) error {
	return usagef("--%s %q: want %s", name, fmt.Sprint(value), want)
}

// flagError is cobra's FlagErrorFunc: a value the flag's type cannot hold
// is reported by badFlag like every other bad value; any other parse
// error (an unknown flag, a missing value) keeps pflag's words. All are
// usage errors.
func flagError(_ *cobra.Command, err error) error {
	var bad *pflag.InvalidValueError
	if errors.As(err, &bad) {
		f := bad.GetFlag()
		return badFlag(f.Name, bad.GetValue(), wantType(f.Value.Type()))
	}
	return usageError{err}
}

// wantType says in words what a flag of a pflag type takes.
func wantType(typ string) string {
	switch typ {
	case "int", "int64":
		return "a whole number"
	case "float64":
		return "a number"
	case "duration":
		return "a duration like 300ms or 2s"
	case "bool":
		return "true or false"
	}
	return "a " + typ
}

// noArgs is cobra.NoArgs as a usage error. The root has subcommands, so a
// stray word there is most likely a mistyped one: it says which were meant.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, which SuggestionsFor does not apply
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// exitStatus maps the error a command returned to walship's exit status.
// An interrupt is told apart by the caller, which saw the signal.
func exitStatus(err error) int {
	var usage usageError
	var child childExit
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &child):
		return child.code
	case errors.As(err, &usage), errors.Is(err, scenario.ErrSyntax):
		return exitUsage
	}
	return exitFailed
}

// printError is fang's error handler without its text transform. fang
// title-cases the first word of the message and wraps it at the terminal
// width, even into a pipe, which turned "/tmp/data/follower-1 is ..." into
// "/Tmp/Data/Follower-1 is ..." split over two lines, and "--followers"
// into "--Followers": our errors name files, offsets and flags, and must
// name them exactly. The header keeps fang's style.
func printError(w io.Writer, styles fang.Styles, err error) {
	fmt.Fprintln(w, styles.ErrorHeader.String())
	for _, line := range strings.Split(err.Error(), "\n") {
		fmt.Fprintln(w, "  "+line)
	}
	fmt.Fprintln(w)
	if exitStatus(err) == exitUsage {
		fmt.Fprintln(w, "  Try --help for usage.")
		fmt.Fprintln(w)
	}
}
