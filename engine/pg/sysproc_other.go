//go:build !linux

package pg

import "syscall"

// serverProcAttr runs a server program as cred (nil: as ourselves) in its
// own process group. Without Linux's parent-death signal, only the reaper
// stops the servers should walship be killed.
func serverProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true}
}
