package tui

import (
	"testing"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// benchSnapshot is a busy cluster: n followers and frames in flight spread
// over their links, both directions.
func benchSnapshot(followers, frames int) cluster.Snapshot {
	s := fixture()
	s.Followers = s.Followers[:0:0]
	for i := 1; i <= followers; i++ {
		f := fixture().Followers[i%3]
		f.Name, f.Index = cluster.FollowerName(i), i
		f.WriteLSN -= wal.LSN(i * 48)
		s.Followers = append(s.Followers, f)
	}
	s.Frames = nil
	for i := range frames {
		idx := i%followers + 1
		dir := cluster.ToFollower
		kind := "data"
		if i%3 == 2 {
			dir, kind = cluster.ToLeader, "status"
		}
		s.Frames = append(s.Frames, cluster.Frame{
			ID: uint64(i + 1), Follower: cluster.FollowerName(idx), Index: idx, Dir: dir, Kind: kind,
			LSN: wal.LSN(0x1000 + i*48), Pos: float64(i%17) / 17, Corrupt: i%41 == 0,
		})
	}
	for i := range s.Followers {
		s.Followers[i].Link.Cut = false
		s.Followers[i].State = cluster.StateStreaming
	}
	return s
}

// BenchmarkView renders the whole screen at 200x50 with colour (the dark
// theme), bypassing the View memo: 5 followers and 100 frames in flight;
// 3 followers, whose blocks then have room for a minute of lag history
// (sparklines, the history full); and the presenter layout.
func BenchmarkView(b *testing.B) {
	for _, c := range []struct {
		name      string
		followers int
		room      bool
	}{{"5 followers", 5, false}, {"3 followers, sparklines", 3, false}, {"presenter", 3, true}} {
		b.Run(c.name, func(b *testing.B) {
			s := benchSnapshot(c.followers, 100)
			m, _ := newTestModel(b, s, 200, 50, "dark")
			if got := len(m.views); got != c.followers {
				b.Fatalf("%d followers", got)
			}
			if c.room {
				press(b, m, "z")
			}
			for i := range historySamples + 10 { // a full minute of history
				s.World += sampleEvery
				s.Followers[0].ReplayLSN -= wal.LSN(i % 7 * 16)
				m.Update(snapMsg{gen: m.gen, snap: s})
			}
			if !c.room && c.followers == 3 && !m.lay.history() {
				b.Fatal("no history shown")
			}
			b.ReportAllocs()
			b.ResetTimer()
			var n int
			for b.Loop() {
				n += len(m.render())
			}
			b.ReportMetric(float64(n)/float64(b.N), "bytes/frame")
		})
	}
}

// BenchmarkIngest is the per-tick cost of taking a changed snapshot in.
func BenchmarkIngest(b *testing.B) {
	s1, s2 := benchSnapshot(5, 100), benchSnapshot(5, 100)
	for i := range s2.Frames {
		s2.Frames[i].Pos += 0.01
	}
	m, _ := newTestModel(b, s1, 200, 50, "dark")
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		s := s1
		if i%2 == 1 {
			s = s2
		}
		m.Update(snapMsg{gen: m.gen, snap: s})
	}
}
