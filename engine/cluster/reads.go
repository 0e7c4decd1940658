package cluster

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"walship/engine/kv"
	"walship/engine/ship"
	"walship/engine/ship/replica"
	"walship/engine/wal"
)

// Reads on any node, and the anomalies of replication lag.
//
// A read returns the value a node holds, the version LSN of that value
// (where the record that wrote it starts) and the LSN the node's store
// has replayed to, all read at one moment under the store's lock. It is
// STALE when the node holds an older version than the primary has now.
// On the leader the replay LSN is its insert LSN: the leader applies a
// record to its store as it inserts it, before it is flushed.
//
// "The client" is the person (or scenario) issuing commands: its writes
// are set, del and the read-your-writes probe. A waiting read waits until
// the node has replayed the client's last commit LSN (the end of its last
// write), as a client that carries its commit LSN to a standby waits for
// pg_last_wal_replay_lsn() to pass it; before the client has written, it
// waits for the primary's insert LSN at the moment of the read.

// Probe names a client probe.
type Probe string

// The probes.
const (
	// ProbeRYW writes a key on the leader, waits for its commit under the
	// sync rule in force, and reads it at once on a follower.
	ProbeRYW Probe = "ryw"
	// ProbeMonotonic reads one key on one follower, then on another.
	ProbeMonotonic Probe = "monotonic"
)

// The anomalies a probe names (ReadResult.Anomaly).
const (
	AnomalyRYW       = "read-your-writes"
	AnomalyMonotonic = "monotonic reads"
)

// How long a waiting read, or a probe's commit, waits at most: in world
// time, and in real time so that a frozen world cannot hold it forever.
const (
	readWaitWorld = 10 * time.Second
	readWaitReal  = 60 * time.Second
	// readPoll is how often a waiting read looks again (real time).
	readPoll = 2 * time.Millisecond
)

// RYWProbeKey is the key the read-your-writes probe writes.
const RYWProbeKey = "ryw-probe"

// reads is the cluster's client: its last write and the ring of recent
// reads.
type reads struct {
	mu      sync.Mutex
	ring    [ReadRingSize]ReadResult
	seq     uint64
	lastKey string  // the client's last written key ("" none yet)
	lastLSN wal.LSN // the client's last commit LSN: the end of its last write
	probes  int     // read-your-writes probes written, for their values
}

// noteClientWrite records a write made through the cluster's commands:
// its key and commit LSN (the end of its record).
func (c *Cluster) noteClientWrite(key string, end wal.LSN) {
	c.reads.mu.Lock()
	c.reads.lastKey = key
	c.reads.lastLSN = max(c.reads.lastLSN, end)
	c.reads.mu.Unlock()
}

// clientWrite returns the client's last written key and commit LSN.
func (c *Cluster) clientWrite() (string, wal.LSN) {
	c.reads.mu.Lock()
	defer c.reads.mu.Unlock()
	return c.reads.lastKey, c.reads.lastLSN
}

// recordRead appends r to the ring of recent reads and returns it
// numbered and timed.
func (c *Cluster) recordRead(r ReadResult) ReadResult {
	c.reads.mu.Lock()
	c.reads.seq++
	r.Seq = c.reads.seq
	if r.World == 0 {
		r.World = c.clk.Now()
	}
	c.reads.ring[r.Seq%ReadRingSize] = r
	c.reads.mu.Unlock()
	return r
}

// recentReads copies the ring, oldest first.
func (c *Cluster) recentReads() []ReadResult {
	c.reads.mu.Lock()
	defer c.reads.mu.Unlock()
	n := min(c.reads.seq, ReadRingSize)
	if n == 0 {
		return nil
	}
	out := make([]ReadResult, 0, n)
	for s := c.reads.seq - n + 1; s <= c.reads.seq; s++ {
		out = append(out, c.reads.ring[s%ReadRingSize])
	}
	return out
}

// readKey is the key a read of key means: key, or when it is "" the
// client's last written key, else the workload's newest.
func (c *Cluster) readKey(key string) (string, error) {
	if key != "" {
		return key, nil
	}
	if k, _ := c.clientWrite(); k != "" {
		return k, nil
	}
	if k := c.work.newestKey(); k != "" {
		return k, nil
	}
	return "", fmt.Errorf("no key written yet: name one (read NODE KEY)")
}

// PrimaryNode names, in a read, the primary whatever its name (after a
// failover it is the promoted follower's).
const PrimaryNode = "primary"

// nodeStore returns the store of a node and its name: a follower by name
// (the old leader too, when it has rejoined as a follower), or the
// primary, named primary, leader (until another node named leader
// follows) or by its own name. member is nil for the primary.
func (c *Cluster) nodeStore(node string) (*kv.Store, *member, string, error) {
	c.mu.Lock()
	var m *member
	if node != PrimaryNode {
		for _, x := range c.followers {
			if x.name == node {
				m = x
			}
		}
	}
	l, name := c.leader, c.primaryName
	c.mu.Unlock()
	if m != nil {
		f, err := c.running(m)
		if err != nil {
			return nil, m, node, err
		}
		return f.Store(), m, node, nil
	}
	if node != PrimaryNode && node != LeaderName && node != name {
		_, err := c.members(node)
		return nil, nil, node, err
	}
	if l == nil {
		if _, err := c.writable(); err != nil {
			return nil, nil, name, fmt.Errorf("nothing to read: %w", err)
		}
		return nil, nil, name, fmt.Errorf("no primary is up to read")
	}
	return l.Store(), nil, name, nil
}

// readOnce reads key on node and compares it with the primary's version
// at that moment. It returns the result unrecorded; a node that cannot be
// read gives a result with Err set, and the error.
func (c *Cluster) readOnce(node, key string) (ReadResult, error) {
	r := ReadResult{Node: node, Key: key}
	store, _, name, err := c.nodeStore(node)
	r.Node = name
	if err != nil {
		r.Err = err.Error()
		return r, err
	}
	v := store.GetVersion(key)
	r.Value, r.Found, r.VersionLSN, r.ReplayLSN = string(v.Value), v.Found, v.LSN, v.Applied
	if p := c.primary(); p != nil {
		pv := p.Store().GetVersion(key)
		r.PrimaryLSN = pv.LSN
		// A node replays a prefix of the primary's history: a version
		// that differs, on a node behind the primary, is an older one
		// (a key found only on the node was deleted on the primary since).
		differs := v.Found != pv.Found || v.LSN != pv.LSN
		r.Stale = differs && v.Applied < pv.Applied
	}
	return r, nil
}

// read carries out `read NODE [KEY] [wait]`.
func (c *Cluster) read(cmd Command) error {
	key, err := c.readKey(cmd.Key)
	if err != nil {
		return err
	}
	var want wal.LSN
	var waited time.Duration
	if cmd.Wait {
		if want, waited, err = c.waitReplay(cmd.Follower); err != nil {
			c.recordRead(ReadResult{Node: cmd.Follower, Key: key, WaitLSN: want, Waited: waited, Err: err.Error()})
			return err
		}
	}
	r, err := c.readOnce(cmd.Follower, key)
	r.WaitLSN, r.Waited = want, waited
	r = c.recordRead(r)
	if err != nil {
		return err
	}
	c.emit(Event{Kind: EvRead, Follower: readFollower(r.Node), LSN: r.VersionLSN, Text: ReadText(r)})
	return nil
}

// readFollower is the event's follower for a read on node.
func readFollower(node string) string {
	if node == LeaderName {
		return ""
	}
	return node
}

// waitTarget is the LSN a waiting read waits for: the client's last commit
// LSN, or before the client has written, the primary's insert LSN now.
func (c *Cluster) waitTarget() (wal.LSN, error) {
	if _, lsn := c.clientWrite(); lsn > 0 {
		return lsn, nil
	}
	p, err := c.writable()
	if err != nil {
		return 0, fmt.Errorf("nothing to wait for: %w", err)
	}
	return p.Log().End(), nil
}

// waitReplay waits until node has replayed the waiting read's target LSN,
// and returns the target and how long it waited (world time). It gives up
// with a reason: at once when the node is stopped or cannot receive the
// WAL (its link is cut, it needs a base backup), else after readWaitWorld
// of world time (or readWaitReal of real time, so a frozen world cannot
// hold it forever), or when the cluster closes.
func (c *Cluster) waitReplay(node string) (wal.LSN, time.Duration, error) {
	want, err := c.waitTarget()
	if err != nil {
		return 0, 0, err
	}
	start, realStart := c.clk.Now(), time.Now()
	var tick *time.Ticker
	for {
		store, m, _, err := c.nodeStore(node)
		if err != nil {
			return want, c.clk.Now() - start, fmt.Errorf("waiting for replay of %s: %w", want, err)
		}
		applied := store.AppliedLSN()
		if applied >= want {
			if tick != nil {
				tick.Stop()
			}
			return want, c.clk.Now() - start, nil
		}
		waited := c.clk.Now() - start
		if m != nil {
			if why := c.cannotReach(m, want); why != "" {
				return want, waited, fmt.Errorf("%s has replayed %s of %s and %s", node, applied, want, why)
			}
		}
		if waited >= readWaitWorld || time.Since(realStart) >= readWaitReal {
			why := ""
			if m != nil && c.replayPaused(m) {
				why = " (its replay is paused)"
			}
			return want, waited, fmt.Errorf("gave up after %s: %s has replayed %s of %s%s", waited.Round(time.Millisecond), node, applied, want, why)
		}
		if tick == nil {
			tick = time.NewTicker(readPoll)
			defer tick.Stop()
		}
		select {
		case <-c.stop:
			return want, waited, fmt.Errorf("cluster is closed")
		case <-tick.C:
		}
	}
}

// cannotReach says why follower m cannot come to replay want ("" when
// it may): its link is cut before it has received want, or it needs a
// base backup.
func (c *Cluster) cannotReach(m *member, want wal.LSN) string {
	f, err := c.running(m)
	if err != nil {
		return err.Error()
	}
	st := f.Status()
	switch {
	case st.State == StateNeedsBackup:
		return "needs a base backup"
	case m.relay.Status().Cut && st.Positions.Write < want:
		return fmt.Sprintf("its link is cut: it has received only up to %s", st.Positions.Write)
	}
	return ""
}

// replayPaused reports whether follower m's replay is paused.
func (c *Cluster) replayPaused(m *member) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return m.paused
}

// probe carries out `probe ryw F` and `probe monotonic F1 F2 [KEY]`.
func (c *Cluster) probe(cmd Command) error {
	if cmd.Probe == ProbeMonotonic {
		return c.probeMonotonic(cmd)
	}
	return c.probeRYW(cmd)
}

// probeRYW writes RYWProbeKey on the primary, waits for the commit under
// the sync rule in force, and at once reads the key on the node: a
// read-your-writes anomaly when the node has not replayed the write.
func (c *Cluster) probeRYW(cmd Command) error {
	p, err := c.writable()
	if err != nil {
		return err
	}
	c.reads.mu.Lock()
	c.reads.probes++
	value := fmt.Sprintf("write-%d", c.reads.probes)
	c.reads.mu.Unlock()
	rs := [1]wal.Record{{Op: wal.OpSet, Key: []byte(RYWProbeKey), Value: []byte(value)}}
	end, err := p.AppendBatch(rs[:])
	if err != nil {
		return err
	}
	at := rs[0].LSN
	c.noteClientWrite(RYWProbeKey, end)
	rule := p.Status().Sync
	if err := c.waitReleased(p, ack(wal.OpSet, rs[0].Key, rs[0].Value, end)); err != nil {
		return err
	}
	r, err := c.readOnce(cmd.Follower, RYWProbeKey)
	if err == nil && r.ReplayLSN < end {
		r.Anomaly = AnomalyRYW
	}
	r = c.recordRead(r)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("probe read-your-writes: wrote %s=%q @%s, committed under %s; %s", RYWProbeKey, value, at, rule, ReadText(r))
	if r.Anomaly == "" {
		text += ": saw its own write"
	}
	c.emit(Event{Kind: EvRead, Follower: readFollower(r.Node), LSN: r.VersionLSN, Text: text})
	return nil
}

// waitReleased waits, as a client does, for commit a to be released
// under the sync rule in force, as the workload's commits are: the status
// line counts it among the waiting commits meanwhile, and once
// acknowledged it counts among the commits a failover may lose. It is
// bounded as a waiting read is.
func (c *Cluster) waitReleased(p *ship.Leader, a replica.AckedCommit) error {
	end := a.End
	start, realStart := c.clk.Now(), time.Now()
	stop, done, exited := make(chan struct{}), make(chan struct{}), make(chan struct{})
	// The watcher closes stop when the bound has passed; it ends when
	// the wait does.
	go func() {
		defer close(exited)
		defer close(stop)
		tick := time.NewTicker(readPoll)
		defer tick.Stop()
		for c.clk.Now()-start < readWaitWorld && time.Since(realStart) < readWaitReal {
			select {
			case <-done:
				return
			case <-c.stop:
				return
			case <-tick.C:
			}
		}
	}()
	released := c.waitCommit(p, []replica.AckedCommit{a}, stop)
	close(done)
	<-exited
	if released {
		return nil
	}
	select {
	case <-c.stop:
		return fmt.Errorf("cluster is closed")
	default:
	}
	if c.primary() != p {
		return fmt.Errorf("the primary changed before the probe's commit was acknowledged")
	}
	waited := c.clk.Now() - start
	return fmt.Errorf("the probe's commit was not released after %s: %s", waited.Round(time.Millisecond), p.Commit(end).Reason)
}

// probeMonotonic reads one key on one node, then on another: a
// monotonic-reads anomaly when the second read returns an older version
// than the first (it differs, and the second node has replayed less).
func (c *Cluster) probeMonotonic(cmd Command) error {
	key, err := c.readKey(cmd.Key)
	if err != nil {
		return err
	}
	r1, err := c.readOnce(cmd.Follower, key)
	r1 = c.recordRead(r1)
	if err != nil {
		return err
	}
	r2, err := c.readOnce(cmd.Other, key)
	if err == nil && (r1.Found != r2.Found || r1.VersionLSN != r2.VersionLSN) && r2.ReplayLSN < r1.ReplayLSN {
		r2.Anomaly = AnomalyMonotonic
	}
	r2 = c.recordRead(r2)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("probe monotonic reads: first %s; then %s", ReadText(r1), ReadText(r2))
	if r2.Anomaly == "" {
		text += ": not older"
	}
	c.emit(Event{Kind: EvRead, Follower: readFollower(r2.Node), LSN: r2.VersionLSN, Text: text})
	return nil
}

// ReadText says what a read returned in one line, e.g.
// `read key-00042 on follower-1: "abc" @0/3A40 (replay 0/3A40) STALE: leader has @0/3F00`.
func ReadText(r ReadResult) string {
	var b strings.Builder
	fmt.Fprintf(&b, "read %s on %s: ", r.Key, r.Node)
	if r.Err != "" {
		b.WriteString("failed: " + r.Err)
		return b.String()
	}
	if r.Found {
		fmt.Fprintf(&b, "%s @%s", ShowValue(r.Value), r.VersionLSN)
	} else {
		b.WriteString("not found")
	}
	fmt.Fprintf(&b, " (replay %s)", r.ReplayLSN)
	if r.WaitLSN > 0 {
		fmt.Fprintf(&b, " after waiting %s for replay of %s", r.Waited.Round(time.Millisecond), r.WaitLSN)
	}
	if r.Stale {
		if r.PrimaryLSN > 0 {
			fmt.Fprintf(&b, " STALE: leader has @%s", r.PrimaryLSN)
		} else {
			b.WriteString(" STALE: deleted on the leader")
		}
	}
	switch r.Anomaly {
	case AnomalyRYW:
		b.WriteString(": READ-YOUR-WRITES anomaly (it has not replayed your write)")
	case AnomalyMonotonic:
		b.WriteString(": MONOTONIC READS anomaly (older than the read before)")
	}
	return b.String()
}

// ShowValue quotes a value read, shortened past 24 bytes.
func ShowValue(v string) string {
	const max = 24
	if len(v) > max {
		return fmt.Sprintf("%q…", v[:max])
	}
	return fmt.Sprintf("%q", v)
}

// ---- the text form -------------------------------------------------------

// node reads a node: the leader, or one follower.
func (p *parser) node(what string) (string, error) {
	w, err := p.want(what)
	if err != nil {
		return "", err
	}
	if strings.EqualFold(w.Text, LeaderName) {
		return LeaderName, nil
	}
	if strings.EqualFold(w.Text, PrimaryNode) {
		return PrimaryNode, nil
	}
	if i, ok := FollowerIndex(w.Text); ok {
		return FollowerName(i), nil
	}
	return "", &ParseError{w.Col, what}
}

// isWait reports whether w is the word wait, unquoted (a key named wait
// is written quoted).
func isWait(w Word) bool { return !w.Quoted && strings.EqualFold(w.Text, "wait") }

// read parses `read NODE [KEY] [wait]`.
func (p *parser) read(c *Command) error {
	var err error
	if c.Follower, err = p.node("a node: leader, primary, or a follower (follower-2 or 2)"); err != nil {
		return err
	}
	if p.more() && !isWait(p.words[p.i]) {
		c.Key = p.next().Text
	}
	if p.more() && isWait(p.words[p.i]) {
		p.i++
		c.Wait = true
	}
	return nil
}

// probe parses `probe ryw F` and `probe monotonic F1 F2 [KEY]`.
func (p *parser) probe(c *Command) error {
	w, err := p.want("a probe: ryw (read-your-writes) or monotonic")
	if err != nil {
		return err
	}
	switch strings.ToLower(w.Text) {
	case "ryw", "read-your-writes":
		c.Probe = ProbeRYW
		c.Follower, err = p.node("a node to read on: a follower (follower-2 or 2), or leader")
	case "monotonic", "monotonic-reads":
		c.Probe = ProbeMonotonic
		if c.Follower, err = p.node("the first node to read on (follower-1 or 1, or leader)"); err != nil {
			return err
		}
		if c.Other, err = p.node("the second node to read on (follower-2 or 2, or leader)"); err == nil && p.more() {
			c.Key = p.next().Text
		}
	default:
		return &ParseError{w.Col, "a probe: ryw (read-your-writes) or monotonic"}
	}
	return err
}

// readString is the text form of a read or a probe.
func readString(c Command) string {
	if c.Verb == VerbProbe {
		if c.Probe == ProbeMonotonic {
			s := fmt.Sprintf("probe monotonic %s %s", c.Follower, c.Other)
			if c.Key != "" {
				s += " " + quoteIfNeeded(c.Key)
			}
			return s
		}
		return fmt.Sprintf("probe ryw %s", c.Follower)
	}
	s := "read " + c.Follower
	if c.Key != "" {
		k := quoteIfNeeded(c.Key)
		if strings.EqualFold(c.Key, "wait") {
			k = `"` + c.Key + `"`
		}
		s += " " + k
	}
	if c.Wait {
		s += " wait"
	}
	return s
}
