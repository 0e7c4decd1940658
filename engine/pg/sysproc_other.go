//go:build unix && !linux

package pg

import "syscall"

// serverProcAttr runs a server program as u (nil: as ourselves) in its
// own process group. Without Linux's parent-death signal, only the reaper
// stops the servers should walship be killed.
func serverProcAttr(u *serverUser) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: credential(u), Setpgid: true}
}
