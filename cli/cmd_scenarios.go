package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"walship/scenario"
)

// newScenariosCmd lists the built-in scenarios, one line each, and shows
// one's source.
func newScenariosCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "scenarios",
		Short: "List the built-in scenarios",
		Long: "List the built-in lessons. Play one with walship --scenario NAME, or check it\n" +
			"with no terminal with walship check --scenario NAME. A scenario file of your\n" +
			"own works the same way: pass its path instead of a name. walship scenarios\n" +
			"show NAME prints a lesson's file, to read or to start your own from.\n\n" +
			"The lessons for PostgreSQL, listed apart, play with walship pg demo --scenario\n" +
			"NAME and walship check --pg --scenario NAME.",
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, info := range scenario.BuiltinsFor(scenario.BackendEngine) {
				fmt.Fprintf(tw, "%s\t%s\n", info.Name, info.Summary)
			}
			fmt.Fprintf(tw, "\nOn PostgreSQL (walship pg demo --scenario NAME, walship check --pg):\n")
			for _, info := range scenario.BuiltinsFor(scenario.BackendPG) {
				fmt.Fprintf(tw, "%s\t%s\n", info.Name, info.Summary)
			}
			return tw.Flush()
		},
	}
	cmd.AddCommand(&cobra.Command{
		Use:     "show NAME",
		Short:   "Print a built-in scenario's source",
		Example: "  walship scenarios show crc > my-lesson.scn",
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 1 {
				return usagef("walship scenarios show takes one lesson name (see walship scenarios), not %d arguments", len(args))
			}
			return nil
		},
		ValidArgsFunction: func(_ *cobra.Command, args []string, _ string) ([]cobra.Completion, cobra.ShellCompDirective) {
			if len(args) > 0 {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, info := range scenario.Builtins() {
				out = append(out, cobra.CompletionWithDesc(info.Name, info.Summary))
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := scenario.BuiltinSource(args[0])
			if err != nil {
				return usageError{err}
			}
			_, err = cmd.OutOrStdout().Write(src)
			return err
		},
	})
	return cmd
}
