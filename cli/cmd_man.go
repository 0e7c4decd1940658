package cli

import (
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	mcobra "github.com/muesli/mango-cobra"
	"github.com/muesli/roff"
	"github.com/spf13/cobra"

	"walship/tui"
)

// newManCmd prints walship's man page: the commands and flags from cobra,
// then KEYS (from the UI's real key bindings), ENVIRONMENT and EXIT
// STATUS. It is hidden, as fang's own is: walship man > walship.1.
func newManCmd() *cobra.Command {
	return &cobra.Command{
		Use:                   "man",
		Short:                 "Print the man page (walship man > walship.1)",
		Hidden:                true,
		DisableFlagsInUseLine: true,
		Args:                  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			page, err := manPage(cmd.Root())
			if err != nil {
				return err
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), page)
			return err
		},
	}
}

// manPage renders the page in roff.
func manPage(root *cobra.Command) (string, error) {
	page, err := mcobra.NewManPage(1, root)
	if err != nil {
		return "", err
	}
	page.WithLongDescription(unwrap(root.Long)).
		WithSection("Keys", keysText()).
		WithSection("Environment", environmentText).
		WithSection("Exit status", exitStatusText).
		WithSection("See also", "walship --help, walship COMMAND --help, walship scenarios, go doc walship/scenario")
	return page.Build(roff.NewDocument()), nil
}

// unwrap joins the lines of each paragraph of text written for a
// terminal: the roff writer starts a paragraph at every newline, and the
// man reader fills lines to its own width anyway.
func unwrap(text string) string {
	paras := strings.Split(strings.TrimSpace(text), "\n\n")
	for i, p := range paras {
		paras[i] = strings.Join(strings.Fields(p), " ")
	}
	return strings.Join(paras, "\n")
}

// keysText lists the UI's keys from its real bindings, so the page cannot
// drift from the help overlay.
func keysText() string {
	var b strings.Builder
	b.WriteString("In the terminal UI:\n")
	keys := tui.DefaultKeyMap()
	for _, group := range append(keys.FullHelp(), []key.Binding{keys.Suspend}) {
		for _, k := range group {
			h := k.Help()
			fmt.Fprintf(&b, "* %s: %s\n", h.Key, h.Desc)
		}
	}
	b.WriteString("The command palette (:) takes any command of the scenario language; " +
		"the chapter keys work while a lesson plays.")
	return b.String()
}

const environmentText = `* NO_COLOR: set to anything, walship draws in monochrome (the mono theme) unless --theme names a theme; every state is still spelled out in words.
* TERM: walship refuses to draw on TERM=dumb, a terminal that cannot move its cursor; walship check and walship bench need no terminal.
* GOGC: the Go garbage collector's target; walship uses 35 unless it is set.
* PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE (PG*): the usual libpq settings, read by walship pg when it connects to a real PostgreSQL cluster.`

const exitStatusText = `* 0: success: every check passed.
* 1: a check failed (an expect line, a follower that differs from the leader), or the run could not finish (a damaged data directory, a full disk).
* 2: usage: a bad flag or value, an unknown command, a scenario file with a syntax error or with no commands, a terminal walship cannot draw on.
* 130: interrupted by SIGINT (ctrl+c while walship starts, or in walship check); 129 for SIGHUP and 143 for SIGTERM. Temporary data is removed and the terminal restored first; a second signal exits at once. Inside the UI ctrl+c is a key, not a signal: it quits, as q does, with status 0.`
