package cli

import (
	"fmt"
	"io"
	"strings"

	"charm.land/fang/v2"
)

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
	if isUsageError(err) {
		fmt.Fprintln(w, "  Try --help for usage.")
		fmt.Fprintln(w)
	}
}

// isUsageError reports an error cobra raises for a bad command line (as
// fang detects them).
func isUsageError(err error) bool {
	s := err.Error()
	for _, prefix := range []string{
		"flag needs an argument:",
		"unknown flag:",
		"unknown shorthand flag:",
		"unknown command",
		"invalid argument",
	} {
		if strings.HasPrefix(s, prefix) {
			return true
		}
	}
	return false
}
