package tui

import (
	"strconv"
	"strings"

	"charm.land/bubbles/v2/key"

	"walship/engine/cluster"
	"walship/theme"
)

// Drawing a source that cannot see everything the in-process engine can
// (a real PostgreSQL cluster, see engine/pg): what it cannot observe is
// said where it would be drawn, never invented.

// bandGlyph draws the bytes in flight on a lane whose frames are not
// observable: the [write_lsn, sent_lsn] range.
const bandGlyph = "━"

// notObservable is the phrase for what src cannot see, as wide as fits in
// w cells.
func notObservable(src *cluster.Source, what string, w int) string {
	for _, s := range []string{
		what + " not observable in " + src.Name + "'s views",
		what + " not observable",
		"not observable",
		"unobserved",
		"n/a",
	} {
		if width(s) <= w {
			return s
		}
	}
	return ""
}

// inFlightLane draws a lane whose frames cannot be seen: the bytes sent
// but not yet written by the follower (sent_lsn - write_lsn) as a band
// labelled with their size, or an idle lane when there are none.
func inFlightLane(r *row, st *theme.Styles, f *cluster.FollowerStatus, w int) {
	if f.Link.Cut {
		cutLane(r, st, w, true)
		return
	}
	if f.SentLSN <= f.WriteLSN {
		r.repeat(st.Lane, st.Glyphs.Lane, w)
		return
	}
	label := " " + cluster.FormatSize(int64(f.SentLSN-f.WriteLSN)) + " in flight "
	if width(label) > w-2 {
		r.repeat(st.Data, bandGlyph, w)
		return
	}
	left := (w - width(label)) / 2
	r.repeat(st.Data, bandGlyph, left)
	r.text(st.Data, label)
	r.repeat(st.Data, bandGlyph, w-left-width(label))
}

// sourceLaneLabel is the row above a lane when the link is not
// observable: it says so, instead of a latency.
func sourceLaneLabel(r *row, st *theme.Styles, src *cluster.Source, f *cluster.FollowerStatus) {
	if f.Link.Cut {
		r.to((r.w - 10) / 2)
		r.text(st.Error, "link CUT")
		return
	}
	s := notObservable(src, "link latency", r.w)
	r.to((r.w - width(s)) / 2)
	r.text(st.Muted, s)
}

// numPaint is the paint of a follower's numbers: muted when its last
// report is older than its status interval (they may be out of date).
func (p *followerPanel) numPaint(v *followerView) theme.Paint {
	if v.f.Stale {
		return p.st.Muted
	}
	return p.st.Text
}

// barPaint is the paint of bar i: muted for a stale follower.
func (p *followerPanel) barPaint(v *followerView, i int) *theme.Paint {
	if v.f.Stale {
		return &p.st.Muted
	}
	return p.paintOf(i)
}

// sourceBadges are the title's marks from a source's own view: the
// timeline, a stale report, an inferred state.
func (p *followerPanel) sourceBadges(r *row, f *cluster.FollowerStatus) {
	st := p.st
	if f.Inferred {
		r.whole(st.Muted, " (inferred)")
	}
	if f.Timeline != 0 {
		// The timeline it follows; another than the primary's in the
		// warning colour (it has yet to follow a switch, or cannot).
		tlPaint := st.Muted
		if p.leader != nil && p.leader.Timeline != 0 && p.leader.Timeline != f.Timeline {
			tlPaint = st.Warn
		}
		r.whole(tlPaint, "  TL"+strconv.Itoa(int(f.Timeline)))
	}
	if f.Stale && p.wide() {
		r.whole(st.Warn, "  stale report")
	} else if f.Stale {
		r.whole(st.Warn, "  stale")
	}
}

// sourceInfo draws the rows of facts under a follower's bars for a source
// that cannot see the link: the bytes in flight and the timeline, the
// slot, and what is not observable (or why the state was inferred).
func (p *followerPanel) sourceInfo(r *row, v *followerView, n int) {
	st, f := p.st, &v.f
	kv := func(k, val string, vp theme.Paint) {
		if r.room() < width(k)+width(val)+3 {
			return
		}
		r.text(st.Muted, k+" ")
		r.text(vp, val)
		r.plain("  ")
	}
	num := p.numPaint(v)
	switch n {
	case 0:
		kv("sent_lsn", f.SentLSN.String(), num)
		inFlight := int64(0)
		if f.SentLSN > f.WriteLSN {
			inFlight = int64(f.SentLSN - f.WriteLSN)
		}
		kv("in flight", cluster.FormatSize(inFlight), num)
	case 1:
		s := &f.Slot
		switch {
		case !s.Enabled:
			kv("slot", "none", st.Muted)
		case s.Lost:
			r.text(st.Error, "slot wal_status lost  ")
		default:
			wp := num
			if s.WALStatus != "reserved" {
				wp = st.Warn
			}
			kv("slot wal_status", s.WALStatus, wp)
			if s.SafeWALKnown {
				kv("safe_wal_size", cluster.FormatSize(s.SafeWAL), num)
			}
			kv("restart_lsn", s.RestartLSN.String(), num)
		}
	case 2:
		if f.LastError != "" {
			r.text(st.Error, f.LastError)
			return
		}
		r.text(st.Muted, notObservable(p.src, "frames, CRC, apply cost:", r.room()))
	}
}

// commandRefuser is a controller that refuses some commands outright:
// engine/pg's Watcher refuses those with no real counterpart, and every
// one when its controls are off.
type commandRefuser interface{ Refuses(cluster.Verb) bool }

// refusedKeys switches off the keys whose commands ctrl refuses, so that
// the footer and the help list only keys that do something (the palette
// still takes every command, and says why one is refused).
func (k *KeyMap) refusedKeys(ctrl cluster.Controller) {
	r, ok := ctrl.(commandRefuser)
	if !ok {
		return
	}
	for _, b := range []struct {
		binding *key.Binding
		verb    cluster.Verb
	}{
		{&k.Pause, cluster.VerbPause}, {&k.Cut, cluster.VerbCut}, {&k.Corrupt, cluster.VerbCorrupt},
		{&k.Crash, cluster.VerbCrash}, {&k.Backup, cluster.VerbBackup},
		{&k.Slower, cluster.VerbLatency}, {&k.Quicker, cluster.VerbLatency},
		{&k.RateUp, cluster.VerbRate}, {&k.RateDown, cluster.VerbRate}, {&k.Burst, cluster.VerbWrite},
		{&k.Sync, cluster.VerbSync}, {&k.Add, cluster.VerbAdd}, {&k.Remove, cluster.VerbRemove},
		{&k.Freeze, cluster.VerbFreeze}, {&k.TimeSlow, cluster.VerbSpeed}, {&k.TimeFast, cluster.VerbSpeed},
		{&k.CrashLeader, cluster.VerbCrash}, {&k.Failover, cluster.VerbFailover}, {&k.Promote, cluster.VerbPromote},
		{&k.Read, cluster.VerbRead}, {&k.ReadWait, cluster.VerbRead},
	} {
		if r.Refuses(b.verb) {
			b.binding.SetEnabled(false)
		}
	}
}

// recordRate is the status line's rate: the records per second, or that
// the source cannot see them (PostgreSQL without pg_walinspect rights).
func recordRate(s *cluster.Snapshot) string {
	if !s.Source.Observes(cluster.ObsRecords) {
		return "not observable"
	}
	return rateText(s.Leader.Rate)
}

// commits is the leader's commits row, its value in w cells: on a real
// cluster they are the INSERTs walship's workload committed, not every
// client's, and with no workload (watching only) they are not observable.
func commits(st *theme.Styles, src *cluster.Source, L *cluster.LeaderStatus, w int) (label, value string, p theme.Paint) {
	switch {
	case !src.Observes(cluster.ObsCommits):
		return "commits", strings.TrimSpace(notObservable(src, "", w)), st.Muted
	case src.Name != "":
		return "INSERTs", strconv.FormatUint(L.Commits, 10), st.Text
	}
	return "commits", strconv.FormatUint(L.Commits, 10), st.Text
}

// leaderPaint is the paint of a leader's value: muted when the source
// cannot reach the leader and shows the last values it saw.
func leaderPaint(st *theme.Styles, L *cluster.LeaderStatus, p theme.Paint) theme.Paint {
	if L.Stale || L.State == cluster.PrimaryDown {
		return st.Muted
	}
	return p
}

// leaderBadge marks a leader whose values are the last the source saw.
func leaderBadge(r *row, st *theme.Styles, L *cluster.LeaderStatus) {
	if L.Stale {
		r.text(st.Warn, "  stale")
	}
}
