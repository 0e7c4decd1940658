package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"

	"walship/engine/ship"
	"walship/engine/wal"
)

// clearFollowerDir empties a new follower's directory (a new follower
// starts empty), but only when everything in it is provably a walship
// follower's: a "wal" directory of segment files and a START file, and a
// base backup. Anything else — a file where the directory should be, a
// file of the user's inside — is refused and nothing is removed.
func clearFollowerDir(dir string) error {
	fi, err := os.Lstat(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("follower directory: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("%s is in the way of a follower directory and is not one; not removing it", dir)
	}
	if err := followerFiles(dir); err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clearing follower directory: %w", err)
	}
	return nil
}

// followerFiles checks that dir holds only what a follower writes.
func followerFiles(dir string) error {
	foreign := func(p string) error {
		return fmt.Errorf("%s is not a walship follower directory (it holds %s); not removing it", dir, p)
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("follower directory: %w", err)
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case e.Name() == ship.WALDir && e.IsDir():
			wents, err := os.ReadDir(p)
			if err != nil {
				return fmt.Errorf("follower directory: %w", err)
			}
			for _, w := range wents {
				if !w.Type().IsRegular() || !wal.IsLogFile(w.Name()) {
					return foreign(filepath.Join(p, w.Name()))
				}
			}
		case (e.Name() == ship.BaseBackupFile || e.Name() == ship.BaseBackupFile+".tmp") && e.Type().IsRegular():
		default:
			return foreign(p)
		}
	}
	return nil
}

// leaderDir is the leader's directory in a cluster's data directory; each
// follower's is named FollowerName(index).
const leaderDir = "leader"

// PrimaryFile, in a cluster's data directory, names the node that leads
// after a promotion (its directory's name); without it, the node in
// leaderDir leads.
const PrimaryFile = "PRIMARY"

// readPrimary returns the name of the node that leads in the cluster kept
// in dir: LeaderName without a PrimaryFile.
func readPrimary(dir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, PrimaryFile))
	if errors.Is(err, fs.ErrNotExist) {
		return LeaderName, nil
	}
	if err != nil {
		return "", err
	}
	name := strings.TrimSpace(string(b))
	if !validNodeName(name) {
		return "", fmt.Errorf("%s names %q, which is not a node of a walship cluster; not opened, nothing changed", filepath.Join(dir, PrimaryFile), name)
	}
	return name, nil
}

// DeposedFile, in a cluster's data directory, lists (one a line) the old
// primaries a promotion left down: a restart of the whole cluster leaves
// them down too, for restart leader to bring back.
const DeposedFile = "DEPOSED"

// readDeposed returns the names DeposedFile lists in dir.
func readDeposed(dir string) ([]string, error) {
	b, err := os.ReadFile(filepath.Join(dir, DeposedFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var names []string
	for _, name := range strings.Fields(string(b)) {
		if !validNodeName(name) {
			return nil, fmt.Errorf("%s names %q, which is not a node of a walship cluster; not opened, nothing changed", filepath.Join(dir, DeposedFile), name)
		}
		names = append(names, name)
	}
	return names, nil
}

// validNodeName reports whether name can name a node of a cluster: the
// original leader, or a follower by its canonical name.
func validNodeName(name string) bool {
	if name == LeaderName {
		return true
	}
	i, ok := FollowerIndex(name)
	return ok && i <= MaxFollowers && FollowerName(i) == name
}

// nodeDir is the directory of the node name in the cluster kept in dir.
func nodeDir(dir, name string) string {
	if name == LeaderName {
		return filepath.Join(dir, leaderDir)
	}
	return filepath.Join(dir, name)
}

// keptCluster looks in cfg.Dir for a cluster an earlier run kept. When
// there is one it returns the indexes of its follower directories, in
// order (0 for an old leader that a promotion made a follower), and the
// name of the node that leads, and sets cfg.SegmentSize to the size the
// directory was made with: another non-zero size is refused (unless
// cfg.AdoptSegmentSize), since WAL files cannot change their segment size.
func keptCluster(cfg *Config) ([]int, string, []string, error) {
	if cfg.Dir == "" {
		return nil, LeaderName, nil, nil
	}
	primary, err := readPrimary(cfg.Dir)
	if err != nil {
		return nil, "", nil, err
	}
	deposed, err := readDeposed(cfg.Dir)
	if err != nil {
		return nil, "", nil, err
	}
	idxs, err := keptNodes(cfg, primary)
	// A deposed old primary stays down.
	out := idxs[:0]
	for _, i := range idxs {
		if !slices.Contains(deposed, memberName(i)) {
			out = append(out, i)
		}
	}
	return out, primary, deposed, err
}

func keptNodes(cfg *Config, primary string) ([]int, error) {
	leader := nodeDir(cfg.Dir, primary)
	ctl, err := wal.ReadControl(filepath.Join(leader, ship.WALDir))
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		// (Something in the way of the leader's directory is the
		// leader's to report, creating it.)
		// A new cluster, unless the leader's WAL is where an older
		// walship kept it: refuse that rather than start beside it.
		if ents, err := os.ReadDir(leader); err == nil {
			for _, e := range ents {
				if wal.IsLogFile(e.Name()) {
					return nil, fmt.Errorf("%s holds WAL files (%s) in a layout an older walship wrote; not opened, nothing changed", leader, e.Name())
				}
			}
		}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if cfg.SegmentSize != 0 && cfg.SegmentSize != ctl.SegmentSize && !cfg.AdoptSegmentSize {
		return nil, fmt.Errorf("data directory %s was made with %s WAL segments, and a cluster's segment size cannot change (this run asks for %s)",
			cfg.Dir, FormatSize(ctl.SegmentSize), FormatSize(cfg.SegmentSize))
	}
	cfg.SegmentSize = ctl.SegmentSize
	ents, err := os.ReadDir(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	var idxs []int
	if primary != LeaderName {
		if fi, err := os.Stat(filepath.Join(cfg.Dir, leaderDir)); err == nil && fi.IsDir() {
			idxs = append(idxs, 0) // the old leader, a follower now
		}
	}
	for _, e := range ents {
		idx, ok := FollowerIndex(e.Name())
		if !ok || idx > MaxFollowers || FollowerName(idx) != e.Name() || e.Name() == primary {
			continue
		}
		if !e.IsDir() {
			return nil, fmt.Errorf("%s is in the way of a follower directory and is not one; not touching it", filepath.Join(cfg.Dir, e.Name()))
		}
		idxs = append(idxs, idx)
	}
	sort.Ints(idxs)
	return idxs, nil
}
