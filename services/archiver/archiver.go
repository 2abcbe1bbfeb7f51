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
	group  *kafka.ConsumerGroup
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
	// owners is the consumer group generation each partition is read in,
	// while it lasts: offsets are committed in it, and not at all once it
	// ended (whoever reads the partition next reads what was not
	// committed again, and the events table keeps one copy).
	ownersMu sync.Mutex
	owners   map[partition]*kafka.Generation
	// drained is closed once the archiver has inserted and committed what
	// it held when it stopped reading.
	drained chan struct{}
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
		owners:  map[partition]*kafka.Generation{},
		drained: make(chan struct{}),
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
	a.group, err = client.NewConsumerGroup(a.cfg.Archiver.GroupID, []string{k.Topics.Events, k.Topics.Scores, k.Topics.Alerts}, stream.GroupOptions{})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", a.cfg.Archiver.GroupID, err)
	}

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
	// Leaving the group is quick, and worth doing even when ctx ended
	// while inserting: the others take the partitions over at once.
	leave, cancelLeave := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
	defer cancelLeave()
	errs = append(errs, stream.CloseGroup(leave, a.group))
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
	defer close(a.drained)
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

	// Each assigned partition is read in a goroutine of its own, which
	// hands runs of messages to this one; while every inserter is busy,
	// they wait.
	runs := make(chan []kafka.Message)
	var readers sync.WaitGroup
	readers.Go(func() {
		stream.FollowGroup(ctx, a.group, a.logger, func(error) {}, func(gen *kafka.Generation, topic string, pa kafka.PartitionAssignment) {
			a.commits.assigned(partition{topic, pa.ID}, pa.Offset)
			a.setOwner(partition{topic, pa.ID}, gen)
			gen.Start(func(genCtx context.Context) { a.readPartition(ctx, genCtx, gen, topic, pa, runs) })
		})
	})
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case run := <-runs:
			a.add(run)
		}
	}

	// Insert and commit what is held, until Shutdown's context ends.
	readers.Wait()
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

// readPartition reads one assigned partition until the archiver stops
// (ctx) or the generation ends (genCtx), handing runs of messages to the
// loop through runs. When the archiver stops it returns only once what
// was read is committed: the generation ends as soon as one of its
// functions returns, and the last commits are made in it.
func (a *Archiver) readPartition(ctx, genCtx context.Context, gen *kafka.Generation, topic string, pa kafka.PartitionAssignment, runs chan<- []kafka.Message) {
	rctx, cancel := context.WithCancel(genCtx)
	defer cancel()
	stop := context.AfterFunc(ctx, cancel)
	defer stop()
	_ = a.client.ReadPartition(rctx, topic, pa.ID, pa.Offset, func(ctx context.Context, run []kafka.Message) error {
		select {
		case runs <- run:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}, stream.ReadOptions{OnError: func(error) { a.metrics.fetchErrors.Inc() }})
	select {
	case <-a.drained:
	case <-genCtx.Done():
	}
	if genCtx.Err() != nil {
		a.dropOwner(partition{topic, pa.ID}, gen)
	}
}

// setOwner records the generation partition p is read in.
func (a *Archiver) setOwner(p partition, gen *kafka.Generation) {
	a.ownersMu.Lock()
	defer a.ownersMu.Unlock()
	a.owners[p] = gen
	a.metrics.assigned.Set(float64(len(a.owners)))
}

// dropOwner records that partition p is not read in gen any more (unless
// a later generation assigned it already).
func (a *Archiver) dropOwner(p partition, gen *kafka.Generation) {
	a.ownersMu.Lock()
	defer a.ownersMu.Unlock()
	if a.owners[p] == gen {
		delete(a.owners, p)
	}
	a.metrics.assigned.Set(float64(len(a.owners)))
}

// add puts a run of messages of one partition into the open batch of its
// topic, sealing the batch whenever it is full.
func (a *Archiver) add(run []kafka.Message) {
	a.mu.Lock()
	defer a.mu.Unlock()
	topic := run[0].Topic
	rows, bytes := 0, 0
	for _, m := range run {
		b := a.open[topic]
		if b == nil {
			b = &batch{table: a.tables[topic], first: time.Now(), msgs: make([]kafka.Message, 0, a.sizes[topic])}
			a.open[topic] = b
		}
		b.msgs = append(b.msgs, m)
		b.bytes += len(m.Value)
		rows++
		bytes += len(m.Value)
		if len(b.msgs) >= a.cfg.Archiver.BatchRows || b.bytes >= a.cfg.Archiver.BatchBytes {
			a.addPending(rows, bytes)
			rows, bytes = 0, 0
			a.seal(topic)
		}
	}
	a.addPending(rows, bytes)
}

func (a *Archiver) addPending(rows, bytes int) {
	a.metrics.read.Add(float64(rows))
	a.metrics.pendingRows.Add(float64(rows))
	a.metrics.pendingBytes.Add(float64(bytes))
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
		if len(bad) > 0 && !a.deadLetter(ctx, b.msgs, bad) {
			return
		}
		from = next
	}
	a.commit(ctx, b)
}

// deadLetter publishes the messages of msgs at the indexes of bad to the
// DLQ, each with its reason, retrying until they are acknowledged or ctx
// ends; it reports whether they were. Messages are read without their
// keys and headers, so the whole messages are read again from Kafka first
// (one it no longer has goes with its value alone).
func (a *Archiver) deadLetter(ctx context.Context, msgs []kafka.Message, bad map[int]string) bool {
	idx := slices.Sorted(maps.Keys(bad))
	return a.retry(ctx, "dead-letter", func(ctx context.Context) error {
		offsets := map[partition][]int64{}
		for _, i := range idx {
			p := partition{msgs[i].Topic, msgs[i].Partition}
			offsets[p] = append(offsets[p], msgs[i].Offset)
		}
		whole := map[partition]map[int64]kafka.Message{}
		for p, offs := range offsets {
			rctx, cancel := context.WithTimeout(ctx, deadLetterReadTimeout)
			got, err := a.client.ReadMessagesAt(rctx, p.topic, p.id, offs)
			cancel()
			if err != nil {
				return err
			}
			whole[p] = got
		}
		dls := make([]kafka.Message, 0, len(idx))
		for _, i := range idx {
			m := msgs[i]
			if w, ok := whole[partition{m.Topic, m.Partition}][m.Offset]; ok {
				m = w
			}
			dls = append(dls, stream.DeadLetter(m, "archiver", bad[i]))
		}
		if err := a.dlq.WriteMessages(ctx, dls...); err != nil {
			return err
		}
		for _, i := range idx {
			a.metrics.deadLettered.WithLabelValues(msgs[i].Topic).Inc()
		}
		return nil
	})
}

// deadLetterReadTimeout bounds reading the messages to dead-letter again.
const deadLetterReadTimeout = 30 * time.Second

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
	a.retry(ctx, "commit offsets", func(ctx context.Context) error { return a.commitOffsets(ctx, ready) })
}

// commitOffsets commits, for each message of ready, the offset after it,
// in the generation its partition is read in; partitions no longer read
// are left alone.
func (a *Archiver) commitOffsets(ctx context.Context, ready []kafka.Message) error {
	byGen := map[*kafka.Generation]map[string][]kafka.OffsetCommit{}
	a.ownersMu.Lock()
	for _, m := range ready {
		gen := a.owners[partition{m.Topic, m.Partition}]
		if gen == nil {
			continue
		}
		if byGen[gen] == nil {
			byGen[gen] = map[string][]kafka.OffsetCommit{}
		}
		byGen[gen][m.Topic] = append(byGen[gen][m.Topic], kafka.OffsetCommit{Partition: m.Partition, Offset: m.Offset + 1})
	}
	a.ownersMu.Unlock()
	for gen, topics := range byGen {
		if err := a.client.CommitInGeneration(ctx, gen, topics); err != nil {
			return err
		}
	}
	return nil
}

type metrics struct {
	inserted      *prometheus.CounterVec
	insertSeconds *prometheus.HistogramVec
	batchRows     *prometheus.HistogramVec
	batchBytes    *prometheus.HistogramVec
	deadLettered  *prometheus.CounterVec
	retries       *prometheus.CounterVec
	fetchErrors   prometheus.Counter
	assigned      prometheus.Gauge
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
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_archiver_partitions_assigned", Help: "Partitions of the three topics this archiver reads in its consumer group.",
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
			m.fetchErrors, m.assigned, m.read, m.pendingRows, m.pendingBytes, m.inFlight, m.lag)
	}
	return m
}
