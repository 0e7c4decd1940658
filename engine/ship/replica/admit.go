package replica

import (
	"errors"
	"fmt"
	"time"

	"walship/engine/wal"
	"walship/engine/wire"
)

// Handshake admission: a new connection's first frame must be a Hello
// from a follower the leader can serve. ReadHello judges the frame alone
// (magic, version, name); Admit judges the follower it names against
// what the leader knows (known name, streaming already, start LSN within
// the WAL it has). Every refusal has a reason the follower is sent and
// the event log shows.

// Arrival says how a connection's first frame arrived.
type Arrival int

// How a first frame arrives.
const (
	Arrived     Arrival = iota // a whole frame
	ClosedEarly                // the peer closed before saying hello
	TooLarge                   // its length prefix is over the limit
	TimedOut                   // nothing within the handshake timeout
	ReadFailed                 // any other read error
)

// FirstFrame is a connection's first frame, or why there is none.
type FirstFrame struct {
	Addr    string // the peer's address, for the event log
	Arrival Arrival
	Kind    wire.Kind
	Payload []byte
	Detail  string        // the read error's words (TooLarge, ReadFailed)
	Timeout time.Duration // the handshake timeout (TimedOut)
	// Evicted: the connection was closed to make room for a newer one
	// (see Eviction) while it had said no hello.
	Evicted bool
}

// Admission is a verdict on a connection at its handshake.
type Admission struct {
	// Accept: go on (after ReadHello: to Admit; after Admit: welcome the
	// follower and stream).
	Accept bool
	// Refuse: send a Refuse frame with Code and Reason, then close. A
	// connection neither accepted nor refused is closed without a word.
	Refuse bool
	Code   byte
	Reason string
	// Event is what the event log hears; nil for nothing (an evicted
	// connection: the eviction was reported).
	Event *Event
}

// EvictedReason is what an evicted connection is told.
const EvictedReason = "evicted: it said no hello while the leader's connections were all taken"

// ReadHello judges a connection's first frame: a Hello with walship's
// magic, its protocol version and a valid follower name is accepted (and
// returned); anything else is refused, with a reason.
func ReadHello(f FirstFrame) (wire.Hello, Admission) {
	anon := func(code byte, reason string) (wire.Hello, Admission) {
		return wire.Hello{}, Admission{Refuse: true, Code: code, Reason: reason,
			Event: &Event{Kind: EvRefused, Text: fmt.Sprintf("refused %s: %s", f.Addr, reason)}}
	}
	switch {
	case f.Arrival != Arrived && f.Evicted:
		return wire.Hello{}, Admission{Refuse: true, Code: wire.RefuseProtocol, Reason: EvictedReason}
	case f.Arrival == ClosedEarly:
		return wire.Hello{}, Admission{Event: &Event{Kind: EvRefused, Text: fmt.Sprintf("connection from %s closed before saying hello", f.Addr)}}
	case f.Arrival == TooLarge:
		return anon(wire.RefuseProtocol, "not a walship hello: "+f.Detail)
	case f.Arrival == TimedOut:
		return anon(wire.RefuseProtocol, fmt.Sprintf("no hello within %v", f.Timeout))
	case f.Arrival != Arrived:
		return wire.Hello{}, Admission{Event: &Event{Kind: EvRefused, Text: fmt.Sprintf("dropped connection from %s before hello: %s", f.Addr, f.Detail)}}
	case f.Kind != wire.KindHello:
		return anon(wire.RefuseProtocol, fmt.Sprintf("expected hello, got %s frame", f.Kind))
	}
	h, err := wire.DecodeHello(f.Payload)
	switch {
	case errors.Is(err, wire.ErrNameTooLong):
		return anon(wire.RefuseBadName, fmt.Sprintf("follower name of %d bytes is too long (max %d)", f.Payload[15], wire.MaxNameLen))
	case err != nil:
		return anon(wire.RefuseProtocol, err.Error())
	case h.Magic != wire.Magic:
		return anon(wire.RefuseBadMagic, fmt.Sprintf("bad magic %08x (not a walship follower)", h.Magic))
	case h.Version != wire.Version:
		return anon(wire.RefuseBadVersion, fmt.Sprintf("protocol version %d not supported (want %d)", h.Version, wire.Version))
	case !ValidName(h.Name):
		return anon(wire.RefuseBadName, fmt.Sprintf("bad follower name %q", h.Name))
	}
	return h, Admission{Accept: true}
}

// ValidName reports whether s can name a follower: 1 to wire.MaxNameLen
// letters, digits, '-', '_' and '.'.
func ValidName(s string) bool {
	if s == "" || len(s) > wire.MaxNameLen {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// Facts are what the leader knows of a hello's follower and its own WAL.
type Facts struct {
	Addr    string  // the connection's address
	Known   bool    // the cluster has a follower of this name
	Evicted bool    // the connection was evicted meanwhile (see FirstFrame)
	Flushed wal.LSN // the leader's flushed LSN
	Oldest  wal.LSN // the oldest WAL it retains
	// StartProblem says why the hello's start LSN is no place to stream
	// from, found by reading the leader's log ("not a record boundary");
	// "" when it is one, or when that WAL is removed.
	StartProblem string
}

// Admit judges a follower's hello (accepted by ReadHello) against what
// the leader knows, in this order: an unknown name, an evicted
// connection, a timeline the leader cannot serve (newer than its own:
// the leader is fenced; an older one the follower's WAL went past the
// fork of: it needs a rewind, unless it asks for a base backup), a start
// past anything the leader has flushed, a start in
// removed WAL (unless it asks for a base backup), a start that is no
// record boundary, a follower of this name streaming already. Accepted,
// the follower is connected (see Connect) and its progress returned.
func (l *Leader) Admit(h wire.Hello, f Facts) (Admission, *Progress) {
	name := h.Name
	named := func(code byte, reason string, lsn wal.LSN) (Admission, *Progress) {
		return Admission{Refuse: true, Code: code, Reason: reason,
			Event: &Event{Follower: name, Kind: EvRefused, LSN: lsn, Text: "refused: " + reason}}, nil
	}
	wantBackup := h.Flags&wire.HelloWantBackup != 0
	switch {
	case !f.Known:
		reason := fmt.Sprintf("unknown follower %q", name)
		return Admission{Refuse: true, Code: wire.RefuseUnknownName, Reason: reason,
			Event: &Event{Kind: EvRefused, Text: fmt.Sprintf("refused %s: %s", f.Addr, reason)}}, nil
	case f.Evicted:
		return named(wire.RefuseProtocol, EvictedReason, 0)
	}
	tlVerdict, fork, tlReason := JudgeTimeline(l.set.History, max(h.Timeline, 1), h.Start)
	switch {
	case tlVerdict == Fenced:
		return named(wire.RefuseFenced, tlReason, h.Start)
	case tlVerdict == Diverged && !wantBackup:
		a, _ := named(wire.RefuseNeedsRewind, tlReason, fork)
		a.Event.Kind = EvTimeline
		return a, nil
	case h.Start > f.Flushed:
		// Its WAL ends past anything the leader has flushed (so sent):
		// what it would report from there cannot be true.
		return named(wire.RefuseProtocol, fmt.Sprintf("requested start %s is ahead of the leader's flush %s", h.Start, f.Flushed), h.Start)
	case !wantBackup && h.Start < f.Oldest:
		reason := fmt.Sprintf("requested WAL at %s has already been removed (oldest is %s)", h.Start, f.Oldest)
		return l.refuseWALRemoved(name, reason, h.Start), nil
	case !wantBackup && f.StartProblem != "":
		return named(wire.RefuseProtocol, fmt.Sprintf("requested start %s: %s", h.Start, f.StartProblem), h.Start)
	}
	if pr := l.followers[name]; pr != nil && pr.Connected {
		return named(wire.RefuseDuplicate, "a follower with this name is already streaming", 0)
	}
	pr := l.Connect(name, f.Addr, h.Start, wantBackup, f.Oldest)
	how := "streaming from " + h.Start.String()
	if wantBackup {
		how = "asking for a base backup"
	}
	if tlVerdict == Follows {
		how += "; it " + tlReason
	}
	return Admission{Accept: true, Event: &Event{Follower: name, Kind: EvConnect, LSN: h.Start, Text: "connected, " + how}}, pr
}

// RefuseWALRemoved is the answer to a follower whose WAL at lsn is gone,
// for reason: a Refuse frame every time, an event the first time (see
// WALRemoved).
func (l *Leader) RefuseWALRemoved(name, reason string, lsn wal.LSN) Admission {
	return l.refuseWALRemoved(name, reason, lsn)
}

func (l *Leader) refuseWALRemoved(name, reason string, lsn wal.LSN) Admission {
	a := Admission{Refuse: true, Code: wire.RefuseWALRemoved, Reason: reason}
	if l.WALRemoved(name) {
		a.Event = &Event{Follower: name, Kind: EvWALRemoved, LSN: lsn, Text: "refused: " + reason}
	}
	return a
}

// CheckResend says why a follower's request to resend from from cannot be
// served, the leader having flushed flushed; problem is what reading the
// leader's log at from found (see Facts.StartProblem). "" when it can.
func CheckResend(from, flushed wal.LSN, problem string) string {
	switch {
	case from > flushed:
		return fmt.Sprintf("resend from %s: past the leader's flush %s", from, flushed)
	case problem != "":
		return fmt.Sprintf("resend from %s: %s", from, problem)
	}
	return ""
}
