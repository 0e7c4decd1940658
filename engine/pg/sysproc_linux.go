package pg

import "syscall"

// serverProcAttr runs a server program as cred (nil: as ourselves), in
// its own process group (a Ctrl+C meant for walship does not reach the
// servers, which walship stops itself), and has the kernel send it
// SIGQUIT, PostgreSQL's immediate shutdown, when walship dies, however it
// dies.
func serverProcAttr(cred *syscall.Credential) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Credential: cred, Setpgid: true, Pdeathsig: syscall.SIGQUIT}
}
