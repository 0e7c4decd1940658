package session

import (
	"time"

	"walship/engine/cluster"
	"walship/engine/wal"
	"walship/scenario"
)

// Short names for the field lists.
type (
	lsn       = wal.LSN
	dur       = time.Duration
	syncMode  = cluster.SyncMode
	direction = cluster.Direction
)

func durationNS(n int64) time.Duration { return time.Duration(n) }

// The field lists below are part of the file format (see the package
// doc): a record stores a struct as its fields in exactly this order.
// They are frozen for format version 1. A field added to one of these
// structs is appended to its list with its since set to v, the new
// format version, and Version becomes v: a file of version u is read
// with the fields of versions up to u, the others staying zero.

// fieldsOf is the list to read a file of version v with.
func fieldsOf[T any](all []field[T], v uint16) []field[T] {
	n := 0
	for _, f := range all {
		if f.since <= v {
			n++
		}
	}
	return all[:n] // fields are only ever appended
}

// added marks f as added to its list in format version v.
func added[T any](v uint16, f field[T]) field[T] {
	f.since = v
	return f
}

// scalars are a snapshot's fields outside its leader, followers, frames
// and events.
type scalars struct {
	World         int64 // nanoseconds of world time
	Speed         float64
	Frozen        bool
	FramesOmitted int
	LastEvent     uint64
	SourceName    string
	Unobservable  cluster.Observable
	Fatal         string
}

func scalarsOf(s *cluster.Snapshot) scalars {
	return scalars{int64(s.World), s.Speed, s.Frozen, s.FramesOmitted, s.LastEvent, s.Source.Name, s.Source.Unobservable, s.Fatal}
}

func (c scalars) apply(s *cluster.Snapshot) {
	s.World, s.Speed, s.Frozen, s.FramesOmitted, s.LastEvent = durationNS(c.World), c.Speed, c.Frozen, c.FramesOmitted, c.LastEvent
	s.Source = cluster.Source{Name: c.SourceName, Unobservable: c.Unobservable}
	s.Fatal = c.Fatal
}

type (
	sc = scalars
	ls = cluster.LeaderStatus
	fs = cluster.FollowerStatus
	fr = cluster.Frame
	ev = cluster.Event
	le = scenario.LessonState
	rr = cluster.ReadResult
)

var scalarFields = []field[sc]{
	intF(func(v *sc) *int64 { return &v.World }),
	floatF(func(v *sc) *float64 { return &v.Speed }),
	boolF(func(v *sc) *bool { return &v.Frozen }),
	intF(func(v *sc) *int { return &v.FramesOmitted }),
	uintF(func(v *sc) *uint64 { return &v.LastEvent }),
	strF(func(v *sc) *string { return &v.SourceName }),
	uintF(func(v *sc) *cluster.Observable { return &v.Unobservable }),
	strF(func(v *sc) *string { return &v.Fatal }),
}

var leaderFields = []field[ls]{
	strF(func(v *ls) *string { return &v.Addr }),
	uintF(func(v *ls) *lsn { return &v.InsertLSN }),
	uintF(func(v *ls) *lsn { return &v.FlushLSN }),
	uintF(func(v *ls) *lsn { return &v.OldestLSN }),
	intF(func(v *ls) *int { return &v.Segments }),
	intF(func(v *ls) *int64 { return &v.SegmentSize }),
	intF(func(v *ls) *int64 { return &v.WALKeep }),
	boolF(func(v *ls) *bool { return &v.Slots }),
	intF(func(v *ls) *int64 { return &v.MaxSlotWAL }),
	intF(func(v *ls) *int { return &v.Keys }),
	uintF(func(v *ls) *uint64 { return &v.Records }),
	floatF(func(v *ls) *float64 { return &v.Rate }),
	floatF(func(v *ls) *float64 { return &v.TargetRate }),
	intF(func(v *ls) *syncMode { return &v.Sync.Mode }),
	intF(func(v *ls) *int { return &v.Sync.N }),
	intF(func(v *ls) *int { return &v.WaitingCommits }),
	uintF(func(v *ls) *uint64 { return &v.Commits }),
	uintF(func(v *ls) *lsn { return &v.RecordEndLSN }),
	uintF(func(v *ls) *uint32 { return &v.Timeline }),
	uintF(func(v *ls) *lsn { return &v.OldestWaitingLSN }),
	uintF(func(v *ls) *lsn { return &v.SyncWatermark }),
	intF(func(v *ls) *dur { return &v.CommitLatency.P50 }),
	intF(func(v *ls) *dur { return &v.CommitLatency.P99 }),
	intF(func(v *ls) *int { return &v.CommitLatency.Commits }),
	boolF(func(v *ls) *bool { return &v.Stale }),
	strF(func(v *ls) *string { return &v.CommitWait }),
	strF(func(v *ls) *string { return &v.Name }),
	strF(func(v *ls) *string { return &v.State }),
	added(2, uintF(func(v *ls) *lsn { return &v.ReplayLSN })),
}

// lagFields appends the three fields of a Lag.
func lagFields(fields []field[fs], at func(*fs) *cluster.Lag) []field[fs] {
	return append(fields,
		intF(func(v *fs) *dur { return &at(v).D }),
		boolF(func(v *fs) *bool { return &at(v).Idle }),
		boolF(func(v *fs) *bool { return &at(v).Known }),
	)
}

var followerFields = func() []field[fs] {
	f := []field[fs]{
		strF(func(v *fs) *string { return &v.Name }),
		intF(func(v *fs) *int { return &v.Index }),
		strF(func(v *fs) *string { return &v.State }),
		uintF(func(v *fs) *lsn { return &v.SentLSN }),
		uintF(func(v *fs) *lsn { return &v.WriteLSN }),
		uintF(func(v *fs) *lsn { return &v.FlushLSN }),
		uintF(func(v *fs) *lsn { return &v.ReplayLSN }),
		uintF(func(v *fs) *lsn { return &v.StartLSN }),
	}
	f = lagFields(f, func(v *fs) *cluster.Lag { return &v.WriteLag })
	f = lagFields(f, func(v *fs) *cluster.Lag { return &v.FlushLag })
	f = lagFields(f, func(v *fs) *cluster.Lag { return &v.ReplayLag })
	return append(f,
		strF(func(v *fs) *string { return &v.SyncState }),
		boolF(func(v *fs) *bool { return &v.ReplayPaused }),
		intF(func(v *fs) *dur { return &v.ApplyDelay }),
		intF(func(v *fs) *dur { return &v.FlushDelay }),
		// Link
		strF(func(v *fs) *string { return &v.Link.Addr }),
		boolF(func(v *fs) *bool { return &v.Link.Cut }),
		boolF(func(v *fs) *bool { return &v.Link.CutTo }),
		boolF(func(v *fs) *bool { return &v.Link.CutFrom }),
		intF(func(v *fs) *dur { return &v.Link.Latency }),
		intF(func(v *fs) *dur { return &v.Link.Jitter }),
		intF(func(v *fs) *int64 { return &v.Link.Bandwidth }),
		boolF(func(v *fs) *bool { return &v.Link.Slice }),
		intF(func(v *fs) *int { return &v.Link.CorruptArmed }),
		uintF(func(v *fs) *uint64 { return &v.Link.Corrupted }),
		intF(func(v *fs) *int { return &v.Link.DropArmed }),
		uintF(func(v *fs) *uint64 { return &v.Link.Lost }),
		boolF(func(v *fs) *bool { return &v.Link.Connected }),
		uintF(func(v *fs) *uint64 { return &v.Link.BytesUp }),
		uintF(func(v *fs) *uint64 { return &v.Link.BytesDown }),
		// Counters
		uintF(func(v *fs) *uint64 { return &v.Records }),
		uintF(func(v *fs) *uint64 { return &v.CRCFailures }),
		uintF(func(v *fs) *uint64 { return &v.Resends }),
		intF(func(v *fs) *int { return &v.Keys }),
		// Backup
		boolF(func(v *fs) *bool { return &v.Backup.Active }),
		uintF(func(v *fs) *lsn { return &v.Backup.LSN }),
		intF(func(v *fs) *int64 { return &v.Backup.Done }),
		intF(func(v *fs) *int64 { return &v.Backup.Total }),
		intF(func(v *fs) *int { return &v.Backup.Count }),
		// Slot
		boolF(func(v *fs) *bool { return &v.Slot.Enabled }),
		uintF(func(v *fs) *lsn { return &v.Slot.RestartLSN }),
		boolF(func(v *fs) *bool { return &v.Slot.Lost }),
		strF(func(v *fs) *string { return &v.Slot.WALStatus }),
		intF(func(v *fs) *int64 { return &v.Slot.SafeWAL }),
		boolF(func(v *fs) *bool { return &v.Slot.SafeWALKnown }),
		// The rest
		strF(func(v *fs) *string { return &v.LastError }),
		uintF(func(v *fs) *uint32 { return &v.Timeline }),
		boolF(func(v *fs) *bool { return &v.Stale }),
		boolF(func(v *fs) *bool { return &v.Inferred }),
		uintF(func(v *fs) *lsn { return &v.ForkLSN }),
	)
}()

var frameFields = []field[fr]{
	uintF(func(v *fr) *uint64 { return &v.ID }),
	strF(func(v *fr) *string { return &v.Follower }),
	intF(func(v *fr) *int { return &v.Index }),
	intF(func(v *fr) *direction { return &v.Dir }),
	strF(func(v *fr) *string { return &v.Kind }),
	uintF(func(v *fr) *lsn { return &v.LSN }),
	uintF(func(v *fr) *lsn { return &v.EndLSN }),
	intF(func(v *fr) *int { return &v.Bytes }),
	intF(func(v *fr) *dur { return &v.Sent }),
	intF(func(v *fr) *dur { return &v.Arrive }),
	floatF(func(v *fr) *float64 { return &v.Pos }),
	boolF(func(v *fr) *bool { return &v.Corrupt }),
	boolF(func(v *fr) *bool { return &v.Lost }),
}

var eventFields = []field[ev]{
	uintF(func(v *ev) *uint64 { return &v.Seq }),
	intF(func(v *ev) *dur { return &v.World }),
	strF(func(v *ev) *string { return &v.Follower }),
	strF(func(v *ev) *cluster.EventKind { return &v.Kind }),
	uintF(func(v *ev) *lsn { return &v.LSN }),
	strF(func(v *ev) *string { return &v.Text }),
}

// readFields are a snapshot's reads (Snapshot.Reads), a table keyed by
// Seq, recorded since format version 2.
var readFields = []field[rr]{
	uintF(func(v *rr) *uint64 { return &v.Seq }),
	intF(func(v *rr) *dur { return &v.World }),
	strF(func(v *rr) *string { return &v.Node }),
	strF(func(v *rr) *string { return &v.Key }),
	strF(func(v *rr) *string { return &v.Value }),
	boolF(func(v *rr) *bool { return &v.Found }),
	uintF(func(v *rr) *lsn { return &v.VersionLSN }),
	uintF(func(v *rr) *lsn { return &v.ReplayLSN }),
	uintF(func(v *rr) *lsn { return &v.PrimaryLSN }),
	boolF(func(v *rr) *bool { return &v.Stale }),
	uintF(func(v *rr) *lsn { return &v.WaitLSN }),
	intF(func(v *rr) *dur { return &v.Waited }),
	strF(func(v *rr) *string { return &v.Anomaly }),
	strF(func(v *rr) *string { return &v.Err }),
}

var lessonFields = func() []field[le] {
	f := []field[le]{
		strF(func(v *le) *string { return &v.Title }),
		strF(func(v *le) *string { return &v.Summary }),
		strF(func(v *le) *string { return &v.Chapter }),
		intF(func(v *le) *int { return &v.ChapterIndex }),
		intF(func(v *le) *int { return &v.Chapters }),
		intF(func(v *le) *int { return &v.Step }),
		intF(func(v *le) *int { return &v.Steps }),
		strF(func(v *le) *string { return &v.Caption }),
	}
	for i := range scenario.MaxPoints {
		f = append(f,
			strF(func(v *le) *string { return &v.Points[i].Subject }),
			strF(func(v *le) *string { return &v.Points[i].Field }),
		)
	}
	return append(f,
		strF(func(v *le) *string { return &v.Hold }),
		boolF(func(v *le) *bool { return &v.WaitingForKey }),
		boolF(func(v *le) *bool { return &v.Pending }),
		boolF(func(v *le) *bool { return &v.Done }),
		strF(func(v *le) *string { return &v.Failed }),
		strF(func(v *le) *string { return &v.Notice }),
		strF(func(v *le) *string { return &v.NextChapter }),
		boolF(func(v *le) *bool { return &v.CanGoBack }),
	)
}()

var metaFields = []field[Meta]{
	intF(func(v *Meta) *int64 { return &v.Started }),
	strF(func(v *Meta) *string { return &v.Program }),
	strF(func(v *Meta) *string { return &v.Title }),
	intF(func(v *Meta) *int { return &v.Width }),
	intF(func(v *Meta) *int { return &v.Height }),
}
