package ship

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
	"walship/engine/wire"
)

// sender streams WAL to one follower on one connection (its epoch). It
// owns bw once the handshake is done.
type sender struct {
	l        *Leader
	pr       *replica.Progress // l.mu guards it
	epoch    uint64
	name     string
	c        net.Conn
	bw       *bufio.Writer
	ctl      chan senderCtl
	connStop chan struct{}
	rd       *wal.Reader
}

// run streams WAL from start (after a base backup first, when backup is
// set) until the connection fails or connStop closes. It serves resend
// and base-backup requests from ctl.
func (s *sender) run(start wal.LSN, backup bool) error {
	l := s.l
	defer func() {
		if s.rd != nil {
			s.rd.Close()
		}
	}()
	if backup {
		lsn, err := s.sendBackup()
		if err != nil {
			return err
		}
		start = lsn
	}
	if err := s.open(start); err != nil {
		return err
	}
	payload := make([]byte, 0, l.cfg.BatchBytes+wal.MaxRecordSize+wire.DataHeaderSize)
	var recs []wal.Record // Run's decoded records, unused here but kept to reuse their slice
	nextKeepalive := l.clk.Now() + l.cfg.KeepaliveInterval
	var pending *senderCtl
	streaming := false // told CaughtUp, once per connection
	for {
		// Serve requests first: a resend rewinds the stream.
		if pending == nil {
			select {
			case req := <-s.ctl:
				pending = &req
			default:
			}
		}
		if pending != nil {
			req := *pending
			pending = nil
			if req.backup {
				lsn, err := s.sendBackup()
				if err != nil {
					return err
				}
				if err := s.open(lsn); err != nil {
					return err
				}
			} else {
				if err := s.bw.Flush(); err != nil {
					return err
				}
				l.cfg.OnEvent.emit(replica.Event{Follower: s.name, Kind: replica.EvResend, LSN: req.resend, Text: "resending from " + req.resend.String()})
				if err := s.open(req.resend); err != nil {
					return err
				}
			}
			continue
		}
		select {
		case <-s.connStop:
			return nil
		default:
		}

		flushChanged := l.flushed.wait()
		limit := l.log.Flushed()
		payload = wire.AppendDataHeader(payload[:0], 0, 0)
		var first, end wal.LSN
		for room := l.cfg.BatchBytes + wire.DataHeaderSize - len(payload); room > 0; room = l.cfg.BatchBytes + wire.DataHeaderSize - len(payload) {
			var run []byte
			var err error
			run, recs, err = s.rd.Run(limit, room, recs[:0])
			if err == io.EOF {
				break
			}
			if err != nil {
				if errors.Is(err, wal.ErrWALRemoved) {
					s.refuseWALRemoved(fmt.Sprintf("WAL at %s was removed while streaming (oldest is %s)", s.rd.Pos(), l.log.Start()), s.rd.Pos())
				}
				return err
			}
			if len(payload) == wire.DataHeaderSize {
				first = wal.RecordLSN(run)
			}
			end = s.rd.Pos() // just past the run's last record
			payload = append(payload, run...)
		}
		if len(payload) > wire.DataHeaderSize {
			copy(payload[:wire.DataHeaderSize], wire.AppendDataHeader(nil, first, end))
			// Sent before it is written: the follower may report it
			// before WriteFrame returns.
			s.sent(end)
			if err := wire.WriteFrame(s.bw, wire.KindData, payload); err != nil {
				return err
			}
			continue
		}
		// Caught up with the leader's flush: streaming. Push out what is
		// buffered and wait for more WAL, a request, or the keepalive.
		if !streaming {
			l.mu.Lock()
			news := l.core.CaughtUp(s.pr)
			l.mu.Unlock()
			if news {
				l.progress.broadcast() // commits wait only on streaming followers
			}
			streaming = true
		}
		if err := s.bw.Flush(); err != nil {
			return err
		}
		now := l.clk.Now()
		if now >= nextKeepalive {
			ka := wire.Keepalive{Flushed: limit, TimeNS: int64(now), Reply: true}
			if err := wire.WriteFrame(s.bw, wire.KindKeepalive, ka.Encode()); err != nil {
				return err
			}
			if err := s.bw.Flush(); err != nil {
				return err
			}
			nextKeepalive = now + l.cfg.KeepaliveInterval
		}
		var timer <-chan time.Time
		var t *time.Timer
		if d, ok := l.clk.Until(nextKeepalive); ok {
			t = time.NewTimer(d + time.Millisecond)
			timer = t.C
		}
		select {
		case <-flushChanged:
		case req := <-s.ctl:
			pending = &req
		case <-timer:
		case <-l.clk.Changed():
		case <-s.connStop:
			if t != nil {
				t.Stop()
			}
			return nil
		}
		if t != nil {
			t.Stop()
		}
	}
}

// open (re)starts reading the leader's log at from.
func (s *sender) open(from wal.LSN) error {
	if s.rd != nil {
		s.rd.Close()
		s.rd = nil
	}
	r, err := s.l.log.NewReader(from)
	if err != nil {
		if errors.Is(err, wal.ErrWALRemoved) {
			s.refuseWALRemoved(fmt.Sprintf("requested WAL at %s has already been removed (oldest is %s)", from, s.l.log.Start()), from)
		}
		return err
	}
	s.rd = r
	s.sent(from)
	return nil
}

func (s *sender) sent(lsn wal.LSN) {
	s.l.mu.Lock()
	s.l.core.Sent(s.pr, lsn)
	s.l.mu.Unlock()
}

// refuseWALRemoved tells the follower that the WAL it needs is gone.
func (s *sender) refuseWALRemoved(reason string, lsn wal.LSN) {
	s.l.mu.Lock()
	a := s.l.core.RefuseWALRemoved(s.name, reason, lsn)
	s.l.mu.Unlock()
	s.l.refuse(s.c, a)
}

// backupChunkSize is the data carried by one Backup frame.
const backupChunkSize = 256 << 10

// sendBackup sends a base backup: a store image consistent at an LSN, in
// chunks, and returns that LSN (streaming resumes from it). It waits until
// the leader's WAL is durable to that LSN first, as a checkpoint does: a
// follower must never hold more than a leader's crash would keep.
func (s *sender) sendBackup() (wal.LSN, error) {
	l := s.l
	data, lsn := l.StoreImage()
	if err := l.waitFlushed(lsn); err != nil {
		return 0, err
	}
	// Sent before any of it is written: the follower reports lsn once it
	// has installed the backup, maybe before this goroutine runs again.
	s.sent(lsn)
	l.cfg.OnEvent.emit(replica.Event{Follower: s.name, Kind: replica.EvBackup, LSN: lsn,
		Text: fmt.Sprintf("sending base backup: %d keys, %d bytes, consistent at %s", l.store.Len(), len(data), lsn)})
	total := int64(len(data))
	for off := int64(0); ; {
		n := min(int64(backupChunkSize), total-off)
		chunk := wire.BackupChunk{LSN: lsn, Offset: off, Total: total, Last: off+n == total, Data: data[off : off+n]}
		if err := wire.WriteFrame(s.bw, wire.KindBackup, chunk.Encode()); err != nil {
			return 0, err
		}
		off += n
		if chunk.Last {
			break
		}
	}
	if err := s.bw.Flush(); err != nil {
		return 0, err
	}
	oldest := l.log.Start()
	l.mu.Lock()
	l.core.BackupSent(s.pr, lsn, oldest)
	l.mu.Unlock()
	return lsn, nil
}
