package ship

import (
	"io"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// ---- flush ---------------------------------------------------------------

func (f *Follower) flushLoop() {
	for {
		select {
		case <-f.stop:
			return
		case <-f.flushKick:
		}
		for f.log.Written() > f.log.Flushed() {
			f.mu.Lock()
			delay := f.flushDelay
			f.mu.Unlock()
			if delay > 0 && !f.clk.Sleep(delay, f.stop) {
				return
			}
			if f.stopped() {
				return
			}
			f.pipe.RLock()
			flushed, err := f.log.Sync()
			f.pipe.RUnlock()
			if err != nil {
				f.emit(replica.Event{Follower: f.cfg.Name, Kind: replica.EvError, LSN: f.log.Flushed(), Text: "fsync failed: " + err.Error()})
				break
			}
			f.mu.Lock()
			e := f.core.Flushed(flushed)
			f.mu.Unlock()
			f.emit(e.Events...)
			kick(f.replayKick)
			kick(f.statusKick)
		}
	}
}

// ---- replay --------------------------------------------------------------

// replayBatchBytes bounds the WAL applied per pass (some hundreds of
// records under one store lock), so pause takes effect soon.
const replayBatchBytes = 64 << 10

func (f *Follower) replayLoop() {
	var rd *wal.Reader
	var readerEpoch uint64
	// A pass's records, applied under one store lock.
	var batch []wal.Record
	defer func() {
		if rd != nil {
			rd.Close()
		}
	}()
	// wait parks the loop until something may have moved (a flush, a
	// resume, a new delay, a base backup): false when the follower stops.
	wait := func() bool {
		select {
		case <-f.stop:
			return false
		case <-f.replayKick:
			return true
		}
	}
	// pause waits a second after a failure, so a bad log is not read in
	// a busy loop: false when the follower stops.
	pause := func() bool { return f.clk.Sleep(time.Second, f.stop) }
	for !f.stopped() {
		f.mu.Lock()
		from, limit, streamed, epoch, ok := f.core.Replay()
		delay := f.applyDelay
		f.mu.Unlock()
		if !ok {
			if !wait() {
				return
			}
			continue
		}
		n := replayBatchBytes
		if delay > 0 && streamed {
			// An under-provisioned follower: each streamed record costs delay.
			if !f.clk.Sleep(delay, f.stop) {
				return
			}
			n = 1 // one record
		}
		f.pipe.RLock()
		f.mu.Lock()
		stale := f.core.Epoch() != epoch
		store := f.store
		f.mu.Unlock()
		if stale {
			f.pipe.RUnlock()
			continue
		}
		if rd == nil || readerEpoch != epoch {
			if rd != nil {
				rd.Close()
			}
			var err error
			rd, err = f.log.NewReader(from)
			if err != nil {
				rd = nil
				f.pipe.RUnlock()
				f.emit(replica.Event{Follower: f.cfg.Name, Kind: replica.EvError, LSN: from, Text: "replay: " + err.Error()})
				if !pause() {
					return
				}
				continue
			}
			readerEpoch = epoch
		}
		var failed error
		// The records of one run, decoded and checked, aliasing the
		// reader's buffer until the next Run.
		_, batch, failed = rd.Run(limit, n, batch[:0])
		if failed == io.EOF {
			failed = nil
		}
		store.ApplyBatch(batch)
		// Just past what was applied, or past the unused end of a
		// segment the reader stepped over: replay has reached it either
		// way, even when no record was applied.
		replayed := rd.Pos()
		f.pipe.RUnlock()
		if failed != nil {
			rd.Close()
			rd = nil
			f.emit(replica.Event{Follower: f.cfg.Name, Kind: replica.EvError, LSN: replayed, Text: "replay stopped: " + failed.Error()})
			if !pause() {
				return
			}
			continue
		}
		f.mu.Lock()
		moved, e := f.core.Replayed(replayed, epoch)
		f.mu.Unlock()
		f.emit(e.Events...)
		if !moved {
			// Nothing to apply below the flush yet (the end of the log):
			// wait for it rather than ask again at once.
			if !wait() {
				return
			}
			continue
		}
		kick(f.statusKick)
	}
}
