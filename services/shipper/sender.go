package shipper

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// publishBackoff paces retries of a batch Kafka did not acknowledge.
var publishBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// sender publishes the spool's batches to Kafka and acknowledges each in
// the spool once Kafka has all of it.
//
// Batches are handed to the writer one at a time, in the spool's order,
// and the writer sends each partition's messages in the order it was
// handed them: a partition holds a source's lines in the order they were
// read, which the processor's event-time windows rely on. Up to n batches
// await Kafka's acknowledgement at once. A batch Kafka refuses is retried
// with backoff for as long as it takes, while later batches go on; only
// then can a partition's messages land out of order. The spool fills
// meanwhile and slows the sources.
type sender struct {
	spool   *spool.Spool
	writer  *kafka.Writer
	metrics *metrics
	logger  *slog.Logger

	ctx   context.Context
	slots chan struct{} // one per batch awaiting acknowledgement
	// mu guards stopped; running counts the dispatcher and the batches
	// being acknowledged or retried, none of which starts once stopped.
	mu      sync.Mutex
	stopped bool
	running sync.WaitGroup
	// failing counts the batches whose last publish failed: while any
	// does, Kafka is taken as unreachable and the spool spills to disk.
	failMu  sync.Mutex
	failing int
}

// newSender returns a sender for sp through w, which it makes
// asynchronous: WriteMessages only queues, and w's Completion reports
// each partition's acknowledgement to the sender.
func newSender(sp *spool.Spool, w *kafka.Writer, m *metrics, logger *slog.Logger) *sender {
	s := &sender{spool: sp, writer: w, metrics: m, logger: logger}
	w.Async = true
	w.Completion = s.completed
	return s
}

// flight is one spool batch on its way to Kafka.
type flight struct {
	seq uint64
	mu  sync.Mutex
	// left counts the messages of the current attempt not yet completed;
	// failed holds those Kafka did not acknowledge.
	left    int
	failed  []kafka.Message
	err     error // why the last of failed was refused
	rounds  int   // attempts Kafka refused part of, for the pause
	failing bool  // counted in sender.failing
}

// start publishes batches, up to n awaiting acknowledgement, until ctx
// ends.
func (s *sender) start(ctx context.Context, n int) {
	s.ctx = ctx
	s.slots = make(chan struct{}, n)
	s.running.Add(1)
	go s.dispatch()
}

// wait returns once the sender has stopped: after it, no batch is
// acknowledged in the spool. Batches still unacknowledged are sent again
// after a restart.
func (s *sender) wait() {
	s.mu.Lock()
	s.stopped = true
	s.mu.Unlock()
	s.running.Wait()
}

// dispatch hands the spool's batches to the writer in order.
func (s *sender) dispatch() {
	defer s.running.Done()
	for {
		select {
		case s.slots <- struct{}{}:
		case <-s.ctx.Done():
			return
		}
		b, err := s.spool.Next(s.ctx)
		if s.ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
			return
		}
		if err != nil {
			// The batch stays next in the spool; try again.
			<-s.slots
			s.logger.Error("reading a spooled batch failed; retrying", "err", err.Error())
			if !backoff.Sleep(s.ctx, publishBackoff.Max) {
				return
			}
			continue
		}
		f := &flight{seq: b.Seq}
		msgs := make([]kafka.Message, len(b.Msgs))
		for i, m := range b.Msgs {
			msgs[i] = kafka.Message{Key: m.Key, Value: m.Value, WriterData: f}
		}
		if len(msgs) == 0 {
			s.acknowledge(f)
			continue
		}
		if !s.send(f, msgs) {
			return
		}
	}
}

// send queues msgs, the messages of f not yet acknowledged, retrying
// while the writer refuses them (it cannot learn the topic's partitions);
// false when the sender stopped first.
func (s *sender) send(f *flight, msgs []kafka.Message) bool {
	f.mu.Lock()
	f.left, f.failed = len(msgs), nil
	f.mu.Unlock()
	return backoff.Retry(s.ctx, publishBackoff, s.logger, "publish to kafka", func(context.Context) error {
		err := s.writer.WriteMessages(s.ctx, msgs...)
		if err != nil && s.ctx.Err() == nil {
			s.metrics.publishRetries.Inc()
			s.setFailing(f, true, err)
		}
		return err
	})
}

// completed is the writer's report of a partition's messages: written,
// or refused after the writer's own attempts. It runs on the writer's
// goroutine for that partition, so it only counts.
func (s *sender) completed(msgs []kafka.Message, err error) {
	for i := range msgs {
		f, ok := msgs[i].WriterData.(*flight)
		if !ok {
			continue
		}
		f.mu.Lock()
		if err != nil {
			m := msgs[i]
			// Sent again through a writer bound to its topic.
			m.Topic, m.Partition, m.Offset, m.Time = "", 0, 0, time.Time{}
			f.failed, f.err = append(f.failed, m), err
		}
		f.left--
		done := f.left == 0
		f.mu.Unlock()
		if done {
			s.landed(f)
		}
	}
}

// landed runs once every message of f's attempt completed: f is
// acknowledged, or what Kafka refused is sent again after a pause.
func (s *sender) landed(f *flight) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return // sent again after a restart
	}
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		if len(f.failed) == 0 {
			s.setFailing(f, false, nil)
			s.acknowledge(f)
			return
		}
		s.metrics.publishRetries.Inc()
		s.setFailing(f, true, f.err)
		pause := publishBackoff.Wait(f.rounds)
		f.rounds++
		if backoff.Sleep(s.ctx, pause) {
			s.send(f, f.failed)
		}
	}()
}

// acknowledge records f delivered in the spool and frees its slot.
func (s *sender) acknowledge(f *flight) {
	if err := s.spool.Ack(f.seq); err != nil {
		s.logger.Warn("spool bookkeeping failed; delivered batches may be sent again after a restart", "err", err.Error())
	}
	<-s.slots
}

// setFailing records whether f's last publish failed (with err), and
// spills the spool to disk while any batch's did. It logs when Kafka
// starts refusing batches and when it takes them again, not every retry.
func (s *sender) setFailing(f *flight, failing bool, err error) {
	f.mu.Lock()
	changed := f.failing != failing
	f.failing = failing
	f.mu.Unlock()
	if !changed {
		return
	}
	s.failMu.Lock()
	defer s.failMu.Unlock()
	before := s.failing
	if failing {
		s.failing++
	} else {
		s.failing--
	}
	switch {
	case before == 0 && s.failing > 0:
		s.logger.Warn("kafka refuses batches; retrying them with backoff, spooling to disk meanwhile", "err", err.Error())
	case before > 0 && s.failing == 0:
		s.logger.Info("kafka accepts batches again")
	}
	s.spool.SetSpill(s.failing > 0)
}
