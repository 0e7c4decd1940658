package link

import (
	"bufio"
	"net"
	"testing"
	"time"

	"walship/engine/wal"
	"walship/engine/wire"
)

// benchRelay ships b.N copies of frame from a fake leader through a relay to
// a fake follower, after setup (if any) has set faults.
func benchRelay(b *testing.B, frame []byte, setup func(*Relay)) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	r, err := New(Options{Target: ln.Addr().String()})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	if setup != nil {
		setup(r)
	}
	f, err := net.Dial("tcp", r.Addr())
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	l, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()

	b.SetBytes(int64(len(frame)))
	b.ReportAllocs()
	b.ResetTimer()
	errc := make(chan error, 1)
	go func() {
		w := bufio.NewWriterSize(l, 64<<10)
		for range b.N {
			if _, err := w.Write(frame); err != nil {
				errc <- err
				return
			}
		}
		errc <- w.Flush()
	}()
	rd := wire.NewReader(f, 256<<10)
	for range b.N {
		if _, err := rd.Next(); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// BenchmarkRelayThroughput ships large data frames (64 KiB of 4 KiB
// records) through a relay with no faults set.
func BenchmarkRelayThroughput(b *testing.B) {
	frame, _ := dataFrame(0, 16, 4<<10-64)
	benchRelay(b, frame, nil)
}

// BenchmarkRelaySmallFrames ships one small record per data frame: the
// per-frame cost of the relay.
func BenchmarkRelaySmallFrames(b *testing.B) {
	frame, _ := dataFrame(wal.LSN(0), 1, 32)
	benchRelay(b, frame, nil)
}

// BenchmarkRelaySmallFramesLatency is BenchmarkRelaySmallFrames with 1ms
// of latency and jitter: the writer sleeps for frames, reusing one timer.
func BenchmarkRelaySmallFramesLatency(b *testing.B) {
	frame, _ := dataFrame(wal.LSN(0), 1, 32)
	benchRelay(b, frame, func(r *Relay) { r.SetLatency(time.Millisecond, time.Millisecond) })
}
