package cluster

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
		case (e.Name() == ship.SnapshotFile || e.Name() == ship.SnapshotFile+".tmp") && e.Type().IsRegular():
		default:
			return foreign(p)
		}
	}
	return nil
}
