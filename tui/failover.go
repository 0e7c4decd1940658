package tui

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/theme"
)

// A failover on screen (issue 17): the leader's column says who leads,
// whether it is down or still promoting, and on which timeline; a band
// under the status line tells the timeline history, what the last
// failover lost, and any split (a fenced primary).

// leaderExtra is a row the leader's column adds under its title during
// and after a failover.
type leaderExtra uint8

const (
	exName       leaderExtra = iota + 1 // who leads now, after a promotion
	exDown                              // LEADER DOWN
	exRefused                           // writes refused
	exPromoting                         // PROMOTING
	exReplaying                         // replaying flushed WAL
	exReplayLSNs                        // replay → flush
	exReplayBar                         // the replay bar catching up to flush
)

// maxLeaderExtras bounds the rows leaderExtras returns.
const maxLeaderExtras = 6

// leaderExtras are the rows the leader's column adds for s, in order.
func leaderExtras(s *cluster.Snapshot) (ex [maxLeaderExtras]leaderExtra, n int) {
	L := &s.Leader
	add := func(e leaderExtra) { ex[n] = e; n++ }
	if name := leaderName(s); name != "" && name != cluster.LeaderName {
		add(exName)
	}
	switch L.State {
	case cluster.PrimaryDown:
		add(exDown)
		add(exRefused)
	case cluster.PrimaryPromoting:
		add(exPromoting)
		add(exReplaying)
		add(exReplayLSNs)
		add(exReplayBar)
	}
	return ex, n
}

// promoted reports whether a node other than the first leader leads.
func promoted(L *cluster.LeaderStatus) bool {
	return L.Name != "" && L.Name != cluster.LeaderName
}

// leaderName is the node that leads, or is being promoted to: while it
// promotes, the engine may still name the old primary and list the node
// with the followers, in state promoting.
func leaderName(s *cluster.Snapshot) string {
	if s.Leader.State == cluster.PrimaryPromoting {
		for i := range s.Followers {
			if s.Followers[i].State == cluster.PrimaryPromoting {
				return s.Followers[i].Name
			}
		}
	}
	return s.Leader.Name
}

// timelineText is "TL 2" (or "" for a source without timelines).
func timelineText(tl uint32) string {
	if tl == 0 {
		return ""
	}
	return "TL " + strconv.FormatUint(uint64(tl), 10)
}

// extraRow draws one of the leader's failover rows.
func (p *leaderPanel) extraRow(in *row, s *cluster.Snapshot, e leaderExtra) {
	st, L := p.st, &s.Leader
	switch e {
	case exName:
		in.text(st.Leader, " "+leaderName(s))
		if L.State == cluster.PrimaryUp || L.State == "" {
			in.whole(st.Muted, " (primary)") // not yet while it promotes
		}
	case exDown:
		in.text(st.BadgeError, padRight(" LEADER DOWN", in.w))
	case exRefused:
		in.text(st.Error, " writes refused")
	case exPromoting:
		in.text(st.BadgeWarn, padRight(" PROMOTING", in.w))
	case exReplaying:
		if width(" replaying flushed WAL") <= in.room() {
			in.text(st.Muted, " replaying flushed WAL")
		} else {
			in.text(st.Muted, " replaying WAL")
		}
	case exReplayLSNs:
		// replay → flush, closer where the column is narrow.
		from, to, arrow := L.ReplayLSN.String(), L.FlushLSN.String(), " → "
		if 1+width(from+arrow+to) > in.room() {
			arrow = "→"
		}
		in.plain(" ")
		in.text(st.Replay, from)
		if 1+width(from+arrow+to) <= in.w {
			in.text(st.Muted, arrow)
			in.text(st.Flush, to)
		}
	case exReplayBar:
		in.plain(" ")
		bw := in.room() - 1
		bm := barMarks{ticks: []tick{{L.FlushLSN, st.Glyphs.Watermark, &st.Flush}}}
		bar(in, st, p.sc, L.ReplayLSN, bw, &st.Replay, &bm)
	}
}

// failoverBanner is the band under the status line after a failover: the
// timeline history (as pg's 0000000N.history and patronictl history show
// it), what the last failover lost, and each fenced primary (the split).
type failoverBanner struct {
	st *theme.Styles
}

// bannerRows is how many rows the band needs for s (0: no failover yet).
func bannerRows(s *cluster.Snapshot) int {
	n := len(s.Fenced)
	if len(s.History) > 0 || len(s.Lost) > 0 {
		n += 2
	}
	return n
}

// row draws row y of the band.
func (b *failoverBanner) row(r *row, s *cluster.Snapshot, y int) {
	if len(s.History) > 0 || len(s.Lost) > 0 {
		switch y {
		case 0:
			b.history(r, s)
			r.fill()
			return
		case 1:
			b.lost(r, s)
			r.fill()
			return
		}
		y -= 2
	}
	if y >= 0 && y < len(s.Fenced) {
		b.split(r, s, &s.Fenced[y])
	}
	r.fill()
}

// history is the timeline and its switches, newest last: "TL 2 ·
// history TL1 → TL2 at 0/3F00: follower-1 promoted: highest flush LSN
// 0/3A40". Earlier switches go first when the row is short.
func (b *failoverBanner) history(r *row, s *cluster.Snapshot) {
	st := b.st
	tl := s.Leader.Timeline
	if tl == 0 && len(s.History) > 0 {
		tl = s.History[len(s.History)-1].Timeline + 1
	}
	r.text(st.Badge, " "+timelineText(tl)+" ")
	h := s.History
	last := len(h) - 1
	if last < 0 {
		return
	}
	sw := func(t cluster.TimelineSwitch) string {
		return "TL" + strconv.FormatUint(uint64(t.Timeline), 10) + " → TL" + strconv.FormatUint(uint64(t.Timeline)+1, 10) + " at " + t.ForkLSN.String()
	}
	newest := sw(h[last])
	reason := ""
	if h[last].Reason != "" {
		reason = ": " + h[last].Reason
	}
	// The label only if the newest switch and its reason still fit whole.
	if label := " timeline history "; width(label+newest+reason) <= r.room() {
		r.text(st.Muted, label)
	} else {
		r.plain(" ")
	}
	// The earlier switches that fit beside the newest whole, newest first.
	var earlier []string
	room := r.room() - width(newest) - width(reason)
	for i := last - 1; i >= 0; i-- {
		e := sw(h[i]) + " · "
		if width(e) > room {
			earlier = append(earlier, "… ")
			break
		}
		room -= width(e)
		earlier = append(earlier, e)
	}
	for i := len(earlier) - 1; i >= 0; i-- {
		r.text(st.Muted, earlier[i])
	}
	r.text(st.Accent, newest)
	r.text(st.Text, reason)
}

// lostFor is the lost-writes entry of the switch to timeline tl, if any.
func lostFor(s *cluster.Snapshot, tl uint32) *cluster.LostWrites {
	for i := len(s.Lost) - 1; i >= 0; i-- {
		if s.Lost[i].Timeline == tl {
			return &s.Lost[i]
		}
	}
	return nil
}

// lost says what the last failover cost: the acknowledged commits the new
// timeline does not have, or plainly that there were none.
func (b *failoverBanner) lost(r *row, s *cluster.Snapshot) {
	st := b.st
	var tl uint32
	if n := len(s.History); n > 0 {
		tl = s.History[n-1].Timeline + 1
	} else if n := len(s.Lost); n > 0 {
		tl = s.Lost[n-1].Timeline
	}
	lw := lostFor(s, tl)
	if lw == nil || lw.Count == 0 {
		r.text(st.OK, " 0 acknowledged commits lost")
		r.text(st.Muted, " in the switch to "+timelineText(tl))
		return
	}
	r.text(st.BadgeError, " LOST ")
	r.text(st.Error, " "+strconv.FormatUint(lw.Count, 10)+" acknowledged commit"+plural(lw.Count)+
		" ("+lw.From.String()+".."+lw.To.String()+") under "+lw.Rule.String())
	why := ": " + lw.Promoted + " promoted, forked at " + lw.ForkLSN.String()
	if len(lw.Keys) > 0 {
		keys := " — " + strings.Join(lw.Keys, ", ")
		if uint64(len(lw.Keys)) < lw.Count {
			keys += ", …"
		}
		// The keys before the why: a learner checks them in a read.
		r.text(st.Error, keys)
	}
	r.whole(st.Muted, why)
}

// split draws a fenced primary: a node that runs as a primary on a
// timeline the cluster has left, taking writes nobody follows.
func (b *failoverBanner) split(r *row, s *cluster.Snapshot, f *cluster.FencedPrimary) {
	st := b.st
	r.text(st.BadgeError, " SPLIT ")
	commits := "; " + strconv.FormatUint(f.Commits, 10) + " commit" + plural(f.Commits) + " taken there"
	say := " " + f.Name + " is a primary on " + timelineText(f.Timeline) + ", fenced: no follower follows it" + commits
	if width(say) > r.room() {
		say = " " + f.Name + ": a fenced primary on " + timelineText(f.Timeline) + ", nobody follows" + commits
	}
	r.text(st.Error, say)
	r.whole(st.Muted, " (insert "+f.InsertLSN.String()+", flush "+f.FlushLSN.String()+")")
}

func plural(n uint64) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// sameFailover reports whether a and b draw the same failover story.
func sameFailover(a, b *cluster.Snapshot) bool {
	return slices.Equal(a.History, b.History) && slices.Equal(a.Fenced, b.Fenced) &&
		slices.EqualFunc(a.Lost, b.Lost, func(x, y cluster.LostWrites) bool {
			return x.Timeline == y.Timeline && x.ForkLSN == y.ForkLSN && x.Promoted == y.Promoted &&
				x.Rule == y.Rule && x.From == y.From && x.To == y.To && x.Count == y.Count && slices.Equal(x.Keys, y.Keys)
		})
}

// The follower states of a failover.

// rewindState reports whether f's WAL went past a fork: it needs, or is
// taking, a rewind.
func rewindState(f *cluster.FollowerStatus) bool {
	return f.ForkLSN != 0 && (f.State == cluster.StateNeedsRewind || f.State == cluster.StateRewinding)
}

// forkText is what a follower past a fork shows about it.
func forkText(f *cluster.FollowerStatus) string {
	if f.State == cluster.StateRewinding {
		return "rewinding to the fork " + f.ForkLSN.String()
	}
	return "WAL past the fork " + f.ForkLSN.String()
}

// leaderKeyCommand is what K sends. In the engine's commands "leader"
// is the primary, whoever it is now: crash leader crashes it; restart
// leader restarts it when it is down, and otherwise brings back the old
// primary a failover left behind (it rewinds and rejoins as a follower)
// or ends a split (the fenced primary stops, rewinds and rejoins). So K
// crashes the primary while it runs and nothing waits to rejoin, and
// restarts otherwise.
func leaderKeyCommand(s *cluster.Snapshot) cluster.Command {
	c := cluster.Command{Verb: cluster.VerbRestart, Follower: cluster.LeaderName}
	L := &s.Leader
	switch {
	case L.State == cluster.PrimaryDown, len(s.Fenced) > 0:
		return c
	case promoted(L):
		// The first leader, deposed: back unless it runs as a follower.
		for i := range s.Followers {
			if s.Followers[i].Name == cluster.LeaderName && s.Followers[i].State != cluster.StateStopped {
				c.Verb = cluster.VerbCrash
				return c
			}
		}
		return c
	}
	c.Verb = cluster.VerbCrash
	return c
}

// errOldLeaderRow is what the follower keys that crash or restart say on
// the old leader's row: the command's "leader" names the primary.
var errOldLeaderRow = fmt.Errorf("crash and restart leader act on the primary, not this row (K crashes or restarts the primary)")

// lowestForScale lowers the bars' scale to take in a promoting leader's
// replay position: its bar must be seen catching up.
func lowestForScale(L *cluster.LeaderStatus, lowest wal.LSN) wal.LSN {
	if L.State == cluster.PrimaryPromoting && L.ReplayLSN != 0 {
		return min(lowest, L.ReplayLSN)
	}
	return lowest
}
