package replica

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"

	"walship/engine/wal"
	"walship/engine/wire"
)

// TestLeader plays the stories in testdata/leader: the leader's side of
// the protocol, one decision at a time. Each directive changes the
// leader's view or asks it for a verdict; what it answers is below the
// ----. go test -rewrite writes the answers anew.
//
//	leader [sync=MODE] [any=N] [wal-keep=BYTES] [slots] [max-slot-wal=BYTES]
//	flushed lsn=X/Y          the leader's flushed LSN (and the time it flushed it)
//	oldest lsn=X/Y           the oldest WAL the leader's log retains
//	tick d=DURATION          world time passes
//	hello name=N [start=X/Y] [backup] [magic=HEX] [version=V] [unknown] [evicted] [problem=TEXT] [addr=A]
//	first-frame arrival=closed-early|too-large|timed-out|read-failed [detail=TEXT] [evicted]
//	first-frame kind=KIND    a first frame that is no hello
//	sent name=N lsn=X/Y      its sender sent up to lsn (or rewound to it)
//	caught-up name=N         its sender has sent all the leader flushed
//	report name=N write=X/Y flush=X/Y replay=X/Y [epoch=E]
//	disconnect name=N [epoch=E] [reason=TEXT]
//	sync mode=MODE [any=N]
//	commit lsn=X/Y           is a commit ending at lsn released?
//	watermark                what the sync rule has reached
//	slots on|off
//	wal-keep bytes=N
//	retain [checkpoint=X/Y]  what a checkpoint keeps, removes, loses
//	backup-sent name=N lsn=X/Y
//	resend from=X/Y [problem=TEXT]
//	forget name=N
//	rows                     every follower as pg_stat_replication shows it
//	evict waiting=(D, ...) grace=D   which connection that said no hello goes for a newcomer
//	restart                  the leader restarts: it knows only the slots it kept
func TestLeader(t *testing.T) {
	datadriven.Walk(t, "testdata/leader", func(t *testing.T, path string) {
		var h leaderHarness
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			return h.do(t, d)
		})
	})
}

type leaderHarness struct {
	l       *Leader
	flushed wal.LSN
	oldest  wal.LSN
	now     time.Duration
}

func (h *leaderHarness) do(t *testing.T, d *datadriven.TestData) string {
	if h.l == nil && d.Cmd != "leader" {
		d.Fatalf(t, "start with a leader directive")
	}
	switch d.Cmd {
	case "leader":
		s := LeaderSettings{WALKeep: argInt(t, d, "wal-keep", 0), Slots: d.HasArg("slots"), MaxSlotWAL: argInt(t, d, "max-slot-wal", 0)}
		s.Rule = argRule(t, d)
		s.History = argHistory(t, d)
		h.l, h.flushed, h.oldest, h.now = NewLeader(s), 0, 0, 0
		out := fmt.Sprintf("sync %s, wal_keep_size %d, slots %v, max_slot_wal_keep_size %d", s.Rule, s.WALKeep, s.Slots, s.MaxSlotWAL)
		if len(s.History) > 0 {
			out += fmt.Sprintf(", timeline %d", s.History.Timeline())
		}
		return out
	case "flushed":
		h.flushed = argLSN(t, d, "lsn", 0)
		h.l.Flushed(h.flushed, h.now)
		return fmt.Sprintf("leader flushed %s at %v", h.flushed, h.now)
	case "oldest":
		h.oldest = argLSN(t, d, "lsn", 0)
		return fmt.Sprintf("oldest WAL retained %s", h.oldest)
	case "tick":
		var dur string
		d.ScanArgs(t, "d", &dur)
		step, err := time.ParseDuration(dur)
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		h.now += step
		return fmt.Sprintf("world time %v", h.now)
	case "hello", "first-frame":
		return h.handshake(t, d)
	case "sent":
		pr := h.progress(t, d)
		h.l.Sent(pr, argLSN(t, d, "lsn", 0))
		return progressLine(*pr)
	case "caught-up":
		pr := h.progress(t, d)
		news := h.l.CaughtUp(pr)
		return fmt.Sprintf("news %v\n%s", news, progressLine(*pr))
	case "report":
		pr := h.progress(t, d)
		st := wire.Status{Write: argLSN(t, d, "write", 0), Flush: argLSN(t, d, "flush", 0), Replay: argLSN(t, d, "replay", 0)}
		epoch := uint64(argInt(t, d, "epoch", int64(pr.Epoch)))
		if lie := h.l.Report(pr, epoch, st, h.flushed, h.now); lie != "" {
			return "rejected: " + lie + "\n" + progressLine(*pr)
		}
		return progressLine(*pr)
	case "disconnect":
		pr := h.progress(t, d)
		epoch := uint64(argInt(t, d, "epoch", int64(pr.Epoch)))
		reason := argString(d, "reason", "connection closed")
		ended := h.l.Disconnect(pr, epoch, reason)
		return fmt.Sprintf("ended %v\n%s", ended, progressLine(*pr))
	case "sync":
		h.l.SetRule(argRule(t, d))
		return "sync " + h.l.Settings().Rule.String()
	case "commit":
		end := argLSN(t, d, "lsn", 0)
		v := h.l.Commit(end, h.flushed)
		if v.Released != h.l.Released(end, h.flushed) {
			d.Fatalf(t, "Commit and Released disagree: %+v", v)
		}
		if v.Released {
			return "released"
		}
		return v.Reason
	case "watermark":
		r := h.l.Settings().Rule
		w, ok := h.l.watermark()
		switch {
		case ok:
			return fmt.Sprintf("watermark %s: %s on %d streaming follower(s)", w, r.Mode.position(), r.N)
		case !r.Remote():
			return "no watermark: " + r.String() + " waits for no follower"
		}
		return fmt.Sprintf("no watermark: fewer than %d followers stream", r.N)
	case "slots":
		on := len(d.CmdArgs) == 1 && d.CmdArgs[0].Key == "on"
		h.l.SetSlots(on, h.oldest)
		return rowsText(h.l.Rows(h.flushed, h.now))
	case "wal-keep":
		h.l.SetWALKeep(argInt(t, d, "bytes", 0))
		return fmt.Sprintf("wal_keep_size %d", h.l.Settings().WALKeep)
	case "retain":
		p := h.l.Retain(h.flushed, h.oldest, argLSN(t, d, "checkpoint", 0))
		var b strings.Builder
		fmt.Fprintf(&b, "keep from %s", p.KeepFrom)
		switch {
		case p.Remove && p.Checkpoint:
			b.WriteString("; checkpoint the store first, then remove the segments before it")
		case p.Remove:
			b.WriteString("; remove the segments before it")
		default:
			b.WriteString("; nothing to remove")
		}
		if len(p.Lost) > 0 {
			fmt.Fprintf(&b, "\nslots lost: %s", strings.Join(p.Lost, ", "))
		}
		writeEvents(&b, p.Events)
		return b.String()
	case "backup-sent":
		pr := h.progress(t, d)
		h.l.BackupSent(pr, argLSN(t, d, "lsn", 0), h.oldest)
		return progressLine(*pr)
	case "resend":
		why := CheckResend(argLSN(t, d, "from", 0), h.flushed, argString(d, "problem", ""))
		if why == "" {
			return "resend served"
		}
		return "connection dropped: " + why
	case "forget":
		var name string
		d.ScanArgs(t, "name", &name)
		h.l.Forget(name)
		return rowsText(h.l.Rows(h.flushed, h.now))
	case "rows":
		return rowsText(h.l.Rows(h.flushed, h.now))
	case "restart":
		on, slots := h.l.SlotRecords()
		set := h.l.Settings()
		set.Slots = false // the setting it restarts with; the kept slots say more
		h.l = NewLeader(set)
		h.l.RestoreSlots(on, slots, h.oldest)
		return rowsText(h.l.Rows(h.flushed, h.now))
	case "evict":
		var waiting []time.Duration
		if a, ok := d.Arg("waiting"); ok {
			for _, v := range a.Vals {
				w, err := time.ParseDuration(v)
				if err != nil {
					d.Fatalf(t, "%v", err)
				}
				waiting = append(waiting, w)
			}
		}
		grace, err := time.ParseDuration(argString(d, "grace", "1s"))
		if err != nil {
			d.Fatalf(t, "%v", err)
		}
		if i := Eviction(waiting, grace); i >= 0 {
			return fmt.Sprintf("evict the one waiting %v for the newcomer", waiting[i])
		}
		return "none may go: the newcomer is refused"
	}
	d.Fatalf(t, "unknown directive %s", d.Cmd)
	return ""
}

// handshake plays a new connection's first frame through ReadHello and,
// when it is a good hello, Admit.
func (h *leaderHarness) handshake(t *testing.T, d *datadriven.TestData) string {
	f := FirstFrame{Addr: argString(d, "addr", "127.0.0.1:50000"), Evicted: d.HasArg("evicted"), Timeout: 5 * time.Second, Detail: argString(d, "detail", "")}
	if d.Cmd == "first-frame" {
		switch argString(d, "arrival", "") {
		case "":
			f.Kind = kindNamed(t, d, argString(d, "kind", "data"))
		case "closed-early":
			f.Arrival = ClosedEarly
		case "too-large":
			f.Arrival = TooLarge
		case "timed-out":
			f.Arrival = TimedOut
		case "read-failed":
			f.Arrival = ReadFailed
		default:
			d.Fatalf(t, "unknown arrival")
		}
	} else {
		hello := wire.Hello{
			Magic: uint32(argHex(t, d, "magic", wire.Magic)), Version: uint16(argInt(t, d, "version", int64(wire.Version))),
			Start: argLSN(t, d, "start", 0), Name: argString(d, "name", ""),
			Timeline: uint32(argInt(t, d, "tl", 1)),
		}
		if d.HasArg("backup") {
			hello.Flags |= wire.HelloWantBackup
		}
		f.Kind, f.Payload = wire.KindHello, hello.Encode()
		if n := argInt(t, d, "name-len", -1); n >= 0 {
			f.Payload[15] = byte(n) // a length byte that lies
		}
	}
	hello, a := ReadHello(f)
	var pr *Progress
	if a.Accept {
		a, pr = h.l.Admit(hello, Facts{
			Addr: f.Addr, Known: !d.HasArg("unknown"), Evicted: f.Evicted,
			Flushed: h.flushed, Oldest: h.oldest, StartProblem: argString(d, "problem", ""),
		})
	}
	var b strings.Builder
	switch {
	case a.Accept:
		fmt.Fprintf(&b, "accepted\n%s", progressLine(*pr))
	case a.Refuse:
		fmt.Fprintf(&b, "refused (%s): %s", refuseCodes[a.Code], a.Reason)
	default:
		b.WriteString("closed without a word")
	}
	if a.Event != nil {
		writeEvents(&b, []Event{*a.Event})
	}
	return b.String()
}

var refuseCodes = map[byte]string{
	wire.RefuseBadMagic: "bad magic", wire.RefuseBadVersion: "bad version", wire.RefuseBadName: "bad name",
	wire.RefuseWALRemoved: "WAL removed", wire.RefuseDuplicate: "duplicate", wire.RefuseProtocol: "protocol",
	wire.RefuseShutdown: "shutdown", wire.RefuseUnknownName: "unknown name",
	wire.RefuseNeedsRewind: "needs rewind", wire.RefuseFenced: "fenced",
}

// argHistory reads history=TL@LSN[,TL@LSN...]: timeline TL ended at LSN.
func argHistory(t *testing.T, d *datadriven.TestData) History {
	spec := argString(d, "history", "")
	if spec == "" {
		return nil
	}
	var h History
	for _, part := range strings.Split(spec, ",") {
		tl, lsn, ok := strings.Cut(part, "@")
		if !ok {
			d.Fatalf(t, "history: want TL@X/Y, got %q", part)
		}
		n, err := strconv.Atoi(tl)
		if err != nil {
			d.Fatalf(t, "history: %v", err)
		}
		fork, err := wal.ParseLSN(lsn)
		if err != nil {
			d.Fatalf(t, "history: %v", err)
		}
		h = append(h, TimelineSwitch{Timeline: uint32(n), ForkLSN: fork, Reason: "promoted"})
	}
	if err := h.Check(); err != nil {
		d.Fatalf(t, "%v", err)
	}
	return h
}

func kindNamed(t *testing.T, d *datadriven.TestData, name string) wire.Kind {
	for k := wire.Kind(0); k < 255; k++ {
		if k.Valid() && k.String() == name {
			return k
		}
	}
	d.Fatalf(t, "no frame kind %q", name)
	return 0
}

func (h *leaderHarness) progress(t *testing.T, d *datadriven.TestData) *Progress {
	var name string
	d.ScanArgs(t, "name", &name)
	pr := h.l.Follower(name)
	if pr == nil {
		d.Fatalf(t, "the leader knows no %s", name)
	}
	return pr
}

// progressLine shows a follower as the leader sees it.
func progressLine(p Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: epoch %d, ", p.Name, p.Epoch)
	switch {
	case p.Streaming:
		b.WriteString("streaming")
	case p.Connected:
		b.WriteString("catchup")
	default:
		b.WriteString("disconnected")
	}
	fmt.Fprintf(&b, "; sent %s (at most %s); write %s flush %s replay %s", p.Sent, p.SentMax, p.Write, p.Flush, p.Replay)
	switch {
	case p.Slot.Lost:
		b.WriteString("; slot lost")
	case p.Slot.Enabled:
		fmt.Fprintf(&b, "; slot restart_lsn %s", p.Slot.Restart)
	}
	if p.LastError != "" {
		fmt.Fprintf(&b, "; last error %q", p.LastError)
	}
	return b.String()
}

func rowsText(rows []Row) string {
	if len(rows) == 0 {
		return "no followers"
	}
	var b strings.Builder
	for i, r := range rows {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "%s; lags %s %s %s", progressLine(r.Progress), r.WriteLag, r.FlushLag, r.ReplayLag)
		if r.SyncState != "" {
			fmt.Fprintf(&b, "; sync_state %s", r.SyncState)
		}
	}
	return b.String()
}

func writeEvents(b *strings.Builder, evs []Event) {
	for _, e := range evs {
		who := e.Follower
		if who == "" {
			who = "leader"
		}
		fmt.Fprintf(b, "\nevent %s %s %s: %s", who, e.Kind, e.LSN, e.Text)
	}
}

// ---- arguments -----------------------------------------------------------

func argString(d *datadriven.TestData, key, def string) string {
	if a, ok := d.Arg(key); ok && len(a.Vals) > 0 {
		return strings.Join(a.Vals, ", ")
	}
	return def
}

func argInt(t *testing.T, d *datadriven.TestData, key string, def int64) int64 {
	if !d.HasArg(key) {
		return def
	}
	var n int64
	d.ScanArgs(t, key, &n)
	return n
}

func argHex(t *testing.T, d *datadriven.TestData, key string, def uint32) uint32 {
	s := argString(d, key, "")
	if s == "" {
		return def
	}
	var n uint32
	if _, err := fmt.Sscanf(s, "%x", &n); err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return n
}

func argLSN(t *testing.T, d *datadriven.TestData, key string, def wal.LSN) wal.LSN {
	s := argString(d, key, "")
	if s == "" {
		return def
	}
	l, err := wal.ParseLSN(s)
	if err != nil {
		d.Fatalf(t, "%s: %v", key, err)
	}
	return l
}

func argRule(t *testing.T, d *datadriven.TestData) SyncRule {
	m, err := ParseSyncMode(argString(d, "sync", argString(d, "mode", "off")))
	if err != nil {
		d.Fatalf(t, "%v", err)
	}
	return SyncRule{Mode: m, N: int(argInt(t, d, "any", 1))}
}
