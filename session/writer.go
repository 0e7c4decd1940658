package session

import (
	"bufio"
	"fmt"
	"io"
	"sync"
	"time"

	"walship/engine/cluster"
	"walship/scenario"
)

// Writer writes a session file. Its methods are safe for concurrent use;
// the first write error is kept and returned by every later call.
type Writer struct {
	mu      sync.Mutex
	bw      *bufio.Writer
	enc     encoder
	buf     []byte
	last    time.Duration // wall time of the last record
	lesson  *scenario.LessonState
	noted   bool // a lesson record was written (a nil state is then news)
	written int64
	err     error
	closed  bool
}

// NewWriter writes the header and the meta record to w and returns the
// writer for the rest. Writes are buffered: Close flushes them.
func NewWriter(w io.Writer, m Meta) (*Writer, error) {
	sw := &Writer{bw: bufio.NewWriterSize(w, 64<<10)}
	sw.write(appendHeader(nil))
	e := enc{b: []byte{kindMeta}}
	putDelta(&e, metaFields, &Meta{}, &m)
	sw.record(e.b)
	if sw.err != nil {
		return nil, sw.err
	}
	return sw, nil
}

func (w *Writer) write(b []byte) {
	if w.err != nil {
		return
	}
	n, err := w.bw.Write(b)
	w.written += int64(n)
	if err != nil {
		w.err = fmt.Errorf("session: %w", err)
	}
}

func (w *Writer) record(body []byte) {
	w.buf = appendRecord(w.buf[:0], body)
	w.write(w.buf)
}

// at keeps wall times from going backwards.
func (w *Writer) at(wall time.Duration) time.Duration {
	w.last = max(w.last, wall)
	return w.last
}

// Snapshot writes s, taken at wall time wall since the recording began.
// A snapshot that would draw exactly as the one before and brings no
// events is skipped.
func (w *Writer) Snapshot(wall time.Duration, s *cluster.Snapshot) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return w.err
	}
	body, ok := w.enc.snapshot([]byte{kindSnapshot}, w.at(wall), s)
	if ok {
		w.record(body)
	}
	return w.err
}

// Lesson writes the lesson state at wall time wall when it differs from
// the last one written; nil means no lesson is playing.
func (w *Writer) Lesson(wall time.Duration, ls *scenario.LessonState) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil || w.closed {
		return w.err
	}
	if ls == nil && (!w.noted || w.lesson == nil) || ls != nil && w.lesson != nil && *ls == *w.lesson {
		return nil
	}
	e := enc{b: []byte{kindLesson}}
	e.uint(uint64(w.at(wall) / time.Microsecond))
	e.bool(ls != nil)
	w.lesson, w.noted = nil, true
	if ls != nil {
		putDelta(&e, lessonFields, &scenario.LessonState{}, ls)
		c := *ls
		w.lesson = &c
	}
	w.record(e.b)
	return w.err
}

// Written is how many bytes the file holds so far, buffered ones included.
func (w *Writer) Written() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.written
}

// Close writes the end record at wall time wall and flushes. It does not
// close the underlying writer, which belongs to the caller.
func (w *Writer) Close(wall time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return w.err
	}
	w.closed = true
	e := enc{b: []byte{kindEnd}}
	e.uint(uint64(w.at(wall) / time.Microsecond))
	w.record(e.b)
	if w.err == nil {
		if err := w.bw.Flush(); err != nil {
			w.err = fmt.Errorf("session: %w", err)
		}
	}
	return w.err
}

// minGap is the least wall time between two snapshots a Recorder writes
// when they bring no events: the UI polls faster than that while frames
// fly, and the lesson player polls too.
const minGap = time.Second / 60

// Recorder is a cluster.Controller that passes everything to another one
// and writes each snapshot it hands out, with the events, to a session
// Writer; a lesson wrapped with Lesson is written too. Wall time counts
// from NewRecorder. The UI polling it is what paces the recording.
type Recorder struct {
	ctrl  cluster.Controller
	w     *Writer
	start time.Time

	mu        sync.Mutex
	lastEvent uint64
	lastAt    time.Duration
	recorded  bool
}

// NewRecorder records the snapshots of ctrl to w from now on.
func NewRecorder(ctrl cluster.Controller, w *Writer) *Recorder {
	return &Recorder{ctrl: ctrl, w: w, start: time.Now()}
}

func (r *Recorder) wall() time.Duration { return time.Since(r.start) }

// Snapshot passes through to the recorded controller, and writes what it
// returns. The Recorder asks for every event since the last it saw, so
// the file holds them all whatever each caller asked for.
func (r *Recorder) Snapshot(since uint64) cluster.Snapshot {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.ctrl.Snapshot(min(since, r.lastEvent))
	var fresh []cluster.Event
	for i := range s.Events {
		if s.Events[i].Seq > r.lastEvent {
			fresh = s.Events[i:]
			break
		}
	}
	now := r.wall()
	if len(fresh) > 0 || !r.recorded || now-r.lastAt >= minGap {
		rec := s
		rec.Events = fresh
		r.w.Snapshot(now, &rec) // an error is kept for Close
		r.lastAt, r.recorded = now, true
		if len(fresh) > 0 {
			r.lastEvent = fresh[len(fresh)-1].Seq
		}
	}
	// The caller gets only the events after the ones it asked from.
	out := s.Events[:0:0]
	for _, e := range s.Events {
		if e.Seq > since {
			out = append(out, e)
		}
	}
	s.Events = out
	return s
}

// Do passes c to the recorded controller; the events it raises are what
// the file keeps of it.
func (r *Recorder) Do(c cluster.Command) error { return r.ctrl.Do(c) }

// Lesson returns l with its state written to the session each time the
// UI asks for it; nil stays nil.
func (r *Recorder) Lesson(l scenario.Lesson) scenario.Lesson {
	if l == nil {
		return nil
	}
	return &recordedLesson{Lesson: l, r: r}
}

type recordedLesson struct {
	scenario.Lesson
	r *Recorder
}

func (l *recordedLesson) State() scenario.LessonState {
	s := l.Lesson.State()
	l.r.w.Lesson(l.r.wall(), &s)
	return s
}

// Close ends the recording: the end record, flushed. It returns the first
// error writing the file met.
func (r *Recorder) Close() error { return r.w.Close(r.wall()) }
