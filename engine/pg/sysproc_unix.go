//go:build unix

package pg

import "syscall"

// localSupported: local clusters run on Unix systems.
func localSupported() error { return nil }

// credential is u as the exec package takes it.
func credential(u *serverUser) *syscall.Credential {
	if u == nil {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid}
}

// reaperProcAttr puts the reaper in a session of its own, out of reach of
// the terminal's signals.
func reaperProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }

// quitServer asks a postmaster for an immediate shutdown (SIGQUIT).
func quitServer(pid int) { syscall.Kill(pid, syscall.SIGQUIT) }

// killGroup kills a postmaster's process group: the postmaster and every
// backend it started.
func killGroup(pid int) { syscall.Kill(-pid, syscall.SIGKILL) }
