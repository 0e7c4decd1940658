package wal

import "testing"

// TestRecoveryFsyncsWhatItKeeps checks the rule that a crash restart
// fsyncs the tail it keeps before counting it as flushed: bytes written
// but never fsynced before the crash may still sit in the page cache
// only, so Open must make them durable before Flushed covers them.
func TestRecoveryFsyncsWhatItKeeps(t *testing.T) {
	for _, noSync := range []bool{false, true} {
		dir := t.TempDir()
		l, _, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		appendSized(t, l, []int{200, 200, 200})
		if _, err := l.Sync(); err != nil {
			t.Fatal(err)
		}
		appendSized(t, l, []int{300, 300}) // written, never fsynced
		if err := l.Write(); err != nil {
			t.Fatal(err)
		}
		unsynced := int64(l.Written() - l.Flushed())
		if unsynced != 600 {
			t.Fatalf("unsynced %d bytes, want 600", unsynced)
		}
		written := l.Written()
		if err := l.Crash(unsynced); err != nil { // the OS kept every byte written
			t.Fatal(err)
		}
		r, rec, err := Open(Options{Dir: dir, SegmentSize: testSegSize, NoSync: noSync})
		if err != nil {
			t.Fatal(err)
		}
		if rec.Truncated {
			t.Errorf("noSync=%v: whole records cut as a torn tail: %+v", noSync, rec)
		}
		if r.Flushed() != rec.End || rec.End != written {
			t.Errorf("noSync=%v: Flushed %v, recovered end %v", noSync, r.Flushed(), rec.End)
		}
		want := uint64(1)
		if noSync {
			want = 0
		}
		if got := r.Syncs(); got != want {
			t.Errorf("noSync=%v: Open fsynced %d times before counting the kept tail as flushed, want %d", noSync, got, want)
		}
		r.Close()
	}
}
