package fake

import (
	"fmt"
	"math/rand"
	"sort"
	"sync"
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// SimConfig sets up a Sim. Zero fields take the room-friendly defaults the
// walship command uses.
type SimConfig struct {
	Followers   int
	Rate        float64       // records per second of world time
	Latency     time.Duration // one way
	ApplyDelay  time.Duration
	FlushDelay  time.Duration
	SegmentSize int64
	WALKeep     int64
	Sync        cluster.SyncRule
	Seed        int64
	// Now is the real clock (time.Now when nil); tests pass their own.
	Now func() time.Time
}

const recSize = 48 // bytes per synthetic record

// Sim is a synthetic cluster: see the package doc. It is safe for
// concurrent use; time advances whenever Snapshot or Do is called.
type Sim struct {
	mu       sync.Mutex
	now      func() time.Time
	lastReal time.Time
	rng      *rand.Rand

	world  time.Duration
	speed  float64
	frozen bool

	rate    float64
	acc     float64
	latency time.Duration
	apply   time.Duration
	flushD  time.Duration

	leader  cluster.LeaderStatus
	stamps  []stamp // when the leader flushed each LSN, oldest first
	fs      []*simFollower
	frames  []*simFrame
	nextID  uint64
	nextIdx int

	events []cluster.Event
	seq    uint64
}

type stamp struct {
	lsn   wal.LSN
	world time.Duration
}

type simFollower struct {
	st         cluster.FollowerStatus
	flushDue   time.Duration
	nextApply  time.Duration
	lastStatus time.Duration
	reported   [3]wal.LSN // positions in the last status sent
	acked      [3]wal.LSN // positions the leader has heard
	heard      bool
	wantResend bool
	stateAt    time.Duration // when a transitional state ends
}

type simFrame struct {
	f   cluster.Frame
	pos [3]wal.LSN // status payload
}

// NewSim starts a synthetic cluster.
func NewSim(cfg SimConfig) *Sim {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Followers == 0 {
		cfg.Followers = 3
	}
	if cfg.SegmentSize == 0 {
		cfg.SegmentSize = 16 << 10
	}
	if cfg.WALKeep == 0 {
		cfg.WALKeep = 128 << 10
	}
	s := &Sim{
		now:      cfg.Now,
		lastReal: cfg.Now(),
		rng:      rand.New(rand.NewSource(cfg.Seed)),
		speed:    1,
		rate:     cfg.Rate,
		latency:  cfg.Latency,
		apply:    cfg.ApplyDelay,
		flushD:   cfg.FlushDelay,
	}
	s.leader = cluster.LeaderStatus{
		Addr:        "127.0.0.1:5432",
		SegmentSize: cfg.SegmentSize,
		WALKeep:     cfg.WALKeep,
		Segments:    1,
		TargetRate:  cfg.Rate,
		Sync:        cfg.Sync,
	}
	for range cfg.Followers {
		s.addFollower()
	}
	s.event("", cluster.EvInfo, 0, fmt.Sprintf("simulated cluster with %d followers", cfg.Followers))
	return s
}

func (s *Sim) addFollower() *simFollower {
	s.nextIdx++
	f := &simFollower{st: cluster.FollowerStatus{
		Name:       cluster.FollowerName(s.nextIdx),
		Index:      s.nextIdx,
		State:      cluster.StateStartup,
		ApplyDelay: s.apply,
		FlushDelay: s.flushD,
		SyncState:  "async",
		Link: cluster.LinkStatus{
			Addr:    fmt.Sprintf("127.0.0.1:%d", 6000+s.nextIdx),
			Latency: s.latency,
		},
	}}
	f.stateAt = s.world + 200*time.Millisecond
	if s.leader.OldestLSN > 0 {
		f.st.State = cluster.StateNeedsBackup
	}
	s.fs = append(s.fs, f)
	return f
}

func (s *Sim) event(follower string, kind cluster.EventKind, lsn wal.LSN, text string) {
	s.seq++
	s.events = append(s.events, cluster.Event{Seq: s.seq, World: s.world, Follower: follower, Kind: kind, LSN: lsn, Text: text})
	if len(s.events) > cluster.EventRingSize {
		s.events = s.events[len(s.events)-cluster.EventRingSize:]
	}
}

// advance moves world time to the real clock, in steps small enough that
// frames and positions move one at a time.
func (s *Sim) advance() {
	real := s.now()
	dt := real.Sub(s.lastReal)
	s.lastReal = real
	if s.frozen || dt <= 0 {
		return
	}
	dt = min(dt, 2*time.Second)
	wdt := time.Duration(float64(dt) * s.speed)
	const step = 10 * time.Millisecond
	for wdt > 0 {
		d := min(wdt, step)
		wdt -= d
		s.world += d
		s.step(d)
	}
}

func (s *Sim) write(n int) {
	for range n {
		s.leader.InsertLSN += recSize
		s.leader.Records++
		s.leader.Commits++
		s.leader.Keys = min(s.leader.Keys+1, 1000)
	}
	s.leader.FlushLSN = s.leader.InsertLSN
	s.stamps = append(s.stamps, stamp{s.leader.FlushLSN, s.world})
	if len(s.stamps) > 4096 {
		s.stamps = s.stamps[len(s.stamps)-4096:]
	}
	keep := wal.LSN(s.leader.WALKeep)
	if s.leader.InsertLSN > keep {
		seg := wal.LSN(s.leader.SegmentSize)
		s.leader.OldestLSN = (s.leader.InsertLSN - keep) / seg * seg
	}
	s.leader.Segments = int((s.leader.InsertLSN-s.leader.OldestLSN)/wal.LSN(s.leader.SegmentSize)) + 1
}

func (s *Sim) send(f *simFollower, dir cluster.Direction, kind string, lsn, end wal.LSN) *simFrame {
	s.nextID++
	fr := &simFrame{f: cluster.Frame{
		ID: s.nextID, Follower: f.st.Name, Index: f.st.Index, Dir: dir, Kind: kind,
		LSN: lsn, EndLSN: end, Bytes: int(end - lsn), Sent: s.world, Arrive: s.world + f.st.Link.Latency,
	}}
	if dir == cluster.ToFollower && kind == "data" && f.st.Link.CorruptArmed > 0 {
		f.st.Link.CorruptArmed--
		f.st.Link.Corrupted++
		fr.f.Corrupt = true
	}
	s.frames = append(s.frames, fr)
	return fr
}

func (s *Sim) connected(f *simFollower) bool {
	switch f.st.State {
	case cluster.StateStreaming, cluster.StateCatchup:
		return !f.st.Link.Cut
	}
	return false
}

func (s *Sim) step(d time.Duration) {
	s.acc += s.rate * d.Seconds()
	if n := int(s.acc); n > 0 {
		s.acc -= float64(n)
		s.write(n)
	}
	for _, f := range s.fs {
		s.stepFollower(f)
	}
	// Deliver frames that have arrived.
	kept := s.frames[:0]
	for _, fr := range s.frames {
		if fr.f.Arrive > s.world {
			kept = append(kept, fr)
			continue
		}
		s.deliver(fr)
	}
	s.frames = kept
	s.updateSync()
}

func (s *Sim) stepFollower(f *simFollower) {
	st := &f.st
	switch st.State {
	case cluster.StateStartup, cluster.StateReconnecting:
		if s.world < f.stateAt || st.Link.Cut {
			return
		}
		if st.WriteLSN < s.leader.OldestLSN {
			st.State = cluster.StateNeedsBackup
			s.event(st.Name, cluster.EvWALRemoved, st.WriteLSN, "requested WAL segment has already been removed")
			return
		}
		st.State = cluster.StateCatchup
		st.SentLSN = st.WriteLSN
		st.Link.Connected = true
		s.event(st.Name, cluster.EvConnect, st.WriteLSN, "streaming from "+st.WriteLSN.String())
	case cluster.StateBackup:
		st.Backup.Done += 2621 // 256 KiB per second of world time, in 10ms steps
		if st.Backup.Done >= st.Backup.Total {
			st.Backup.Active = false
			st.Backup.Count++
			st.WriteLSN, st.FlushLSN, st.ReplayLSN, st.SentLSN = st.Backup.LSN, st.Backup.LSN, st.Backup.LSN, st.Backup.LSN
			st.StartLSN = st.Backup.LSN
			st.Keys = s.leader.Keys
			st.State = cluster.StateCatchup
			s.event(st.Name, cluster.EvBackup, st.Backup.LSN, "base backup done, streaming")
		}
		return
	}
	if !s.connected(f) {
		return
	}
	// Ship what the leader has flushed, a few records per frame.
	if st.SentLSN < s.leader.FlushLSN && !f.wantResend {
		if st.SentLSN < s.leader.OldestLSN {
			st.State = cluster.StateNeedsBackup
			s.event(st.Name, cluster.EvWALRemoved, st.SentLSN, "requested WAL segment has already been removed")
			return
		}
		end := min(s.leader.FlushLSN, st.SentLSN+4*recSize)
		s.send(f, cluster.ToFollower, "data", st.SentLSN, end)
		st.SentLSN = end
	}
	// Flush and replay.
	if f.flushDue != 0 && s.world >= f.flushDue {
		st.FlushLSN = st.WriteLSN
		f.flushDue = 0
	}
	if st.WriteLSN > st.FlushLSN && f.flushDue == 0 {
		f.flushDue = s.world + st.FlushDelay + time.Millisecond
	}
	if !st.ReplayPaused && st.ReplayLSN < st.FlushLSN && s.world >= f.nextApply {
		if st.ApplyDelay == 0 {
			st.ReplayLSN = st.FlushLSN
		} else {
			st.ReplayLSN = min(st.ReplayLSN+recSize, st.FlushLSN)
			f.nextApply = s.world + st.ApplyDelay
		}
		st.Keys = min(int(st.ReplayLSN/recSize), 1000)
	}
	pos := [3]wal.LSN{st.WriteLSN, st.FlushLSN, st.ReplayLSN}
	if pos != f.reported || s.world-f.lastStatus > time.Second {
		f.reported, f.lastStatus = pos, s.world
		s.send(f, cluster.ToLeader, "status", st.WriteLSN, st.WriteLSN).pos = pos
	}
	if s.leader.FlushLSN-st.WriteLSN > 16*recSize {
		st.State = cluster.StateCatchup
	} else {
		st.State = cluster.StateStreaming
	}
}

func (s *Sim) find(name string) *simFollower {
	for _, f := range s.fs {
		if f.st.Name == name {
			return f
		}
	}
	return nil
}

func (s *Sim) deliver(fr *simFrame) {
	f := s.find(fr.f.Follower)
	if f == nil || !s.connected(f) {
		return
	}
	st := &f.st
	switch {
	case fr.f.Dir == cluster.ToLeader && fr.f.Kind == "resend":
		st.SentLSN = fr.f.LSN
		f.wantResend = false
	case fr.f.Dir == cluster.ToLeader:
		f.acked = fr.pos
		f.heard = true
	case fr.f.Kind == "data" && fr.f.Corrupt:
		st.CRCFailures++
		st.Resends++
		s.event(st.Name, cluster.EvCRC, fr.f.LSN, "record CRC mismatch: dropped, asking for resend")
		s.send(f, cluster.ToLeader, "resend", st.WriteLSN, st.WriteLSN)
		f.wantResend = true
	case fr.f.Kind == "data" && fr.f.LSN == st.WriteLSN:
		st.WriteLSN = fr.f.EndLSN
		st.Records += uint64(fr.f.Bytes / recSize)
		st.Link.BytesDown += uint64(fr.f.Bytes)
	}
}

func (s *Sim) flushedAt(lsn wal.LSN) (time.Duration, bool) {
	i := sort.Search(len(s.stamps), func(i int) bool { return s.stamps[i].lsn > lsn })
	if i == len(s.stamps) {
		return 0, false
	}
	return s.stamps[i].world, true
}

func (s *Sim) lag(f *simFollower, p wal.LSN, prev cluster.Lag) cluster.Lag {
	if !f.heard {
		return prev
	}
	if p >= s.leader.FlushLSN {
		return cluster.Lag{D: prev.D, Idle: true, Known: true}
	}
	at, ok := s.flushedAt(p)
	if !ok {
		return prev
	}
	return cluster.Lag{D: s.world - at, Known: true}
}

func (s *Sim) updateSync() {
	r := s.leader.Sync
	s.leader.WaitingCommits = 0
	if r.Mode <= cluster.SyncLocal {
		for _, f := range s.fs {
			f.st.SyncState = "async"
		}
		return
	}
	idx := map[cluster.SyncMode]int{cluster.SyncRemoteWrite: 0, cluster.SyncOn: 1, cluster.SyncRemoteApply: 2}[r.Mode]
	var got []wal.LSN
	for _, f := range s.fs {
		f.st.SyncState = "quorum"
		if s.connected(f) {
			got = append(got, f.acked[idx])
		}
	}
	sort.Slice(got, func(i, j int) bool { return got[i] > got[j] })
	var confirmed wal.LSN
	if r.N >= 1 && len(got) >= r.N {
		confirmed = got[r.N-1]
	}
	if confirmed < s.leader.FlushLSN {
		s.leader.WaitingCommits = min(4, int((s.leader.FlushLSN-confirmed)/recSize))
	}
}

// Snapshot implements cluster.Controller.
func (s *Sim) Snapshot(since uint64) cluster.Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	snap := cluster.Snapshot{World: s.world, Speed: s.speed, Frozen: s.frozen, Leader: s.leader, LastEvent: s.seq}
	snap.Leader.TargetRate = s.rate
	snap.Leader.Rate = s.rate
	for _, f := range s.fs {
		f.st.WriteLag = s.lag(f, f.acked[0], f.st.WriteLag)
		f.st.FlushLag = s.lag(f, f.acked[1], f.st.FlushLag)
		f.st.ReplayLag = s.lag(f, f.acked[2], f.st.ReplayLag)
		snap.Followers = append(snap.Followers, f.st)
	}
	for _, fr := range s.frames {
		c := fr.f
		if span := c.Arrive - c.Sent; span > 0 {
			c.Pos = min(1, max(0, float64(s.world-c.Sent)/float64(span)))
		}
		snap.Frames = append(snap.Frames, c)
	}
	for _, e := range s.events {
		if e.Seq > since {
			snap.Events = append(snap.Events, e)
		}
	}
	return snap
}

func (s *Sim) each(name string, fn func(f *simFollower)) error {
	if name == "all" {
		for _, f := range s.fs {
			fn(f)
		}
		return nil
	}
	f := s.find(name)
	if f == nil {
		return fmt.Errorf("no follower %s", name)
	}
	fn(f)
	return nil
}

func (s *Sim) dropFrames(name string) {
	kept := s.frames[:0]
	for _, fr := range s.frames {
		if fr.f.Follower != name {
			kept = append(kept, fr)
		}
	}
	s.frames = kept
}

// Do implements cluster.Controller.
func (s *Sim) Do(c cluster.Command) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.advance()
	var err error
	switch c.Verb {
	case cluster.VerbPause, cluster.VerbResume:
		err = s.each(c.Follower, func(f *simFollower) { f.st.ReplayPaused = c.Verb == cluster.VerbPause })
	case cluster.VerbCut:
		err = s.each(c.Follower, func(f *simFollower) {
			f.st.Link.Cut, f.st.Link.Connected = true, false
			if f.st.State != cluster.StateStopped {
				f.st.State = cluster.StateCut
			}
			s.dropFrames(f.st.Name)
		})
	case cluster.VerbRestore:
		err = s.each(c.Follower, func(f *simFollower) {
			f.st.Link.Cut = false
			if f.st.State == cluster.StateCut {
				f.st.State, f.stateAt = cluster.StateReconnecting, s.world+2*f.st.Link.Latency+100*time.Millisecond
			}
		})
	case cluster.VerbLatency:
		err = s.each(c.Follower, func(f *simFollower) { f.st.Link.Latency, f.st.Link.Jitter = c.Dur, c.Jitter })
	case cluster.VerbCorrupt:
		err = s.each(c.Follower, func(f *simFollower) {
			if c.LSN != 0 {
				for _, fr := range s.frames {
					if fr.f.Follower == f.st.Name && fr.f.Dir == cluster.ToFollower && fr.f.LSN == c.LSN {
						fr.f.Corrupt = true
						f.st.Link.Corrupted++
						return
					}
				}
			}
			f.st.Link.CorruptArmed++
		})
	case cluster.VerbCrash:
		err = s.each(c.Follower, func(f *simFollower) {
			f.st.State, f.st.Link.Connected = cluster.StateStopped, false
			f.st.WriteLSN = f.st.FlushLSN
			s.dropFrames(f.st.Name)
		})
	case cluster.VerbRestart:
		err = s.each(c.Follower, func(f *simFollower) {
			f.st.State, f.stateAt = cluster.StateStartup, s.world+500*time.Millisecond
			f.st.ReplayLSN = min(f.st.ReplayLSN, f.st.FlushLSN)
			s.event(f.st.Name, cluster.EvRecovery, f.st.FlushLSN, "recovered WAL up to "+f.st.FlushLSN.String())
		})
	case cluster.VerbBackup:
		err = s.each(c.Follower, func(f *simFollower) {
			f.st.State = cluster.StateBackup
			f.st.Backup = cluster.BackupStatus{Active: true, LSN: s.leader.FlushLSN, Total: int64(s.leader.Keys*recSize) + 16<<10, Count: f.st.Backup.Count}
		})
	case cluster.VerbApplyDelay:
		err = s.each(c.Follower, func(f *simFollower) { f.st.ApplyDelay = c.Dur })
	case cluster.VerbFlushDelay:
		err = s.each(c.Follower, func(f *simFollower) { f.st.FlushDelay = c.Dur })
	case cluster.VerbAdd:
		s.addFollower()
	case cluster.VerbRemove:
		if s.find(c.Follower) == nil {
			err = fmt.Errorf("no follower %s", c.Follower)
			break
		}
		kept := s.fs[:0]
		for _, f := range s.fs {
			if f.st.Name != c.Follower {
				kept = append(kept, f)
			}
		}
		s.fs = kept
		s.dropFrames(c.Follower)
	case cluster.VerbSync:
		s.leader.Sync = cluster.SyncRule{Mode: c.Mode, N: int(c.N)}
	case cluster.VerbRate:
		s.rate = float64(c.N)
	case cluster.VerbWrite:
		s.write(int(c.N))
	case cluster.VerbSet, cluster.VerbDel:
		s.write(1)
	case cluster.VerbFreeze:
		s.frozen = true
	case cluster.VerbUnfreeze:
		s.frozen = false
	case cluster.VerbSpeed:
		s.speed = c.Factor
	case cluster.VerbWALKeep:
		s.leader.WALKeep = c.N
	case cluster.VerbSlots:
		s.leader.Slots = c.On
	case cluster.VerbBandwidth, cluster.VerbSlice:
	default:
		err = fmt.Errorf("fake: %s not simulated", c.Verb)
	}
	if err != nil {
		return err
	}
	s.event(c.Follower, cluster.EvCommand, 0, c.String())
	return nil
}
