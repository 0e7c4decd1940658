package ship

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"walship/engine/kv"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// RewindResult says what a rewind did.
type RewindResult struct {
	Plan     replica.RewindPlan
	Replayed int     // records replayed into the rebuilt store
	Cut      wal.LSN // where the WAL ended before the cut
	Keys     int     // keys in the rebuilt store
}

// Rewind takes a stopped node's directory (a follower's, or an old
// leader's) back to the fork LSN of the timeline whose history is
// history, as pg_rewind does: its WAL is cut at the fork, its store is
// rebuilt from its newest store image at or before the fork (a base
// backup or a checkpoint) and its WAL up to the fork, and saved as its
// base backup; a checkpoint past the fork is removed; the new history is
// saved. The node then starts as a follower streaming from the fork on
// the new timeline. When that cannot be done (replica.PlanRewind says
// why), nothing is changed and the plan says so: the node needs a base
// backup instead.
func Rewind(dir string, segmentSize int64, noSync bool, history replica.History, fork wal.LSN) (RewindResult, error) {
	var res RewindResult
	log, _, err := wal.Open(wal.Options{Dir: filepath.Join(dir, WALDir), SegmentSize: segmentSize, NoSync: noSync})
	if err != nil {
		return res, fmt.Errorf("ship: rewind %s: %w", dir, err)
	}
	closed := false
	defer func() {
		if !closed {
			log.Close()
		}
	}()
	res.Cut = log.End()
	// The newest image at or before the fork: a base backup, or an old
	// leader's checkpoint.
	var image *kv.Store
	var imageLSN wal.LSN
	for _, name := range []string{BaseBackupFile, CheckpointFile} {
		s, lsn, err := LoadImageFile(filepath.Join(dir, name))
		if err != nil {
			return res, fmt.Errorf("ship: rewind: %w", err)
		}
		if s != nil && lsn <= min(fork, log.End()) && (image == nil || lsn > imageLSN) {
			image, imageLSN = s, lsn
		} else if s != nil && image == nil && lsn > imageLSN {
			imageLSN = lsn // past the fork: the plan says it cannot be used
		}
	}
	res.Plan = replica.PlanRewind(fork, log.Start(), log.End(), image != nil || imageLSN > 0, imageLSN)
	if !res.Plan.Rewind {
		return res, nil
	}
	store := kv.New()
	from := wal.LSN(0)
	if res.Plan.UseImage {
		store, from = image, imageLSN
	}
	to := res.Plan.To
	if res.Replayed, err = replayCount(log, store, from, to); err != nil {
		return res, fmt.Errorf("ship: rewind: replaying %s..%s: %w", from, to, err)
	}
	res.Keys = store.Len()
	// Durable in this order, so a crash part-way leaves a directory a
	// rewind can be run on again: the rebuilt store at the fork, then the
	// cut WAL, then the checkpoint gone, then the new timeline.
	data, _ := store.Image()
	if err := saveImageFile(filepath.Join(dir, BaseBackupFile), data, to, noSync); err != nil {
		return res, err
	}
	closed = true
	if err := log.CloseAt(to); err != nil {
		return res, fmt.Errorf("ship: rewind: %w", err)
	}
	if err := os.Remove(filepath.Join(dir, CheckpointFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return res, fmt.Errorf("ship: rewind: %w", err)
	}
	if err := SaveHistory(dir, history, noSync); err != nil {
		return res, err
	}
	return res, nil
}
