package cluster

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// workload is the leader's clients: Clients sessions writing at a shared
// rate (world time), each waiting for its commit under the sync rule, plus
// bursts and single writes on demand.
type workload struct {
	c *Cluster

	mu      sync.Mutex
	perSec  float64
	nextAt  time.Duration // world time of the next scheduled write
	changed chan struct{} // closed when the rate changes
	rng     *rand.Rand

	// newest is the key of the newest record the workload made (a read
	// of no key in particular reads it).
	newest []byte

	// rate measurement: records at world times
	window [64]rateSample
	wpos   int

	started bool
	stop    chan struct{}
	once    sync.Once
	wg      sync.WaitGroup
}

type rateSample struct {
	at      time.Duration
	records uint64
}

func newWorkload(c *Cluster) *workload {
	return &workload{
		c: c, perSec: c.cfg.Rate, changed: make(chan struct{}),
		rng:  rand.New(rand.NewPCG(uint64(c.cfg.Seed), 0x3017)),
		stop: make(chan struct{}),
	}
}

func (w *workload) start() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.started {
		return
	}
	w.started = true
	w.nextAt = w.c.clk.Now()
	for i := range w.c.cfg.Clients {
		w.wg.Add(1)
		w.c.guard.Go("workload client", func() { w.client(i) })
	}
}

func (w *workload) close() {
	w.once.Do(func() { close(w.stop) })
	w.wg.Wait()
}

func (w *workload) rate() float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.perSec
}

func (w *workload) setRate(r float64) {
	w.mu.Lock()
	w.perSec = max(r, 0)
	w.nextAt = w.c.clk.Now()
	close(w.changed)
	w.changed = make(chan struct{})
	w.mu.Unlock()
}

// slot claims the next write time, or returns false with a channel to wait
// on when the rate is zero.
func (w *workload) slot() (time.Duration, <-chan struct{}, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.perSec <= 0 {
		return 0, w.changed, false
	}
	now := w.c.clk.Now()
	// Don't bank more than a second of missed writes (after a stall).
	if w.nextAt < now-time.Second {
		w.nextAt = now - time.Second
	}
	t := w.nextAt
	w.nextAt += time.Duration(float64(time.Second) / w.perSec)
	return t, w.changed, true
}

// next makes the next workload record: a key in the key space, a value,
// and SET or DEL.
func (w *workload) next() (wal.Op, []byte, []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	cfg := &w.c.cfg
	key := fmt.Appendf(nil, "key-%05d", w.rng.IntN(cfg.Keys))
	w.newest = key // never changed after: each record's key is its own
	if w.rng.Float64() < cfg.DelRatio {
		return wal.OpDel, key, nil
	}
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	v := make([]byte, cfg.ValueSize)
	for i := range v {
		v[i] = alphabet[w.rng.IntN(len(alphabet))]
	}
	return wal.OpSet, key, v
}

func (w *workload) client(id int) {
	defer w.wg.Done()
	clk := w.c.clk
	for {
		t, changed, ok := w.slot()
		if !ok {
			select {
			case <-w.stop:
				return
			case <-changed:
				continue
			}
		}
		if !clk.SleepUntil(t, w.stop) {
			return
		}
		l, err := w.c.writable()
		if err != nil {
			// No primary: the workload's clients wait for one, as an
			// application's connection pool would (the screen says why).
			select {
			case <-w.stop:
				return
			case <-w.c.moved():
			}
			continue
		}
		op, k, v := w.next()
		end, err := l.Append(op, k, v)
		if err != nil {
			if w.c.primary() != l {
				continue // it crashed under us: not acknowledged
			}
			w.c.emit(Event{Kind: EvError, Text: "workload write failed: " + err.Error()})
			if !clk.Sleep(time.Second, w.stop) {
				return
			}
			continue
		}
		a := [1]replica.AckedCommit{ack(op, k, v, end)}
		if !w.c.waitCommit(l, a[:], w.stop) {
			select {
			case <-w.stop:
				return
			default: // the primary went down while it waited
			}
		}
	}
}

// burst writes n records at once from a goroutine of its own, each waiting
// for its commit in order as one session would. With no primary up it is
// refused.
func (w *workload) burst(n int64) error {
	l, err := w.c.writable()
	if err != nil {
		return err
	}
	w.wg.Add(1)
	w.c.guard.Go("workload burst", func() {
		defer w.wg.Done()
		var acks []replica.AckedCommit
		for i := int64(0); i < n; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			op, k, v := w.next()
			end, err := l.Append(op, k, v)
			if err != nil {
				if w.c.primary() == l {
					w.c.emit(Event{Kind: EvError, Text: "burst write failed: " + err.Error()})
				}
				return
			}
			acks = append(acks, ack(op, k, v, end))
		}
		w.c.waitCommit(l, acks, w.stop)
	})
	return nil
}

// newestKey is the key of the newest record the workload made ("" none).
func (w *workload) newestKey() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.newest)
}

// one writes a single record and waits for its commit in the background;
// it returns the commit LSN (the end of the record).
func (w *workload) one(op wal.Op, key, value []byte) (wal.LSN, error) {
	l, err := w.c.writable()
	if err != nil {
		return 0, err
	}
	end, err := l.Append(op, key, value)
	if err != nil {
		return 0, err
	}
	w.wg.Add(1)
	w.c.guard.Go("workload commit", func() {
		defer w.wg.Done()
		a := [1]replica.AckedCommit{ack(op, key, value, end)}
		w.c.waitCommit(l, a[:], w.stop)
	})
	return end, nil
}

// measuredRate is records per second of world time over the last few
// seconds of snapshots; recs is the leader's record count at now.
func (w *workload) measuredRate(now time.Duration, recs uint64) float64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.window[(w.wpos+len(w.window)-1)%len(w.window)]
	if w.wpos > 0 && recs < last.records {
		// Another primary (a failover, a restart) counts from its own
		// start: measure afresh.
		w.wpos = 0
	}
	if w.wpos == 0 || now-last.at >= 100*time.Millisecond {
		w.window[w.wpos%len(w.window)] = rateSample{now, recs}
		w.wpos++
	}
	// The oldest sample within 3s.
	var base *rateSample
	for i := 1; i <= min(w.wpos, len(w.window)); i++ {
		s := &w.window[(w.wpos-i+len(w.window))%len(w.window)]
		if now-s.at > 3*time.Second {
			break
		}
		base = s
	}
	if base == nil || now <= base.at {
		return 0
	}
	return float64(recs-base.records) / (now - base.at).Seconds()
}
