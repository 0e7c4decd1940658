package ship

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
)

const restartSeg = 16 << 10

// streamedFollower starts a leader and a follower, writes n records, waits
// until the follower has replayed them and closes the follower. The leader
// is left running.
func streamedFollower(t *testing.T, n int) (p *Leader, dir string, ev *hostileEvents) {
	t.Helper()
	ev = &hostileEvents{}
	p, err := StartLeader(LeaderConfig{Dir: t.TempDir(), SegmentSize: restartSeg, NoSync: true, WALKeep: 1 << 40, OnEvent: ev.add})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	dir = t.TempDir()
	s := startFollower(t, p, dir, ev)
	for i := range n {
		if _, err := p.Append(wal.OpSet, fmt.Appendf(nil, "key-%04d", i), fmt.Appendf(nil, "value-%04d", i)); err != nil {
			t.Fatal(err)
		}
	}
	waitReplayed(t, s, p.Log().End())
	closeWithin(t, s)
	return p, dir, ev
}

func startFollower(t *testing.T, p *Leader, dir string, ev *hostileEvents) *Follower {
	t.Helper()
	s, err := StartFollower(FollowerConfig{
		Name: "follower-1", Dir: dir, Leader: p.Addr(), SegmentSize: restartSeg,
		NoSync: true, StatusInterval: 20 * time.Millisecond, OnEvent: ev.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func waitReplayed(t *testing.T, s *Follower, end wal.LSN) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Status().Positions.Replay < end {
		if time.Now().After(deadline) {
			t.Fatalf("follower stuck at %+v, want replay %s", s.Status().Positions, end)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// closeWithin closes s, failing the test if that hangs (a replay loop
// spinning at the end of its log once kept Close from returning).
func closeWithin(t *testing.T, s *Follower) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return")
	}
}

// A follower whose log recovers to a segment start — its last segment
// empty, or its torn first record cut away, after a sealed segment — is cut
// back to its last record: replay gets there and stops, the leader takes
// its start (never "ahead of the leader's flush"), it catches up, and it
// stops at once when closed.
func TestFollowerRestartsAtSegmentStart(t *testing.T) {
	for name, damage := range map[string]func(b []byte) []byte{
		"empty last segment": func([]byte) []byte { return nil },
		"torn first record":  func(b []byte) []byte { return b[:7] },
	} {
		t.Run(name, func(t *testing.T) {
			p, dir, ev := streamedFollower(t, 700) // about 1.6 segments
			walDir := filepath.Join(dir, WALDir)
			last := filepath.Join(walDir, wal.SegmentName(restartSeg))
			b, err := os.ReadFile(last)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(last, damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			mark := len(ev.list())
			s := startFollower(t, p, dir, ev)
			defer closeWithin(t, s)
			rec := ev.waitFrom(t, mark, replica.EvRecovery, "recovered")
			if rec.LSN >= restartSeg || !strings.Contains(rec.Text, "cut a torn tail") {
				t.Fatalf("recovery ended at %s: %s", rec.LSN, rec.Text)
			}
			// Replay reaches the recovered end, and streaming resumes.
			waitReplayed(t, s, rec.LSN)
			ev.waitFrom(t, mark, replica.EvConnect, "streaming from "+rec.LSN.String())
			for i := range 50 {
				p.Append(wal.OpSet, fmt.Appendf(nil, "more-%d", i), []byte("v"))
			}
			waitReplayed(t, s, p.Log().End())
			if d := p.Store().Diff(s.Store()); d != "" {
				t.Fatalf("follower differs: %s", d)
			}
			for _, e := range ev.list()[mark:] {
				// (The leader may refuse a first attempt as a duplicate
				// while it has not yet seen the old connection end.)
				if e.Kind == replica.EvError || e.Kind == replica.EvRefused && !strings.Contains(e.Text, "already streaming") {
					t.Fatalf("%s: %s", e.Kind, e.Text)
				}
			}
		})
	}
}

// An empty segment file after one that was never sealed (a file created by
// hand, say) would make the log claim WAL it does not have: startup stops,
// naming the short segment.
func TestFollowerRefusesSegmentAfterUnsealed(t *testing.T) {
	p, dir, ev := streamedFollower(t, 100) // well inside the first segment
	walDir := filepath.Join(dir, WALDir)
	if err := os.WriteFile(filepath.Join(walDir, wal.SegmentName(restartSeg)), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := StartFollower(FollowerConfig{Name: "follower-1", Dir: dir, Leader: p.Addr(), SegmentSize: restartSeg, NoSync: true, OnEvent: ev.add})
	first := filepath.Join(walDir, wal.SegmentName(0))
	if !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), first) || !strings.Contains(err.Error(), "at offset") {
		t.Fatalf("StartFollower = %v, want damage named in %s", err, first)
	}
}

// writeMany appends n records over a small key space, with deletes, so
// that the store's state depends on records long since removed from the
// WAL.
func writeMany(t *testing.T, p *Leader, n int) {
	t.Helper()
	for i := range n {
		var err error
		if i%5 == 4 {
			_, err = p.Append(wal.OpDel, fmt.Appendf(nil, "key-%03d", (i*13)%301), nil)
		} else {
			_, err = p.Append(wal.OpSet, fmt.Appendf(nil, "key-%03d", (i*7)%301), fmt.Appendf(nil, "value-%d", i))
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// A leader restarted on its directory keeps every key, though retention
// removed the WAL that wrote most of them: it checkpoints its store before
// removing WAL the store was rebuilt from, and recovers from checkpoint
// plus WAL. Clean stops and crashes that keep any part of the unsynced
// tail alike.
func TestLeaderRestartKeepsEveryKey(t *testing.T) {
	dir := t.TempDir()
	ev := &hostileEvents{}
	cfg := LeaderConfig{
		Dir: dir, SegmentSize: restartSeg, NoSync: true, OnEvent: ev.add,
		WALKeep: restartSeg, CheckpointInterval: time.Millisecond,
	}
	p, err := StartLeader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 8 {
		// Keys written once, then pushed out of the retained WAL.
		for i := range 200 {
			if _, err := p.Append(wal.OpSet, fmt.Appendf(nil, "once-%d-%d", round, i), []byte("v")); err != nil {
				t.Fatal(err)
			}
		}
		writeMany(t, p, 3000)
		// Wait until retention has gone past the start of this round.
		target := p.Log().End() - restartSeg*2
		deadline := time.Now().Add(10 * time.Second)
		for p.Log().Start() < target {
			if time.Now().After(deadline) {
				t.Fatalf("retention stuck at %s, want %s:\n%s", p.Log().Start(), target, ev.dump())
			}
			time.Sleep(time.Millisecond)
		}
		writeMany(t, p, 100+round) // after the last checkpoint, in WAL only
		want := p.Store()
		flushed := p.Log().Flushed()
		if round%2 == 0 {
			err = p.Close()
		} else {
			err = p.Crash(int64(round * 37))
		}
		if err != nil {
			t.Fatal(err)
		}
		mark := len(ev.list())
		if p, err = StartLeader(cfg); err != nil {
			t.Fatalf("round %d: restart: %v", round, err)
		}
		rec := ev.waitFrom(t, mark, replica.EvRecovery, "checkpoint at")
		t.Logf("round %d: %s", round, rec.Text)
		if round%2 == 0 || p.Log().End() == flushed {
			// A clean stop, or a crash that kept exactly the flushed WAL
			// (all of it was flushed): every key.
			if d := want.Diff(p.Store()); d != "" {
				t.Fatalf("round %d: restarted leader differs: %s", round, d)
			}
		}
		if p.Log().End() < flushed {
			t.Fatalf("round %d: recovered to %s, flushed %s", round, p.Log().End(), flushed)
		}
	}
	p.Close()
}

// What the leader's recovery cannot rebuild stops it, naming the files:
// a damaged checkpoint, a checkpoint past the WAL's end or before its
// start, WAL that does not start at 0 with no checkpoint.
func TestLeaderRecoveryRefuses(t *testing.T) {
	build := func(t *testing.T) (string, LeaderConfig) {
		dir := t.TempDir()
		cfg := LeaderConfig{Dir: dir, SegmentSize: restartSeg, NoSync: true, WALKeep: restartSeg, CheckpointInterval: time.Millisecond}
		p, err := StartLeader(cfg)
		if err != nil {
			t.Fatal(err)
		}
		writeMany(t, p, 2000)
		deadline := time.Now().Add(10 * time.Second)
		for p.Log().Start() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no retention")
			}
			time.Sleep(time.Millisecond)
		}
		p.Close()
		return dir, cfg
	}
	ckpt := func(dir string) string { return filepath.Join(dir, CheckpointFile) }
	for name, tc := range map[string]struct {
		damage func(t *testing.T, dir string)
		names  func(dir string) string
	}{
		"damaged checkpoint": {func(t *testing.T, dir string) {
			b, _ := os.ReadFile(ckpt(dir))
			b[20] ^= 1
			os.WriteFile(ckpt(dir), b, 0o644)
		}, ckpt},
		"no checkpoint": {func(t *testing.T, dir string) { os.Remove(ckpt(dir)) }, ckpt},
		"last segment cut below the checkpoint": {func(t *testing.T, dir string) {
			// A cut in the last segment is a torn tail to the WAL; the
			// checkpoint says acknowledged WAL was there.
			_, lsn, _ := LoadImageFile(ckpt(dir))
			seg := lsn - lsn%restartSeg
			segs, _ := filepath.Glob(filepath.Join(dir, WALDir, "*.wal"))
			for _, s := range segs {
				if start, _ := wal.ParseLSN(fmt.Sprintf("0/%s", filepath.Base(s)[8:16])); start > seg {
					os.Remove(s)
				}
			}
			os.Truncate(filepath.Join(dir, WALDir, wal.SegmentName(seg)), int64(lsn-seg)-5)
		}, ckpt},
		"checkpoint past the WAL": {func(t *testing.T, dir string) {
			// The WAL's last segments lost whole: nothing in the WAL
			// itself says so, but the checkpoint does.
			segs, _ := filepath.Glob(filepath.Join(dir, WALDir, "*.wal"))
			_, lsn, _ := LoadImageFile(ckpt(dir))
			for _, s := range segs {
				if start, _ := wal.ParseLSN(fmt.Sprintf("0/%s", filepath.Base(s)[8:16])); start > lsn-restartSeg {
					os.Remove(s)
				}
			}
		}, ckpt},
	} {
		t.Run(name, func(t *testing.T) {
			dir, cfg := build(t)
			tc.damage(t, dir)
			before := treeOf(t, dir)
			_, err := StartLeader(cfg)
			if err == nil || !strings.Contains(err.Error(), tc.names(dir)) {
				t.Fatalf("StartLeader = %v, want an error naming %s", err, tc.names(dir))
			}
			t.Log(err)
			if after := treeOf(t, dir); after != before {
				t.Fatal("StartLeader changed the directory")
			}
		})
	}
}

// treeOf lists every file under dir with its size and a hash of it.
func treeOf(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		fmt.Fprintf(&b, "%s %d %08x\n", p, fi.Size(), wal.Checksum(data))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return b.String()
}
