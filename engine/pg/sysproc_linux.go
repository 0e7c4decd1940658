package pg

import "syscall"

// serverProcAttr runs a server program as u (nil: as ourselves), in its
// own process group (a Ctrl+C meant for walship does not reach the
// servers, which walship stops itself), and has the kernel send it
// SIGQUIT, PostgreSQL's immediate shutdown, when walship dies, however it
// dies.
func serverProcAttr(u *serverUser) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: credential(u), Setpgid: true, Pdeathsig: syscall.SIGQUIT}
}
