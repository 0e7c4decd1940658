package replica

import (
	"testing"
	"time"

	"walship/engine/wal"
)

func TestFollowerStateRules(t *testing.T) {
	for _, tc := range []struct {
		f    stateFacts
		want string
	}{
		{stateFacts{}, StateStartup},
		{stateFacts{everConnected: true, connected: true}, StateCatchup},
		{stateFacts{everConnected: true, connected: true, caughtUp: true}, StateStreaming},
		{stateFacts{everConnected: true}, StateReconnecting},
		{stateFacts{everConnected: true, walRemoved: true}, StateNeedsBackup},
		{stateFacts{connected: true, inBackup: true, walRemoved: true}, StateBackup},
		{stateFacts{connected: true, caughtUp: true, stopped: true}, StateStopped},
	} {
		if got := tc.f.name(); got != tc.want {
			t.Errorf("%+v: %s, want %s", tc.f, got, tc.want)
		}
	}
}

func TestPositionsInvariant(t *testing.T) {
	ok := []Positions{{0, 0, 0}, {10, 5, 1}, {10, 10, 10}}
	for _, p := range ok {
		if err := p.Check(10); err != nil {
			t.Errorf("%+v: %v", p, err)
		}
	}
	bad := []Positions{{5, 10, 1}, {10, 5, 6}, {11, 5, 1}}
	for _, p := range bad {
		if err := p.Check(10); err == nil {
			t.Errorf("%+v: no error", p)
		}
	}
}

func TestLagIdleStuckAndMeasured(t *testing.T) {
	var r lagRing
	var c lagCursor
	ms := time.Millisecond
	r.add(100, 10*ms)
	r.add(200, 20*ms)
	r.add(300, 30*ms)
	// Nothing reported yet: unknown.
	if l := c.view(&r, 0, 0, 0); l.Known {
		t.Fatalf("lag known before any report: %+v", l)
	}
	// The follower reports 200 at 50ms: measured from the sample at 200.
	c.advance(&r, 200, 50*ms)
	if l := c.view(&r, 200, 300, 50*ms); l.D != 30*ms || l.Idle {
		t.Fatalf("measured lag %+v, want 30ms not idle", l)
	}
	// Stuck at 200 until 5s: the lag grows with the age of LSN 300.
	if l := c.view(&r, 200, 300, 5*time.Second); l.D != 5*time.Second-30*ms {
		t.Fatalf("stuck lag %v", l.D)
	}
	// Caught up: idle.
	c.advance(&r, 300, 6*time.Second)
	if l := c.view(&r, 300, 300, 7*time.Second); !l.Idle || l.String() != "idle" {
		t.Fatalf("caught-up lag %+v", l)
	}
}

func TestLagRingWraps(t *testing.T) {
	var r lagRing
	var c lagCursor
	for i := range 3 * lagRingSize {
		r.add(wal.LSN(i+1), time.Duration(i)*time.Second)
	}
	c.advance(&r, wal.LSN(3*lagRingSize), time.Duration(3*lagRingSize)*time.Second)
	if !c.known || c.measured != time.Second {
		t.Fatalf("after wrap: %+v", c)
	}
}

func TestSyncRuleStrings(t *testing.T) {
	if s := (SyncRule{SyncRemoteApply, 2}).String(); s != "remote_apply ANY 2" {
		t.Error(s)
	}
	if s := (SyncRule{SyncLocal, 2}).String(); s != "local" {
		t.Error(s)
	}
	for _, n := range syncNames {
		m, err := ParseSyncMode(n)
		if err != nil || m.String() != n {
			t.Errorf("%s: %v %v", n, m, err)
		}
	}
	if _, err := ParseSyncMode("sometimes"); err == nil {
		t.Error("no error")
	}
}
