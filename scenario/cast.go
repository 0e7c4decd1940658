package scenario

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
)

// CastWriter writes what a terminal shows as an asciicast v2 file, which
// `asciinema play` replays. The first line is a JSON header (version,
// width, height, timestamp, title, env.TERM); every Write then becomes one
// output event line, [seconds, "o", "data"], timed from NewCastWriter;
// Resize and Marker add "r" and "m" events.
//
// Events never split a multi-byte UTF-8 character: an incomplete one at the
// end of a Write is held back until the next Write (or Close) completes it.
// Times never go backwards. A CastWriter is safe for concurrent use.
type CastWriter struct {
	mu      sync.Mutex
	w       io.Writer
	start   time.Time
	last    float64 // seconds of the last event, to keep times monotonic
	pending []byte  // the start of a UTF-8 character cut off by the last Write
	err     error   // the first error from w; every later call returns it
	now     func() time.Time
}

// castHeader is the asciicast v2 header line, fields in the spec's order.
type castHeader struct {
	Version   int               `json:"version"`
	Width     int               `json:"width"`
	Height    int               `json:"height"`
	Timestamp int64             `json:"timestamp"`
	Title     string            `json:"title,omitempty"`
	Env       map[string]string `json:"env"`
}

// NewCastWriter writes the header for a width x height terminal to w and
// returns the writer for the session's output. TERM in the header is the
// environment's (xterm-256color when unset). An error writing the header
// is returned by the first Write.
func NewCastWriter(w io.Writer, width, height int, title string) *CastWriter {
	return newCastWriter(w, width, height, title, time.Now)
}

// NewCastWriterClock is NewCastWriter with the time of the header and of
// every event taken from now, for a cast rendered faster than it plays
// (walship replay --cast renders a recorded session at the times it was
// recorded).
func NewCastWriterClock(w io.Writer, width, height int, title string, now func() time.Time) *CastWriter {
	return newCastWriter(w, width, height, title, now)
}

func newCastWriter(w io.Writer, width, height int, title string, now func() time.Time) *CastWriter {
	c := &CastWriter{w: w, now: now, start: now()}
	term := os.Getenv("TERM")
	if term == "" {
		term = "xterm-256color"
	}
	b, err := json.Marshal(castHeader{
		Version: 2, Width: width, Height: height, Timestamp: c.start.Unix(),
		Title: title, Env: map[string]string{"TERM": term},
	})
	if err == nil {
		_, err = w.Write(append(b, '\n'))
	}
	c.err = err
	return c
}

// Write records p as output at the current time. It reports len(p) written
// unless the underlying writer has failed.
func (c *CastWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return 0, c.err
	}
	data := p
	if len(c.pending) > 0 {
		data = append(c.pending, p...)
		c.pending = nil
	}
	cut := len(data) - incompleteTail(data)
	if cut < len(data) {
		c.pending = append([]byte(nil), data[cut:]...)
	}
	if cut > 0 {
		c.event("o", data[:cut])
	}
	if c.err != nil {
		return 0, c.err
	}
	return len(p), nil
}

// Resize records that the terminal is now width x height, as an "r" event.
func (c *CastWriter) Resize(width, height int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.flushPending()
	c.event("r", []byte(fmt.Sprintf("%dx%d", width, height)))
	return c.err
}

// Marker records a marker event ("m") labelled label, which `asciinema
// play` and the asciinema player can jump to: the UI writes one at each
// chapter and step of a lesson.
func (c *CastWriter) Marker(label string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return c.err
	}
	c.event("m", []byte(label)) // a character cut off stays held: it is output, later

	return c.err
}

// Close writes out any held-back bytes. It does not close the underlying
// writer, which belongs to the caller.
func (c *CastWriter) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.flushPending()
	}
	return c.err
}

// flushPending emits an incomplete character as it is (JSON shows it as
// U+FFFD); it will never be completed now.
func (c *CastWriter) flushPending() {
	if len(c.pending) > 0 {
		c.event("o", c.pending)
		c.pending = nil
	}
}

// event writes one event line. The caller holds c.mu.
func (c *CastWriter) event(code string, data []byte) {
	t := c.now().Sub(c.start).Seconds()
	if t < c.last {
		t = c.last
	}
	c.last = t
	var buf bytes.Buffer
	buf.WriteByte('[')
	buf.WriteString(strconv.FormatFloat(t, 'f', 6, 64))
	buf.WriteString(`, "`)
	buf.WriteString(code)
	buf.WriteString(`", `)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(string(data)); err != nil { // Encode ends with a newline
		c.err = err
		return
	}
	buf.Truncate(buf.Len() - 1)
	buf.WriteString("]\n")
	_, c.err = c.w.Write(buf.Bytes())
}

// incompleteTail is how many bytes at the end of b begin a UTF-8 character
// whose remaining bytes have not arrived yet.
func incompleteTail(b []byte) int {
	for n := 1; n <= utf8.UTFMax-1 && n <= len(b); n++ {
		if utf8.RuneStart(b[len(b)-n]) {
			if !utf8.FullRune(b[len(b)-n:]) {
				return n
			}
			return 0
		}
	}
	return 0
}
