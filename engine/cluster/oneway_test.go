package cluster

import (
	"strings"
	"testing"
	"time"
)

// leaderView is the leader's own view of a follower: what it last
// reported.
func leaderView(c *Cluster, name string) (write, replay, sent string) {
	for _, p := range c.Leader().Followers() {
		if p.Name == name {
			return p.Write.String(), p.Replay.String(), p.Sent.String()
		}
	}
	return "", "", ""
}

// hasEvent reports whether s holds an event of kind for name whose text
// contains sub.
func hasEvent(s Snapshot, name string, kind EventKind, sub string) bool {
	for _, e := range s.Events {
		if e.Follower == name && e.Kind == kind && strings.Contains(e.Text, sub) {
			return true
		}
	}
	return false
}

// cut F to: the leader's frames are lost, the follower's status is not.
// Restored with nothing more written, the next keepalive shows the
// follower its gap and a resend closes it.
func TestOneWayCutToFollower(t *testing.T) {
	c := newTest(t, Config{Followers: 1, BatchBytes: 1})
	current = c
	put(t, c, 10, "a")
	converge(t, c)
	do(t, c, "pause follower-1")
	put(t, c, 10, "b")
	eventually(t, "follower-1 flushed, replay held", func(s Snapshot) bool {
		f := follower(s, "follower-1")
		return f.FlushLSN == s.Leader.FlushLSN && f.ReplayLSN < f.FlushLSN
	})
	before := follower(c.Snapshot(0), "follower-1")

	do(t, c, "cut follower-1 to")
	put(t, c, 20, "c")
	s := eventually(t, "the leader sent 20 frames that were lost", func(s Snapshot) bool {
		f := follower(s, "follower-1")
		return f.SentLSN == s.Leader.FlushLSN && f.Link.Lost >= 20
	})
	f := follower(s, "follower-1")
	if !f.Link.CutTo || f.Link.CutFrom || f.Link.Cut || f.State != StateStreaming || f.WriteLSN != before.WriteLSN {
		t.Fatalf("after cut to: state %s, link %+v, write %s (was %s); want streaming, the connection up and nothing received",
			f.State, f.Link, f.WriteLSN, before.WriteLSN)
	}
	// The way back works: replay resumed on the follower reaches the leader.
	do(t, c, "resume follower-1")
	eventually(t, "the leader to hear of the replay", func(s Snapshot) bool {
		_, replay, _ := leaderView(c, "follower-1")
		return replay == before.FlushLSN.String()
	})
	s = eventually(t, "write_lag to grow", func(s Snapshot) bool {
		l := follower(s, "follower-1").WriteLag
		return l.Known && !l.Idle && l.D > 0
	})
	if cmds := s.Settings(); !strings.Contains(commandsText(cmds), "cut follower-1 to") {
		t.Errorf("settings do not keep the one-way cut: %s", commandsText(cmds))
	}

	do(t, c, "restore follower-1")
	converge(t, c)
	s = c.Snapshot(0)
	if f := follower(s, "follower-1"); f.Resends < 1 {
		t.Errorf("resends %d, want at least 1", f.Resends)
	}
	if !hasEvent(s, "follower-1", EvResend, "keepalive") {
		t.Errorf("no resend asked on a keepalive's evidence; events: %v", s.Events)
	}
	verifyAll(t, c)
}

// cut F from: the follower's status is lost, the leader's frames are not.
// The leader's picture freezes and its lags grow, until its idle timeout
// drops the connection; restored, everything is reported again.
func TestOneWayCutFromFollower(t *testing.T) {
	c := newTest(t, Config{Followers: 1, BatchBytes: 1, IdleTimeout: 2 * time.Second, HandshakeTimeout: time.Second})
	current = c
	put(t, c, 10, "a")
	converge(t, c)
	reported, _, _ := leaderView(c, "follower-1")

	do(t, c, "cut follower-1 from")
	put(t, c, 20, "b")
	s := eventually(t, "follower-1 to receive everything", func(s Snapshot) bool {
		return follower(s, "follower-1").WriteLSN == s.Leader.FlushLSN
	})
	if w, _, _ := leaderView(c, "follower-1"); w != reported {
		t.Fatalf("the leader heard follower-1 at %s through a cut (it was %s)", w, reported)
	}
	if f := follower(s, "follower-1"); !f.Link.CutFrom || f.Link.CutTo {
		t.Fatalf("link %+v, want CutFrom only", f.Link)
	}
	eventually(t, "write_lag to grow", func(s Snapshot) bool {
		l := follower(s, "follower-1").WriteLag
		return l.Known && !l.Idle && l.D > 0
	})
	eventually(t, "the leader's idle timeout", func(s Snapshot) bool {
		return hasEvent(s, "follower-1", EvDisconnect, "idle")
	})

	do(t, c, "restore follower-1")
	converge(t, c)
	eventually(t, "the leader to hear of everything", func(s Snapshot) bool {
		w, _, _ := leaderView(c, "follower-1")
		return w == s.Leader.FlushLSN.String()
	})
	verifyAll(t, c)
}

// drop F: a lost data frame leaves a gap. The next data frame shows it
// to the follower, or, when nothing more is written, the next keepalive;
// either way a resend closes it.
func TestDropFrameLeavesGapThatIsResent(t *testing.T) {
	c := newTest(t, Config{Followers: 1, BatchBytes: 1})
	current = c
	put(t, c, 5, "a")
	converge(t, c)

	do(t, c, "drop follower-1")
	put(t, c, 1, "b") // the last write: only a keepalive can show the gap
	eventually(t, "the frame lost", func(s Snapshot) bool { return follower(s, "follower-1").Link.Lost == 1 })
	converge(t, c)
	s := c.Snapshot(0)
	if !hasEvent(s, "follower-1", EvResend, "keepalive") {
		t.Fatalf("no resend on a keepalive's evidence; events: %v", s.Events)
	}
	resends := follower(s, "follower-1").Resends

	do(t, c, "drop follower-1")
	put(t, c, 5, "c")
	converge(t, c)
	s = c.Snapshot(0)
	f := follower(s, "follower-1")
	if f.Link.Lost != 2 || f.Resends <= resends || f.CRCFailures != 0 {
		t.Fatalf("lost %d, resends %d (were %d), crc failures %d; want 2 lost, more resends, no CRC failure", f.Link.Lost, f.Resends, resends, f.CRCFailures)
	}
	if !hasEvent(s, "follower-1", EvResend, "gap: got") {
		t.Errorf("no resend for a gap between data frames; events: %v", s.Events)
	}
	if !hasEvent(s, "follower-1", EvLink, "dropped data frame") {
		t.Errorf("no event for the drop; events: %v", s.Events)
	}
	verifyAll(t, c)
}

func commandsText(cmds []Command) string {
	var b strings.Builder
	for _, c := range cmds {
		b.WriteString(c.String())
		b.WriteString("; ")
	}
	return b.String()
}
