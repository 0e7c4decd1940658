package tui

import (
	"testing"

	tea "charm.land/bubbletea/v2"
)

// A snapshot that says the engine stopped (a panic in one of its
// goroutines) makes the UI quit through Bubble Tea, which restores the
// terminal, keeping the reason for Run to return.
func TestFatalQuits(t *testing.T) {
	m, rec := newTestModel(t, fixture(), 120, 36, "dark")
	s := rec.Snapshot(0)
	s.Fatal = "panic in follower-2 replayer: on purpose"
	_, cmd := m.Update(snapMsg{gen: m.gen, snap: s})
	if cmd == nil {
		t.Fatal("no command")
	}
	if _, ok := cmd().(tea.QuitMsg); !ok {
		t.Fatal("the UI did not quit")
	}
	if m.fatal != s.Fatal {
		t.Fatalf("kept %q", m.fatal)
	}
}
