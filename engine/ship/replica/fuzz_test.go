package replica

import (
	"encoding/binary"
	"testing"
	"time"

	"walship/engine/wal"
	"walship/engine/wire"
)

// FuzzFollower drives a follower's decisions with arbitrary frames from
// a "leader" and arbitrary steps of its own (fsync, replay, disconnect,
// crash, time passing), carrying out what they say as the engine does,
// and checks after every step that replayed <= flushed <= received <=
// the leader's flush, that its log ends where it says it has written,
// and that it never counted a broken invariant.
//
// The input is a list of steps: a step byte, and for a frame its kind
// byte, a 2-byte length and the payload.
func FuzzFollower(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		const seg = 240
		set := FollowerSettings{Name: "follower-1", SegmentSize: seg, MaxBackupSize: 4096, AutoBackup: true}
		log := simLog{seg: seg}
		flushed := wal.LSN(0)
		fl := NewFollower(set, 0, 0)
		now := time.Duration(0)
		for len(in) > 0 {
			step := in[0]
			in = in[1:]
			var e Effects
			switch step % 8 {
			case 0: // a frame from the leader
				if len(in) < 3 {
					return
				}
				kind := wire.Kind(in[0])
				n := min(int(binary.BigEndian.Uint16(in[1:3])), len(in)-3)
				payload := append([]byte(nil), in[3:3+n]...)
				in = in[3+n:]
				e = fl.Frame(kind, payload, log.end(), now)
				if e.Err != nil {
					fl.Disconnected(e.Err.Error())
				}
				if e.Records > 0 {
					for b := e.Append; len(b) > 0; {
						n, err := wal.PeekSize(b)
						if err != nil || n > len(b) {
							t.Fatalf("append run is not whole records: %v", err)
						}
						if want := wal.Place(log.end(), n, seg); wal.RecordLSN(b) != want {
							t.Fatalf("appended a record at %s where the log continues at %s", wal.RecordLSN(b), want)
						}
						log.append(b[:n])
						b = b[n:]
					}
					fl.Written(log.end(), e.Records)
				}
				if e.Install != nil {
					log = simLog{seg: seg, base: e.InstallLSN}
					flushed = e.InstallLSN
					fl.Installed(e.InstallLSN, 0)
				}
			case 1:
				flushed = log.end()
				fl.Flushed(flushed)
			case 2:
				if _, limit, _, epoch, ok := fl.Replay(); ok {
					fl.Replayed(limit, epoch)
				}
			case 3:
				fl.Disconnected("connection closed")
			case 4:
				fl.Hello(log.end())
			case 5:
				now += 3 * time.Second
			case 6: // a crash keeps what was flushed
				fl.Stopped()
				log.upTo(flushed)
				fl = NewFollower(set, log.end(), log.base)
			case 7:
				fl.SetPaused(!fl.State().Paused)
			}
			st := fl.State()
			p := st.Positions
			if p.Replay > p.Flush || p.Flush > p.Write || (st.LeaderFlush != 0 && p.Write > st.LeaderFlush) {
				t.Fatalf("after step %d: %s, leader flush %s", step%8, p, st.LeaderFlush)
			}
			if p.Write != log.end() {
				t.Fatalf("after step %d: write %s but the log ends at %s", step%8, p.Write, log.end())
			}
			if st.Violations > 0 {
				t.Fatalf("after step %d: %d invariant violations", step%8, st.Violations)
			}
		}
	})
}

// fuzzSeeds are inputs that reach the interesting paths: a welcome, data
// that continues the log, a corrupted record, a gap, a duplicate, a base
// backup, a refusal.
func fuzzSeeds() [][]byte {
	leader := simLog{seg: 240}
	for range 12 {
		leader.write()
	}
	frame := func(kind wire.Kind, p []byte) []byte {
		b := []byte{0, byte(kind)}
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		return append(b, p...)
	}
	data := func(from, to int, corrupt bool) []byte {
		var recs []byte
		for _, r := range leader.recs[from:to] {
			recs = append(recs, r...)
		}
		if corrupt {
			recs[wal.HeaderSize] ^= 1
		}
		first := wal.RecordLSN(leader.recs[from])
		return frame(wire.KindData, append(wire.AppendDataHeader(nil, first, leader.ends[to-1]), recs...))
	}
	welcome := frame(wire.KindWelcome, wire.Welcome{Flushed: leader.end(), SegmentSize: 240}.Encode())
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	chunk := func(off, total int, last bool) []byte {
		return frame(wire.KindBackup, wire.BackupChunk{LSN: 0x300, Offset: int64(off), Total: int64(total), Last: last, Data: make([]byte, 8)}.Encode())
	}
	return [][]byte{
		cat([]byte{4}, welcome, data(0, 4, false), []byte{1, 2}, data(4, 12, false), []byte{1, 2}),
		cat([]byte{4}, welcome, data(0, 3, false), data(3, 6, true), data(6, 9, false), []byte{5}, data(6, 9, false), data(2, 12, false), []byte{1, 2}),
		cat([]byte{4}, welcome, data(0, 6, false), []byte{6, 4}, welcome, data(0, 12, false), []byte{1, 7, 2, 7, 2}),
		cat([]byte{4}, welcome, chunk(0, 16, false), chunk(8, 16, true), data(0, 2, false), []byte{1, 2}),
		cat([]byte{4}, frame(wire.KindRefuse, wire.Refuse{Code: wire.RefuseWALRemoved, Reason: "gone"}.Encode()), []byte{4}, welcome, []byte{3}),
		cat([]byte{4}, welcome, frame(wire.KindKeepalive, wire.Keepalive{Flushed: leader.end(), Reply: true}.Encode())),
	}
}
