package session

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"walship/scenario"
)

// Recording is a session file read into memory: its snapshots in a
// History, and the lesson states it went through.
type Recording struct {
	Meta    Meta
	Version uint16
	History *History
	Lessons []LessonAt
	// Duration is the wall time of the last record read.
	Duration time.Duration
	// Complete: the file ended with its end record. Otherwise Stopped
	// says where reading stopped and why: damage, or a recording cut
	// short.
	Complete bool
	Stopped  *Damage
}

// LessonAt is a lesson's state from a wall time on; State is nil when no
// lesson played from then.
type LessonAt struct {
	Wall  time.Duration
	State *scenario.LessonState
}

// Damage says where a session file stopped being readable: the byte
// offset of the record that failed, how far into the recording that is,
// and what was wrong.
type Damage struct {
	Offset int64
	Wall   time.Duration // the wall time of the last record read before it
	Err    error
}

func (d *Damage) Error() string {
	return fmt.Sprintf("session: stopped at byte %d, %s into the recording: %v", d.Offset, formatWall(d.Wall), d.Err)
}

func (d *Damage) Unwrap() error { return d.Err }

// formatWall prints a wall time as m:ss.s.
func formatWall(d time.Duration) string {
	d = d.Round(100 * time.Millisecond)
	m := d / time.Minute
	s := float64(d-m*time.Minute) / float64(time.Second)
	return fmt.Sprintf("%d:%04.1f", m, s)
}

// ErrEmpty is a session file with no snapshot to play.
var ErrEmpty = errors.New("session: no snapshot in the file: nothing to play")

// Open reads the session file at path (see Read).
func Open(path string) (*Recording, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return Read(f)
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// Read reads a session file to its end or its first damage. A file that
// is no session, of a newer format, or with no snapshot before the damage
// is an error; otherwise the recording holds everything before the damage
// and Stopped says where it was.
func Read(r io.Reader) (*Recording, error) {
	cr := &countingReader{r: bufio.NewReaderSize(r, 64<<10)}
	v, err := readHeader(cr)
	if err != nil {
		return nil, err
	}
	rec := &Recording{Version: v, History: NewHistory(0)}
	rec.History.dec.version = v
	dec := decoder{version: v}
	var buf []byte
	for n := 0; ; n++ {
		at := cr.n
		body, err := readRecord(cr, buf)
		if err == io.EOF {
			if n == 0 {
				return nil, fmt.Errorf("%w: it ends after its header", ErrEmpty)
			}
			rec.Stopped = &Damage{Offset: at, Wall: rec.Duration, Err: errors.New("no end record: the recording was cut short")}
			break
		}
		if err == nil {
			buf = body[:0]
			err = rec.take(&dec, n, body)
		}
		if errors.Is(err, errEnd) {
			rec.Complete = true
			break
		}
		if err != nil {
			rec.Stopped = &Damage{Offset: at, Wall: rec.Duration, Err: err}
			break
		}
	}
	if rec.History.Len() == 0 {
		if rec.Stopped != nil {
			return nil, fmt.Errorf("%w (%v)", ErrEmpty, rec.Stopped)
		}
		return nil, ErrEmpty
	}
	return rec, nil
}

// errEnd is the end record.
var errEnd = errors.New("end")

// take reads record n, whose body is body (reused after: what is kept is
// copied).
func (rec *Recording) take(dec *decoder, n int, body []byte) error {
	kind, payload := body[0], body[1:]
	if n == 0 {
		if kind != kindMeta {
			return fmt.Errorf("the first record is %q, not the meta record", kind)
		}
		d := newDec(payload)
		rec.Meta = getDelta(&d, fieldsOf(metaFields, dec.version), &Meta{})
		return d.done()
	}
	switch kind {
	case kindSnapshot:
		s, wall, key, err := dec.snapshot(payload)
		if err != nil {
			return fmt.Errorf("snapshot: %w", err)
		}
		if err := rec.advance(wall); err != nil {
			return err
		}
		rec.History.store(s.World, wall, s.LastEvent, key, payload, s.Events)
	case kindLesson:
		d := newDec(payload)
		wall := time.Duration(d.uint()) * time.Microsecond
		at := LessonAt{Wall: wall}
		if d.bool() {
			st := getDelta(&d, fieldsOf(lessonFields, dec.version), &scenario.LessonState{})
			at.State = &st
		}
		if err := d.done(); err != nil {
			return fmt.Errorf("lesson: %w", err)
		}
		if err := rec.advance(wall); err != nil {
			return err
		}
		rec.Lessons = append(rec.Lessons, at)
	case kindEnd:
		d := newDec(payload)
		wall := time.Duration(d.uint()) * time.Microsecond
		if err := d.done(); err != nil {
			return fmt.Errorf("end: %w", err)
		}
		if err := rec.advance(wall); err != nil {
			return err
		}
		return errEnd
	case kindMeta:
		return errors.New("a second meta record")
	default:
		return fmt.Errorf("an unknown record kind %q", kind)
	}
	return nil
}

// advance moves the recording's duration to wall, which must not go
// backwards.
func (rec *Recording) advance(wall time.Duration) error {
	if wall < rec.Duration {
		return fmt.Errorf("wall time goes back from %s to %s", formatWall(rec.Duration), formatWall(wall))
	}
	rec.Duration = wall
	return nil
}

func newDec(b []byte) dec { return dec{b: b} }

// done reports a decoding error, or bytes left over.
func (d *dec) done() error {
	if d.err == nil && len(d.b) > 0 {
		d.fail(fmt.Errorf("%d bytes left over", len(d.b)))
	}
	return d.err
}

// LessonAt returns the lesson state at wall time t (nil when none).
func (rec *Recording) LessonAt(t time.Duration) *scenario.LessonState {
	var st *scenario.LessonState
	for _, l := range rec.Lessons {
		if l.Wall > t {
			break
		}
		st = l.State
	}
	return st
}
