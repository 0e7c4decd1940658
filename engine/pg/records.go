package pg

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"

	"walship/engine/cluster"
	"walship/engine/wal"
)

// Records flowing, by type and in their real order, from pg_walinspect.
// Each poll reads the records between the last one read and the primary's
// flush LSN (pg_walinspect refuses to read past it); a summary goes to the
// event log at most once a second.

// Limits on what one poll reads.
const (
	// detailBytes: up to this much new WAL is read record by record; more
	// is counted by type with pg_get_wal_stats, and only its last
	// tailBytes are read in order.
	detailBytes = 256 << 10
	tailBytes   = 8 << 10
	// skipBytes: more new WAL than this in one poll is not inspected at
	// all (reading it would stall the poll); the summary says so.
	skipBytes = 64 << 20
	// maxKinds bounds the record types kept in order for one summary.
	maxKinds = 8192
)

// walRecord is one record as pg_get_wal_records_info shows it.
type walRecord struct {
	start, end wal.LSN
	kind       string // resource_manager/record_type, e.g. Heap/INSERT
}

// inspected is what one poll read of [from, to).
type inspected struct {
	records []walRecord    // in order: all of them, or the tail of a large range
	counts  map[string]int // by type, when the range was too large to list
	total   int            // records in the range (counted or listed)
	skipped int64          // bytes not inspected at all
}

const recordsSQL = `SELECT start_lsn::text, end_lsn::text, resource_manager || '/' || record_type
 FROM pg_get_wal_records_info($1::text::pg_lsn, $2::text::pg_lsn)`

const statsSQL = `SELECT "resource_manager/record_type", count
 FROM pg_get_wal_stats($1::text::pg_lsn, $2::text::pg_lsn, true) WHERE count > 0 ORDER BY count DESC`

// inspect reads the records in [from, to). to must not pass the flush LSN.
func inspect(ctx context.Context, c *pgx.Conn, from, to wal.LSN) (inspected, error) {
	var in inspected
	if to <= from {
		return in, nil
	}
	n := int64(to - from)
	switch {
	case n > skipBytes:
		in.skipped = n - tailBytes
		from = to - tailBytes
	case n > detailBytes:
		counts, total, err := walStats(ctx, c, from, to)
		if err != nil {
			return in, err
		}
		in.counts, in.total = counts, total
		from = to - tailBytes
	}
	recs, err := walRecords(ctx, c, from, to)
	if err != nil {
		return in, err
	}
	in.records = recs
	if in.counts == nil {
		in.total = len(recs)
	}
	return in, nil
}

func walRecords(ctx context.Context, c *pgx.Conn, from, to wal.LSN) ([]walRecord, error) {
	rows, err := c.Query(ctx, recordsSQL, from.String(), to.String())
	if err != nil {
		return nil, err
	}
	var out []walRecord
	for rows.Next() {
		var start, end, kind string
		if err := rows.Scan(&start, &end, &kind); err != nil {
			return nil, err
		}
		r := walRecord{kind: kind}
		if r.start, err = wal.ParseLSN(start); err == nil {
			r.end, err = wal.ParseLSN(end)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func walStats(ctx context.Context, c *pgx.Conn, from, to wal.LSN) (map[string]int, int, error) {
	rows, err := c.Query(ctx, statsSQL, from.String(), to.String())
	if err != nil {
		return nil, 0, err
	}
	counts := map[string]int{}
	total := 0
	for rows.Next() {
		var kind string
		var n int64
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, 0, err
		}
		counts[kind] += int(n)
		total += int(n)
	}
	return counts, total, rows.Err()
}

// recordLog gathers inspected records between summaries.
type recordLog struct {
	from, to wal.LSN // the range gathered since the last summary
	kinds    []string
	more     int            // records gathered past maxKinds, or only counted
	counts   map[string]int // by type, for ranges too large to list
	skipped  int64
	total    int
}

func (l *recordLog) add(from, to wal.LSN, in inspected) {
	if l.empty() {
		l.from = from
	}
	l.to = to
	l.total += in.total
	l.skipped += in.skipped
	if in.counts != nil {
		if l.counts == nil {
			l.counts = map[string]int{}
		}
		for k, n := range in.counts {
			l.counts[k] += n
		}
		l.more += in.total
		return
	}
	for _, r := range in.records {
		if len(l.kinds) < maxKinds {
			l.kinds = append(l.kinds, r.kind)
		} else {
			l.more++
		}
	}
}

func (l *recordLog) empty() bool { return l.total == 0 && l.skipped == 0 }

// shape is what the gathered records look like, their counts aside: the
// same workload, second after second, has the same shape.
func (l *recordLog) shape() string {
	if l.counts != nil {
		return "by count:" + strings.Join(sortedKeys(l.counts), ",")
	}
	var b strings.Builder
	for _, r := range runs(l.kinds) {
		b.WriteString(strings.Join(r.kinds, ","))
		b.WriteByte(';')
	}
	return b.String()
}

func sortedKeys(m map[string]int) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// summary is the event text for what was gathered, and resets the log.
func (l *recordLog) summary() string {
	var b strings.Builder
	fmt.Fprintf(&b, "WAL %s–%s: %d record", l.from, l.to, l.total)
	if l.total != 1 {
		b.WriteByte('s')
	}
	switch {
	case l.counts != nil:
		b.WriteString(" by type: ")
		b.WriteString(countsText(l.counts))
	case len(l.kinds) > 0:
		b.WriteString(": ")
		b.WriteString(runsText(l.kinds, 240))
		if l.more > 0 {
			fmt.Fprintf(&b, " … and %d more", l.more)
		}
	}
	if l.skipped > 0 {
		fmt.Fprintf(&b, " (%s not inspected: too much at once, or gone before it was read)", cluster.FormatSize(l.skipped))
	}
	*l = recordLog{}
	return b.String()
}

// countsText lists types by count, most first.
func countsText(counts map[string]int) string {
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	slices.SortFunc(kinds, func(a, b string) int {
		if counts[a] != counts[b] {
			return counts[b] - counts[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = k + " ×" + strconv.Itoa(counts[k])
	}
	return strings.Join(parts, ", ")
}

// run is a group of record types repeated in a row.
type run struct {
	kinds []string
	times int
}

// runs groups record types in their order into repeats of up to four
// types, so that a stream of inserts into an indexed table reads
// (Heap/INSERT, Btree/INSERT_LEAF, Transaction/COMMIT)×20.
func runs(kinds []string) []run {
	var out []run
	for i := 0; i < len(kinds); {
		best, cover := run{kinds: kinds[i : i+1], times: 1}, 1
		for p := 1; p <= 4 && i+2*p <= len(kinds); p++ {
			k := 1
			for i+(k+1)*p <= len(kinds) && slices.Equal(kinds[i+k*p:i+(k+1)*p], kinds[i:i+p]) {
				k++
			}
			if k >= 2 && k*p > cover {
				best, cover = run{kinds: kinds[i : i+p], times: k}, k*p
			}
		}
		out = append(out, best)
		i += cover
	}
	return out
}

// runsText writes the runs of kinds, cut to about limit bytes.
func runsText(kinds []string, limit int) string {
	rs := runs(kinds)
	var b strings.Builder
	for i, r := range rs {
		if b.Len() > limit {
			left := 0
			for _, r := range rs[i:] {
				left += len(r.kinds) * r.times
			}
			fmt.Fprintf(&b, ", … %d more", left)
			break
		}
		if i > 0 {
			b.WriteString(", ")
		}
		if len(r.kinds) > 1 {
			b.WriteString("(" + strings.Join(r.kinds, ", ") + ")")
		} else {
			b.WriteString(r.kinds[0])
		}
		if r.times > 1 {
			b.WriteString("×" + strconv.Itoa(r.times))
		}
	}
	return b.String()
}
