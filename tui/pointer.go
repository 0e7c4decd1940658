package tui

import (
	"walship/engine/cluster"
	"walship/scenario"
)

// marks are the parts of a follower's block (or of the leader's column) a
// lesson's step points at. A marked part is drawn as a badge with a ▸, so
// it stands out from the back of a room, in colour or without.
type marks uint32

// The parts of a follower's block that can be marked.
const (
	markName marks = 1 << iota // the title: the follower as a whole
	markState
	markPaused
	markLane
	markSent
	markWrite
	markFlush
	markReplay
	markKeys
	markResends
	markRecords
	markCRC
	markCorrupted
	markBackups
	markSlot
)

// pointerGlyph leads a marked label.
const pointerGlyph = "▸"

// followerMarks maps a point's field on a follower to the part drawn.
var followerMarks = map[string]marks{
	"": markName, "state": markState, "paused": markPaused, "lane": markLane,
	"sent": markSent, "write": markWrite, "flush": markFlush, "replay": markReplay,
	"keys": markKeys, "resends": markResends, "records": markRecords,
	"crc-failures": markCRC, "corrupted": markCorrupted, "backups": markBackups, "slot": markSlot,
}

// leaderRows maps a point's field on the leader to its row in the leader's
// column (see leaderPanel.row).
var leaderRows = map[string]int{
	"": 0, "insert": 2, "flush": 3, "oldest": 4, "retained": 5, "wal-keep": 6,
	"segments": 7, "keys": 8, "commits": 9, "waiting-commits": 10, "slots": 11,
}

// pointsFor is what the points mark on the follower named. A point at
// the leader is the primary's column, never a follower's block, even the
// old leader's once it follows (that one is old-leader).
func pointsFor(points *[scenario.MaxPoints]scenario.Point, name string) marks {
	var m marks
	for _, pt := range points {
		if pt.Subject == name && pt.Subject != "" && pt.Subject != cluster.LeaderName ||
			pt.Subject == "old-leader" && name == cluster.LeaderName {
			m |= followerMarks[pt.Field]
		}
	}
	return m
}

// leaderMarks is the set of the leader's rows the points mark, one bit a
// row.
func leaderMarks(points *[scenario.MaxPoints]scenario.Point) uint32 {
	var m uint32
	for _, pt := range points {
		if pt.Subject != "leader" {
			continue
		}
		if row, ok := leaderRows[pt.Field]; ok {
			m |= 1 << row
		}
	}
	return m
}

// shownMarks is which marks a follower block blockH rows high can draw
// where they belong; the others go on its title (see unshown).
func shownMarks(blockH int) marks {
	m := markName | markState | markPaused
	if blockH < 4 { // one stacked bar: the parts are not drawn apart
		return m
	}
	m |= markLane | markWrite | markFlush | markReplay
	if blockH > 4 {
		m |= markSent | markKeys | markResends
	}
	if blockH > 6 {
		m |= markRecords | markCRC | markCorrupted | markBackups | markSlot
	}
	return m
}
