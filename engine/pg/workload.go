package pg

import (
	"context"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"walship/engine/cluster"
)

// The workload writes rows into walship_rows on the primary: single-row
// INSERTs at a rate (one commit each, so a sync rule holds each one up)
// and bursts of N rows in one INSERT. Its goroutine owns its connection;
// a commit waiting for synchronous standbys holds it up, as it would any
// client, while the rest of walship goes on.

const (
	createTableSQL = "CREATE TABLE IF NOT EXISTS walship_rows (id bigserial PRIMARY KEY, v text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
	insertSQL      = "INSERT INTO walship_rows (v) VALUES (md5(random()::text))"
	burstSQL       = "INSERT INTO walship_rows (v) SELECT md5(g::text) FROM generate_series(1, %d) g"
	maxQueued      = 4 // bursts waiting to run
	slowCommit     = time.Second
)

type workload struct {
	w    *Watcher
	wake chan struct{} // 1-buffered: the rate, a burst or the primary changed
	done chan struct{}

	mu      sync.Mutex
	target  float64 // rows per second
	bursts  []int64
	gen     int    // bumped when the primary changes: reconnect
	commits uint64 // statements committed: the leader's commits on screen
}

func newWorkload(w *Watcher) *workload {
	wl := &workload{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	w.guard().Go("workload", wl.run)
	return wl
}

func (wl *workload) poke() {
	select {
	case wl.wake <- struct{}{}:
	default:
	}
}

func (wl *workload) rate() float64 {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	return wl.target
}

// committed is how many of the workload's transactions have committed.
// walship counts its own: pg_stat_database's xact_commit counts every
// transaction, walship's polling among them (some twenty a second).
func (wl *workload) committed() uint64 {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	return wl.commits
}

func (wl *workload) setRate(r float64) error {
	wl.mu.Lock()
	wl.target = r
	wl.mu.Unlock()
	if r > 0 {
		wl.w.emit(cluster.Event{Kind: cluster.EvCommand, Text: fmt.Sprintf("%s: %g a second, one commit each", insertSQL, r)})
	} else {
		wl.w.emit(cluster.Event{Kind: cluster.EvCommand, Text: "the INSERTs stop"})
	}
	wl.poke()
	return nil
}

func (wl *workload) burst(n int64) error {
	wl.mu.Lock()
	defer wl.mu.Unlock()
	if len(wl.bursts) >= maxQueued {
		return fmt.Errorf("write %d: %d bursts are already waiting (is a commit held up by the sync rule?)", n, len(wl.bursts))
	}
	wl.bursts = append(wl.bursts, n)
	wl.poke()
	return nil
}

// reconnect makes the workload write to the current primary.
func (wl *workload) reconnect() {
	wl.mu.Lock()
	wl.gen++
	wl.mu.Unlock()
	wl.poke()
}

func (wl *workload) close() { <-wl.done }

// run is the workload's goroutine; it ends when the watcher closes.
func (wl *workload) run() {
	defer close(wl.done)
	ctx := wl.w.ctx
	var conn *pgx.Conn
	gen := -1
	defer func() {
		if conn != nil {
			conn.Close(context.Background())
		}
	}()
	var due float64 // rows owed to the rate
	last := time.Now()
	connErr := "" // said once while the primary stays out of reach
	for {
		wl.mu.Lock()
		rate, curGen := wl.target, wl.gen
		var burst int64
		if len(wl.bursts) > 0 {
			burst = wl.bursts[0]
		}
		wl.mu.Unlock()

		now := time.Now()
		if rate > 0 {
			due = min(due+now.Sub(last).Seconds()*rate, math.Max(rate/10, 1)) // no catch-up storms after a stall
		} else {
			due = 0
		}
		last = now

		if (burst > 0 || due >= 1) && (conn == nil || gen != curGen || conn.IsClosed()) {
			if conn != nil {
				conn.Close(context.Background())
				conn = nil
			}
			var err error
			if conn, err = wl.connect(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				if err.Error() != connErr {
					connErr = err.Error()
					wl.w.emit(cluster.Event{Kind: cluster.EvError, Text: "workload: " + connErr})
				}
				conn = nil
				if !sleep(ctx, time.Second) {
					return
				}
				continue
			}
			gen, connErr = curGen, ""
		}
		switch {
		case burst > 0:
			sql := fmt.Sprintf(burstSQL, burst)
			wl.w.emit(cluster.Event{Kind: cluster.EvCommand, Text: sql})
			wl.exec(ctx, conn, sql)
			wl.mu.Lock()
			wl.bursts = wl.bursts[1:]
			wl.mu.Unlock()
			continue
		case due >= 1:
			due--
			wl.exec(ctx, conn, insertSQL)
			continue
		}
		wait := time.Hour
		if rate > 0 {
			wait = time.Duration((1 - due) / rate * float64(time.Second))
		}
		select {
		case <-ctx.Done():
			return
		case <-wl.wake:
		case <-time.After(wait):
		}
	}
}

// connect connects to the current primary and makes sure the table exists.
func (wl *workload) connect(ctx context.Context) (*pgx.Conn, error) {
	c, err := connect(ctx, wl.w.currentPrimary())
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := c.QueryRow(ctx, "SELECT to_regclass('walship_rows') IS NOT NULL").Scan(&exists); err != nil {
		c.Close(context.Background())
		return nil, err
	}
	if !exists {
		wl.w.emit(cluster.Event{Kind: cluster.EvCommand, Text: createTableSQL})
		if _, err := c.Exec(ctx, createTableSQL); err != nil {
			c.Close(context.Background())
			return nil, err
		}
	}
	return c, nil
}

// exec runs one statement; a commit held up for long is an event.
func (wl *workload) exec(ctx context.Context, c *pgx.Conn, sql string) {
	start := time.Now()
	_, err := c.Exec(ctx, sql)
	took := time.Since(start)
	if err == nil {
		wl.mu.Lock()
		wl.commits++
		wl.mu.Unlock()
	}
	switch {
	case err != nil && ctx.Err() == nil:
		wl.w.emit(cluster.Event{Kind: cluster.EvError, Text: "workload: " + err.Error()})
		c.Close(context.Background()) // its state is unknown: the next write reconnects
	case err == nil && took >= slowCommit:
		wl.w.emit(cluster.Event{Kind: cluster.EvSync, Text: fmt.Sprintf("a commit returned after %s (it waited for synchronous standbys, or the server was slow)", cluster.FormatLag(took))})
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
