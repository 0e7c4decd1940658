package pg

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"walship/engine/wal"
)

// This file is the I/O half of a poll: the queries against the views and
// what they return, as plain values. view.go decides what they mean.

// primaryObs is one poll of the primary.
type primaryObs struct {
	err        error
	inRecovery bool // the "primary" is a standby: nothing below is set

	insert, flush wal.LSN
	walFile       string // pg_walfile_name(pg_current_wal_lsn()): its first 8 digits are the timeline

	segSize     int64  // wal_segment_size, bytes
	walKeep     int64  // wal_keep_size, bytes
	maxSlotWAL  int64  // max_slot_wal_keep_size, bytes; -1 = unlimited
	syncCommit  string // synchronous_commit
	syncNames   string // synchronous_standby_names
	walInspect  bool   // pg_walinspect is installed
	waiting     int    // sessions with wait_event SyncRep
	replication []replRow
	slots       []slotRow
	walFiles    []string // pg_ls_waldir() names
}

// replRow is one row of pg_stat_replication. Nil pointers are NULLs.
type replRow struct {
	pid                        int32
	appName, state, syncState  string
	sent, write, flush, replay *wal.LSN
	writeLag, flushLag         *float64 // seconds
	replayLag                  *float64
	replyAge                   *float64 // seconds since reply_time, on the primary's clock
}

// slotRow is one physical slot of pg_replication_slots.
type slotRow struct {
	name       string
	active     bool
	activePID  *int32
	restartLSN *wal.LSN
	walStatus  string // "" when NULL
	safeWAL    *int64
}

// standbyObs is one poll of a standby.
type standbyObs struct {
	err        error
	inRecovery bool // false: it has been promoted

	receive, replay *wal.LSN // pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn()
	pauseState      string   // pg_get_wal_replay_pause_state()
	conninfo        string   // primary_conninfo
	slotName        string   // primary_slot_name
	clusterName     string
	statusInterval  time.Duration // wal_receiver_status_interval
	checkpointTLI   uint32        // pg_control_checkpoint().timeline_id
	receiver        *receiverRow  // nil: no WAL receiver running
}

// receiverRow is pg_stat_wal_receiver's one row.
type receiverRow struct {
	status           string
	receivedTLI      uint32
	written, flushed *wal.LSN
}

func parseLSNPtr(s *string) (*wal.LSN, error) {
	if s == nil {
		return nil, nil
	}
	v, err := wal.ParseLSN(*s)
	if err != nil {
		return nil, err
	}
	return &v, nil
}

const primarySettingsSQL = `SELECT name, setting FROM pg_settings WHERE name IN
 ('wal_segment_size', 'wal_keep_size', 'max_slot_wal_keep_size', 'synchronous_commit', 'synchronous_standby_names')`

const primaryReplicationSQL = `SELECT pid, coalesce(application_name, ''), coalesce(state, ''),
 sent_lsn::text, write_lsn::text, flush_lsn::text, replay_lsn::text,
 extract(epoch FROM write_lag)::float8, extract(epoch FROM flush_lag)::float8, extract(epoch FROM replay_lag)::float8,
 coalesce(sync_state, ''), extract(epoch FROM clock_timestamp() - reply_time)::float8
 FROM pg_stat_replication ORDER BY pid`

const primarySlotsSQL = `SELECT slot_name, active, active_pid, restart_lsn::text, coalesce(wal_status, ''), safe_wal_size
 FROM pg_replication_slots WHERE slot_type = 'physical' ORDER BY slot_name`

// pollPrimary runs the primary's queries in one round trip.
func pollPrimary(ctx context.Context, c *pgx.Conn) (o primaryObs) {
	if err := c.QueryRow(ctx, "SELECT pg_is_in_recovery()").Scan(&o.inRecovery); err != nil || o.inRecovery {
		o.err = err
		return o
	}
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_current_wal_insert_lsn()::text, pg_current_wal_flush_lsn()::text, pg_walfile_name(pg_current_wal_lsn()),
 EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_walinspect'),
 (SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'SyncRep')`)
	b.Queue(primarySettingsSQL)
	b.Queue(primaryReplicationSQL)
	b.Queue(primarySlotsSQL)
	b.Queue(`SELECT name FROM pg_ls_waldir()`)
	br := c.SendBatch(ctx, b)
	defer br.Close()

	var insert, flush string
	if err := br.QueryRow().Scan(&insert, &flush, &o.walFile, &o.walInspect, &o.waiting); err != nil {
		o.err = err
		return o
	}
	var err error
	if o.insert, err = wal.ParseLSN(insert); err == nil {
		o.flush, err = wal.ParseLSN(flush)
	}
	if err != nil {
		o.err = err
		return o
	}
	o.err = readSettings(br, &o)
	if o.err == nil {
		o.replication, o.err = readReplication(br)
	}
	if o.err == nil {
		o.slots, o.err = readSlots(br)
	}
	if o.err == nil {
		o.walFiles, o.err = readStrings(br)
	}
	return o
}

func readSettings(br pgx.BatchResults, o *primaryObs) error {
	rows, err := br.Query()
	if err != nil {
		return err
	}
	o.maxSlotWAL = -1
	for rows.Next() {
		var name, setting string
		if err := rows.Scan(&name, &setting); err != nil {
			return err
		}
		n, _ := strconv.ParseInt(setting, 10, 64)
		switch name {
		case "wal_segment_size": // bytes
			o.segSize = n
		case "wal_keep_size": // MB
			o.walKeep = n << 20
		case "max_slot_wal_keep_size": // MB, -1 unlimited
			if n >= 0 {
				o.maxSlotWAL = n << 20
			}
		case "synchronous_commit":
			o.syncCommit = setting
		case "synchronous_standby_names":
			o.syncNames = setting
		}
	}
	return rows.Err()
}

func readReplication(br pgx.BatchResults) ([]replRow, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var out []replRow
	for rows.Next() {
		var r replRow
		var sent, write, flush, replay *string
		if err := rows.Scan(&r.pid, &r.appName, &r.state, &sent, &write, &flush, &replay,
			&r.writeLag, &r.flushLag, &r.replayLag, &r.syncState, &r.replyAge); err != nil {
			return nil, err
		}
		for _, p := range []struct {
			s   *string
			dst **wal.LSN
		}{{sent, &r.sent}, {write, &r.write}, {flush, &r.flush}, {replay, &r.replay}} {
			if *p.dst, err = parseLSNPtr(p.s); err != nil {
				return nil, err
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func readSlots(br pgx.BatchResults) ([]slotRow, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	var out []slotRow
	for rows.Next() {
		var s slotRow
		var restart *string
		if err := rows.Scan(&s.name, &s.active, &s.activePID, &restart, &s.walStatus, &s.safeWAL); err != nil {
			return nil, err
		}
		if s.restartLSN, err = parseLSNPtr(restart); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func readStrings(br pgx.BatchResults) ([]string, error) {
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// pollStandby runs a standby's queries in one round trip.
func pollStandby(ctx context.Context, c *pgx.Conn) (o standbyObs) {
	b := &pgx.Batch{}
	b.Queue(`SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text,
 CASE WHEN pg_is_in_recovery() THEN pg_get_wal_replay_pause_state() ELSE 'not paused' END,
 current_setting('primary_conninfo'), current_setting('primary_slot_name'), current_setting('cluster_name'),
 (SELECT setting::int FROM pg_settings WHERE name = 'wal_receiver_status_interval'),
 (SELECT timeline_id FROM pg_control_checkpoint())`)
	b.Queue(`SELECT status, received_tli, written_lsn::text, flushed_lsn::text FROM pg_stat_wal_receiver`)
	br := c.SendBatch(ctx, b)
	defer br.Close()

	var receive, replay *string
	var interval int64
	var tli int32
	if err := br.QueryRow().Scan(&o.inRecovery, &receive, &replay, &o.pauseState, &o.conninfo, &o.slotName,
		&o.clusterName, &interval, &tli); err != nil {
		o.err = err
		return o
	}
	o.statusInterval = time.Duration(interval) * time.Second
	o.checkpointTLI = uint32(tli)
	var err error
	if o.receive, err = parseLSNPtr(receive); err == nil {
		o.replay, err = parseLSNPtr(replay)
	}
	if err != nil {
		o.err = err
		return o
	}
	rows, err := br.Query()
	if err != nil {
		o.err = err
		return o
	}
	for rows.Next() {
		var r receiverRow
		var written, flushed *string
		var rtli *int32
		if err := rows.Scan(&r.status, &rtli, &written, &flushed); err != nil {
			o.err = err
			return o
		}
		if rtli != nil {
			r.receivedTLI = uint32(*rtli)
		}
		if r.written, err = parseLSNPtr(written); err == nil {
			r.flushed, err = parseLSNPtr(flushed)
		}
		if err != nil {
			o.err = err
			return o
		}
		o.receiver = &r
	}
	o.err = rows.Err()
	return o
}

// standbyName is the application_name a standby's WAL receiver reports
// to the primary, as libpq picks it: the one in primary_conninfo, else
// cluster_name, else "walreceiver".
func (o *standbyObs) standbyName() string {
	if ci, err := parseConninfo(o.conninfo); err == nil {
		if v, ok := ci.get("application_name"); ok && v != "" {
			return v
		}
	}
	if o.clusterName != "" {
		return o.clusterName
	}
	return "walreceiver"
}

// timeline reads the timeline from a WAL file name (TTTTTTTTXXXXXXXXYYYYYYYY).
func timeline(walFile string) uint32 {
	if len(walFile) < 8 {
		return 0
	}
	v, err := strconv.ParseUint(walFile[:8], 16, 32)
	if err != nil {
		return 0
	}
	return uint32(v)
}

// retained is what pg_wal holds of the log: the segments up to the one
// being written (pg_wal also holds recycled segments waiting to be
// reused, named past it) and the first LSN of the oldest.
func retained(files []string, insert wal.LSN, segSize int64) (segments int, oldest wal.LSN) {
	if segSize <= 0 {
		return 0, 0
	}
	cur := uint64(insert) / uint64(segSize)
	perID := uint64(0x100000000) / uint64(segSize) // segments per "log id" (the middle 8 digits)
	first := uint64(0)
	for _, f := range files {
		if len(f) != 24 || strings.Trim(f, "0123456789ABCDEF") != "" {
			continue // .history, .partial, archive_status
		}
		hi, err1 := strconv.ParseUint(f[8:16], 16, 32)
		lo, err2 := strconv.ParseUint(f[16:24], 16, 32)
		if err1 != nil || err2 != nil {
			continue
		}
		seg := hi*perID + lo
		if seg > cur {
			continue // recycled, waiting to be reused
		}
		if segments == 0 || seg < first {
			first = seg
		}
		segments++
	}
	if segments == 0 {
		return 0, 0
	}
	return segments, wal.LSN(first * uint64(segSize))
}

// pollErr shortens a connection error for the screen.
func pollErr(err error) string {
	s := err.Error()
	if i := strings.Index(s, "): "); i >= 0 && strings.HasPrefix(s, "failed to connect to") {
		s = "cannot connect: " + s[i+3:]
	}
	return s
}
