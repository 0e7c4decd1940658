package tui

import (
	"strconv"

	"walship/engine/cluster"
	"walship/theme"
)

// statusLine is the top row: the leader, the workload, the sync rule and
// world time.
type statusLine struct {
	st *theme.Styles
	w  int
}

// SetSize sets the width.
func (s *statusLine) SetSize(w int) { s.w = w }

func rateText(r float64) string {
	if r >= 10 || r == float64(int(r)) {
		return strconv.Itoa(int(r+0.5)) + "/s"
	}
	return strconv.FormatFloat(r, 'f', 1, 64) + "/s"
}

func speedText(f float64) string {
	if f <= 0 {
		return "1×"
	}
	if f < 1 {
		return "1/" + strconv.FormatFloat(1/f, 'g', 3, 64) + "×"
	}
	return strconv.FormatFloat(f, 'g', 3, 64) + "×"
}

func (s *statusLine) row(r *row, snap *cluster.Snapshot) {
	st := s.st
	L := &snap.Leader
	sep := func() { r.text(st.Muted, " │ ") }
	r.text(st.Accent, " walship")
	sep()
	if s.w >= 110 {
		r.text(st.Muted, "leader ")
		r.text(st.Text, L.Addr)
		r.plain(" ")
	}
	r.text(st.Muted, "flush ")
	r.text(st.Bold, L.FlushLSN.String())
	sep()
	r.text(st.Muted, "rate ")
	r.text(st.Text, rateText(L.Rate))
	if s.w >= 110 && L.TargetRate != L.Rate {
		r.text(st.Muted, " (target "+rateText(L.TargetRate)+")")
	}
	sep()
	r.text(st.Muted, "sync ")
	r.text(st.Text, L.Sync.String())
	if L.WaitingCommits > 0 {
		r.text(st.Warn, " · "+strconv.Itoa(L.WaitingCommits)+" commits waiting")
	}
	sep()
	r.text(st.Muted, "speed ")
	if snap.Speed != 1 && snap.Speed != 0 {
		r.text(st.Warn, speedText(snap.Speed))
	} else {
		r.text(st.Text, speedText(snap.Speed))
	}
	if snap.Frozen {
		r.right(st.Frozen, " FROZEN ")
	}
	r.fill()
}
