//go:build !unix

package cli

import (
	"os"
	"os/exec"
)

// giveLifeline gives none where a child cannot inherit a pipe by number:
// a killed guard's child is then left to run.
func giveLifeline(*exec.Cmd) (*os.File, error) { return nil, nil }

// lifeline: there is none.
func lifeline() *os.File { return nil }
