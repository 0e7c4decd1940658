package ship

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"time"

	"walship/engine/kv"
	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

func (f *Follower) connectLoop() {
	backoff := f.cfg.ReconnectMin
	for !f.stopped() && !f.isPromoting() {
		progressed, err := f.session()
		if f.stopped() {
			return
		}
		reason := ""
		if err != nil {
			reason = err.Error()
		}
		f.mu.Lock()
		f.core.Disconnected(reason)
		f.conn = nil
		f.mu.Unlock()
		kick(f.statusKick)
		if progressed {
			backoff = f.cfg.ReconnectMin
		}
		t := time.NewTimer(backoff)
		select {
		case <-t.C:
			backoff = min(backoff*2, f.cfg.ReconnectMax)
		case <-f.retryKick:
			// A new leader to try: from the shortest backoff again.
			t.Stop()
			backoff = f.cfg.ReconnectMin
		case <-f.stop:
			t.Stop()
			return
		}
	}
}

// session runs one connection to the leader. It reports whether it got as
// far as the leader's welcome.
func (f *Follower) session() (bool, error) {
	c, err := net.DialTimeout("tcp", f.cfg.Leader, 2*time.Second)
	if err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	f.mu.Lock()
	if f.stopped() || f.promoting {
		f.mu.Unlock()
		c.Close()
		return false, nil
	}
	f.conn = c
	h := f.core.Hello(f.log.End())
	f.mu.Unlock()
	defer c.Close()
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}

	c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := wire.WriteFrame(c, wire.KindHello, h.Encode()); err != nil {
		return false, fmt.Errorf("hello: %w", err)
	}
	fr := wire.NewReader(c, 256<<10)
	frame, err := fr.Next()
	if err != nil {
		return false, fmt.Errorf("waiting for welcome: %w", err)
	}
	// The welcome, or a refusal.
	if err := f.receive(frame, nil); err != nil {
		return false, err
	}
	c.SetDeadline(time.Time{})

	out := make(chan []byte, 8) // resend and backup requests for the writer
	writerDone := make(chan struct{})
	sessionDone := make(chan struct{})
	f.guard.Go("status writer", func() {
		defer close(writerDone)
		if err := f.writeLoop(c, out, sessionDone); err != nil {
			c.Close()
		}
	})
	defer func() {
		close(sessionDone)
		c.Close()
		<-writerDone
	}()

	for {
		frame, err := fr.Next()
		if err != nil {
			if f.stopped() {
				return true, nil
			}
			if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
				return true, errors.New("connection closed")
			}
			return true, err
		}
		if err := f.receive(frame, out); err != nil {
			return true, err
		}
	}
}

// receive asks the decisions what to do with a frame from the leader, and
// does it. out takes requests for the leader (nil before the welcome).
func (f *Follower) receive(frame wire.Frame, out chan []byte) error {
	logEnd, now := f.log.End(), f.clk.Now()
	var e replica.Effects
	if frame.Kind == wire.KindData && out != nil {
		// The record checks read only the frame: outside f.mu, which the
		// flusher, the replayer and the status writer need meanwhile.
		scan := replica.ScanData(frame.Payload, logEnd, f.log.SegmentSize())
		f.mu.Lock()
		e = f.core.Data(scan, now)
		f.mu.Unlock()
	} else {
		f.mu.Lock()
		e = f.core.Frame(frame.Kind, frame.Payload, logEnd, now)
		f.mu.Unlock()
	}
	if e.NewHistory {
		// The new timeline's history is durable before any of its WAL.
		if err := SaveHistory(f.cfg.Dir, e.History, f.cfg.NoSync); err != nil {
			return err
		}
	}
	f.emit(e.Events...)
	if e.Records > 0 {
		if err := f.log.AppendRawRun(e.Append); err != nil {
			return fmt.Errorf("writing WAL: %w", err)
		}
		if err := f.log.Write(); err != nil {
			return fmt.Errorf("writing WAL: %w", err)
		}
		written := f.log.Written()
		f.mu.Lock()
		w := f.core.Written(written, e.Records)
		f.mu.Unlock()
		f.emit(w.Events...)
		kick(f.flushKick)
		kick(f.statusKick)
	}
	if e.Resend && out != nil {
		select {
		case out <- wire.AppendFrame(nil, wire.KindResend, wire.EncodeResend(e.ResendFrom)):
		default:
		}
	}
	if e.Install != nil {
		if err := f.installBackup(e.Install, e.InstallLSN); err != nil {
			return err
		}
	}
	if e.Status {
		f.forceStatus()
	}
	return e.Err
}

// forceStatus makes the writer send a status even if nothing moved.
func (f *Follower) forceStatus() {
	f.mu.Lock()
	f.lastStatusPos = replica.Positions{}
	f.mu.Unlock()
	kick(f.statusKick)
}

// installBackup replaces the store and the log with a base backup
// consistent at lsn. Its image file is made durable before the log is
// reset, so a crash in between restarts from the base backup.
func (f *Follower) installBackup(data []byte, lsn wal.LSN) error {
	store, _, err := kv.Restore(data)
	if err != nil {
		return fmt.Errorf("base backup: %w", err)
	}
	f.pipe.Lock()
	defer f.pipe.Unlock()
	if err := saveImageFile(filepath.Join(f.cfg.Dir, BaseBackupFile), data, lsn, f.cfg.NoSync); err != nil {
		return err
	}
	if err := f.log.Reset(lsn); err != nil {
		return err
	}
	f.mu.Lock()
	f.store = store
	e := f.core.Installed(lsn, store.Len())
	f.mu.Unlock()
	f.emit(e.Events...)
	kick(f.statusKick)
	kick(f.replayKick)
	return nil
}

// writeLoop owns the connection's write side: status updates when a
// position moves (at most one per StatusMinGap) and every StatusInterval,
// plus the receiver's requests.
func (f *Follower) writeLoop(c net.Conn, out chan []byte, done chan struct{}) error {
	bw := bufio.NewWriterSize(c, 4096)
	tick := time.NewTicker(f.cfg.StatusInterval)
	defer tick.Stop()
	for {
		force := false
		select {
		case <-done:
			return nil
		case req := <-out:
			if _, err := bw.Write(req); err != nil {
				return err
			}
		case <-f.statusKick:
		case <-tick.C:
			force = true
		}
		f.mu.Lock()
		pos := f.core.Positions()
		send := force || pos != f.lastStatusPos
		f.lastStatusPos = pos
		f.mu.Unlock()
		if send {
			st := wire.Status{Write: pos.Write, Flush: pos.Flush, Replay: pos.Replay, TimeNS: int64(f.clk.Now())}
			if err := wire.WriteFrame(bw, wire.KindStatus, st.Encode()); err != nil {
				return err
			}
		}
		if err := bw.Flush(); err != nil {
			return err
		}
		if send {
			// Space reports out under load; kicks merge meanwhile.
			if !sleepReal(f.cfg.StatusMinGap, done) {
				return nil
			}
		}
	}
}
