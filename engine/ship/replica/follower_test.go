package replica

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"walship/engine/wal"
	"walship/engine/wire"
)

// TestFollower plays the stories in testdata/follower: one follower's
// decisions, fed the frames a leader would send. The harness plays the
// leader's log and the follower's own files: it writes what the follower
// says to append, fsyncs and replays when told, and keeps the rest
// (what a crash keeps, what a base backup holds) as the engine would.
// go test -rewrite writes the answers anew.
//
//	follower [segment=BYTES] [auto-backup] [max-backup=BYTES] [want-backup] [paused]
//	leader-write n=N           the leader appends and flushes N records
//	connect                    the follower says hello
//	welcome [flushed=X/Y]      the leader welcomes it (flushed: its flushed LSN)
//	refuse code=wal-removed|protocol reason=(TEXT)
//	data from=X/Y [to=X/Y] [corrupt=I]   the leader's records in [from, to) in one frame; corrupt flips a bit in the I-th (from 1)
//	keepalive [flushed=X/Y] [reply]
//	backup lsn=X/Y [size=BYTES] [chunk=BYTES] [keys=N] [skip=I]  a base backup consistent at lsn, in chunks (skip: the I-th, from 1, is lost)
//	flush                      the follower's fsync returns
//	replay                     its replay applies what it may
//	pause | resume             replay paused or resumed
//	tick d=DURATION            world time passes
//	disconnect [reason=TEXT]
//	crash keep=BYTES           it crashes, keeping its flushed log and BYTES of the rest; it restarts from what it recovers
//	request-backup
//	state
func TestFollower(t *testing.T) {
	datadriven.Walk(t, "testdata/follower", func(t *testing.T, path string) {
		var h followerHarness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.do(t, d)
		})
	})
}

// simLog is a log: records at their LSNs (placed as wal.Place places
// them) from base on.
type simLog struct {
	seg  int64
	base wal.LSN
	recs [][]byte
	ends []wal.LSN // each record's end
}

func (l *simLog) end() wal.LSN {
	if len(l.ends) == 0 {
		return l.base
	}
	return l.ends[len(l.ends)-1]
}

func (l *simLog) append(rec []byte) {
	lsn := wal.RecordLSN(rec)
	l.recs = append(l.recs, rec)
	l.ends = append(l.ends, lsn+wal.LSN(len(rec)))
}

// write appends a new record with the next key: 32 bytes (0x20), so
// that LSNs are easy to follow.
func (l *simLog) write() {
	n := len(l.recs) + 1
	r := wal.Record{Op: wal.OpSet, Key: fmt.Appendf(nil, "k%03d", n), Value: fmt.Appendf(nil, "v%04d", n)}
	r.LSN = wal.Place(l.end(), r.Size(), l.seg)
	l.append(wal.AppendRecord(nil, r))
}

// upTo keeps the records that end at or before lsn.
func (l *simLog) upTo(lsn wal.LSN) {
	n := 0
	for n < len(l.ends) && l.ends[n] <= lsn {
		n++
	}
	l.recs, l.ends = l.recs[:n], l.ends[:n]
}

type followerHarness struct {
	f       *Follower
	set     FollowerSettings
	leader  simLog
	log     simLog  // the follower's log: written up to its end
	flushed wal.LSN // the follower's log's durable end
	base    wal.LSN // its last base backup's LSN (its store holds what is below)
	now     time.Duration
}

func (h *followerHarness) do(t *testing.T, d *datadriven.TestData) string {
	if h.f == nil && d.Cmd != "follower" {
		d.Fatalf(t, "start with a follower directive")
	}
	var e Effects
	switch d.Cmd {
	case "follower":
		h.set = FollowerSettings{
			Name: "follower-1", SegmentSize: argInt(t, d, "segment", 256), MaxBackupSize: argInt(t, d, "max-backup", 1<<20),
			AutoBackup: d.HasArg("auto-backup"), WantBackup: d.HasArg("want-backup"), Paused: d.HasArg("paused"),
			History: argHistory(t, d),
		}
		h.leader = simLog{seg: h.set.SegmentSize}
		h.log = simLog{seg: h.set.SegmentSize}
		h.flushed, h.base, h.now = 0, 0, 0
		h.f = NewFollower(h.set, 0, 0)
		return h.state()
	case "leader-write":
		from := h.leader.end()
		for range argInt(t, d, "n", 1) {
			h.leader.write()
		}
		return fmt.Sprintf("leader wrote %s..%s and flushed it", from, h.leader.end())
	case "connect":
		hello := h.f.Hello(h.log.end())
		how := "streaming from " + hello.Start.String()
		if hello.Flags&wire.HelloWantBackup != 0 {
			how = "asking for a base backup"
		}
		return "hello: " + how
	case "welcome":
		w := wire.Welcome{Flushed: argLSN(t, d, "flushed", h.leader.end()), SegmentSize: argInt(t, d, "segment", h.set.SegmentSize), Oldest: h.leader.base}
		for _, s := range argHistory(t, d) {
			w.History = append(w.History, wire.Switch{Timeline: s.Timeline, Fork: s.ForkLSN, Reason: s.Reason})
		}
		w.Timeline = uint32(argInt(t, d, "tl", int64(len(w.History)+1)))
		e = h.frame(wire.KindWelcome, w.Encode())
	case "refuse":
		code := byte(wire.RefuseProtocol)
		switch argString(d, "code", "") {
		case "wal-removed":
			code = wire.RefuseWALRemoved
		case "needs-rewind":
			code = wire.RefuseNeedsRewind
		case "fenced":
			code = wire.RefuseFenced
		}
		e = h.frame(wire.KindRefuse, wire.Refuse{Code: code, Reason: argString(d, "reason", "")}.Encode())
	case "data":
		e = h.frame(wire.KindData, h.dataFrame(t, d))
	case "keepalive":
		k := wire.Keepalive{Flushed: argLSN(t, d, "flushed", h.leader.end()), Reply: d.HasArg("reply")}
		e = h.frame(wire.KindKeepalive, k.Encode())
	case "backup":
		return h.backup(t, d)
	case "flush":
		h.flushed = h.log.end()
		e = h.f.Flushed(h.flushed)
	case "replay":
		from, limit, streamed, epoch, ok := h.f.Replay()
		if !ok {
			return "nothing to replay\n" + h.state()
		}
		var moved bool
		moved, e = h.f.Replayed(limit, epoch)
		how := "recovered"
		if streamed {
			how = "streamed"
		}
		return fmt.Sprintf("replay %s..%s (%s records), moved %v%s\n%s", from, limit, how, moved, effectsText(e), h.state())
	case "pause", "resume":
		h.f.SetPaused(d.Cmd == "pause")
	case "tick":
		var dur string
		d.ScanArgs(t, "d", &dur)
		step, err := time.ParseDuration(dur)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		h.now += step
		return fmt.Sprintf("world time %v", h.now)
	case "disconnect":
		h.f.Disconnected(argString(d, "reason", "connection closed"))
	case "request-backup":
		h.f.RequestBackup()
	case "crash":
		return h.crash(t, d)
	case "promote":
		h.f.Promoting()
	case "state":
	default:
		d.Fatalf(t, "unknown directive %s", d.Cmd)
	}
	return strings.TrimPrefix(effectsText(e)+"\n"+h.state(), "\n")
}

// frame delivers a frame from the leader and carries out what the
// follower says to do with the log.
func (h *followerHarness) frame(kind wire.Kind, p []byte) Effects {
	e := h.f.Frame(kind, p, h.log.end(), h.now)
	if e.Err != nil {
		h.f.Disconnected(e.Err.Error()) // as the follower's connection loop does
	}
	if e.Records > 0 {
		for b := e.Append; len(b) > 0; {
			n, _ := wal.PeekSize(b)
			h.log.append(b[:n])
			b = b[n:]
		}
		w := h.f.Written(h.log.end(), e.Records)
		e.Events = append(e.Events, w.Events...)
	}
	return e
}

// dataFrame is a Data frame of the leader's records in [from, to).
func (h *followerHarness) dataFrame(t *testing.T, d *datadriven.TestData) []byte {
	from, to := argLSN(t, d, "from", 0), argLSN(t, d, "to", h.leader.end())
	corrupt := int(argInt(t, d, "corrupt", 0))
	var first, end wal.LSN
	var recs []byte
	i := 0
	for k, rec := range h.leader.recs {
		lsn := wal.RecordLSN(rec)
		if lsn < from || h.leader.ends[k] > to {
			continue
		}
		i++
		if i == 1 {
			first = lsn
		}
		end = h.leader.ends[k]
		start := len(recs)
		recs = append(recs, rec...)
		if i == corrupt {
			recs[start+wal.HeaderSize] ^= 0x10 // a bit of its key
		}
	}
	if i == 0 {
		d.Fatalf(t, "no leader records in [%s, %s)", from, to)
	}
	return append(wire.AppendDataHeader(nil, first, end), recs...)
}

// backup sends a base backup in chunks, and installs it when the follower
// says so: its log starts over at the backup's LSN.
func (h *followerHarness) backup(t *testing.T, d *datadriven.TestData) string {
	lsn := argLSN(t, d, "lsn", h.leader.end())
	image := make([]byte, argInt(t, d, "size", 100))
	chunk, skip := int(argInt(t, d, "chunk", 64)), int(argInt(t, d, "skip", 0))
	var b strings.Builder
	for i, off := 1, 0; ; i, off = i+1, off+chunk {
		n := min(chunk, len(image)-off)
		c := wire.BackupChunk{LSN: lsn, Offset: int64(off), Total: int64(len(image)), Last: off+n == len(image), Data: image[off : off+n]}
		if i == skip {
			fmt.Fprintf(&b, "chunk %d+%d of %d lost\n", off, n, len(image))
			continue
		}
		e := h.frame(wire.KindBackup, c.Encode())
		fmt.Fprintf(&b, "chunk %d+%d of %d%s\n", off, n, len(image), effectsText(e))
		if i == 1 {
			fmt.Fprintf(&b, "%s\n", h.state())
		}
		if e.Err != nil {
			break
		}
		if e.Install != nil {
			h.log = simLog{seg: h.set.SegmentSize, base: e.InstallLSN}
			h.flushed, h.base = e.InstallLSN, e.InstallLSN
			in := h.f.Installed(e.InstallLSN, int(argInt(t, d, "keys", 10)))
			fmt.Fprintf(&b, "installed %d bytes at %s%s\n", len(e.Install), e.InstallLSN, effectsText(in))
		}
		if c.Last {
			break
		}
	}
	return b.String() + h.state()
}

// crash stops the follower: its log keeps what was flushed plus keep
// bytes of the rest, recovery cuts what is left at the last whole record,
// and a new follower starts from there, its store rebuilt from its base
// backup and its log.
func (h *followerHarness) crash(t *testing.T, d *datadriven.TestData) string {
	h.f.Stopped()
	written, flushed := h.log.end(), h.flushed
	h.log.upTo(flushed + wal.LSN(argInt(t, d, "keep", 0)))
	h.flushed = h.log.end()
	h.f = NewFollower(h.set, h.log.end(), h.base)
	return fmt.Sprintf("crashed with its log written to %s, flushed to %s; recovered to %s: lost %d bytes\n%s",
		written, flushed, h.log.end(), written-h.log.end(), h.state())
}

func (h *followerHarness) state() string {
	s := h.f.State()
	line := fmt.Sprintf("%s: %s; %s; leader flush %s", "follower-1", s.State, s.Positions, s.LeaderFlush)
	if s.Timeline > 1 {
		line += fmt.Sprintf("; timeline %d", s.Timeline)
	}
	if s.Paused {
		line += "; replay paused"
	}
	if s.Records+s.CRCFailures+s.Resends > 0 {
		line += fmt.Sprintf("; records %d, crc failures %d, resends %d", s.Records, s.CRCFailures, s.Resends)
	}
	if s.Backup.Active {
		line += fmt.Sprintf("; backup %d/%d", s.Backup.Done, s.Backup.Total)
	}
	if s.Backup.Count > 0 {
		line += fmt.Sprintf("; backups %d", s.Backup.Count)
	}
	if s.WantBackup {
		line += "; will ask for a base backup"
	}
	if s.Violations > 0 {
		line += fmt.Sprintf("; %d INVARIANT VIOLATIONS", s.Violations)
	}
	return line
}

// effectsText lists what a step asks for, one line each.
func effectsText(e Effects) string {
	var b strings.Builder
	if e.Records > 0 {
		first := wal.RecordLSN(e.Append)
		fmt.Fprintf(&b, "\nappend %d record(s) from %s", e.Records, first)
	}
	if e.Duplicates > 0 {
		fmt.Fprintf(&b, "\ndrop %d duplicate(s)", e.Duplicates)
	}
	if e.Resend {
		fmt.Fprintf(&b, "\nask the leader to resend from %s", e.ResendFrom)
	}
	if e.NewHistory {
		fmt.Fprintf(&b, "\nsave the history of timeline %d", e.History.Timeline())
	}
	if e.Status {
		b.WriteString("\nsend status now")
	}
	writeEvents(&b, e.Events)
	if e.Err != nil {
		fmt.Fprintf(&b, "\nconnection ends: %v", e.Err)
	}
	return b.String()
}
