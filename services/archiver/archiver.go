package archiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
)

// Archiver is the archiver's lifecycle. See the package doc.
type Archiver struct {
	cfg     config.Config
	logger  *slog.Logger
	metrics *metrics
	tables  map[string]table // by topic

	client *stream.Client
	conn   driver.Conn
	reader *kafka.Reader
	dlq    *kafka.Writer

	loop     service.Loop
	mu       sync.Mutex
	finalCtx context.Context
	ready    *telemetry.Readiness
}

// New returns an archiver configured by deps; Start connects it.
func New(deps service.Deps) (*Archiver, error) {
	cfg := deps.Config
	a := &Archiver{
		cfg:     cfg,
		logger:  deps.Logger.With("component", "archiver"),
		metrics: newMetrics(deps.Registry),
		tables: map[string]table{
			cfg.Kafka.Topics.Events: eventsTable,
			cfg.Kafka.Topics.Scores: scoresTable,
			cfg.Kafka.Topics.Alerts: alertsTable,
		},
		ready: telemetry.NewReadiness(),
	}
	if deps.Ready != nil {
		deps.Ready("archiver", a.ready.Check)
	}
	return a, nil
}

// Start waits for Kafka and ClickHouse (retrying with a clear log line),
// applies pending migrations, creates the topics, and starts consuming.
func (a *Archiver) Start(ctx context.Context) error {
	k := a.cfg.Kafka
	client, err := stream.Connect(ctx, k, a.logger,
		stream.Topic{Name: k.Topics.Events, Partitions: k.Partitions},
		stream.Topic{Name: k.Topics.EventsDLQ, Partitions: k.Partitions},
		stream.Topic{Name: k.Topics.Scores, Partitions: k.Partitions},
		stream.Topic{Name: k.Topics.Alerts, Partitions: k.Partitions},
	)
	if err != nil {
		return err
	}
	a.client = client
	if err := store.WaitReady(ctx, a.cfg.ClickHouse, a.logger); err != nil {
		return err
	}
	if _, err := store.Migrate(ctx, a.cfg.ClickHouse, a.logger); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	conn, err := store.Open(a.cfg.ClickHouse)
	if err != nil {
		return err
	}
	a.conn = conn
	dlq, err := client.NewWriter(k.Topics.EventsDLQ, stream.WriterOptions{})
	if err != nil {
		return err
	}
	a.dlq = dlq
	a.reader = client.NewGroupReader(a.cfg.Archiver.GroupID, k.Topics.Events, k.Topics.Scores, k.Topics.Alerts)

	a.loop.Go(a.run)
	a.ready.Set(nil)
	a.logger.Info("archiver started", "group", a.cfg.Archiver.GroupID, "clickhouse", a.cfg.ClickHouse.Addr, "database", a.cfg.ClickHouse.Database)
	return nil
}

// Shutdown stops consuming, inserts and commits what is pending (retrying
// until ctx ends), and closes connections. Safe before Start.
func (a *Archiver) Shutdown(ctx context.Context) error {
	a.mu.Lock()
	a.finalCtx = ctx
	a.mu.Unlock()
	a.ready.Set(errors.New("shutting down"))
	if _, err := a.loop.Stop(ctx); err != nil {
		return fmt.Errorf("archiver shutdown: %w", err)
	}
	var errs []error
	if a.reader != nil {
		errs = append(errs, a.reader.Close())
	}
	if a.dlq != nil {
		errs = append(errs, a.dlq.Close())
	}
	if a.conn != nil {
		errs = append(errs, a.conn.Close())
	}
	if a.client != nil {
		a.client.Close()
	}
	return errors.Join(errs...)
}

// pending is what has been read but not yet inserted and committed.
type pending struct {
	rows map[string][][]any         // by table
	msgs map[string][]kafka.Message // by table, parallel to rows: positions only
	done []kafka.Message            // dead-lettered, to commit with the batch
	// failed is set when a dead letter could not be written: the batch must
	// not be committed, so its messages are read again.
	failed bool
	count  int
	first  time.Time
}

func newPending() *pending {
	return &pending{rows: map[string][][]any{}, msgs: map[string][]kafka.Message{}}
}

func (p *pending) size() int { return p.count + len(p.done) }

func (a *Archiver) run(ctx context.Context) {
	p := newPending()
	for {
		wait := a.cfg.Archiver.FlushInterval
		if p.size() > 0 {
			wait = time.Until(p.first.Add(a.cfg.Archiver.FlushInterval))
		}
		var m kafka.Message
		err := context.DeadlineExceeded
		if wait > 0 {
			fctx, cancel := context.WithTimeout(ctx, wait)
			m, err = a.reader.FetchMessage(fctx)
			cancel()
		}
		switch {
		case ctx.Err() != nil:
			a.mu.Lock()
			final := a.finalCtx
			a.mu.Unlock()
			if err := a.flush(final, p); err != nil {
				a.logger.Error("final flush failed; the uncommitted messages will be read again", "err", err)
			}
			return
		case errors.Is(err, context.DeadlineExceeded):
			a.flushOrLog(ctx, p)
			continue
		case err != nil:
			a.logger.Warn("fetch failed, retrying", "err", err)
			a.metrics.fetchErrors.Inc()
			backoff.Sleep(ctx, time.Second)
			continue
		}
		a.add(ctx, p, m)
		if p.size() >= a.cfg.Archiver.BatchRows {
			a.flushOrLog(ctx, p)
		}
	}
}

// retry retries f with the configured backoff until it succeeds or ctx
// ends, counting each retry.
func (a *Archiver) retry(ctx context.Context, what string, f func(context.Context) error) bool {
	return backoff.Retry(ctx, backoff.Policy{Initial: a.cfg.Archiver.RetryBackoff, Max: a.cfg.Archiver.RetryBackoffMax}, a.logger, what,
		func(ctx context.Context) error {
			err := f(ctx)
			if err != nil && ctx.Err() == nil {
				a.metrics.retries.WithLabelValues(what).Inc()
			}
			return err
		})
}

func (a *Archiver) flushOrLog(ctx context.Context, p *pending) {
	if err := a.flush(ctx, p); err != nil && ctx.Err() == nil {
		a.logger.Error("flush failed", "err", err)
	}
}

func (a *Archiver) add(ctx context.Context, p *pending, m kafka.Message) {
	if p.size() == 0 {
		p.first = time.Now()
	}
	pos := kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset}
	t, ok := a.tables[m.Topic]
	if !ok {
		a.deadLetter(ctx, p, m, "no table for topic "+m.Topic)
		return
	}
	row, err := t.row(m.Value)
	if err != nil {
		a.deadLetter(ctx, p, m, err.Error())
		return
	}
	p.rows[t.name] = append(p.rows[t.name], row)
	p.msgs[t.name] = append(p.msgs[t.name], pos)
	p.count++
	a.metrics.pending.Set(float64(p.count))
}

// deadLetter publishes m to the DLQ, retrying until it is acknowledged, and
// marks it for commit with the current batch. If ctx ends first, the batch
// is marked failed so that nothing of it is committed.
func (a *Archiver) deadLetter(ctx context.Context, p *pending, m kafka.Message, reason string) {
	dl := stream.DeadLetter(m, "archiver", reason)
	if !a.retry(ctx, "dead-letter", func(ctx context.Context) error { return a.dlq.WriteMessages(ctx, dl) }) {
		p.failed = true
		return
	}
	a.metrics.deadLettered.WithLabelValues(m.Topic).Inc()
	p.done = append(p.done, kafka.Message{Topic: m.Topic, Partition: m.Partition, Offset: m.Offset})
}

// flush inserts every pending table, retrying with backoff until it
// succeeds or ctx ends, and then commits the offsets of every message the
// inserts hold. It returns an error only when ctx ended first; nothing is
// committed then, so the messages are read again.
func (a *Archiver) flush(ctx context.Context, p *pending) error {
	if p.size() == 0 {
		return nil
	}
	if p.failed {
		return fmt.Errorf("dead-letter write did not complete: %w", ctx.Err())
	}
	var commit []kafka.Message
	for _, name := range []string{eventsTable.name, scoresTable.name, alertsTable.name} {
		rows, msgs := p.rows[name], p.msgs[name]
		for len(rows) > 0 {
			n := chunk(rows, byName[name].tsCol)
			if err := a.insertChunk(ctx, p, name, rows[:n], msgs[:n]); err != nil {
				return err
			}
			commit = append(commit, msgs[:n]...)
			rows, msgs = rows[n:], msgs[n:]
		}
	}
	if p.failed {
		return fmt.Errorf("dead-letter write did not complete: %w", ctx.Err())
	}
	commit = append(commit, p.done...)
	if !a.retry(ctx, "commit offsets", func(ctx context.Context) error { return a.reader.CommitMessages(ctx, commit...) }) {
		return fmt.Errorf("commit offsets: %w", ctx.Err())
	}
	*p = *newPending()
	a.metrics.pending.Set(0)
	return nil
}

// maxPartitionsPerInsert keeps one insert within ClickHouse's
// max_partitions_per_insert_block (100 by default on current servers):
// tables are partitioned by day, so a chunk spans at most this many days.
const maxPartitionsPerInsert = 100

// chunk returns how many leading rows span at most maxPartitionsPerInsert
// days of the timestamp in column tsCol.
func chunk(rows [][]any, tsCol int) int {
	days := map[int64]bool{}
	for i, r := range rows {
		ts, _ := r[tsCol].(time.Time)
		d := ts.Unix() / 86400
		if !days[d] && len(days) == maxPartitionsPerInsert {
			return i
		}
		days[d] = true
	}
	return len(rows)
}

// insertChunk inserts rows, retrying with backoff while the insert fails.
// A row the driver refuses to encode can never be inserted: it goes to the
// dead-letter topic and the rest are inserted without it.
func (a *Archiver) insertChunk(ctx context.Context, p *pending, name string, rows [][]any, msgs []kafka.Message) error {
	rows, msgs = slices.Clone(rows), slices.Clone(msgs)
	for {
		var bad int
		ok := a.retry(ctx, "insert into "+name, func(ctx context.Context) error {
			var err error
			bad, err = a.insert(ctx, name, rows)
			return err
		})
		if !ok {
			return fmt.Errorf("insert into %s: %w", name, ctx.Err())
		}
		if bad < 0 {
			return nil
		}
		a.deadLetter(ctx, p, msgs[bad], "insert: row rejected by the driver")
		rows, msgs = slices.Delete(rows, bad, bad+1), slices.Delete(msgs, bad, bad+1)
		if len(rows) == 0 {
			return nil
		}
	}
}

// insert writes rows into table in one batch. It returns the index of a row
// the driver refused to append (nothing is inserted then; the batch must be
// built again without it), or -1 and the error of the insert, which is
// worth retrying.
func (a *Archiver) insert(ctx context.Context, name string, rows [][]any) (int, error) {
	t := byName[name]
	start := time.Now()
	batch, err := a.conn.PrepareBatch(ctx, "INSERT INTO "+t.name+" ("+t.columns+")")
	if err != nil {
		return -1, fmt.Errorf("prepare insert into %s: %w", t.name, err)
	}
	for i, r := range rows {
		if err := batch.Append(r...); err != nil {
			_ = batch.Abort()
			return i, nil
		}
	}
	if err := batch.Send(); err != nil {
		return -1, fmt.Errorf("insert %d rows into %s: %w", len(rows), t.name, err)
	}
	a.metrics.inserted.WithLabelValues(t.name).Add(float64(len(rows)))
	a.metrics.insertSeconds.WithLabelValues(t.name).Observe(time.Since(start).Seconds())
	return -1, nil
}

type metrics struct {
	inserted      *prometheus.CounterVec
	insertSeconds *prometheus.HistogramVec
	deadLettered  *prometheus.CounterVec
	retries       *prometheus.CounterVec
	fetchErrors   prometheus.Counter
	pending       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		inserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_archiver_rows_inserted_total", Help: "Rows inserted into ClickHouse, by table.",
		}, []string{"table"}),
		insertSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_archiver_insert_seconds", Help: "Duration of one successful batch insert, by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"table"}),
		deadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_archiver_dead_lettered_total", Help: "Messages sent to the dead-letter topic, by source topic.",
		}, []string{"topic"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_archiver_retries_total", Help: "Retried operations (inserts, commits, dead-letter writes).",
		}, []string{"operation"}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_archiver_fetch_errors_total", Help: "Failed fetches from Kafka.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_archiver_pending_rows", Help: "Rows read and not yet inserted (bounded by archiver.batch_rows).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.inserted, m.insertSeconds, m.deadLettered, m.retries, m.fetchErrors, m.pending)
	}
	return m
}
