package wal

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestReaderGaps reads records of mixed sizes, many leaving unused segment
// tails, from every record position.
func TestReaderGaps(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	var sizes []int
	for i := 0; i < 60; i++ {
		sizes = append(sizes, []int{MaxRecordSize, 5000, 40, 3000, 7001}[i%5])
	}
	want := appendSized(t, l, sizes)
	gaps := 0
	for i := 1; i < len(want); i++ {
		if want[i].lsn != want[i-1].lsn+LSN(sizes[i-1]) {
			gaps++
		}
	}
	if gaps < 10 {
		t.Fatalf("only %d gaps", gaps)
	}
	if err := l.Write(); err != nil {
		t.Fatal(err)
	}
	for i := range want {
		checkRecords(t, readAll(t, l, want[i].lsn, l.Written()), want[i:])
		// From the end of the previous record: a gap position.
		if i > 0 {
			checkRecords(t, readAll(t, l, want[i-1].lsn+LSN(sizes[i-1]), l.Written()), want[i:])
		}
	}
	if got := readAll(t, l, l.End(), l.End()); len(got) != 0 {
		t.Fatalf("reader at End returned %d records", len(got))
	}
}

func TestReaderLimit(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	want := appendSized(t, l, []int{100, 100, 100, 200})
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	// Nothing written yet: EOF even with a high limit.
	if _, err := r.Next(l.End()); err != io.EOF {
		t.Fatalf("before Write: %v", err)
	}
	if err := l.Write(); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		limit LSN
		want  int // index of the record expected, -1 for EOF
	}{
		{0, -1}, {99, -1}, {100, 0}, {150, -1}, {199, -1}, {200, 1}, {300, 2}, {499, -1}, {500, 3}, {10000, -1},
	} {
		b, err := r.Next(tt.limit)
		if tt.want < 0 {
			if err != io.EOF {
				t.Fatalf("limit %d: %v, want EOF", tt.limit, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("limit %d: %v", tt.limit, err)
		}
		if RecordLSN(b) != want[tt.want].lsn || r.Pos() != want[tt.want].lsn+LSN(len(b)) {
			t.Fatalf("limit %d: got record at %v, pos %v", tt.limit, RecordLSN(b), r.Pos())
		}
	}
	// A record written later is found by the same reader.
	appendSized(t, l, []int{60})
	l.Write()
	if b, err := r.Next(l.Written()); err != nil || len(b) != 60 {
		t.Fatalf("later record: %d bytes, %v", len(b), err)
	}
}

func TestReaderRemoved(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	want := appendN(t, l, 500, 100)
	l.Sync()
	r, err := l.NewReader(0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(l.Written()); err != nil {
		t.Fatal(err)
	}
	segs := len(l.Segments())
	n, err := l.RemoveBefore(2*testSegSize + 5)
	if err != nil || n != 2 {
		t.Fatalf("RemoveBefore = %d, %v", n, err)
	}
	if l.Start() != 2*testSegSize || len(l.Segments()) != segs-2 || l.Segments()[0].Start != 2*testSegSize {
		t.Fatalf("after RemoveBefore: start %v, segments %v", l.Start(), l.Segments())
	}
	if _, err := r.Next(l.Written()); !errors.Is(err, ErrWALRemoved) {
		t.Fatalf("reader in removed segment: %v", err)
	}
	if _, err := l.NewReader(0); !errors.Is(err, ErrWALRemoved) {
		t.Fatalf("NewReader(0): %v", err)
	}
	// What is retained still reads.
	var rest []appended
	for _, a := range want {
		if a.lsn >= 2*testSegSize {
			rest = append(rest, a)
		}
	}
	checkRecords(t, readAll(t, l, rest[0].lsn, l.Written()), rest)
	// Never the segment holding End, nor the last file.
	if _, err := l.RemoveBefore(l.End() + 10*testSegSize); err != nil {
		t.Fatal(err)
	}
	if segs := l.Segments(); len(segs) != 1 || segs[0].Start != l.segStartOf(l.End()) {
		t.Fatalf("segments left: %v", segs)
	}
	l.Close()
	l2, rec := openTest(t, l.dir)
	defer l2.Close()
	if rec.Start != l.segStartOf(l.End()) || rec.End != l.End() {
		t.Fatalf("reopen after retention: %+v", rec)
	}
}

func TestReaderCorrupt(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	appendN(t, l, 10, 100)
	l.Sync()
	f := l.cur
	f.WriteAt([]byte{0xff}, 129*3+50)
	// Damage behind the log's back is found by readers of the files; the
	// log's in-memory copy of its newest bytes never had it.
	l.recent.reset()
	r, _ := l.NewReader(0)
	defer r.Close()
	for i := 0; i < 3; i++ {
		if _, err := r.Next(l.Written()); err != nil {
			t.Fatal(err)
		}
	}
	_, err := r.Next(l.Written())
	if !errors.Is(err, ErrCorrupt) || !bytes.Contains([]byte(err.Error()), []byte("0000000000000000.wal at offset 387")) {
		t.Fatalf("corrupt record: %v", err)
	}
	// A reader started at a position that is not a record's is caught.
	r2, _ := l.NewReader(129*5 + 1)
	defer r2.Close()
	if _, err := r2.Next(l.Written()); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("misaligned reader: %v", err)
	}
}

// TestGroupFlush: many Appends, one Sync, Flushed passes all of them.
func TestGroupFlush(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	want := appendN(t, l, 1000, 100)
	if l.Flushed() != 0 {
		t.Fatalf("Flushed %v before Sync", l.Flushed())
	}
	f, err := l.Sync()
	if err != nil {
		t.Fatal(err)
	}
	last := want[len(want)-1]
	if f < last.lsn+129 || l.Flushed() != l.End() {
		t.Fatalf("Flushed %v, last record ends %v", f, last.lsn+129)
	}
}

// TestAppendRaw copies a leader's stream into a follower log record by
// record and checks the files hold the same bytes.
func TestAppendRaw(t *testing.T) {
	leader, _ := openTest(t, t.TempDir())
	defer leader.Close()
	follower, _ := openTest(t, t.TempDir())
	defer follower.Close()
	var sizes []int
	for i := 0; i < 200; i++ {
		sizes = append(sizes, 40+(i*997)%5000)
	}
	appendSized(t, leader, sizes)
	leader.Sync()
	recs := encodedRecords(t, leader)
	for _, b := range recs {
		if err := follower.AppendRaw(b); err != nil {
			t.Fatal(err)
		}
	}
	first := recs[0]
	if err := follower.AppendRaw(first); !errors.Is(err, ErrOutOfOrder) {
		t.Fatalf("replayed record: %v", err)
	}
	follower.Sync()
	if follower.End() != leader.End() || follower.Flushed() != leader.Flushed() {
		t.Fatalf("follower end %v flushed %v, leader %v %v", follower.End(), follower.Flushed(), leader.End(), leader.Flushed())
	}
	ls, fs := leader.Segments(), follower.Segments()
	if len(ls) != len(fs) {
		t.Fatalf("segments: %v vs %v", ls, fs)
	}
	for i := range ls {
		a, _ := os.ReadFile(leader.path(ls[i].Name))
		b, _ := os.ReadFile(follower.path(fs[i].Name))
		if !bytes.Equal(a, b) {
			t.Fatalf("segment %s differs", ls[i].Name)
		}
	}
	if err := follower.AppendRaw(first[:10]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("short record: %v", err)
	}

	// The same records in runs of 1 to 7, some across segment ends, with
	// the buffer written out now and then so runs also start on an empty
	// one: the files must hold the same bytes again.
	runs, _ := openTest(t, t.TempDir())
	defer runs.Close()
	for i, k := 0, 1; i < len(recs); i, k = i+k, k%7+1 {
		run := bytes.Join(recs[i:min(i+k, len(recs))], nil)
		if err := runs.AppendRawRun(run); err != nil {
			t.Fatalf("run of %d records from %d: %v", k, i, err)
		}
		if k%3 == 0 {
			if err := runs.Write(); err != nil {
				t.Fatal(err)
			}
		}
	}
	runs.Sync()
	rs := runs.Segments()
	if len(rs) != len(ls) || runs.End() != leader.End() {
		t.Fatalf("runs: %d segments ending at %v, leader %d at %v", len(rs), runs.End(), len(ls), leader.End())
	}
	for i := range ls {
		a, _ := os.ReadFile(leader.path(ls[i].Name))
		b, _ := os.ReadFile(runs.path(rs[i].Name))
		if !bytes.Equal(a, b) {
			t.Fatalf("runs: segment %s differs", ls[i].Name)
		}
	}
}

// encodedRecords returns copies of every encoded record in l, in order.
func encodedRecords(t *testing.T, l *Log) [][]byte {
	t.Helper()
	r, err := l.NewReader(l.Start())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var recs [][]byte
	for {
		b, err := r.Next(l.Written())
		if err == io.EOF {
			return recs
		}
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, bytes.Clone(b))
	}
}

// TestAppendRawRunStopsAtBadRecord: a run with a bad record in the middle
// keeps the records before it, adds nothing from it on, and says why.
func TestAppendRawRunStopsAtBadRecord(t *testing.T) {
	leader, _ := openTest(t, t.TempDir())
	defer leader.Close()
	appendN(t, leader, 4, 100)
	leader.Sync()
	recs := encodedRecords(t, leader)
	badLength := bytes.Clone(recs[2])
	badLength[3] = 0 // a length under the minimum
	for _, tc := range []struct {
		name string
		bad  [][]byte // what follows the two good records
		want error
	}{
		{"out of order", [][]byte{recs[0], recs[2]}, ErrOutOfOrder},
		{"truncated at the end", [][]byte{recs[2][:10]}, ErrCorrupt},
		{"bad length", [][]byte{badLength, recs[3]}, ErrCorrupt},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, _ := openTest(t, t.TempDir())
			defer f.Close()
			run := bytes.Join(append([][]byte{recs[0], recs[1]}, tc.bad...), nil)
			if err := f.AppendRawRun(run); !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			kept := len(recs[0]) + len(recs[1])
			if f.End() != LSN(kept) {
				t.Fatalf("end %v after the bad record, want %v", f.End(), LSN(kept))
			}
			if err := f.Write(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(f.path(f.Segments()[0].Name))
			if !bytes.Equal(got, run[:kept]) {
				t.Fatalf("file holds %d bytes, want the %d of the two good records", len(got), kept)
			}
			// The log goes on from there.
			if err := f.AppendRawRun(bytes.Join(recs[2:], nil)); err != nil || f.End() != leader.End() {
				t.Fatalf("continuing: %v, end %v, leader %v", err, f.End(), leader.End())
			}
		})
	}
}

// TestConcurrentReadAppendSync runs one appender, one syncer, a reader
// following Written and one following Flushed, and a status poller with
// retention; run it with -race.
func TestConcurrentReadAppendSync(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	const n = 20000
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Add(1)
	go func() { // appender
		defer wg.Done()
		defer close(done)
		for i := 0; i < n; i++ {
			if _, err := l.Append(OpSet, []byte("key"), bytes.Repeat([]byte{byte(i)}, i%300)); err != nil {
				t.Error(err)
				return
			}
			if i%50 == 0 {
				if err := l.Write(); err != nil {
					t.Error(err)
					return
				}
			}
		}
		l.Write()
	}()
	wg.Add(1)
	go func() { // syncer
		defer wg.Done()
		for {
			select {
			case <-done:
				l.Sync()
				return
			default:
			}
			if _, err := l.Sync(); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	follow := func(limit func() LSN) {
		defer wg.Done()
		r, err := l.NewReader(0)
		if err != nil {
			t.Error(err)
			return
		}
		defer r.Close()
		count := 0
		for count < n {
			b, err := r.Next(limit())
			if err == io.EOF {
				time.Sleep(50 * time.Microsecond) // 2 CPUs: don't starve the writer
				continue
			}
			if err != nil {
				t.Errorf("reader at %v: %v", r.Pos(), err)
				return
			}
			if rec, _, err := DecodeRecord(b); err != nil || len(rec.Value) != count%300 {
				t.Errorf("record %d: %v, value %d bytes", count, err, len(rec.Value))
				return
			}
			count++
		}
	}
	wg.Add(2)
	go follow(l.Written)
	go follow(l.Flushed)
	wg.Add(1)
	go func() { // status and retention
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			s, f, w, e := l.Start(), l.Flushed(), l.Written(), l.End()
			if !(s <= f && f <= w && w <= e) {
				t.Errorf("positions out of order: start %v flushed %v written %v end %v", s, f, w, e)
				return
			}
			_ = l.Segments()
			l.RemoveBefore(0)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	wg.Wait()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	l, _, err := Open(Options{Dir: t.TempDir(), SegmentSize: testSegSize, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	key, val := []byte("key"), make([]byte, 100)
	appendN(t, l, 5000, 100) // warm the buffers
	l.Write()
	if a := testing.AllocsPerRun(1000, func() { l.Append(OpSet, key, val) }); a != 0 {
		t.Errorf("Append: %v allocs per record", a)
	}
	l.Write()
	r, _ := l.NewReader(0)
	defer r.Close()
	// Per record; opening each segment's file is amortized over its records.
	if a := testing.AllocsPerRun(1000, func() { r.Next(l.Written()) }); a > 0.05 {
		t.Errorf("Reader.Next: %v allocs per record", a)
	}
	f, _, _ := Open(Options{Dir: t.TempDir(), SegmentSize: testSegSize, NoSync: true})
	defer f.Close()
	r2, _ := l.NewReader(0)
	defer r2.Close()
	var recs [][]byte
	for {
		b, err := r2.Next(l.Written())
		if err != nil {
			break
		}
		recs = append(recs, bytes.Clone(b))
	}
	i := 0
	if a := testing.AllocsPerRun(1000, func() { f.AppendRaw(recs[i]); i++ }); a != 0 {
		t.Errorf("AppendRaw: %v allocs per record", a)
	}
}

// TestReaderRecentAndFilesAgree reads the same stream from the log's memory
// and from its files, from many starting records, across segment gaps.
func TestReaderRecentAndFilesAgree(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	var want []appended
	for range 20 {
		want = append(want, appendN(t, l, 200, 37)...)
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
	}
	if len(l.Segments()) < 3 {
		t.Fatalf("want records across several segments, have %d", len(l.Segments()))
	}
	for _, from := range []int{0, 1, 199, 1500, len(want) - 1} {
		fromMem := readAll(t, l, want[from].lsn, l.Written())
		checkRecords(t, fromMem, want[from:])
	}
	if l.recent.bytes == 0 || l.recent.bytes > l.recent.max {
		t.Fatalf("recent holds %d bytes, want 1..%d", l.recent.bytes, l.recent.max)
	}
	l.recent.reset()
	for _, from := range []int{0, 1500} {
		checkRecords(t, readAll(t, l, want[from].lsn, l.Written()), want[from:])
	}
}

// TestRecentEvictsOldest keeps the cache bounded and its chunks contiguous
// with what was written.
func TestRecentEvictsOldest(t *testing.T) {
	c := recent{max: 4 << 20}
	data := bytes.Repeat([]byte{7}, 100<<10)
	for i := range 100 {
		c.remember(LSN(i*len(data)), data)
	}
	if c.bytes > c.max {
		t.Fatalf("%d bytes cached, max %d", c.bytes, c.max)
	}
	p := make([]byte, 300<<10)
	if n := c.read(p, 0); n != 0 {
		t.Fatalf("evicted bytes read: %d", n)
	}
	last := LSN(99 * len(data))
	if n := c.read(p, last-LSN(len(data))+5); n != 2*len(data)-5 {
		t.Fatalf("read across two chunks: %d", n)
	}
	if len(c.spare) > 4 {
		t.Fatalf("%d spare buffers kept", len(c.spare))
	}
}

// TestReaderRun: runs hold whole records, stay within max and one segment,
// return the same records as Next, and stop before damage, which the next
// call reports.
func TestReaderRun(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	want := appendN(t, l, 2000, 40)
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	for _, fromFiles := range []bool{false, true} {
		if fromFiles {
			l.recent.reset()
		}
		r, err := l.NewReader(0)
		if err != nil {
			t.Fatal(err)
		}
		var got []Record
		for {
			start := r.Pos()
			run, recs, err := r.Run(l.Written(), 1000, nil)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) > 1 && len(run) > 1000 {
				t.Fatalf("run of %d records is %d bytes, max 1000", len(recs), len(run))
			}
			if recs[0].LSN < start || l.segStartOf(recs[0].LSN) != l.segStartOf(r.Pos()-1) {
				t.Fatalf("run from %v to %v crosses a segment", recs[0].LSN, r.Pos())
			}
			n := 0
			for _, rec := range recs {
				n += rec.Size()
				rec.Key = bytes.Clone(rec.Key)
				rec.Value = bytes.Clone(rec.Value)
				got = append(got, rec)
			}
			if n != len(run) || RecordLSN(run) != recs[0].LSN {
				t.Fatalf("run of %d bytes holds records of %d", len(run), n)
			}
		}
		r.Close()
		checkRecords(t, got, want)
	}

	// Damage in the 4th record: the run stops before it; the next call says why.
	l2, _ := openTest(t, t.TempDir())
	defer l2.Close()
	appendN(t, l2, 10, 100)
	l2.Sync()
	l2.cur.WriteAt([]byte{0xff}, 129*3+50)
	l2.recent.reset()
	r, _ := l2.NewReader(0)
	defer r.Close()
	if _, recs, err := r.Run(l2.Written(), 1<<20, nil); err != nil || len(recs) != 3 {
		t.Fatalf("run before damage: %d records, %v", len(recs), err)
	}
	if _, _, err := r.Run(l2.Written(), 1<<20, nil); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("run at damage: %v", err)
	}

	// A whole, well-formed record at the wrong place (as a recycled or
	// misplaced block would hold): the run stops before it as well.
	l3, _ := openTest(t, t.TempDir())
	defer l3.Close()
	appendN(t, l3, 10, 100)
	l3.Sync()
	first := make([]byte, 129)
	l3.cur.ReadAt(first, 0)
	l3.cur.WriteAt(first, 129*3)
	l3.recent.reset()
	r3, _ := l3.NewReader(0)
	defer r3.Close()
	if _, recs, err := r3.Run(l3.Written(), 1<<20, nil); err != nil || len(recs) != 3 {
		t.Fatalf("run before the misplaced record: %d records, %v", len(recs), err)
	}
	if _, _, err := r3.Run(l3.Written(), 1<<20, nil); !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "not its position") {
		t.Fatalf("run at the misplaced record: %v", err)
	}
}

// TestRecentSmallWritesStayBounded: a paced workload writes a few records
// at a time; the memory held must stay within max however small the
// writes, and what is held must read back.
func TestRecentSmallWritesStayBounded(t *testing.T) {
	c := recent{max: 1 << 20}
	rec := bytes.Repeat([]byte{3}, 133)
	var lsn LSN
	for range 100_000 {
		c.remember(lsn, rec)
		lsn += LSN(len(rec))
	}
	held := 0
	for _, ch := range c.chunks {
		held += cap(ch.data)
	}
	if held > c.max || c.bytes != held {
		t.Fatalf("holding %d bytes (accounted %d), max %d", held, c.bytes, c.max)
	}
	p := make([]byte, 4096)
	if n := c.read(p, lsn-4096); n != 4096 || !bytes.Equal(p, bytes.Repeat([]byte{3}, 4096)) {
		t.Fatalf("read back %d bytes", n)
	}
}

// A reader whose limit is the start of the next segment steps over the
// sealed segment's zero padding and stops there: its position says replay
// has reached the limit although no record lies in between.
func TestReaderStepsOverPaddingToSegmentStart(t *testing.T) {
	l, _ := openTest(t, t.TempDir())
	defer l.Close()
	appendN(t, l, 130, 100) // 127 records fill 16383 bytes; the 128th starts the next segment
	if _, err := l.Sync(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(l.dir, SegmentName(0))); err != nil || fi.Size() != testSegSize {
		t.Fatalf("sealed segment not padded: %v %v", fi.Size(), err)
	}
	r, err := l.NewReader(126 * 129)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.Next(testSegSize); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Next(testSegSize); err != io.EOF || r.Pos() != testSegSize {
		t.Fatalf("Next at the padding = %v, position %v; want io.EOF at %v", err, r.Pos(), LSN(testSegSize))
	}
	if b, err := r.Next(l.Flushed()); err != nil || RecordLSN(b) != testSegSize {
		t.Fatalf("next record: %v", err)
	}
}
