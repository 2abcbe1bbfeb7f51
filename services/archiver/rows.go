package archiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
)

// table describes how one topic's messages become rows of one table.
type table interface {
	// name is the table's name.
	name() string
	// columns is the column list of the insert, in the order of the block's columns.
	columns() string
	// newWriter returns a writer of the table's rows. Each inserter keeps
	// one per table and reuses it from batch to batch.
	newWriter() writer
}

// writer decodes messages into rows and appends them to an insert.
type writer interface {
	// write decodes values[from:] and appends the storable ones to ins,
	// chunkRows at a time, until values end or the next one would take
	// the insert past maxPartitionsPerInsert days. It returns the index of
	// the first value it did not write, and the values that cannot be
	// stored, by index, with the reason.
	write(ins *insert, values [][]byte, from int) (next int, bad map[int]string, err error)
}

// insert is one INSERT statement whose rows are sent chunk by chunk: the
// server gathers the chunks into one block (up to its
// min_insert_block_size_rows), written as one part per partition when
// the statement ends, so chunks cost no extra parts while the client
// reuses the columns that hold one.
type insert struct {
	// prepare begins the statement; called at the first chunk.
	prepare func() (driver.Batch, error)
	batch   driver.Batch
	rows    int
}

// send appends a chunk of n rows, one column at a time, to the insert and
// sends it to the server.
func (ins *insert) send(chunk block) error {
	if ins.batch == nil {
		b, err := ins.prepare()
		if err != nil {
			return err
		}
		ins.batch = b
	}
	if err := chunk.appendTo(ins.batch); err != nil {
		return err
	}
	ins.rows += chunk.len()
	return ins.batch.Flush()
}

// chunkRows is how many rows a writer decodes before it sends them: few
// enough that the messages just decoded (about 1.2 MB of them) are still
// in the CPU's cache when their strings are copied into the
// insert's columns, and that the columns holding them stay small and are
// reused; many enough that each column is appended and encoded in one go.
// 2,048 rows took a third less of the archiver's CPU to append and send
// than 8,192 in a profile.
const chunkRows = 2048

// block holds rows of one table column by column.
type block interface {
	len() int
	// appendTo appends every row to b, one column at a time.
	appendTo(b driver.Batch) error
	// reset empties the block, keeping its room, and lets go of what
	// its rows pointed to.
	reset()
}

// columnsOf is a block whose rows are R.
type columnsOf[R any] interface {
	block
	add(r *R)
}

// tableOf is a table whose messages decode into R.
type tableOf[R any] struct {
	table_, columns_ string
	// decode parses one message into r, or says why it cannot be stored.
	// r may point into value.
	decode func(value []byte, r *R) error
	// day is the day (since 1970) of the column the table is partitioned by.
	day func(r *R) int64
	// newColumns returns an empty block with room for n rows.
	newColumns func(n int) columnsOf[R]
}

func (t tableOf[R]) name() string    { return t.table_ }
func (t tableOf[R]) columns() string { return t.columns_ }

// maxPartitionsPerInsert keeps one insert within ClickHouse's
// max_partitions_per_insert_block (100 by default on current servers):
// tables are partitioned by day, so an insert spans at most this many days.
const maxPartitionsPerInsert = 100

func (t tableOf[R]) newWriter() writer {
	return &writerOf[R]{table: t, chunk: t.newColumns(chunkRows), days: map[int64]bool{}}
}

// writerOf is the writer of a tableOf[R].
type writerOf[R any] struct {
	table tableOf[R]
	row   R
	chunk columnsOf[R]
	days  map[int64]bool
}

func (w *writerOf[R]) write(ins *insert, values [][]byte, from int) (int, map[int]string, error) {
	var bad map[int]string
	clear(w.days)
	defer w.chunk.reset()
	i := from
	for ; i < len(values); i++ {
		if err := w.table.decode(values[i], &w.row); err != nil {
			if bad == nil {
				bad = map[int]string{}
			}
			bad[i] = err.Error()
			continue
		}
		d := w.table.day(&w.row)
		if !w.days[d] && len(w.days) == maxPartitionsPerInsert {
			break
		}
		w.days[d] = true
		w.chunk.add(&w.row)
		if w.chunk.len() == chunkRows {
			if err := ins.send(w.chunk); err != nil {
				return i, nil, err
			}
			w.chunk.reset()
		}
	}
	if w.chunk.len() > 0 {
		if err := ins.send(w.chunk); err != nil {
			return i, nil, err
		}
	}
	return i, bad, nil
}

// tables are the archiver's tables, in the order their batches are
// inserted at shutdown.
var tables = []table{eventsTable, scoresTable, alertsTable}

// DateTime holds seconds from 1970 in 32 unsigned bits; times outside are
// refused rather than stored wrapped.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(1<<32-1, 0).UTC()
)

func storable(field string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%s %s is outside what ClickHouse DateTime stores (1970 to 2106)", field, t.UTC().Format(time.RFC3339))
	}
	return nil
}

func dayOf(t time.Time) int64 { return t.Unix() / 86400 }

// appendColumns appends each of cols, a slice of values, to the column of
// b at the same position.
func appendColumns(b driver.Batch, cols ...any) error {
	for i, c := range cols {
		if err := b.Column(i).Append(c); err != nil {
			return fmt.Errorf("column %d: %w", i, err)
		}
	}
	return nil
}

var eventsTable = tableOf[event.Event]{
	table_: "events",
	columns_: "id, timestamp, timestamp_ns, ingested, tenant, source, host, category, action, outcome, " +
		"src_ip, src_port, dst_ip, dst_port, user, protocol, bytes_out, bytes_in, value, message, parse_error, attr_keys, attr_values",
	decode: func(b []byte, e *event.Event) error {
		if err := event.DecodeShared(e, b); err != nil {
			return err
		}
		return errors.Join(storable("@timestamp", e.Timestamp), storable("event.ingested", e.Ingested))
	},
	day:        func(e *event.Event) int64 { return dayOf(e.Timestamp) },
	newColumns: func(n int) columnsOf[event.Event] { return newEventColumns(n) },
}

// eventColumns are the columns of the events table.
type eventColumns struct {
	id, tenant, source, host, category, action, outcome []string
	srcIP, dstIP, user, protocol, message, parseError   []string
	timestamp, ingested                                 []time.Time
	timestampNS                                         []uint32
	srcPort, dstPort                                    []uint16
	bytesOut, bytesIn                                   []uint64
	value                                               []float64
	// attrKeys and attrValues hold the labels of every row, each row's
	// sorted by key, one row after the other; attrEnds is where each
	// row's end in them.
	attrKeys, attrValues []string
	attrEnds             []int
}

func newEventColumns(n int) *eventColumns {
	s := func() []string { return make([]string, 0, n) }
	return &eventColumns{
		id: s(), tenant: s(), source: s(), host: s(), category: s(), action: s(), outcome: s(),
		srcIP: s(), dstIP: s(), user: s(), protocol: s(), message: s(), parseError: s(),
		timestamp: make([]time.Time, 0, n), ingested: make([]time.Time, 0, n), timestampNS: make([]uint32, 0, n),
		srcPort: make([]uint16, 0, n), dstPort: make([]uint16, 0, n),
		bytesOut: make([]uint64, 0, n), bytesIn: make([]uint64, 0, n), value: make([]float64, 0, n),
		attrKeys: s(), attrValues: s(), attrEnds: make([]int, 0, n),
	}
}

func (c *eventColumns) len() int { return len(c.id) }

func (c *eventColumns) reset() {
	for _, col := range []*[]string{&c.id, &c.tenant, &c.source, &c.host, &c.category, &c.action, &c.outcome,
		&c.srcIP, &c.dstIP, &c.user, &c.protocol, &c.message, &c.parseError} {
		*col = clearSlice(*col)
	}
	c.timestamp, c.ingested, c.timestampNS = c.timestamp[:0], c.ingested[:0], c.timestampNS[:0]
	c.srcPort, c.dstPort = c.srcPort[:0], c.dstPort[:0]
	c.bytesOut, c.bytesIn, c.value = c.bytesOut[:0], c.bytesIn[:0], c.value[:0]
	c.attrKeys, c.attrValues, c.attrEnds = clearSlice(c.attrKeys), clearSlice(c.attrValues), c.attrEnds[:0]
}

// clearSlice empties s, keeping its room, and zeroes what it held so that
// the memory its elements pointed to (messages of an inserted batch) can
// be collected.
func clearSlice[S ~[]E, E any](s S) S {
	clear(s)
	return s[:0]
}

func (c *eventColumns) add(e *event.Event) {
	ts := e.Timestamp.UTC()
	c.id = append(c.id, e.ID)
	c.timestamp = append(c.timestamp, ts)
	c.timestampNS = append(c.timestampNS, uint32(ts.Nanosecond()))
	c.ingested = append(c.ingested, e.Ingested.UTC())
	c.tenant = append(c.tenant, e.Tenant)
	c.source = append(c.source, e.Source)
	c.host = append(c.host, e.Host)
	c.category = append(c.category, e.Category)
	c.action = append(c.action, e.Action)
	c.outcome = append(c.outcome, e.Outcome)
	c.srcIP = append(c.srcIP, e.SrcIP)
	c.srcPort = append(c.srcPort, e.SrcPort)
	c.dstIP = append(c.dstIP, e.DstIP)
	c.dstPort = append(c.dstPort, e.DstPort)
	c.user = append(c.user, e.User)
	c.protocol = append(c.protocol, e.Protocol)
	c.bytesOut = append(c.bytesOut, e.BytesOut)
	c.bytesIn = append(c.bytesIn, e.BytesIn)
	c.value = append(c.value, e.Value)
	c.message = append(c.message, e.Message)
	c.parseError = append(c.parseError, e.ParseError)
	start := len(c.attrKeys)
	for k := range e.Attrs {
		c.attrKeys = append(c.attrKeys, k)
	}
	slices.Sort(c.attrKeys[start:])
	for _, k := range c.attrKeys[start:] {
		c.attrValues = append(c.attrValues, e.Attrs[k])
	}
	c.attrEnds = append(c.attrEnds, len(c.attrKeys))
}

func (c *eventColumns) appendTo(b driver.Batch) error {
	if err := appendColumns(b, c.id, c.timestamp, c.timestampNS, c.ingested, c.tenant, c.source, c.host, c.category, c.action, c.outcome,
		c.srcIP, c.srcPort, c.dstIP, c.dstPort, c.user, c.protocol, c.bytesOut, c.bytesIn, c.value, c.message, c.parseError); err != nil {
		return err
	}
	// Array columns take one row at a time without reflection.
	start := 0
	for _, end := range c.attrEnds {
		if err := b.Column(21).AppendRow(c.attrKeys[start:end]); err != nil {
			return fmt.Errorf("column attr_keys: %w", err)
		}
		if err := b.Column(22).AppendRow(c.attrValues[start:end]); err != nil {
			return fmt.Errorf("column attr_values: %w", err)
		}
		start = end
	}
	return nil
}

var scoresTable = tableOf[score.Score]{
	table_: "scores",
	columns_: "id, window_start, window_end, tenant, profile, entity, entity_field, feature, " +
		"observed, expected, spread, samples, method, anomaly_score",
	decode: func(b []byte, s *score.Score) error {
		*s = score.Score{}
		if err := json.Unmarshal(b, s); err != nil {
			return fmt.Errorf("decode score: %w", err)
		}
		if s.ID == "" || s.Profile == "" || s.WindowStart.IsZero() {
			return fmt.Errorf("decode score: id, profile and window_start are required")
		}
		return errors.Join(storable("window_start", s.WindowStart), storable("window_end", s.WindowEnd))
	},
	day:        func(s *score.Score) int64 { return dayOf(s.WindowStart) },
	newColumns: func(int) columnsOf[score.Score] { return &rowColumns[score.Score]{values: scoreValues} },
}

func scoreValues(s *score.Score) []any {
	x := s.Explanation
	return []any{
		s.ID, s.WindowStart.UTC(), s.WindowEnd.UTC(), s.Tenant, s.Profile, s.Entity, s.EntityField, x.Feature,
		x.Observed, x.Expected, x.Spread, x.Samples, x.Method, s.AnomalyScore,
	}
}

var alertsTable = tableOf[alertRow]{
	table_:   "alerts",
	columns_: "id, dedup_key, timestamp, tenant, profile, entity, severity, status, summary, observed, expected, anomaly_score, payload",
	decode: func(b []byte, a *alertRow) error {
		*a = alertRow{payload: string(b)}
		if err := json.Unmarshal(b, &a.Alert); err != nil {
			return fmt.Errorf("decode alert: %w", err)
		}
		if a.ID == "" || a.DedupKey == "" || a.LastSeen.IsZero() {
			return fmt.Errorf("decode alert: id, dedup_key and last_seen are required")
		}
		return storable("last_seen", a.LastSeen)
	},
	day:        func(a *alertRow) int64 { return dayOf(a.LastSeen) },
	newColumns: func(int) columnsOf[alertRow] { return &rowColumns[alertRow]{values: alertValues} },
}

// alertRow is an alert with the message it was published as.
type alertRow struct {
	alert.Alert
	payload string
}

func alertValues(a *alertRow) []any {
	return []any{
		a.ID, a.DedupKey, a.LastSeen.UTC(), a.Tenant, a.Profile, a.Entity, a.Severity, a.Status, a.Summary,
		a.Explanation.Observed, a.Explanation.Expected, a.AnomalyScore, a.payload,
	}
}

// rowColumns is a block appended row by row: for the tables that see a
// few rows a second, where column-wise appends would gain nothing.
type rowColumns[R any] struct {
	values func(r *R) []any
	rows   [][]any
}

func (c *rowColumns[R]) len() int { return len(c.rows) }
func (c *rowColumns[R]) reset()   { c.rows = clearSlice(c.rows) }
func (c *rowColumns[R]) add(r *R) { c.rows = append(c.rows, c.values(r)) }
func (c *rowColumns[R]) appendTo(b driver.Batch) error {
	for _, r := range c.rows {
		if err := b.Append(r...); err != nil {
			return err
		}
	}
	return nil
}
