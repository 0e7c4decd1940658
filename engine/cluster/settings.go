package cluster

import "math"

// Settings are the commands that set up a world as s shows it: the
// workload's rate, the sync rule, retention, slots and the world's speed;
// each follower's link (latency and jitter, bandwidth, slicing) and its
// replay and fsync costs, as one command for all followers where they
// agree; which followers have replay paused, their link cut (both ways or
// one way) or are stopped; and last, when the world is frozen, the freeze. A recorded
// session starts with them, and a rewound world gets them back.
func (s *Snapshot) Settings() []Command {
	L := &s.Leader
	cmds := []Command{
		{Verb: VerbRate, N: int64(math.Round(L.TargetRate))},
		{Verb: VerbSync, Mode: L.Sync.Mode, N: int64(max(L.Sync.N, 1))},
		{Verb: VerbWALKeep, N: L.WALKeep},
		{Verb: VerbSlots, On: L.Slots},
	}
	if s.Speed > 0 && s.Speed != 1 {
		cmds = append(cmds, Command{Verb: VerbSpeed, Factor: s.Speed})
	}
	fs := s.Followers
	// perFollower adds one command a follower, or one for all of them
	// when they agree.
	perFollower := func(cmd func(f *FollowerStatus) Command) {
		all := len(fs) > 1
		for i := range fs {
			all = all && cmd(&fs[i]) == cmd(&fs[0])
		}
		if all {
			c := cmd(&fs[0])
			c.Follower = "all"
			cmds = append(cmds, c)
			return
		}
		for i := range fs {
			c := cmd(&fs[i])
			c.Follower = fs[i].Name
			cmds = append(cmds, c)
		}
	}
	perFollower(func(f *FollowerStatus) Command {
		return Command{Verb: VerbLatency, Dur: f.Link.Latency, Jitter: f.Link.Jitter}
	})
	perFollower(func(f *FollowerStatus) Command { return Command{Verb: VerbBandwidth, N: f.Link.Bandwidth} })
	perFollower(func(f *FollowerStatus) Command { return Command{Verb: VerbSlice, On: f.Link.Slice} })
	perFollower(func(f *FollowerStatus) Command { return Command{Verb: VerbApplyDelay, Dur: f.ApplyDelay} })
	perFollower(func(f *FollowerStatus) Command { return Command{Verb: VerbFlushDelay, Dur: f.FlushDelay} })
	for i := range fs {
		f := &fs[i]
		if f.ReplayPaused {
			cmds = append(cmds, Command{Verb: VerbPause, Follower: f.Name})
		}
		if f.Link.Cut {
			cmds = append(cmds, Command{Verb: VerbCut, Follower: f.Name})
		}
		if f.Link.CutTo {
			cmds = append(cmds, Command{Verb: VerbCut, Follower: f.Name, Way: WayTo})
		}
		if f.Link.CutFrom {
			cmds = append(cmds, Command{Verb: VerbCut, Follower: f.Name, Way: WayFrom})
		}
		if f.State == StateStopped {
			cmds = append(cmds, Command{Verb: VerbCrash, Follower: f.Name})
		}
	}
	if L.State == PrimaryDown {
		// The primary was down: it is down again (its files hold only
		// what it had flushed), so a failover can follow as it did.
		cmds = append(cmds, Command{Verb: VerbCrash, Follower: LeaderName})
	}
	if s.Frozen {
		cmds = append(cmds, Command{Verb: VerbFreeze})
	}
	return cmds
}
