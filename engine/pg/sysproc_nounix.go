//go:build !unix

package pg

import (
	"errors"
	"syscall"
)

// localSupported refuses: a local cluster lives on Unix sockets, as the
// postgres user, in process groups, none of which this system has. Watching
// a running cluster works everywhere.
func localSupported() error {
	return errors.New("pg: a local cluster (walship pg demo) runs on Linux and other Unix systems only; walship pg watch works here")
}

func serverProcAttr(*serverUser) *syscall.SysProcAttr { return nil }
func reaperProcAttr() *syscall.SysProcAttr            { return nil }
func quitServer(int)                                  {}
func killGroup(int)                                   {}
