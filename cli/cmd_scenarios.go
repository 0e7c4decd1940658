package cli

import (
	"fmt"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"walship/scenario"
)

// newScenariosCmd lists the built-in scenarios, one line each.
func newScenariosCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "scenarios",
		Short: "List the built-in scenarios",
		Long: "List the built-in lessons. Play one with walship --scenario NAME, or check it\n" +
			"with no terminal with walship check --scenario NAME. A scenario file of your\n" +
			"own works the same way: pass its path instead of a name.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, info := range scenario.Builtins() {
				fmt.Fprintf(tw, "%s\t%s\n", info.Name, info.Summary)
			}
			return tw.Flush()
		},
	}
}
