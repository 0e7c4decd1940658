package replica

import "fmt"

// SyncMode is PostgreSQL's synchronous_commit: how far a commit must get
// before the client is told it is committed.
type SyncMode int

// The synchronous_commit settings, weakest first.
const (
	SyncOff         SyncMode = iota // don't wait, not even for the local fsync
	SyncLocal                       // wait for the leader's own fsync
	SyncRemoteWrite                 // and for n followers to have written it
	SyncOn                          // and for n followers to have fsynced it (remote flush)
	SyncRemoteApply                 // and for n followers to have replayed it
)

var syncNames = []string{"off", "local", "remote_write", "on", "remote_apply"}

func (m SyncMode) String() string {
	if m < 0 || int(m) >= len(syncNames) {
		return fmt.Sprintf("sync(%d)", int(m))
	}
	return syncNames[m]
}

// ParseSyncMode accepts the names PostgreSQL uses.
func ParseSyncMode(s string) (SyncMode, error) {
	for i, n := range syncNames {
		if s == n {
			return SyncMode(i), nil
		}
	}
	return 0, fmt.Errorf("unknown sync mode %q (want off, local, remote_write, on or remote_apply)", s)
}

// SyncRule is synchronous_commit with synchronous_standby_names = ANY N (*).
type SyncRule struct {
	Mode SyncMode
	N    int // followers that must confirm; ignored for off and local
}

func (r SyncRule) String() string {
	if r.Mode <= SyncLocal {
		return r.Mode.String()
	}
	return fmt.Sprintf("%s ANY %d", r.Mode, r.N)
}

// Remote reports whether the rule waits for followers.
func (r SyncRule) Remote() bool { return r.Mode > SyncLocal && r.N > 0 }

// position names what a remote mode waits for, as a person says it.
func (m SyncMode) position() string {
	switch m {
	case SyncRemoteWrite:
		return "write"
	case SyncOn:
		return "flush"
	}
	return "replay"
}
