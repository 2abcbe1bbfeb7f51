package pager

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/backoff"
)

// partition consumes one assigned partition for one generation. Alerts
// are read in offset order; each receiver gets its notifications in that
// order from its own goroutine, so a slow receiver holds back the others
// by at most pager.max_pending alerts. An offset is committed once every
// alert before it is finished: delivered, dead-lettered, or not to be
// sent (silenced, unrouted, already delivered).
type partition struct {
	p      *Pager
	gen    *kafka.Generation
	topic  string
	id     int
	logger *slog.Logger

	slots  chan struct{} // one per pending job: pager.max_pending
	queues map[string]chan *task

	mu          sync.Mutex
	pending     []*job // read, not yet committable, in offset order
	committable int64  // offset after the finished prefix; -1: none yet
	committed   int64
}

// job is one message read from the partition.
type job struct {
	msg  kafka.Message
	left int // tasks not finished; under partition.mu
}

// task is one notification: an alert to one receiver.
type task struct {
	job    *job
	alert  alert.Alert
	target *target
	id     string // notification id
}

// consume runs until the generation ends, then finishes the requests in
// flight, commits what is finished, and returns.
func (p *Pager) consume(ctx context.Context, gen *kafka.Generation, topic string, id int, offset int64) {
	w := &partition{
		p: p, gen: gen, topic: topic, id: id,
		logger:      p.logger.With("topic", topic, "partition", id),
		slots:       make(chan struct{}, p.cfg.Pager.MaxPending),
		queues:      map[string]chan *task{},
		committable: -1, committed: -1,
	}
	// The previous owner of the partition recorded what it delivered
	// before it let go: load that before reading anything.
	if !backoff.Retry(ctx, syncBackoff, w.logger, "load delivery records", p.deliveries.sync) {
		return
	}
	w.run(ctx, offset)
}

var syncBackoff = backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

func (w *partition) run(ctx context.Context, offset int64) {
	r := w.p.client.NewPartitionReader(w.topic, w.id, offset)
	defer r.Close()
	var wg sync.WaitGroup
	for name, t := range w.p.targets {
		q := make(chan *task, cap(w.slots))
		w.queues[name] = q
		wg.Go(func() { w.work(ctx, t, q) })
	}
	wg.Go(func() { w.commitEvery(ctx, w.p.cfg.Pager.CommitInterval) })

	for w.read(ctx, r) {
	}

	wg.Wait()
	// Notifications queued and never started are left to whoever reads
	// the partition next.
	for _, q := range w.queues {
		for len(q) > 0 {
			w.p.deliveries.release((<-q).id)
		}
	}
	w.mu.Lock()
	w.p.metrics.pending.Sub(float64(len(w.pending)))
	w.mu.Unlock()
	w.commit()
}

// read reads and dispatches one message; it reports false once the
// generation is over.
func (w *partition) read(ctx context.Context, r *kafka.Reader) bool {
	select {
	case w.slots <- struct{}{}:
	case <-ctx.Done():
		return false
	}
	m, err := r.FetchMessage(ctx)
	if err != nil {
		<-w.slots
		if ctx.Err() != nil {
			return false
		}
		w.logger.Warn("fetch failed, retrying", "err", err.Error())
		return backoff.Sleep(ctx, time.Second)
	}
	tasks, ok := w.p.prepare(ctx, m)
	if !ok { // shutting down before the message was dealt with: not committed
		<-w.slots
		return false
	}
	j := &job{msg: m, left: len(tasks)}
	w.mu.Lock()
	w.pending = append(w.pending, j)
	w.p.metrics.pending.Inc()
	w.mu.Unlock()
	if len(tasks) == 0 {
		w.finish(j)
	}
	for _, t := range tasks {
		t.job = j
		w.queues[t.target.name] <- t // never blocks: a queue holds at most one task per pending job
	}
	return true
}

// work delivers a receiver's notifications in order until the generation
// ends.
func (w *partition) work(ctx context.Context, t *target, q chan *task) {
	for {
		select {
		case <-ctx.Done():
			return
		case tk := <-q:
			if !w.p.deliver(ctx, tk) {
				w.p.deliveries.release(tk.id)
				return
			}
			w.finish(tk.job)
		}
	}
}

// finish marks one task of j finished (or j finished, when it has none)
// and moves the committable offset past the finished prefix.
func (w *partition) finish(j *job) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if j.left > 0 {
		j.left--
	}
	for len(w.pending) > 0 && w.pending[0].left == 0 {
		w.committable = w.pending[0].msg.Offset + 1
		w.pending = w.pending[1:]
		w.p.metrics.pending.Dec()
		<-w.slots
	}
}

func (w *partition) commitEvery(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.commit()
		}
	}
}

// commit commits the committable offset if it moved.
func (w *partition) commit() {
	w.mu.Lock()
	off := w.committable
	w.mu.Unlock()
	if off <= w.committed {
		return
	}
	if err := w.gen.CommitOffsets(map[string]map[int]int64{w.topic: {w.id: off}}); err != nil {
		// The next commit carries it; a pager that reads the partition
		// before that skips what the delivery records say was sent.
		w.logger.Debug("commit failed", "offset", off, "err", err.Error())
		return
	}
	w.committed = off
}

// prepare decodes m and returns the notifications to send, each claimed.
// An invalid alert is dead-lettered; a silenced, unrouted or already
// delivered one needs nothing. It reports false when ctx ended before m
// was dealt with.
func (p *Pager) prepare(ctx context.Context, m kafka.Message) ([]*task, bool) {
	p.metrics.read.Inc()
	var a alert.Alert
	err := json.Unmarshal(m.Value, &a)
	if err == nil {
		err = a.Validate()
	}
	if err != nil {
		p.metrics.invalid.Inc()
		return nil, p.deadLetter(ctx, m, "", reasonInvalid, fmt.Sprintf("not an alert: %v", err), 0)
	}
	if ids := p.silences.Silenced(a, p.now()); len(ids) > 0 {
		p.metrics.silenced.Inc()
		return nil, true
	}
	p.print(a)
	names := p.router.receiversOf(a)
	if len(names) == 0 {
		p.metrics.unrouted.Inc()
		return nil, true
	}
	var tasks []*task
	for _, name := range names {
		t := p.targets[name]
		id := notificationID(p.cfg.Pager.GroupID, name, a.ID)
		if !p.deliveries.claim(id) {
			p.metrics.notifications.WithLabelValues(name, resultDuplicate).Inc()
			continue
		}
		tasks = append(tasks, &task{alert: a, target: t, id: id})
	}
	return tasks, true
}

func (p *Pager) print(a alert.Alert) {
	if p.out == nil {
		return
	}
	p.outMu.Lock()
	defer p.outMu.Unlock()
	_, _ = fmt.Fprintln(p.out, Format(a))
}
