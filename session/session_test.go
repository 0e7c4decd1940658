package session

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
	"time"

	"walship/engine/cluster"
	"walship/scenario"
)

// fill sets every field of v (a pointer to a struct) to a value drawn
// from rng, none of them zero, so a field a list forgot reads back zero
// and shows.
func fill(v reflect.Value, rng *rand.Rand) {
	switch v.Kind() {
	case reflect.Pointer:
		fill(v.Elem(), rng)
	case reflect.Struct:
		for i := range v.NumField() {
			fill(v.Field(i), rng)
		}
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), rng)
		}
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(rng.Int64N(1<<40) - 1<<39 | 1)
	case reflect.Uint, reflect.Uint64, reflect.Uint32:
		v.SetUint(rng.Uint64N(1<<31) + 1)
	case reflect.Float64:
		v.SetFloat(rng.Float64()*100 + 0.5)
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", rng.IntN(1000)))
	}
}

func randomSnapshot(rng *rand.Rand, followers, frames, events int) cluster.Snapshot {
	var s cluster.Snapshot
	sc := scalars{}
	fill(reflect.ValueOf(&sc), rng)
	sc.apply(&s)
	fill(reflect.ValueOf(&s.Leader), rng)
	for i := range followers {
		var f cluster.FollowerStatus
		fill(reflect.ValueOf(&f), rng)
		f.Index = i + 1
		s.Followers = append(s.Followers, f)
	}
	for i := range frames {
		var f cluster.Frame
		fill(reflect.ValueOf(&f), rng)
		f.ID = uint64(100 + i)
		s.Frames = append(s.Frames, f)
	}
	for i := range events {
		var e cluster.Event
		fill(reflect.ValueOf(&e), rng)
		e.Seq = uint64(i + 1)
		s.Events = append(s.Events, e)
	}
	// A failover's lists, keyed by timeline (fill leaves slices alone).
	for tl := uint32(1); tl <= 2; tl++ {
		var h cluster.TimelineSwitch
		var l cluster.LostWrites
		var f cluster.FencedPrimary
		fill(reflect.ValueOf(&h), rng)
		fill(reflect.ValueOf(&l), rng)
		fill(reflect.ValueOf(&f), rng)
		h.Timeline, l.Timeline, f.Timeline = tl, tl+1, tl
		l.Keys = []string{fmt.Sprintf("key-%d", rng.IntN(1000)), "key-x"}
		s.History, s.Lost, s.Fenced = append(s.History, h), append(s.Lost, l), append(s.Fenced, f)
	}
	first := rng.Uint64N(3) + 1
	for i := range 3 {
		var r cluster.ReadResult
		fill(reflect.ValueOf(&r), rng)
		r.Seq = first + uint64(i)
		s.Reads = append(s.Reads, r)
	}
	return s
}

// A version 2 file has no reads after the failover lists: it still
// reads, with none, and its failover lists whole.
func TestSnapshotVersion2HasNoReads(t *testing.T) {
	s := randomSnapshot(rand.New(rand.NewPCG(5, 6)), 2, 2, 2)
	s.Reads = nil
	var x encoder
	body, _ := x.snapshot(nil, 0, &s)
	if body[len(body)-1] != 0 {
		t.Fatal("the reads table does not end the record")
	}
	v2 := body[:len(body)-1] // as version 2 wrote it
	y := decoder{version: 2}
	got, _, _, err := y.snapshot(v2)
	if err != nil {
		t.Fatalf("version 2 body: %v", err)
	}
	if got.Reads != nil || !reflect.DeepEqual(got.Followers, s.Followers) || !reflect.DeepEqual(got.Events, s.Events) || !reflect.DeepEqual(got.Lost, s.Lost) {
		t.Fatalf("version 2 body decoded as %+v", got)
	}
	y3 := decoder{version: Version}
	if _, _, _, err := y3.snapshot(v2); err == nil {
		t.Fatal("a version 3 reader took a body without its reads table")
	}
}

// Every field of every struct a snapshot holds survives a keyframe and a
// delta: the field lists leave nothing out.
func TestSnapshotRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := randomSnapshot(rng, 3, 5, 4)
	b := randomSnapshot(rng, 3, 5, 2)
	b.Followers[1] = a.Followers[1] // unchanged row
	b.Frames = append(b.Frames[:2], a.Frames[3:]...)
	var x encoder
	var y decoder
	y.version = Version
	for i, s := range []cluster.Snapshot{a, b} {
		body, ok := x.snapshot(nil, time.Duration(i)*time.Millisecond, &s)
		if !ok {
			t.Fatalf("snapshot %d skipped", i)
		}
		got, wall, key, err := y.snapshot(body)
		if err != nil {
			t.Fatalf("snapshot %d: %v", i, err)
		}
		if key != (i == 0) || wall != time.Duration(i)*time.Millisecond {
			t.Errorf("snapshot %d: key %v wall %v", i, key, wall)
		}
		if !reflect.DeepEqual(got, s) {
			t.Errorf("snapshot %d changed in the round trip:\n got %+v\nwant %+v", i, got, s)
		}
	}
	// Unchanged and without events: not written.
	b.Events = nil
	if _, ok := x.snapshot(nil, time.Second, &b); ok {
		t.Error("an unchanged snapshot was written")
	}
}

func TestMetaAndLessonRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var m Meta
	fill(reflect.ValueOf(&m), rng)
	var ls scenario.LessonState
	fill(reflect.ValueOf(&ls), rng)
	var buf bytes.Buffer
	w, err := NewWriter(&buf, m)
	if err != nil {
		t.Fatal(err)
	}
	s := randomSnapshot(rng, 2, 1, 1)
	w.Snapshot(time.Millisecond, &s)
	w.Lesson(2*time.Millisecond, &ls)
	w.Lesson(3*time.Millisecond, &ls) // the same: not written again
	w.Lesson(4*time.Millisecond, nil)
	if err := w.Close(5 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	rec, err := Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if rec.Meta != m || !rec.Complete || rec.Stopped != nil || rec.Duration != 5*time.Millisecond {
		t.Fatalf("meta %+v complete %v stopped %v duration %v", rec.Meta, rec.Complete, rec.Stopped, rec.Duration)
	}
	if len(rec.Lessons) != 2 || *rec.Lessons[0].State != ls || rec.Lessons[1].State != nil {
		t.Fatalf("lessons %+v", rec.Lessons)
	}
	if got := rec.LessonAt(3 * time.Millisecond); got == nil || *got != ls {
		t.Fatalf("lesson at 3ms: %+v", got)
	}
}

// stream is a session of n snapshots a world millisecond and a wall
// millisecond apart, followers' positions moving, frames coming and going
// and an event every tenth snapshot.
func stream(n int) []cluster.Snapshot {
	var out []cluster.Snapshot
	seq := uint64(0)
	for i := range n {
		s := cluster.Snapshot{World: time.Duration(i) * time.Millisecond, Speed: 1}
		s.Leader.FlushLSN = 0x100 + 0x20*lsn(i)
		for f := 1; f <= 3; f++ {
			s.Followers = append(s.Followers, cluster.FollowerStatus{
				Name: cluster.FollowerName(f), Index: f, State: "streaming",
				WriteLSN: s.Leader.FlushLSN - lsn(f*0x20),
			})
		}
		for id := i / 3; id < i/3+4; id++ {
			s.Frames = append(s.Frames, cluster.Frame{ID: uint64(id), Index: 1 + id%3, Kind: "data",
				Sent: time.Duration(id*3) * time.Millisecond, Arrive: time.Duration(id*3+12) * time.Millisecond,
				Pos: float64(i-id*3) / 12})
		}
		if i%10 == 0 {
			seq++
			s.Events = []cluster.Event{{Seq: seq, World: s.World, Kind: cluster.EvInfo, Text: fmt.Sprint("event ", seq)}}
		}
		s.LastEvent = seq
		out = append(out, s)
	}
	return out
}

func writeStream(t testing.TB, snaps []cluster.Snapshot, end bool) []byte {
	var buf bytes.Buffer
	w, err := NewWriter(&buf, Meta{Program: "test", Title: "stream"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range snaps {
		w.Snapshot(time.Duration(i)*time.Millisecond, &snaps[i])
	}
	if end {
		w.Close(time.Duration(len(snaps)) * time.Millisecond)
	} else {
		w.bw.Flush()
	}
	return buf.Bytes()
}

// A history gives back every snapshot, by world time, in any order.
func TestHistoryLookups(t *testing.T) {
	snaps := stream(300)
	h := NewHistory(0)
	for i := range snaps {
		h.Add(time.Duration(i)*time.Millisecond, &snaps[i])
	}
	for _, i := range []int{0, 299, 150, 151, 64, 63, 10, 200, 199} {
		j := h.AtWorld(snaps[i].World)
		got := h.Snapshot(j)
		want := snaps[i]
		want.Events = nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("snapshot at %v differs:\n got %+v\nwant %+v", snaps[i].World, got, want)
		}
	}
	evs := h.Events(snaps[150].LastEvent, 3)
	if len(evs) != 3 || evs[2].Seq != snaps[150].LastEvent || evs[0].Seq != evs[2].Seq-2 {
		t.Fatalf("events up to %d: %+v", snaps[150].LastEvent, evs)
	}
}

// A bounded history keeps at least its limit of world time, and drops the
// rest a keyframe group at a time.
func TestHistoryBounded(t *testing.T) {
	snaps := stream(1000)
	h := NewHistory(200 * time.Millisecond)
	for i := range snaps {
		h.Add(time.Duration(i)*time.Millisecond, &snaps[i])
	}
	first := h.World(0)
	if span := snaps[999].World - first; span < 200*time.Millisecond || span > 200*time.Millisecond+keyEvery*time.Millisecond {
		t.Fatalf("holds %v of world time, want 200ms to 200ms + a keyframe group", span)
	}
	got := h.Snapshot(0)
	want := snaps[int(first/time.Millisecond)]
	want.Events = nil
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("oldest held snapshot differs")
	}
	if evs := h.Events(^uint64(0), 1000); len(evs) == 0 || evs[0].World < first {
		t.Fatalf("events kept from before the oldest snapshot: %+v", evs[:1])
	}
}

// A file cut anywhere, or with a flipped bit anywhere, reads up to the
// damage (or refuses, before any snapshot) and never panics.
func TestDamagePlaysUpToIt(t *testing.T) {
	snaps := stream(200)
	whole := writeStream(t, snaps, true)
	rec, err := Read(bytes.NewReader(whole))
	if err != nil || !rec.Complete || rec.History.Len() != 200 {
		t.Fatalf("whole file: %v, complete %v, %d snapshots", err, rec != nil && rec.Complete, rec.History.Len())
	}
	for cut := 0; cut < len(whole); cut += 1 + cut/20 {
		rec, err := Read(bytes.NewReader(whole[:cut]))
		if err != nil {
			if rec != nil {
				t.Fatalf("cut at %d: both a recording and %v", cut, err)
			}
			continue
		}
		if rec.Complete || rec.Stopped == nil {
			t.Fatalf("cut at %d: complete %v stopped %v", cut, rec.Complete, rec.Stopped)
		}
		if rec.Stopped.Offset > int64(cut) {
			t.Fatalf("cut at %d: stopped at %d", cut, rec.Stopped.Offset)
		}
	}
	for i := HeaderSize; i < len(whole); i += 1 + i/40 {
		bad := bytes.Clone(whole)
		bad[i] ^= 0x10
		rec, err := Read(bytes.NewReader(bad))
		if err != nil {
			continue
		}
		if rec.Complete {
			t.Fatalf("flipped bit at %d: read as complete", i)
		}
		if !strings.Contains(rec.Stopped.Error(), "stopped at byte") {
			t.Fatalf("flipped bit at %d: %v", i, rec.Stopped)
		}
		// What was read is right.
		n := rec.History.Len()
		got := rec.History.Snapshot(n - 1)
		want := snaps[n-1]
		want.Events = nil
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("flipped bit at %d: snapshot %d differs", i, n-1)
		}
	}
}

func TestNotASession(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("WALSHIP"), []byte("hello, this is not a session file at all")} {
		if _, err := Read(bytes.NewReader(b)); !errors.Is(err, ErrNotSession) {
			t.Errorf("%q: %v, want ErrNotSession", b, err)
		}
	}
	newer := appendHeader(nil)
	newer[len(Magic)+1] = Version + 1
	if _, err := Read(bytes.NewReader(newer)); err == nil || !strings.Contains(err.Error(), "newer walship") {
		t.Errorf("a newer version: %v", err)
	}
	if _, err := Read(bytes.NewReader(appendHeader(nil))); !errors.Is(err, ErrEmpty) {
		t.Errorf("a header alone: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	snaps := stream(30)
	f.Add(writeStream(f, snaps, true))
	f.Add(writeStream(f, snaps[:3], false))
	f.Add(appendHeader(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, err := Read(bytes.NewReader(b))
		if err != nil {
			return
		}
		// Everything read can be looked at.
		h := rec.History
		for i := range h.Len() {
			h.Snapshot(i)
		}
		h.Snapshot(h.AtWorld(h.World(h.Len() / 2)))
		h.Events(^uint64(0), 10)
		rec.LessonAt(rec.Duration)
	})
}

// leaves counts the fields of a struct type, nested structs and arrays
// counted by their own fields.
func leaves(t reflect.Type) int {
	switch t.Kind() {
	case reflect.Struct:
		n := 0
		for i := range t.NumField() {
			n += leaves(t.Field(i).Type)
		}
		return n
	case reflect.Array:
		return t.Len() * leaves(t.Elem())
	}
	return 1
}

// A field added to one of these structs must be added to its list, with a
// new format version (see fields.go).
func TestFieldListsCoverTheStructs(t *testing.T) {
	for _, c := range []struct {
		name   string
		typ    reflect.Type
		fields int
	}{
		{"scalars", reflect.TypeFor[scalars](), len(scalarFields)},
		{"LeaderStatus", reflect.TypeFor[cluster.LeaderStatus](), len(leaderFields)},
		{"FollowerStatus", reflect.TypeFor[cluster.FollowerStatus](), len(followerFields)},
		{"Frame", reflect.TypeFor[cluster.Frame](), len(frameFields)},
		{"Event", reflect.TypeFor[cluster.Event](), len(eventFields)},
		{"ReadResult", reflect.TypeFor[cluster.ReadResult](), len(readFields)},
		{"LessonState", reflect.TypeFor[scenario.LessonState](), len(lessonFields)},
		{"Meta", reflect.TypeFor[Meta](), len(metaFields)},
		{"TimelineSwitch", reflect.TypeFor[cluster.TimelineSwitch](), len(switchFields)},
		{"LostWrites", reflect.TypeFor[cluster.LostWrites](), len(lostFields)},
		{"FencedPrimary", reflect.TypeFor[cluster.FencedPrimary](), len(fencedFields)},
	} {
		if n := leaves(c.typ); n != c.fields {
			t.Errorf("%s has %d fields, its list %d", c.name, n, c.fields)
		}
	}
	// scalars stands for every field of Snapshot but its rows and events,
	// its failover lists (timeline history, lost writes, fenced
	// primaries) and its reads.
	if n := leaves(reflect.TypeFor[cluster.Snapshot]()) - leaves(reflect.TypeFor[cluster.LeaderStatus]()); n != len(scalarFields)+3+3+1 {
		t.Errorf("Snapshot has %d fields besides its leader, want %d scalars + followers, frames, events + history, lost, fenced + reads", n, len(scalarFields))
	}
}

// The failover's lists are news: a snapshot that changes only them is
// written, and a version 1 record (no lists after its events, no leader
// replay LSN) still reads.
func TestFailoverListsRecorded(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	a := randomSnapshot(rng, 2, 0, 0)
	a.History, a.Lost, a.Fenced, a.Leader.ReplayLSN, a.Reads = nil, nil, nil, 0, nil
	var x encoder
	first, ok := x.snapshot(nil, 0, &a)
	if !ok {
		t.Fatal("first snapshot skipped")
	}
	// Version 1: the same body without the three empty lists (and the
	// empty reads of version 3).
	v1 := decoder{version: 1}
	got, _, _, err := v1.snapshot(first[:len(first)-4])
	if err != nil || !reflect.DeepEqual(got, a) {
		t.Fatalf("a version 1 record: %v\n got %+v\nwant %+v", err, got, a)
	}
	b := a
	b.History = []cluster.TimelineSwitch{{Timeline: 1, ForkLSN: 0x3F00, Reason: "follower-1 promoted: highest flush LSN 0/3F00"}}
	second, ok := x.snapshot(nil, time.Millisecond, &b)
	if !ok {
		t.Fatal("a new timeline switch was not written")
	}
	y := decoder{version: Version}
	for i, body := range [][]byte{first, second} {
		if got, _, _, err = y.snapshot(body); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	if !reflect.DeepEqual(got.History, b.History) {
		t.Errorf("history read back %+v, want %+v", got.History, b.History)
	}
}
