package tui

import (
	"strings"
	"testing"

	"walship/engine/cluster"
	"walship/theme"
)

func TestStatusLineSaysFramesNotDrawn(t *testing.T) {
	s := statusLine{st: theme.NewStyles(theme.Mono()), w: 120}
	for _, tc := range []struct {
		snap cluster.Snapshot
		want string
	}{
		{cluster.Snapshot{Speed: 1, FramesOmitted: 37}, "+37 frames not drawn"},
		{cluster.Snapshot{Speed: 1, Frozen: true, FramesOmitted: 2}, "+2 frames not drawn  FROZEN"},
	} {
		var b strings.Builder
		r := newRow(&b, s.w)
		s.row(&r, &tc.snap)
		if !strings.Contains(b.String(), tc.want) {
			t.Errorf("status line %q lacks %q", b.String(), tc.want)
		}
	}
	var b strings.Builder
	r := newRow(&b, s.w)
	s.row(&r, &cluster.Snapshot{Speed: 1})
	if strings.Contains(b.String(), "not drawn") {
		t.Errorf("status line mentions omitted frames when there are none: %q", b.String())
	}
}
