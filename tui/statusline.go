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
		keep         int  // the detail stays down to this level of detail
		terse        bool // the label may go: the value speaks for itself
	}
	speedPaint := st.Text
	if snap.Speed != 1 && snap.Speed != 0 {
		speedPaint = st.Warn
	}
	var target string
	leader, rate := "leader ", "rate "
	switch {
	case snap.Source.Name != "":
		// A real cluster: the rate is WAL records, the workload's target rows.
		leader, rate = "primary ", "WAL records "
		if L.TargetRate > 0 {
			target = " (INSERTs " + rateText(L.TargetRate) + ")"
		}
	case L.TargetRate != L.Rate:
		target = " (target " + rateText(L.TargetRate) + ")"
	}
	var waiting string
	syncPaint, waitKeep := st.Text, 1
	if L.WaitingCommits > 0 {
		waiting = " · " + strconv.Itoa(L.WaitingCommits) + " waiting"
	}
	if w := unmeetable(L.Sync, len(snap.Followers)); w != "" {
		syncPaint, waiting, waitKeep = st.Error, " · "+w, 0
	}
	who := item{leader, L.Addr, st.Text, "", st.Text, 0, false}
	switch {
	case L.State == cluster.PrimaryDown:
		who.value, who.paint = "DOWN", st.Error
	case L.State == cluster.PrimaryPromoting:
		who.value, who.paint = leaderName(snap)+" promoting", st.Warn
	case promoted(L):
		// Who leads now first; its address as a detail.
		who.value, who.extra, who.keep = L.Name, " "+L.Addr, 1
	}
	items := [...]item{
		who,
		{"flush ", L.FlushLSN.String(), st.Bold, "", st.Text, 0, false},
		{rate, recordRate(snap), st.Text, target, st.Muted, 2, true},
		{"sync ", L.Sync.String(), syncPaint, waiting, st.Warn, waitKeep, false},
		{"speed ", speedText(snap.Speed), speedPaint, "", st.Text, 0, true},
	}
	frozen := ""
	if snap.Frozen {
		frozen = " FROZEN "
	}
	if snap.FramesOmitted > 0 {
		// Each link lists a bounded number of frames in flight; say how
		// many more there are rather than pretend the lane shows them all.
		frozen = " +" + strconv.Itoa(snap.FramesOmitted) + " frames not drawn " + frozen
	}
	// Drop details, the name and the address, least useful first, until the
	// line fits.
	terse := false
	label := func(it *item) string {
		if terse && it.terse {
			return ""
		}
		return it.label
	}
	total := func(extras int, brand, addr bool) int {
		n := width(frozen)
		sep := 1 // the first item's separator is one blank without the name
		if brand {
			n += width(" walship")
			sep = 3
		}
		for i, it := range items {
			if i == 0 && !addr {
				continue
			}
			n += sep + width(label(&it)) + width(it.value)
			sep = 3
			if extras >= it.keep {
				n += width(it.extra)
			}
		}
		return n
	}
	extras, brand, addr := 2, true, true
	if total(extras, brand, addr) > s.w {
		extras = 1 // the target rate goes first
	}
	if total(extras, brand, addr) > s.w {
		brand = false
	}
	if total(extras, brand, addr) > s.w {
		addr = false // the leader column shows it too
	}
	if total(extras, brand, addr) > s.w {
		terse = true
	}
	if total(extras, brand, addr) > s.w {
		extras = 0
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
		r.text(st.Muted, sep+label(&it))
		sep = " │ "
		r.text(it.paint, it.value)
		if extras >= it.keep && it.extra != "" {
			r.text(it.extraPaint, it.extra)
		}
	}
	if frozen != "" {
		r.right(st.Frozen, frozen)
	}
	r.fill()
}

// unmeetable says why a sync rule can never be met by the followers there
// are ("" when it can): every commit would wait for ever.
func unmeetable(r cluster.SyncRule, followers int) string {
	if !r.Remote() || r.N <= followers {
		return ""
	}
	return "never met: " + strconv.Itoa(followers) + " followers"
}
