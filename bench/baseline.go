package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

// The bare-shipper baseline: what this machine does when the same records
// go over the same number of loopback TCP connections into files with the
// same group fsync, and nothing else. walship bench reports walship's rate
// as a fraction of it.
//
// One generator goroutine frames the records (u32 length, u16 key length,
// key, value: no LSN, no op, no CRC) into BatchBytes batches; each batch is
// written whole, by one write(2), to every connection by a writer goroutine
// per connection. Each receiver reads into a 1 MiB buffer, cuts the
// complete records off (it only walks the length fields), appends them to
// its file with one write(2) per read, and a flusher goroutine per file
// fsyncs whatever was written since its last fsync, in a loop, as walship's
// flushers do. No positions, no status, no store, no CRC. Batches are
// pooled and shared by the connections, so memory is a few megabytes and
// nothing is allocated per record. It is done when every file holds every
// record durably.

// BaselineConfig sets up RunBaseline.
type BaselineConfig struct {
	Dir        string
	Conns      int
	Records    int
	ValueSize  int
	Keys       int
	NoFsync    bool
	BatchBytes int
}

// BaselineResult is what the baseline measured.
type BaselineResult struct {
	Records   int
	WireBytes int64 // bytes per connection
	Elapsed   time.Duration
	Fsyncs    uint64 // all files
	Conns     int
	CPU       time.Duration // user+system CPU of the process during the run
}

// RecordsPerSec is records delivered durably to every file per second.
func (b BaselineResult) RecordsPerSec() float64 { return float64(b.Records) / b.Elapsed.Seconds() }

// MBPerSec is framed megabytes per second, per connection.
func (b BaselineResult) MBPerSec() float64 { return float64(b.WireBytes) / 1e6 / b.Elapsed.Seconds() }

const baseFrameHeader = 4 + 2

type baseBatch struct {
	buf  []byte
	refs atomic.Int32
}

// RunBaseline runs the bare shipper once.
func RunBaseline(ctx context.Context, cfg BaselineConfig) (BaselineResult, error) {
	if cfg.Conns <= 0 {
		cfg.Conns = 1
	}
	if cfg.BatchBytes <= 0 {
		cfg.BatchBytes = 256 << 10
	}
	if cfg.Keys <= 0 {
		cfg.Keys = 100_000
	}
	res := BaselineResult{Records: cfg.Records, Conns: cfg.Conns}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return res, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return res, err
	}
	defer ln.Close()

	recSize := baseFrameHeader + 1 + benchKeyDigits + cfg.ValueSize
	total := int64(cfg.Records) * int64(recSize)
	res.WireBytes = total

	var fsyncs atomic.Uint64
	var rwg sync.WaitGroup
	rerr := make(chan error, cfg.Conns+1)
	accepted := make(chan struct{})
	go func() {
		defer close(accepted)
		for i := range cfg.Conns {
			c, err := ln.Accept()
			if err != nil {
				rerr <- err
				return
			}
			rwg.Add(1)
			go func() {
				defer rwg.Done()
				defer c.Close()
				if err := baseReceive(c, filepath.Join(cfg.Dir, fmt.Sprintf("conn-%d", i)), total, cfg.NoFsync, &fsyncs); err != nil {
					rerr <- err
				}
			}()
		}
	}()

	conns := make([]net.Conn, cfg.Conns)
	for i := range conns {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			for _, c := range conns[:i] {
				c.Close()
			}
			return res, err
		}
		conns[i] = c
	}
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	<-accepted

	// Batches: a few per connection in flight, reused.
	const inFlight = 4
	free := make(chan *baseBatch, inFlight+2)
	for range cap(free) {
		free <- &baseBatch{buf: make([]byte, 0, cfg.BatchBytes+recSize)}
	}
	queues := make([]chan *baseBatch, cfg.Conns)
	var swg sync.WaitGroup
	serr := make(chan error, cfg.Conns)
	for i, c := range conns {
		q := make(chan *baseBatch, inFlight)
		queues[i] = q
		swg.Add(1)
		go func() {
			defer swg.Done()
			failed := false
			for b := range q {
				if !failed {
					if _, err := c.Write(b.buf); err != nil {
						serr <- err
						failed = true
						c.Close()
					}
				}
				if b.refs.Add(-1) == 0 {
					free <- b
				}
			}
		}()
	}

	cpu0 := processCPU()
	t0 := time.Now()
	rec := newBenchRecord(cfg.Keys, cfg.ValueSize)
	b := <-free
	b.buf = b.buf[:0]
	send := func() {
		b.refs.Store(int32(cfg.Conns))
		for _, q := range queues {
			q <- b
		}
		b = <-free
		b.buf = b.buf[:0]
	}
	for i := range cfg.Records {
		rec.fill(i)
		b.buf = binary.BigEndian.AppendUint32(b.buf, uint32(2+len(rec.key)+len(rec.value)))
		b.buf = binary.BigEndian.AppendUint16(b.buf, uint16(len(rec.key)))
		b.buf = append(b.buf, rec.key...)
		b.buf = append(b.buf, rec.value...)
		if len(b.buf) >= cfg.BatchBytes {
			send()
		}
	}
	if len(b.buf) > 0 {
		send()
	}
	for _, q := range queues {
		close(q)
	}
	swg.Wait()
	select {
	case err := <-serr:
		return res, err
	default:
	}
	done := make(chan struct{})
	go func() {
		rwg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case err := <-rerr:
		return res, err
	case <-ctx.Done():
		return res, ctx.Err()
	}
	res.Elapsed = time.Since(t0)
	res.CPU = processCPU() - cpu0
	select {
	case err := <-rerr:
		return res, err
	default:
	}
	res.Fsyncs = fsyncs.Load()
	return res, nil
}

// baseReceive appends the complete records read from c to a file, with a
// flusher fsyncing behind it, until total bytes are in the file durably.
func baseReceive(c net.Conn, path string, total int64, noSync bool, fsyncs *atomic.Uint64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var written atomic.Int64
	kick := make(chan struct{}, 1)
	flushed := make(chan error, 1)
	quit := make(chan struct{})
	defer close(quit)
	go func() {
		var synced int64
		for synced < total {
			select {
			case <-kick:
			case <-quit:
				flushed <- nil
				return
			}
			for w := written.Load(); w > synced; w = written.Load() {
				if !noSync {
					if err := f.Sync(); err != nil {
						flushed <- err
						return
					}
					fsyncs.Add(1)
				}
				synced = w
			}
		}
		flushed <- nil
	}()
	buf := make([]byte, 1<<20)
	have := 0
	var n int64
	for n < total {
		k, err := c.Read(buf[have:])
		if k == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("baseline receiver: %w", err)
		}
		have += k
		// Cut off the complete records.
		p := 0
		for p+4 <= have {
			size := 4 + int(binary.BigEndian.Uint32(buf[p:]))
			if p+size > have {
				break
			}
			p += size
		}
		if p > 0 {
			if _, err := f.Write(buf[:p]); err != nil {
				return err
			}
			n += int64(p)
			written.Store(n)
			select {
			case kick <- struct{}{}:
			default:
			}
			have = copy(buf, buf[p:have])
		}
	}
	return <-flushed
}
