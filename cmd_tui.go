package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// newTUICmd is the root command: the live terminal UI.
func newTUICmd() *cobra.Command {
	return &cobra.Command{
		Use:   "walship",
		Short: "Watch write-ahead-log replication happen, live in your terminal",
		Long: "walship runs a leader and several followers in one process, joined by real TCP\n" +
			"sockets on loopback, and draws every frame on the wire, every CRC failure and\n" +
			"each follower's received, flushed and replayed positions.",
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("the terminal UI is not built yet")
		},
	}
}
