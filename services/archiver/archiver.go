package archiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
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

	loop  service.Loop
	ready *telemetry.Readiness

	// mu guards open, the batches being filled, and sealing them.
	mu   sync.Mutex
	open map[string]*batch // by topic
	// sizes is the length of the last batch sealed per topic: the next
	// one starts with room for as many messages.
	sizes map[string]int
	// work hands sealed batches to the inserters; a send blocks while
	// every inserter is busy, which stops the reading.
	work    chan *batch
	commits *commits
	// commitMu makes commits one at a time, so offsets only move forward.
	commitMu sync.Mutex
	// insertCtx bounds inserts, dead-letter writes and commits: it ends
	// when the context given to Shutdown does, not when reading stops.
	insertCtx    context.Context
	cancelInsert context.CancelFunc
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
		ready:   telemetry.NewReadiness(),
		open:    map[string]*batch{},
		sizes:   map[string]int{},
		work:    make(chan *batch),
		commits: newCommits(),
	}
	a.insertCtx, a.cancelInsert = context.WithCancel(context.Background())
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
// until ctx ends; what it could not insert is not committed and is read
// again), and closes connections. Safe before Start.
func (a *Archiver) Shutdown(ctx context.Context) error {
	defer a.cancelInsert()
	stop := context.AfterFunc(ctx, a.cancelInsert)
	defer stop()
	a.ready.Set(errors.New("shutting down"))
	// Reading stops at once; what is held is inserted until ctx ends, and
	// the loop returns soon after, as every insert, dead-letter write and
	// commit ends with insertCtx.
	wait, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	if deadline, ok := ctx.Deadline(); ok {
		wait, cancel = context.WithDeadline(wait, deadline.Add(shutdownGrace))
		defer cancel()
	}
	if _, err := a.loop.Stop(wait); err != nil {
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

// shutdownGrace is how long Shutdown waits, after its context ended, for
// the inserts it cut short to return.
const shutdownGrace = 10 * time.Second

// batch is a run of messages of one topic, inserted into its table in one
// go (several inserts when it spans more than maxPartitionsPerInsert days).
type batch struct {
	table table
	msgs  []kafka.Message
	bytes int
	first time.Time
	// marks are the batch's places in the commit order, one per partition.
	marks []*mark
}

func (a *Archiver) run(ctx context.Context) {
	var inserters sync.WaitGroup
	for range a.cfg.Archiver.Inserters {
		inserters.Go(func() {
			writers := map[string]writer{}
			for _, t := range tables {
				writers[t.name()] = t.newWriter()
			}
			for b := range a.work {
				a.insertBatch(a.insertCtx, writers[b.table.name()], b)
			}
		})
	}
	var ticker sync.WaitGroup
	ticker.Go(func() { a.flushOnTime(ctx) })

	for {
		m, err := a.reader.FetchMessage(ctx)
		if ctx.Err() != nil {
			break
		}
		if err != nil {
			a.logger.Warn("fetch failed, retrying", "err", err)
			a.metrics.fetchErrors.Inc()
			backoff.Sleep(ctx, time.Second)
			continue
		}
		a.add(m)
	}

	// Insert and commit what is held, until Shutdown's context ends.
	ticker.Wait()
	a.mu.Lock()
	k := a.cfg.Kafka.Topics
	for _, topic := range []string{k.Events, k.Scores, k.Alerts} {
		a.seal(topic)
	}
	a.mu.Unlock()
	close(a.work)
	inserters.Wait()
	if a.insertCtx.Err() != nil {
		a.logger.Error("shutdown ended before everything read was inserted; what was not committed will be read again")
	}
}

// add puts m into the open batch of its topic, sealing the batch when it
// is full.
func (a *Archiver) add(m kafka.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	b := a.open[m.Topic]
	if b == nil {
		b = &batch{table: a.tables[m.Topic], first: time.Now(), msgs: make([]kafka.Message, 0, a.sizes[m.Topic])}
		a.open[m.Topic] = b
	}
	b.msgs = append(b.msgs, m)
	b.bytes += len(m.Value)
	a.metrics.read.Inc()
	a.metrics.pendingRows.Inc()
	a.metrics.pendingBytes.Add(float64(len(m.Value)))
	if len(b.msgs) >= a.cfg.Archiver.BatchRows || b.bytes >= a.cfg.Archiver.BatchBytes {
		a.seal(m.Topic)
	}
}

// flushOnTime seals batches that have waited archiver.flush_interval.
func (a *Archiver) flushOnTime(ctx context.Context) {
	interval := a.cfg.Archiver.FlushInterval
	tick := time.NewTicker(max(interval/10, time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		a.mu.Lock()
		for topic, b := range a.open {
			if time.Since(b.first) >= interval {
				a.seal(topic)
			}
		}
		a.mu.Unlock()
	}
}

// seal hands topic's open batch to an inserter, waiting while every
// inserter is busy. Called with a.mu held.
func (a *Archiver) seal(topic string) {
	b := a.open[topic]
	if b == nil {
		return
	}
	delete(a.open, topic)
	a.sizes[topic] = len(b.msgs)
	b.marks = a.commits.track(b.msgs)
	a.metrics.lag.WithLabelValues(topic).Set(float64(a.commits.lag(topic)))
	a.metrics.batchRows.WithLabelValues(b.table.name()).Observe(float64(len(b.msgs)))
	a.metrics.batchBytes.WithLabelValues(b.table.name()).Observe(float64(b.bytes))
	a.work <- b
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

// insertBatch decodes b with w, inserts what can be stored (retrying
// until it succeeds or ctx ends), dead-letters the rest, and commits every
// offset below which all batches are done. When ctx ends first nothing of
// b is committed, so it is read again.
func (a *Archiver) insertBatch(ctx context.Context, w writer, b *batch) {
	a.metrics.inFlight.Inc()
	defer func() {
		a.metrics.inFlight.Dec()
		a.metrics.pendingRows.Sub(float64(len(b.msgs)))
		a.metrics.pendingBytes.Sub(float64(b.bytes))
	}()
	values := make([][]byte, len(b.msgs))
	for i, m := range b.msgs {
		values[i] = m.Value
	}
	for from := 0; from < len(values); {
		var (
			next int
			bad  map[int]string
		)
		if !a.retry(ctx, "insert into "+b.table.name(), func(ctx context.Context) (err error) {
			next, bad, err = a.insert(ctx, b.table, w, values, from)
			return err
		}) {
			return
		}
		for _, i := range slices.Sorted(maps.Keys(bad)) {
			if !a.deadLetter(ctx, b.msgs[i], bad[i]) {
				return
			}
		}
		from = next
	}
	a.commit(ctx, b)
}

// deadLetter publishes m to the DLQ with reason, retrying until it is
// acknowledged or ctx ends; it reports whether it was.
func (a *Archiver) deadLetter(ctx context.Context, m kafka.Message, reason string) bool {
	dl := stream.DeadLetter(m, "archiver", reason)
	if !a.retry(ctx, "dead-letter", func(ctx context.Context) error { return a.dlq.WriteMessages(ctx, dl) }) {
		return false
	}
	a.metrics.deadLettered.WithLabelValues(m.Topic).Inc()
	return true
}

// insert writes the storable values of values[from:] into t with w, in one
// insert (begun only when there is something to store), and returns where
// it stopped and what it could not store (see writer.write).
func (a *Archiver) insert(ctx context.Context, t table, w writer, values [][]byte, from int) (int, map[int]string, error) {
	start := time.Now()
	ins := &insert{prepare: func() (driver.Batch, error) {
		b, err := a.conn.PrepareBatch(ctx, "INSERT INTO "+t.name()+" ("+t.columns()+")")
		if err != nil {
			return nil, fmt.Errorf("prepare insert into %s: %w", t.name(), err)
		}
		return b, nil
	}}
	next, bad, err := w.write(ins, values, from)
	if err != nil {
		if ins.batch != nil {
			_ = ins.batch.Abort()
		}
		return 0, nil, fmt.Errorf("insert into %s: %w", t.name(), err)
	}
	if ins.batch == nil {
		return next, bad, nil
	}
	if err := ins.batch.Send(); err != nil {
		return 0, nil, fmt.Errorf("insert %d rows into %s: %w", ins.rows, t.name(), err)
	}
	a.metrics.inserted.WithLabelValues(t.name()).Add(float64(ins.rows))
	a.metrics.insertSeconds.WithLabelValues(t.name()).Observe(time.Since(start).Seconds())
	return next, bad, nil
}

// commit marks b done and commits, for each partition, the highest offset
// below which every batch is done. Commits are made one at a time so that
// a partition's committed offset only moves forward.
func (a *Archiver) commit(ctx context.Context, b *batch) {
	a.commitMu.Lock()
	defer a.commitMu.Unlock()
	ready := a.commits.done(b.marks)
	if len(ready) == 0 {
		return
	}
	// When ctx ends first the offsets stay uncommitted and are read again.
	a.retry(ctx, "commit offsets", func(ctx context.Context) error { return a.reader.CommitMessages(ctx, ready...) })
}

type metrics struct {
	inserted      *prometheus.CounterVec
	insertSeconds *prometheus.HistogramVec
	batchRows     *prometheus.HistogramVec
	batchBytes    *prometheus.HistogramVec
	deadLettered  *prometheus.CounterVec
	retries       *prometheus.CounterVec
	fetchErrors   prometheus.Counter
	read          prometheus.Counter
	pendingRows   prometheus.Gauge
	pendingBytes  prometheus.Gauge
	inFlight      prometheus.Gauge
	lag           *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		inserted: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_archiver_rows_inserted_total", Help: "Rows inserted into ClickHouse, by table.",
		}, []string{"table"}),
		insertSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_archiver_insert_seconds", Help: "Duration of one successful insert, by table.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 16),
		}, []string{"table"}),
		batchRows: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_archiver_batch_rows", Help: "Messages in one batch when it is sealed, by table.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 10),
		}, []string{"table"}),
		batchBytes: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_archiver_batch_bytes", Help: "Message bytes in one batch when it is sealed, by table.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
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
		read: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_archiver_messages_read_total", Help: "Messages read from Kafka.",
		}),
		pendingRows: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_archiver_pending_rows",
			Help: "Messages read and not yet inserted (at most archiver.batch_rows times (archiver.inserters + 3): one per inserter, one waiting for an inserter, one open per other topic).",
		}),
		pendingBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_archiver_pending_bytes", Help: "Bytes of the messages read and not yet inserted.",
		}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_archiver_batches_in_flight", Help: "Batches being inserted (at most archiver.inserters).",
		}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_archiver_lag_messages", Help: "Messages behind the end of the topic, as of the last batch read, by topic.",
		}, []string{"topic"}),
	}
	if reg != nil {
		reg.MustRegister(m.inserted, m.insertSeconds, m.batchRows, m.batchBytes, m.deadLettered, m.retries,
			m.fetchErrors, m.read, m.pendingRows, m.pendingBytes, m.inFlight, m.lag)
	}
	return m
}
