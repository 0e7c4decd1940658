package tui

import (
	"walship/engine/cluster"
	"walship/theme"
)

// oneWayLabel is the row above a lane cut one way: which way frames are
// lost, while the connection stays up (so the state still says
// streaming). It reports false when the link is not cut one way.
func oneWayLabel(r *row, st *theme.Styles, lk *cluster.LinkStatus) bool {
	var labels []string
	switch {
	case lk.Cut || !lk.CutTo && !lk.CutFrom:
		return false
	case lk.CutTo && lk.CutFrom:
		labels = []string{"both ways LOST, connection up", "both ways LOST", "LOST"}
	case lk.CutTo:
		labels = []string{"leader's frames LOST (cut to)", "frames to it LOST", "to: LOST", "LOST"}
	default:
		labels = []string{"its status LOST (cut from)", "status LOST", "from: LOST", "LOST"}
	}
	s := labels[len(labels)-1]
	for _, l := range labels {
		if width(l) <= r.w {
			s = l
			break
		}
	}
	r.to((r.w - width(s)) / 2)
	r.text(st.Error, s)
	return true
}
