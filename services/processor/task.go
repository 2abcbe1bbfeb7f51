package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/stream"
)

// tick paces what a task does besides reading: writing forwarded events
// and progress reports, noticing an idle partition, updating metrics, and
// closing windows when no event arrives.
const tick = 200 * time.Millisecond

// handoverTimeout bounds the checkpoint a task writes when its partition
// is taken from it (a rebalance or a shutdown).
const handoverTimeout = 20 * time.Second

// task processes one partition: of the events topic (a source task: the
// local profiles, and forwarding to the repartition topic for the others)
// or of the repartition topic (the re-keyed profiles). It owns the state of
// exactly that partition. It is not safe for concurrent use; the processor
// runs each task in its own goroutine for as long as its consumer group
// generation lasts.
type task struct {
	p      *Processor
	gen    *kafka.Generation
	topic  string
	part   int
	source bool
	logger *slog.Logger

	engines []*detect.Engine
	names   []string       // the stage of each engine
	byName  map[string]int // stage name → engine
	recent  *detect.RecentIDs

	next      int64 // offset of the next message to read
	hwm       int64 // the partition's end, as of the last messages read
	lastCkpt  time.Time
	dirty     bool // read something since the last checkpoint
	ref       ckptRef
	published map[string]bool // alerts on the alerts topic already, found when restoring
	// unpublished is set when outputs or forwards could not be written
	// before the task ended: no checkpoint may follow.
	unpublished bool

	// pending are the outputs of closed windows not yet published.
	pending detect.Output
	// ev is the event being handled, decoded with its strings pointing
	// into the message (the engines copy what they keep).
	ev event.Event

	// Source tasks: what waits to be forwarded (in bundles, or one
	// message each), and the progress reported.
	bundles  *bundler
	fwd      []kafka.Message
	encoded  []byte    // the event being forwarded, in the binary form
	maxEvent time.Time // newest event time read (not counting future ones)
	reported time.Time // the last progress reported
	lastRead time.Time // wall clock of the last event
	idleSent bool
}

func newTask(p *Processor, gen *kafka.Generation, topic string, part int) *task {
	t := &task{p: p, gen: gen, topic: topic, part: part, source: topic == p.cfg.Kafka.Topics.Events,
		next: kafka.FirstOffset, byName: map[string]int{}, lastRead: time.Now()}
	t.logger = p.logger.With("topic", topic, "partition", part)
	if t.source {
		t.names = []string{p.topo.local.name}
	} else {
		for _, st := range p.topo.rekeyed {
			t.names = append(t.names, st.name)
		}
	}
	for i, n := range t.names {
		t.byName[n] = i
	}
	return t
}

// restored reports whether the task's state comes from (or went to) a
// checkpoint.
func (t *task) restored() bool { return t.ref.id != "" }

// changelogPartition is the task's partition of the changelog topic:
// events partitions first, then repartition partitions.
func (t *task) changelogPartition() int {
	if t.source {
		return t.part
	}
	return t.p.partitions + t.part
}

// newEngine returns engine i of the task with empty state.
func (t *task) newEngine(i int) (*detect.Engine, error) {
	if t.source {
		e, err := t.p.topo.localEngine()
		if err == nil {
			e.Expect([]int{t.part}, time.Now())
		}
		return e, err
	}
	e, err := t.p.topo.rekeyedEngine(i)
	if err == nil {
		// Every events partition forwards here; until each has reported
		// its progress, windows stay open.
		e.Expect(t.p.eventParts, time.Now())
	}
	return e, err
}

// reset gives the task empty state, to read from offset next.
func (t *task) reset(next int64) error {
	t.engines = t.engines[:0]
	for i := range t.names {
		e, err := t.newEngine(i)
		if err != nil {
			return err
		}
		t.engines = append(t.engines, e)
	}
	if t.source {
		t.recent = detect.NewRecentIDs(detect.DefaultRecentIDs)
		if t.p.cfg.Processor.ForwardFormat == config.ForwardBundles {
			t.bundles = newBundler(t.part, t.p.partitions, t.p.topo.stageNames())
		}
	}
	t.next = next
	return nil
}

// run restores the task's state, processes the partition until ctx ends
// (the generation is over or the processor stops), and checkpoints what it
// did for whoever reads the partition next.
func (t *task) run(ctx context.Context) {
	if t.part >= t.p.partitions {
		// Its changelog partition would be another task's.
		t.logger.Error("partition added after the processor started: not read; recreate the internal topics with the new count and restart", "partitions_at_start", t.p.partitions)
		return
	}
	start := time.Now()
	if !t.restoreOrReset(ctx) {
		return
	}
	t.p.metrics.restoreSeconds.Observe(time.Since(start).Seconds())
	t.logger.Info("partition assigned", "offset", t.next, "restored", t.restored(), "seconds", time.Since(start).Seconds())
	t.p.register(t)
	defer t.p.unregister(t)
	if t.p.hooks.restored != nil {
		t.p.hooks.restored(ctx, t)
	}

	t.process(ctx)

	if t.unpublished {
		t.logger.Warn("outputs were not written before the partition was let go; its next owner reads from the last checkpoint")
		return
	}
	hctx, cancel := context.WithTimeout(context.Background(), handoverTimeout)
	defer cancel()
	if err := t.checkpoint(hctx); err != nil {
		t.logger.Warn("checkpoint at hand-over failed; the next owner reads from the last checkpoint", "err", err)
		return
	}
	if t.p.hooks.stopped != nil {
		t.p.hooks.stopped(t)
	}
}

// restoreOrReset loads the last checkpoint, or starts empty when there is
// none or it cannot be read (logged and counted: the baselines are lost,
// no event is). False when ctx ended first.
func (t *task) restoreOrReset(ctx context.Context) bool {
	var committed int64
	var metadata string
	ok := backoff.Retry(ctx, restoreBackoff, t.logger, "fetch committed offset", func(ctx context.Context) error {
		var err error
		committed, metadata, err = t.fetchCommitted(ctx)
		return err
	})
	if !ok {
		return false
	}
	if committed < 0 {
		return t.resetOrLog(kafka.FirstOffset)
	}
	ref, found, err := parseRef(metadata)
	if err == nil && found {
		err = t.restore(ctx, committed, ref)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
	}
	if err != nil {
		t.p.metrics.restoreFailures.Inc()
		t.logger.Error("checkpoint unreadable; state starts empty at the committed offset", "offset", committed, "err", err)
	} else {
		t.logger.Warn("committed offset without a checkpoint; state starts empty there", "offset", committed)
	}
	return t.resetOrLog(committed)
}

var restoreBackoff = backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

func (t *task) resetOrLog(next int64) bool {
	if err := t.reset(next); err != nil {
		t.logger.Error("cannot build the engines", "err", err)
		return false
	}
	return true
}

func (t *task) fetchCommitted(ctx context.Context) (int64, string, error) {
	res, err := t.p.client.KafkaClient().OffsetFetch(ctx, &kafka.OffsetFetchRequest{
		GroupID: t.gen.GroupID, Topics: map[string][]int{t.topic: {t.part}},
	})
	if err == nil {
		err = res.Error
	}
	if err != nil {
		return 0, "", fmt.Errorf("fetch committed offset: %w", err)
	}
	for _, op := range res.Topics[t.topic] {
		if op.Partition == t.part {
			if op.Error != nil {
				return 0, "", fmt.Errorf("fetch committed offset: %w", op.Error)
			}
			return op.CommittedOffset, op.Metadata, nil
		}
	}
	return -1, "", nil
}

// restore loads the checkpoint ref names, committed with offset next.
func (t *task) restore(ctx context.Context, next int64, ref ckptRef) error {
	c := t.p.client
	ends, err := c.EndOffsets(ctx, t.p.changelog)
	if err != nil {
		return err
	}
	b, err := readCheckpoint(ctx, c.NewPartitionReader, ends[ref.partition], t.p.changelog, ref)
	if err != nil {
		return err
	}
	var st taskState
	if err := st.readFrom(b); err != nil {
		return fmt.Errorf("checkpoint %s: %w", ref.id, err)
	}
	if st.next != next {
		return fmt.Errorf("checkpoint %s holds offset %d, committed with %d", ref.id, st.next, next)
	}
	if err := t.reset(next); err != nil {
		return err
	}
	now := time.Now()
	for _, nb := range st.engines {
		i, ok := t.byName[nb.name]
		if !ok {
			t.logger.Info("checkpoint holds a stage no longer configured; dropped", "stage", nb.name)
			continue
		}
		if err := t.engines[i].Restore(bytes.NewReader(nb.blob), now); err != nil {
			return fmt.Errorf("checkpoint %s, stage %s: %w", ref.id, nb.name, err)
		}
	}
	if t.source && len(st.recent) > 0 {
		if err := t.recent.UnmarshalBinary(st.recent); err != nil {
			return fmt.Errorf("checkpoint %s, recent ids: %w", ref.id, err)
		}
	}
	t.ref = ref
	return t.loadPublished(ctx, st.alertEnds)
}

// loadPublished remembers the alerts written to the alerts topic after the
// checkpoint: reading again from the checkpoint raises them again, and
// they are not published twice.
func (t *task) loadPublished(ctx context.Context, from map[int]int64) error {
	c := t.p.client
	topic := t.p.cfg.Kafka.Topics.Alerts
	ends, err := c.EndOffsets(ctx, topic)
	if err != nil {
		return err
	}
	t.published = map[string]bool{}
	for part, end := range ends {
		off, ok := from[part]
		if !ok || off >= end {
			continue
		}
		err := func() error {
			r := c.NewPartitionReader(topic, part, off)
			defer r.Close()
			for {
				m, err := r.FetchMessage(ctx)
				if err != nil {
					return fmt.Errorf("read %s/%d: %w", topic, part, err)
				}
				var a alert.Alert
				if json.Unmarshal(m.Value, &a) == nil {
					t.published[alertIdentity(a)] = true
				}
				if m.Offset >= end-1 {
					return nil
				}
			}
		}()
		if err != nil {
			return err
		}
	}
	return nil
}

// alertIdentity tells one published alert from another: an incident's
// firing alert is published again (same id) when it flaps, with another
// count and last seen.
func alertIdentity(a alert.Alert) string {
	return a.ID + "|" + strconv.Itoa(a.Count) + "|" + strconv.FormatInt(a.LastSeen.UnixNano(), 10)
}

// process reads the partition until ctx ends or an output cannot be
// written.
func (t *task) process(ctx context.Context) {
	// A goroutine reads the partition, handing runs of messages over;
	// the events topic's messages are read without keys and headers,
	// which the task does not look at.
	runs := make(chan []kafka.Message, 1)
	fctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		_ = t.p.client.ReadPartition(fctx, t.topic, t.part, t.next, func(ctx context.Context, run []kafka.Message) error {
			select {
			case runs <- run:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}, stream.ReadOptions{Whole: !t.source, OnError: func(error) { t.p.metrics.fetchErrors.Inc() }})
	})
	defer func() {
		stop()
		wg.Wait()
	}()

	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	t.lastCkpt = time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case run := <-runs:
			for i := range run {
				if ctx.Err() != nil {
					return // the partition is let go: hand over at once
				}
				t.handle(&run[i], time.Now())
				if t.forwardsFull() && !t.flush(ctx) {
					return
				}
				if !t.after(ctx) {
					return
				}
			}
			t.hwm = run[len(run)-1].HighWaterMark
		case <-ticker.C:
			if !t.onTick(ctx) || !t.after(ctx) {
				return
			}
		}
	}
}

// after closes the windows due, after each message and tick, and
// checkpoints when one is due; false when an output could not be written.
func (t *task) after(ctx context.Context) bool {
	// One reading of the clock (for the idle check and the checkpoint
	// interval alike).
	now := time.Now()
	if !t.advance(ctx, now) {
		return false
	}
	if t.dirty && now.Sub(t.lastCkpt) >= t.p.cfg.Processor.Checkpoint.Interval {
		if err := t.checkpoint(ctx); err != nil {
			if ctx.Err() != nil {
				return false
			}
			t.logger.Warn("checkpoint failed, will retry", "err", err)
		}
		t.lastCkpt = time.Now()
	}
	return true
}

// handle processes one message, read at now.
func (t *task) handle(m *kafka.Message, now time.Time) {
	t.next = m.Offset + 1
	t.dirty = true
	if !t.source {
		t.handleRekeyed(m, now)
		return
	}
	t.p.metrics.readEvents.Inc()
	ev := &t.ev
	if err := event.DecodeShared(ev, m.Value); err != nil {
		// The archiver keeps it on the dead-letter topic with the reason.
		t.p.metrics.invalid.Inc()
		return
	}
	t.lastRead, t.idleSent = now, false
	if t.recent.SeenBefore(ev.ID) {
		// A line the shipper sent again after a crash: counted once.
		t.p.metrics.results[detect.Duplicate].Inc()
		return
	}
	res := t.engines[0].Observe(ev, detect.Position{Partition: t.part, Offset: m.Offset}, now)
	t.p.metrics.results[res].Inc()
	if res == detect.Future {
		return // dated too far ahead for any profile
	}
	if ev.Timestamp.After(t.maxEvent) {
		t.maxEvent = ev.Timestamp
	}
	t.forward(ev, m)
}

// forward queues ev, read as m, for every re-keyed stage that wants it.
func (t *task) forward(ev *event.Event, m *kafka.Message) {
	var trimmed []byte
	for i := range t.p.topo.rekeyed {
		st := &t.p.topo.rekeyed[i]
		key, ok := st.router.Key(ev)
		if !ok {
			continue
		}
		if trimmed == nil {
			var err error
			if trimmed, err = t.encodeForward(t.p.topo.trim(ev)); err != nil {
				t.p.metrics.invalid.Inc() // not seen: it decoded and validated
				return
			}
		}
		if t.bundles != nil {
			t.bundles.add(i, key, m.Offset, trimmed)
		} else {
			t.fwd = append(t.fwd, forwardMessage(st.name, key, trimmed, m))
		}
		t.p.metrics.forwarded.Inc()
	}
}

// forwardsPending reports whether forwarded events or a progress report
// wait to be written.
func (t *task) forwardsPending() bool {
	if t.bundles != nil {
		return t.bundles.pending()
	}
	return len(t.fwd) > 0
}

// forwardsFull reports whether enough forwarded events wait to be written.
func (t *task) forwardsFull() bool {
	if t.bundles != nil {
		return t.bundles.full || t.bundles.items >= forwardBundled
	}
	return len(t.fwd) >= forwardBatch
}

func (t *task) handleRekeyed(m *kafka.Message, now time.Time) {
	rk, err := parseRekeyed(m)
	if err != nil {
		t.p.metrics.invalid.Inc()
		return
	}
	switch {
	case rk.bundle:
		err := readBundle(m.Value, func(it bundleItem) error {
			t.observeForwarded(it.stage, rk.from, it.offset, it.event, now)
			return nil
		})
		if err != nil {
			// Written by a processor, so damaged on the way: rare enough
			// to log. The events before the damage were counted.
			t.p.metrics.invalid.Inc()
			t.logger.Warn("damaged bundle of forwarded events; the rest of it is not counted", "offset", m.Offset, "err", err)
		}
	case !rk.progress:
		t.observeForwarded(rk.stage, rk.from, rk.offset, m.Value, now)
	}
	if rk.progress {
		// Alone, or carried by a bundle: after its events.
		t.p.metrics.readProgress.Inc()
		for _, e := range t.engines {
			e.Progress(rk.from, rk.eventTime, rk.idle, now)
		}
	}
}

// observeForwarded counts forwarded event v (in the binary form, or JSON),
// read at offset of events partition from, in the engine of its stage.
func (t *task) observeForwarded(stage string, from int, offset int64, v []byte, now time.Time) {
	t.p.metrics.readForwarded.Inc()
	i, ok := t.byName[stage]
	if !ok {
		// Forwarded for a stage this configuration does not have.
		t.p.metrics.results[detect.Ignored].Inc()
		return
	}
	var err error
	if event.IsBinary(v) {
		err = event.DecodeBinaryShared(&t.ev, v)
	} else {
		err = event.DecodeShared(&t.ev, v) // forwarded as JSON (processor.forward_format)
	}
	if err != nil {
		t.p.metrics.invalid.Inc()
		return
	}
	res := t.engines[i].Observe(&t.ev, detect.Position{Partition: from, Offset: offset}, now)
	t.p.metrics.results[res].Inc()
}

// encodeForward is ev as it is forwarded: in the binary form into the
// task's buffer when it goes into bundles (which copy it), otherwise as
// the value of a message of its own, in processor.forward_format.
func (t *task) encodeForward(ev *event.Event) ([]byte, error) {
	switch {
	case t.bundles != nil:
		t.encoded = event.AppendBinary(t.encoded[:0], ev)
		return t.encoded, nil
	case t.p.cfg.Processor.ForwardFormat == config.ForwardJSON:
		return event.AppendJSON(nil, ev)
	}
	return event.AppendBinary(nil, ev), nil
}

// onTick writes what waits, reports progress, and updates the metrics.
func (t *task) onTick(ctx context.Context) bool {
	if t.source {
		idle := time.Since(t.lastRead) >= t.p.cfg.Processor.IdleFlush
		switch {
		case idle && !t.idleSent:
			t.idleSent = true
			t.reportProgress(true)
		case !idle && t.maxEvent.After(t.reported):
			t.reportProgress(false)
		}
		if !t.flush(ctx) {
			return false
		}
	}
	if !t.publish(ctx) {
		return false
	}
	if t.next >= 0 { // an offset, not kafka.FirstOffset before the first run
		t.p.metrics.lag.WithLabelValues(t.topic, strconv.Itoa(t.part)).Set(float64(max(t.hwm-t.next, 0)))
	}
	t.publishStats()
	return true
}

// reportProgress queues, for every repartition partition, how far this
// events partition has been read: the re-keyed engines' watermark is the
// slowest events partition's.
func (t *task) reportProgress(idle bool) {
	if len(t.p.topo.rekeyed) == 0 {
		return
	}
	if t.bundles != nil {
		t.bundles.progress(progressReport{eventTime: t.maxEvent, idle: idle})
	} else {
		for to := range t.p.partitions {
			t.fwd = append(t.fwd, progressMessage(t.part, to, t.maxEvent, idle))
		}
	}
	t.reported = t.maxEvent
}

// flush writes the forwarded events and progress reports, in order,
// waiting for every replica; false when ctx ended first.
func (t *task) flush(ctx context.Context) bool {
	if !t.forwardsPending() {
		return true
	}
	if t.maxEvent.After(t.reported) {
		t.reportProgress(false)
	}
	if t.bundles != nil {
		// A bundle per partition, carrying the report (see bundle.go).
		t.fwd = t.bundles.take(t.fwd[:0])
	}
	if !backoff.Retry(ctx, publishBackoff, t.logger, "forward to "+t.p.repartition, func(ctx context.Context) error {
		return writeWhole(ctx, t.p.forward, t.fwd)
	}) {
		t.unpublished = true
		return false
	}
	clear(t.fwd)
	t.fwd = t.fwd[:0]
	return true
}

// advance closes the windows the watermark passed; what they produced is
// published with the next flush.
func (t *task) advance(ctx context.Context, now time.Time) bool {
	for _, e := range t.engines {
		before := len(t.pending.Alerts) + len(t.pending.Scores)
		e.AdvanceInto(now, &t.pending)
		if len(t.pending.Alerts)+len(t.pending.Scores) != before {
			// Windows closed (by the wall clock, too, when the partition
			// is idle): the state changed even without a new message.
			t.dirty = true
		}
	}
	if len(t.pending.Scores) >= outputBatch {
		return t.publish(ctx)
	}
	return true
}

// outputBatch is how many scores wait before they are published; alerts
// and fewer scores wait for the next tick at most.
const outputBatch = 2000

// publish writes the pending alerts and scores, waiting for every replica;
// false when ctx ended first.
func (t *task) publish(ctx context.Context) bool {
	if len(t.pending.Alerts) == 0 && len(t.pending.Scores) == 0 {
		return true
	}
	if err := t.p.out.publish(ctx, t.pending, t.published); err != nil {
		t.unpublished = true
		if ctx.Err() == nil {
			t.logger.Error("publishing failed; the partition stops", "err", err)
		}
		return false
	}
	clear(t.pending.Scores)
	t.pending = detect.Output{Alerts: t.pending.Alerts[:0], Scores: t.pending.Scores[:0]}
	return true
}

// checkpoint writes the task's state to the changelog and commits the
// input offset with a reference to it. Everything the state accounts for
// has been published already.
func (t *task) checkpoint(ctx context.Context) error {
	if !t.dirty || t.next < 0 {
		return nil
	}
	if !t.flush(ctx) {
		return errors.New("forwarded events not written")
	}
	if !t.publish(ctx) {
		return errors.New("scores and alerts not published")
	}
	start := time.Now()
	c := t.p.client
	ends, err := c.EndOffsets(ctx, t.p.cfg.Kafka.Topics.Alerts)
	if err != nil {
		return err
	}
	st := taskState{next: t.next, alertEnds: ends}
	if t.recent != nil {
		if st.recent, err = t.recent.MarshalBinary(); err != nil {
			return fmt.Errorf("recent ids: %w", err)
		}
	}
	for i, e := range t.engines {
		var buf bytes.Buffer
		if err := e.Snapshot(&buf); err != nil {
			return fmt.Errorf("snapshot of stage %s: %w", t.names[i], err)
		}
		st.engines = append(st.engines, namedBlob{name: t.names[i], blob: buf.Bytes()})
	}
	kc := c.KafkaClient()
	w := newChangelogWriter(ctx, kc, t.p.changelog, t.changelogPartition(), t.p.cfg.Processor.Checkpoint.ChunkBytes, t.p.codec)
	if err := st.writeTo(w); err != nil {
		return err
	}
	ref, err := w.close()
	if err != nil {
		return err
	}
	err = c.CommitInGeneration(ctx, t.gen,
		map[string][]kafka.OffsetCommit{t.topic: {{Partition: t.part, Offset: t.next, Metadata: ref.String()}}})
	if err != nil {
		return fmt.Errorf("commit offset %d with checkpoint %s: %w", t.next, ref.id, err)
	}
	old, hadOld := t.ref, t.restored()
	t.ref, t.dirty = ref, false
	if hadOld {
		if err := tombstones(ctx, kc, t.p.changelog, old); err != nil {
			t.logger.Debug("tombstones of the previous checkpoint not written; compaction keeps its chunks", "err", err)
		}
	}
	t.p.metrics.checkpointSeconds.Observe(time.Since(start).Seconds())
	t.p.metrics.checkpointBytes.Observe(float64(ref.bytes))
	return nil
}

// stats is what a task tells the metrics.
type stats struct {
	entities   map[string]int
	profiles   map[string]detect.ProfileStats
	openWins   int
	stateBytes int64
}

func (t *task) publishStats() {
	s := stats{entities: map[string]int{}, profiles: map[string]detect.ProfileStats{}, stateBytes: t.ref.bytes}
	for _, e := range t.engines {
		for k, v := range e.Entities() {
			s.entities[k] += v
		}
		for k, v := range e.ProfileStats() {
			s.profiles[k] = v
		}
		s.openWins += e.OpenWindows()
	}
	t.p.setStats(t, s)
}
