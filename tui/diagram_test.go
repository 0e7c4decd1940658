package tui

import (
	"strings"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/golden"

	"walship/engine/cluster"
	"walship/theme"
)

// diagramWorld is a second and a half of three followers behind 300ms
// links: data and status both ways, a keepalive, a corrupted frame and
// its CRC failure, a frame lost to a drop, follower-3 cut at 0.8s and
// follower-2 crashed at 1.1s.
func diagramWorld() frameTrace {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	frames := []cluster.Frame{
		{ID: 1, Index: 1, Dir: cluster.ToFollower, Kind: "data", Sent: ms(0), Arrive: ms(300)},
		{ID: 2, Index: 2, Dir: cluster.ToFollower, Kind: "data", Sent: ms(100), Arrive: ms(400), Corrupt: true},
		{ID: 3, Index: 1, Dir: cluster.ToLeader, Kind: "status", Sent: ms(350), Arrive: ms(650)},
		{ID: 4, Index: 3, Dir: cluster.ToFollower, Kind: "data", Sent: ms(300), Arrive: ms(600), Lost: true},
		{ID: 5, Index: 2, Dir: cluster.ToLeader, Kind: "resend", Sent: ms(450), Arrive: ms(750)},
		{ID: 6, Index: 3, Dir: cluster.ToFollower, Kind: "keepalive", Sent: ms(700), Arrive: ms(1000)},
		{ID: 7, Index: 2, Dir: cluster.ToFollower, Kind: "data", Sent: ms(800), Arrive: ms(1100)},
		{ID: 8, Index: 1, Dir: cluster.ToFollower, Kind: "backup", Sent: ms(1200), Arrive: ms(1500)},
	}
	t := newFrameTrace()
	for at := ms(0); at <= ms(1400); at += ms(50) {
		s := cluster.Snapshot{World: at}
		for i := 1; i <= 3; i++ {
			f := cluster.FollowerStatus{Name: cluster.FollowerName(i), Index: i, State: cluster.StateStreaming,
				Link: cluster.LinkStatus{Latency: ms(300), Connected: true}}
			if i == 3 && at >= ms(800) {
				f.Link.Cut, f.Link.Connected, f.State = true, false, cluster.StateCut
			}
			if i == 2 && at >= ms(1100) {
				f.State, f.Link.Connected = cluster.StateStopped, false
			}
			s.Followers = append(s.Followers, f)
		}
		for _, f := range frames {
			if f.Index == 3 && at >= ms(800) {
				continue // the cut dropped what was in flight
			}
			if f.Sent <= at && at < f.Arrive {
				f.Pos = float64(at-f.Sent) / float64(f.Arrive-f.Sent)
				s.Frames = append(s.Frames, f)
			}
		}
		t.feed(&s)
		if at == ms(400) {
			t.addEvents([]cluster.Event{{World: at, Follower: "follower-2", Kind: cluster.EvCRC}})
		}
	}
	return t
}

func TestGoldenDiagram(t *testing.T) {
	tr := diagramWorld()
	p := diagramPane{st: mono}
	var out strings.Builder
	for _, size := range [][2]int{{120, 24}, {80, 14}} {
		for _, line := range p.ViewAs(&tr, size[0], size[1]) {
			l := plain(line)
			if w := width(strings.TrimRight(l, "\n")); w > size[0] {
				t.Errorf("%dx%d: a line %d wide", size[0], size[1], w)
			}
			out.WriteString(strings.TrimRight(l, " \n") + "\n")
		}
		out.WriteString("----\n")
	}
	golden.RequireEqual(t, out.String())
}

// The trace tells an arrival from a loss: a frame gone before its time
// with its link broken was lost there; a Lost frame at its arrival.
func TestTraceArrivalsAndLosses(t *testing.T) {
	tr := diagramWorld()
	want := map[uint64]struct {
		lost bool
		end  time.Duration
	}{
		1: {false, 300 * time.Millisecond},
		4: {true, 600 * time.Millisecond},   // dropped: thrown away at its arrival
		6: {true, 800 * time.Millisecond},   // in flight when the link was cut
		7: {false, 1100 * time.Millisecond}, // arrived as the follower crashed
	}
	for _, f := range tr.frames {
		w, ok := want[f.f.ID]
		if !ok {
			continue
		}
		if f.lost != w.lost || f.end != w.end {
			t.Errorf("frame %d: lost %v at %v, want lost %v at %v", f.f.ID, f.lost, f.end, w.lost, w.end)
		}
	}
	if len(tr.spans) != 2 {
		t.Errorf("spans %+v, want the cut and the crash", tr.spans)
	}
}

// BenchmarkDiagram draws the diagram at 120x24, as a frame does while it
// shows (go test -bench Diagram ./tui/).
func BenchmarkDiagram(b *testing.B) {
	tr := diagramWorld()
	p := diagramPane{st: theme.NewStyles(theme.Dark())}
	for b.Loop() {
		p.ViewAs(&tr, 120, 24)
	}
}
