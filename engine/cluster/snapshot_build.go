package cluster

import (
	"sort"

	"walship/engine/link"
	"walship/engine/ship"
	"walship/engine/ship/replica"
)

// Snapshot returns the whole state as a value copy, with the events after
// sinceEvent.
func (c *Cluster) Snapshot(sinceEvent uint64) Snapshot {
	now := c.clk.Now()
	c.mu.Lock()
	l, name, state, last, addr := c.leader, c.primaryName, c.primaryState, c.primaryLast, c.primaryAddr
	promoting := c.promoting
	history := c.history
	c.mu.Unlock()
	ps := last
	var rows []replica.Row
	if l != nil {
		ps = l.Status()
		rows = l.Followers()
	}
	snap := Snapshot{
		World: now, Speed: c.clk.Speed(), Frozen: c.clk.Frozen(),
		Leader: LeaderStatus{
			Addr: addr, InsertLSN: ps.InsertLSN, FlushLSN: ps.FlushLSN, ReplayLSN: ps.FlushLSN,
			OldestLSN: ps.OldestLSN, Segments: ps.Segments, SegmentSize: ps.SegmentSize,
			WALKeep: ps.WALKeep, Slots: ps.Slots, MaxSlotWAL: c.cfg.MaxSlotWAL,
			Keys: ps.Keys, Records: ps.Records,
			Rate: c.work.measuredRate(now, ps.Records), TargetRate: c.work.rate(),
			Sync: ps.Sync, WaitingCommits: ps.Waiting, Commits: ps.Commits, CommitWait: ps.CommitWait,
			OldestWaitingLSN: ps.OldestWaiting, SyncWatermark: ps.Watermark, CommitLatency: c.commits.latency(),
			Name: name, State: state, Timeline: history.Timeline(),
		},
		History: append([]TimelineSwitch(nil), history...),
	}
	if l == nil {
		snap.Leader.Sync = c.syncRule()
	}
	if promoting != nil {
		// The promoted follower's own positions: its replay is seen
		// catching up to its flush before it opens.
		c.mu.Lock()
		f := promoting.follower
		c.mu.Unlock()
		if f != nil {
			st := f.Status()
			snap.Leader.InsertLSN, snap.Leader.FlushLSN, snap.Leader.ReplayLSN = st.Positions.Write, st.Positions.Flush, st.Positions.Replay
			snap.Leader.Keys = st.Keys
		}
	}
	snap.Lost, snap.Fenced = c.lostAndFenced()
	peers := map[string]replica.Row{}
	for _, p := range rows {
		peers[p.Name] = p
	}
	c.mu.Lock()
	members := append([]*member(nil), c.followers...)
	nodes := make([]*ship.Follower, len(members))
	lasts := make([]ship.FollowerStatus, len(members))
	crashed := make([]bool, len(members))
	rewinding := make([]bool, len(members))
	for i, m := range members {
		nodes[i], lasts[i], crashed[i], rewinding[i] = m.follower, m.last, m.crashed, m.rewinding
	}
	c.mu.Unlock()
	var buf []link.InFlight
	for i, m := range members {
		var st ship.FollowerStatus
		if nodes[i] != nil {
			st = nodes[i].Status()
		} else {
			st = lasts[i] // its last status; startup before it first runs
			if crashed[i] {
				st.State = StateStopped
			}
			st.Connected = false
		}
		rs := m.relay.Status()
		pr := peers[m.name]
		f := FollowerStatus{
			Name: m.name, Index: m.index, State: st.State,
			SentLSN: pr.Sent, WriteLSN: st.Positions.Write, FlushLSN: st.Positions.Flush,
			ReplayLSN: st.Positions.Replay, StartLSN: st.StartLSN,
			WriteLag: pr.WriteLag, FlushLag: pr.FlushLag, ReplayLag: pr.ReplayLag,
			ReplayPaused: st.Paused, ApplyDelay: st.ApplyDelay, FlushDelay: st.FlushDelay,
			Link: LinkStatus{
				Addr: rs.Addr, Cut: rs.Cut, Latency: rs.Latency, Jitter: rs.Jitter,
				Bandwidth: rs.Bandwidth, Slice: rs.Slice, CorruptArmed: rs.CorruptArmed,
				Corrupted: rs.Corrupted, Connected: rs.Connected,
				CutTo: rs.LoseDown, CutFrom: rs.LoseUp, DropArmed: rs.DropArmed, Lost: rs.Lost,
				BytesUp: rs.BytesUp, BytesDown: rs.BytesDown,
			},
			Records: st.Records, CRCFailures: st.CRCFailures, Resends: st.Resends, Keys: st.Keys,
			Backup:    BackupStatus{Active: st.Backup.Active, LSN: st.Backup.LSN, Done: st.Backup.Done, Total: st.Backup.Total, Count: st.Backup.Count},
			Slot:      SlotStatus{Enabled: pr.Slot.Enabled, RestartLSN: pr.Slot.Restart, Lost: pr.Slot.Lost},
			LastError: st.LastError,
			SyncState: pr.SyncState,
		}
		if rs.Cut && f.State != StateStopped && f.State != StateNeedsBackup {
			f.State = StateCut
		}
		f.Timeline = st.Timeline
		switch {
		case rewinding[i]:
			f.State = StateRewinding
		case l == nil && !st.Connected && (f.State == StateReconnecting || f.State == StateStartup || f.State == StateCatchup):
			f.State = StateNoPrimary
		}
		if f.State == StateNeedsRewind || f.State == StateRewinding {
			f.ForkLSN, _ = history.Fork(max(f.Timeline, 1))
		}
		if !pr.Connected {
			// pg_stat_replication has no row for it: no lag to show.
			f.WriteLag, f.FlushLag, f.ReplayLag = Lag{}, Lag{}, Lag{}
		}
		snap.Followers = append(snap.Followers, f)

		var omitted int
		buf, omitted = m.relay.InFlight(buf[:0])
		snap.FramesOmitted += omitted
		for _, fl := range buf {
			fr := Frame{
				ID: fl.ID, Follower: m.name, Index: m.index, Kind: fl.Kind.String(),
				LSN: fl.LSN, EndLSN: fl.EndLSN, Bytes: fl.Bytes,
				Sent: fl.Sent, Arrive: fl.Arrive, Corrupt: fl.Corrupt, Lost: fl.Lost, Pos: 1,
			}
			if fl.Dir == link.Up {
				fr.Dir = ToLeader
			}
			if fl.Arrive > fl.Sent {
				fr.Pos = min(max(float64(now-fl.Sent)/float64(fl.Arrive-fl.Sent), 0), 1)
			}
			snap.Frames = append(snap.Frames, fr)
		}
	}
	sort.Slice(snap.Frames, func(i, j int) bool { return snap.Frames[i].ID < snap.Frames[j].ID })
	snap.Events, snap.LastEvent = c.eventsSince(sinceEvent)
	snap.Reads = c.recentReads()
	if p := c.Fatal(); p != nil {
		snap.Fatal = p.Error()
	}
	return snap
}
