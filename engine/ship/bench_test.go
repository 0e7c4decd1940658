package ship

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"walship/engine/wal"
)

// benchShip streams b.N records from a leader to followers connected
// directly (no relay) and times until every follower has replayed them: the
// whole sender/receiver path, with the leader's append, its fsync, the
// send, the followers' CRC check, write, fsync, and replay into the store.
func benchShip(b *testing.B, followers int, noSync bool) {
	dir := b.TempDir()
	seg := int64(16 << 20)
	p, err := StartLeader(LeaderConfig{
		Dir: filepath.Join(dir, "leader"), SegmentSize: seg, NoSync: noSync,
		BatchBytes: 256 << 10, WALKeep: 64 << 20,
		// The writer outruns the followers: without slots one falls off
		// the retained WAL and the run ends waiting for a base backup.
		Slots: true,
	})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var ss []*Follower
	for i := range followers {
		s, err := StartFollower(FollowerConfig{
			Name: fmt.Sprintf("follower-%d", i+1), Dir: filepath.Join(dir, fmt.Sprint(i)),
			Leader: p.Addr(), SegmentSize: seg, NoSync: noSync,
		})
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		ss = append(ss, s)
	}
	key, val := []byte("k000000000"), make([]byte, 100)
	b.ReportAllocs()
	b.SetBytes(int64(wal.Overhead + len(key) + len(val)))
	var end wal.LSN
	for i := 0; b.Loop(); i++ {
		k := i % 100_000
		for j := len(key) - 1; j > 0; j-- {
			key[j] = '0' + byte(k%10)
			k /= 10
		}
		if end, err = p.Append(wal.OpSet, key, val); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for _, s := range ss {
		for s.Status().Positions.Replay < end {
			if time.Now().After(deadline) {
				st := s.Status()
				b.Fatalf("%s did not replay to %s: %+v state %s needs backup %v: %s", s.Name(), end, st.Positions, st.State, st.NeedsBackup, st.LastError)
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkShip is one follower, no fsync: the CPU cost of the path.
func BenchmarkShip(b *testing.B) { benchShip(b, 1, true) }

// BenchmarkShip3 is three followers, no fsync.
func BenchmarkShip3(b *testing.B) { benchShip(b, 3, true) }

// BenchmarkShip3Fsync is three followers with group-commit fsync.
func BenchmarkShip3Fsync(b *testing.B) { benchShip(b, 3, false) }
