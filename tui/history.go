package tui

import (
	"math"
	"strconv"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// History the UI keeps for its sparklines: sampled on the world clock from
// the snapshots it reads (the engine keeps none), a sample every
// sampleEvery of world time, the last historySpan of them. Memory is
// bounded: a fixed ring per series, one set per follower shown.
const (
	historySpan    = time.Minute
	historySamples = 120
	sampleEvery    = historySpan / historySamples
)

// series is a ring of samples; NaN is "no sample" (an unknown lag).
type series struct {
	v [historySamples]float64
	n int // samples pushed, all time
}

func (s *series) push(v float64) {
	s.v[s.n%historySamples] = v
	s.n++
}

// values appends the samples held, oldest first, to dst.
func (s *series) values(dst []float64) []float64 {
	k := min(s.n, historySamples)
	for i := s.n - k; i < s.n; i++ {
		dst = append(dst, s.v[i%historySamples])
	}
	return dst
}

// lagHistory is one follower's lag: bytes behind the leader and time lag,
// for write, flush and replay.
type lagHistory struct {
	bytes, secs [3]series
}

// leaderHistory is the leader's write rate and its waiting commits.
type leaderHistory struct {
	rate, waiting series
}

// history holds every series and when the last sample was taken.
type history struct {
	at        time.Duration // world time of the last sample
	started   bool
	leader    leaderHistory
	followers map[string]*lagHistory
}

// sample takes a sample from s when sampleEvery of world time has passed
// since the last one (none while the world is frozen). A world that went
// back (a lesson rewound) starts the history again. behind gives a
// position's byte lag.
func (h *history) sample(s *cluster.Snapshot, behind func(pos wal.LSN) int64) {
	if h.started && s.World < h.at {
		*h = history{}
	}
	if h.started && s.World-h.at < sampleEvery {
		return
	}
	h.started, h.at = true, s.World
	if h.followers == nil {
		h.followers = map[string]*lagHistory{}
	}
	h.leader.rate.push(s.Leader.Rate)
	h.leader.waiting.push(float64(s.Leader.WaitingCommits))
	for i := range s.Followers {
		f := &s.Followers[i]
		fh := h.followers[f.Name]
		if fh == nil {
			fh = &lagHistory{}
			h.followers[f.Name] = fh
		}
		for j, p := range [3]struct {
			pos wal.LSN
			lag cluster.Lag
		}{{f.WriteLSN, f.WriteLag}, {f.FlushLSN, f.FlushLag}, {f.ReplayLSN, f.ReplayLag}} {
			fh.bytes[j].push(float64(behind(p.pos)))
			fh.secs[j].push(lagSeconds(p.lag))
		}
	}
	if len(h.followers) > len(s.Followers) {
		for name := range h.followers {
			if !hasFollower(s, name) {
				delete(h.followers, name)
			}
		}
	}
}

// lagSeconds is a time lag as a sample: 0 when idle (caught up), NaN when
// not measured.
func lagSeconds(l cluster.Lag) float64 {
	switch {
	case !l.Known:
		return math.NaN()
	case l.Idle:
		return 0
	}
	return l.D.Seconds()
}

func hasFollower(s *cluster.Snapshot, name string) bool {
	for i := range s.Followers {
		if s.Followers[i].Name == name {
			return true
		}
	}
	return false
}

// historyRow draws row k of a follower's lag history, under its facts:
// a heading with each kind's scale, then write, flush and replay, each
// with its byte lag and its time lag over the last minute side by side
// (a replay stall shows as byte lag climbing while the time lag follows
// only as the oldest unreplayed record ages).
func (p *followerPanel) historyRow(r *row, v *followerView, k int) {
	st := p.st
	h := v.hist
	const labelW = 7
	half := (r.w - labelW) / 2
	if k == 0 {
		r.text(st.Muted, padRight("lag", labelW))
		if h == nil {
			r.text(st.Muted, "over the last minute: no samples yet")
			return
		}
		var bytesTop, secsTop float64
		p.histScratch, bytesTop, secsTop = h.tops(p.histScratch[:0])
		r.text(st.Muted, padRight("bytes behind, top "+cluster.FormatSize(int64(bytesTop)), half))
		r.text(st.Muted, "time behind, top "+secondsText(secsTop)+" · last minute")
		return
	}
	i := k - 1
	r.text(*p.paintOf(i), padRight(positionNames[i].short, labelW))
	if h == nil {
		return
	}
	var bytesTop, secsTop float64
	p.histScratch, bytesTop, secsTop = h.tops(p.histScratch[:0])
	sparkW := half - 2
	p.histScratch = h.bytes[i].values(p.histScratch[:0])
	p.sparkBuf = appendSpark(p.sparkBuf[:0], p.histScratch, sparkW, bytesTop)
	r.text(*p.paintOf(i), string(p.sparkBuf))
	r.plain("  ")
	p.histScratch = h.secs[i].values(p.histScratch[:0])
	p.sparkBuf = appendSpark(p.sparkBuf[:0], p.histScratch, sparkW, secsTop)
	r.text(*p.paintOf(i), string(p.sparkBuf))
}

// tops is the top of the byte-lag and the time-lag scales: the largest
// sample of the three positions, so that their sparklines compare.
func (h *lagHistory) tops(scratch []float64) ([]float64, float64, float64) {
	var b, s float64
	for i := range 3 {
		scratch = h.bytes[i].values(scratch[:0])
		b = max(b, sparkTop(scratch))
		scratch = h.secs[i].values(scratch[:0])
		s = max(s, sparkTop(scratch))
	}
	return scratch, b, s
}

// secondsText is a time lag's scale top.
func secondsText(s float64) string {
	return cluster.FormatLag(time.Duration(s * float64(time.Second)))
}

// leaderHistoryRows is how many rows the leader's history takes.
const leaderHistoryRows = 4

// historyRow draws row k of the leader's history: the write rate and the
// commits waiting for the sync rule, each a heading and a sparkline.
func (p *leaderPanel) historyRow(in *row, h *leaderHistory, k int) {
	st := p.st
	s, title, unit := &h.rate, "rate, last minute", "/s"
	if k >= 2 {
		s, title, unit = &h.waiting, "waiting commits", ""
	}
	p.histScratch = s.values(p.histScratch[:0])
	top := sparkTop(p.histScratch)
	if k%2 == 0 {
		in.text(st.Muted, " "+title)
		return
	}
	in.plain(" ")
	topText := " " + strconv.FormatFloat(top, 'f', 0, 64) + unit
	p.sparkBuf = appendSpark(p.sparkBuf[:0], p.histScratch, in.room()-width(topText), top)
	paint := st.Text
	if k >= 2 {
		paint = st.Warn
	}
	in.text(paint, string(p.sparkBuf))
	in.text(st.Muted, topText)
}
