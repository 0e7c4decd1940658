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
	type item struct {
		label, value string
		paint        theme.Paint
		extra        string // optional detail, dropped first
		extraPaint   theme.Paint
	}
	speedPaint := st.Text
	if snap.Speed != 1 && snap.Speed != 0 {
		speedPaint = st.Warn
	}
	var target string
	if L.TargetRate != L.Rate {
		target = " (target " + rateText(L.TargetRate) + ")"
	}
	var waiting string
	if L.WaitingCommits > 0 {
		waiting = " · " + strconv.Itoa(L.WaitingCommits) + " commits waiting"
	}
	items := [...]item{
		{"leader ", L.Addr, st.Text, "", st.Text},
		{"flush ", L.FlushLSN.String(), st.Bold, "", st.Text},
		{"rate ", rateText(L.Rate), st.Text, target, st.Muted},
		{"sync ", L.Sync.String(), st.Text, waiting, st.Warn},
		{"speed ", speedText(snap.Speed), speedPaint, "", st.Text},
	}
	frozen := ""
	if snap.Frozen {
		frozen = " FROZEN "
	}
	// Drop details, then the name, then the address, until the line fits.
	total := func(extras, brand, addr bool) int {
		n := width(frozen)
		if brand {
			n += width(" walship")
		}
		for i, it := range items {
			if i == 0 && !addr {
				continue
			}
			n += 3 + width(it.label) + width(it.value)
			if extras {
				n += width(it.extra)
			}
		}
		return n
	}
	extras, brand, addr := true, true, true
	if total(extras, brand, addr) > s.w {
		extras = false
	}
	if total(extras, brand, addr) > s.w {
		brand = false
	}
	if total(extras, brand, addr) > s.w {
		addr = false
	}
	sep := " │ "
	if brand {
		r.text(st.Accent, " walship")
	} else {
		sep = " "
	}
	for i, it := range items {
		if i == 0 && !addr {
			continue
		}
		r.text(st.Muted, sep+it.label)
		sep = " │ "
		r.text(it.paint, it.value)
		if extras && it.extra != "" {
			r.text(it.extraPaint, it.extra)
		}
	}
	if frozen != "" {
		r.right(st.Frozen, frozen)
	}
	r.fill()
}
