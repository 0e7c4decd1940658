package wal

import "sync"

// recentChunk is a copy of bytes written from lsn on: whole records, from
// one or more consecutive writes.
type recentChunk struct {
	lsn  LSN
	data []byte
}

// recent is the Log's in-memory copy of its newest written bytes
// (Options.Recent of them). A Reader that is less than that far behind the
// end (a leader's sender keeping up, a follower's replay) copies from
// memory instead of reading the files: no system call, no page-cache
// lookup, and no second CRC check of bytes this process encoded or checked
// itself. Readers copy out under mu, so an evicted chunk's buffer can be
// reused at once.
type recent struct {
	max    int // bytes kept
	mu     sync.Mutex
	chunks []recentChunk // in LSN order
	bytes  int           // capacity of the chunks' buffers
	spare  [][]byte      // evicted buffers
}

// remember copies data, just written at lsn, into the cache and evicts the
// oldest chunks beyond max. Small writes that continue the last chunk are
// packed into its buffer, and the bound counts buffer capacity, so a stream
// of small writes holds no more memory than a stream of big ones.
func (c *recent) remember(lsn LSN, data []byte) {
	if len(data) == 0 || len(data) > c.max {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := len(c.chunks); n > 0 {
		last := &c.chunks[n-1]
		if lsn == last.lsn+LSN(len(last.data)) && cap(last.data)-len(last.data) >= len(data) {
			last.data = append(last.data, data...)
			return
		}
	}
	size := max(len(data), chunkSize)
	for c.bytes+size > c.max && len(c.chunks) > 0 {
		old := c.chunks[0]
		c.chunks[0] = recentChunk{}
		c.chunks = c.chunks[1:]
		c.bytes -= cap(old.data)
		c.spare = append(c.spare, old.data[:0])
	}
	var buf []byte
	for i := len(c.spare) - 1; i >= 0; i-- {
		if cap(c.spare[i]) >= size {
			buf = c.spare[i]
			c.spare[i] = c.spare[len(c.spare)-1]
			c.spare = c.spare[:len(c.spare)-1]
			break
		}
	}
	if buf == nil {
		buf = make([]byte, 0, size)
	}
	c.chunks = append(c.chunks, recentChunk{lsn: lsn, data: append(buf, data...)})
	c.bytes += cap(buf)
	if len(c.spare) > 4 {
		// Keep a few buffers for reuse; let the rest go.
		clear(c.spare[4:])
		c.spare = c.spare[:4]
	}
}

// read copies into p the cached bytes starting at lsn, following chunks
// that continue one another, and returns how many it copied: 0 when lsn is
// not cached.
func (c *recent) read(p []byte, lsn LSN) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Readers are usually near the end: search from the newest chunk.
	i := len(c.chunks) - 1
	for ; i >= 0; i-- {
		if ch := c.chunks[i]; lsn >= ch.lsn && lsn < ch.lsn+LSN(len(ch.data)) {
			break
		}
	}
	if i < 0 {
		return 0
	}
	n := 0
	for ; i < len(c.chunks) && n < len(p); i++ {
		ch := c.chunks[i]
		at := lsn + LSN(n)
		if at < ch.lsn || at >= ch.lsn+LSN(len(ch.data)) {
			break // a gap: the next chunk starts in a later segment
		}
		n += copy(p[n:], ch.data[at-ch.lsn:])
	}
	return n
}

// reset forgets everything (the log was reset or crashed).
func (c *recent) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	clear(c.chunks)
	c.chunks = c.chunks[:0]
	c.bytes = 0
}
