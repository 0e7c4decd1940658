package ship

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"walship/engine/kv"
	"walship/engine/wal"
)

// The leader's directory holds its WAL in WALDir and its last checkpoint
// in CheckpointFile: the store consistent at an LSN, in the image file
// format (see saveImageFile), written like a base backup (write, fsync,
// rename, fsync the directory).
const CheckpointFile = "checkpoint.snap"

// errStopped ends a wait because the leader is closing.
var errStopped = errors.New("ship: leader is stopping")

// openLeaderLog opens the leader's WAL and rebuilds its store from its
// files: the last checkpoint, if any, then the WAL from the checkpoint's
// LSN to the end. It returns the log, what its recovery found, the store,
// the checkpoint's LSN (0 without one) and how many records it replayed.
// WAL the store needs that is not there stops it, naming the files, and
// changes nothing: WAL that ends before the checkpoint (a cut there is
// damage, not a torn tail), a checkpoint before the retained WAL, retained
// WAL that does not start at 0 with no checkpoint.
func openLeaderLog(cfg LeaderConfig) (*wal.Log, wal.Recovery, *kv.Store, wal.LSN, int, error) {
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, wal.Recovery{}, nil, 0, 0, err
	}
	path := filepath.Join(cfg.Dir, CheckpointFile)
	walDir := filepath.Join(cfg.Dir, WALDir)
	store, lsn, err := LoadImageFile(path)
	if err != nil {
		return nil, wal.Recovery{}, nil, 0, 0, err
	}
	// Senders read up to the leader's flush, which trails its writes by
	// an fsync: keep enough in memory that they seldom read the files.
	log, rec, err := wal.Open(wal.Options{Dir: walDir, SegmentSize: cfg.SegmentSize, NoSync: cfg.NoSync, Recent: leaderRecent, MustReach: lsn})
	if err != nil {
		if store != nil {
			err = fmt.Errorf("%w (the checkpoint %s is at %s)", err, path, lsn)
		}
		return nil, rec, nil, 0, 0, err
	}
	switch {
	case store == nil && log.Start() > 0:
		err = fmt.Errorf("%w: %s starts at %s, but there is no checkpoint %s: the store's state before that LSN is lost",
			wal.ErrCorrupt, walDir, log.Start(), path)
	case store == nil:
		store = kv.New()
	case lsn < log.Start():
		err = fmt.Errorf("%w: checkpoint %s is at %s, but %s starts at %s: the WAL in between is missing",
			wal.ErrCorrupt, path, lsn, walDir, log.Start())
	}
	n := 0
	if err == nil {
		if n, err = replayCount(log, store, lsn, log.End()); err != nil {
			err = fmt.Errorf("replaying the leader's WAL from %s: %w", lsn, err)
		}
	}
	if err != nil {
		log.Close()
		return nil, rec, nil, 0, 0, err
	}
	return log, rec, store, lsn, n, nil
}

// ReplayLog applies the records of log in [from, to) to store.
func ReplayLog(log *wal.Log, store *kv.Store, from, to wal.LSN) error {
	_, err := replayCount(log, store, from, to)
	return err
}

// replayCount is ReplayLog, also saying how many records it applied.
func replayCount(log *wal.Log, store *kv.Store, from, to wal.LSN) (int, error) {
	rd, err := log.NewReader(from)
	if err != nil {
		return 0, err
	}
	defer rd.Close()
	n := 0
	var recs []wal.Record
	for {
		_, recs, err = rd.Run(to, 1<<20, recs[:0])
		if err != nil {
			if err == io.EOF {
				return n, nil
			}
			return n, err
		}
		store.ApplyBatch(recs) // decoded and checked by Run
		n += len(recs)
	}
}

// recoveryText says what a node's recovery found, for its recovery event.
func recoveryText(log *wal.Log, rec wal.Recovery) string {
	if rec.Segments == 0 && rec.Records == 0 && !rec.Truncated {
		return "a new, empty WAL: nothing to recover"
	}
	text := fmt.Sprintf("recovered WAL %s..%s: %d records in %d segment(s)", log.Start(), log.End(), rec.Records, rec.Segments)
	if rec.Truncated {
		text += fmt.Sprintf("; cut a torn tail of %d bytes at %s in %s (%s)", rec.TruncatedBytes, rec.TruncatedAt, rec.File, rec.Reason)
	}
	return text
}

// checkpoint writes the store, consistent at the log's end, to the
// checkpoint file once the WAL is durable up to that LSN (a checkpoint
// must never be ahead of the WAL a crash keeps), and returns the LSN.
// ckptMu is held.
func (l *Leader) checkpoint() (wal.LSN, error) {
	data, lsn := l.StoreImage()
	if err := l.waitFlushed(lsn); err != nil {
		return 0, err
	}
	if err := saveImageFile(filepath.Join(l.cfg.Dir, CheckpointFile), data, lsn, l.cfg.NoSync); err != nil {
		return 0, err
	}
	l.ckptLSN = lsn
	return lsn, nil
}

// waitFlushed waits until the leader's WAL is durable up to lsn.
func (l *Leader) waitFlushed(lsn wal.LSN) error {
	for {
		ch := l.flushed.wait()
		if l.log.Flushed() >= lsn {
			return nil
		}
		if err := l.log.Err(); err != nil {
			return err
		}
		kick(l.flushKick)
		select {
		case <-ch:
		case <-l.stop:
			return errStopped
		}
	}
}
