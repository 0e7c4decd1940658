package ship

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// A leader's replication slots outlive its restart, as PostgreSQL's do:
// restarted (cleanly or by a crash) with slots off in its settings, it
// has its follower's slot back before the follower reconnects, and
// retention keeps the WAL the slot pins.
func TestSlotsSurviveRestart(t *testing.T) {
	for _, crash := range []bool{false, true} {
		t.Run(map[bool]string{false: "close", true: "crash"}[crash], func(t *testing.T) {
			dir := t.TempDir()
			cfg := LeaderConfig{
				Dir: dir, SegmentSize: restartSeg, NoSync: true, WALKeep: restartSeg,
				Slots: true, CheckpointInterval: time.Millisecond,
			}
			p, err := StartLeader(cfg)
			if err != nil {
				t.Fatal(err)
			}
			fdir := t.TempDir()
			s := startFollower(t, p, fdir, &hostileEvents{})
			writeMany(t, p, 300)
			waitReplayed(t, s, p.Log().End())
			closeWithin(t, s)
			waitPeer(t, p, "follower-1", func(ps replica.Row) bool { return !ps.Connected })
			pinned := p.Followers()[0].Slot.Restart
			// Well past wal_keep_size: only the slot keeps the follower's WAL.
			writeMany(t, p, 3000)
			p.SetWALKeep(restartSeg) // a checkpoint now
			if p.Log().Start() > pinned {
				t.Fatalf("the slot at %s did not hold the WAL: oldest %s", pinned, p.Log().Start())
			}
			if crash {
				err = p.Crash(0)
			} else {
				err = p.Close()
			}
			if err != nil {
				t.Fatal(err)
			}

			cfg.Slots = false
			ev := &hostileEvents{}
			cfg.OnEvent = ev.add
			if p, err = StartLeader(cfg); err != nil {
				t.Fatal(err)
			}
			defer p.Close()
			ev.wait(t, replica.EvRecovery, "1 replication slot(s) kept")
			rows := p.Followers()
			if len(rows) != 1 || !rows[0].Slot.Enabled || rows[0].Slot.Restart != pinned || rows[0].Connected {
				t.Fatalf("after the restart: %+v, want follower-1's slot at %s", rows, pinned)
			}
			if !p.Status().Slots {
				t.Error("slots are off after the restart")
			}
			writeMany(t, p, 3000)
			p.SetWALKeep(restartSeg)
			if p.Log().Start() > pinned {
				t.Fatalf("after the restart the slot at %s did not hold the WAL: oldest %s", pinned, p.Log().Start())
			}
			// The follower comes back and streams from where it was.
			s = startFollower(t, p, fdir, ev)
			defer s.Close()
			waitReplayed(t, s, p.Log().End())
			if st := s.Status(); st.Backup.Count != 0 {
				t.Errorf("follower needed a base backup: %+v", st)
			}
		})
	}
}

// The slots file round-trips; any damage to it is refused at startup,
// naming the file, and the leader starts nothing.
func TestSlotsFile(t *testing.T) {
	slots := []replica.SlotRecord{{Name: "follower-1", Restart: 0x4800}, {Name: "follower-2", Restart: 0x100, Lost: true}}
	b := encodeSlots(true, slots)
	on, got, err := decodeSlots(b)
	if err != nil || !on || len(got) != 2 || got[0] != slots[0] || got[1] != slots[1] {
		t.Fatalf("round trip: %v %+v %v", on, got, err)
	}
	for i := range b {
		for _, bad := range [][]byte{b[:i], flip(b, i)} {
			if _, _, err := decodeSlots(bad); !errors.Is(err, wal.ErrCorrupt) {
				t.Fatalf("damage at byte %d (len %d) not refused: %v", i, len(bad), err)
			}
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, SlotsFile), flip(b, 9), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = StartLeader(LeaderConfig{Dir: dir, SegmentSize: restartSeg, NoSync: true})
	if !errors.Is(err, wal.ErrCorrupt) || !strings.Contains(err.Error(), filepath.Join(dir, SlotsFile)) {
		t.Fatalf("StartLeader with a damaged slots file: %v", err)
	}
}

func flip(b []byte, i int) []byte {
	c := append([]byte(nil), b...)
	c[i] ^= 0x40
	return c
}
