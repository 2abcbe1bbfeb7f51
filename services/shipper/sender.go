package shipper

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// publishBackoff paces retries of a batch Kafka did not acknowledge.
var publishBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// sender publishes the spool's batches to Kafka, several at once, and
// acknowledges each in the spool once Kafka has all of it. A batch Kafka
// refuses is retried with backoff for as long as it takes: the spool fills
// meanwhile and slows the sources.
type sender struct {
	spool   *spool.Spool
	writer  *kafka.Writer
	metrics *metrics
	logger  *slog.Logger
	wg      sync.WaitGroup
	// failing counts the loops whose last publish failed: while any does,
	// Kafka is taken as unreachable and the spool spills to disk.
	failing atomic.Int32
}

// start runs n publishing loops until ctx ends.
func (s *sender) start(ctx context.Context, n int) {
	for range n {
		s.wg.Go(func() { s.loop(ctx) })
	}
}

// wait returns once every loop has ended.
func (s *sender) wait() { s.wg.Wait() }

func (s *sender) loop(ctx context.Context) {
	var msgs []kafka.Message
	failed := false
	for {
		b, err := s.spool.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, spool.ErrClosed) {
			return
		}
		if err != nil {
			// The batch stays next in the spool; try again.
			s.logger.Error("reading a spooled batch failed; retrying", "err", err.Error())
			if !backoff.Sleep(ctx, publishBackoff.Max) {
				return
			}
			continue
		}
		msgs = msgs[:0]
		for _, m := range b.Msgs {
			msgs = append(msgs, kafka.Message{Key: m.Key, Value: m.Value})
		}
		ok := backoff.Retry(ctx, publishBackoff, s.logger, "publish to kafka", func(ctx context.Context) error {
			err := s.writer.WriteMessages(ctx, msgs...)
			switch {
			case err != nil && ctx.Err() == nil:
				s.metrics.publishRetries.Inc()
				if !failed {
					failed = true
					s.failing.Add(1)
				}
			case err == nil && failed:
				failed = false
				s.failing.Add(-1)
			}
			s.spool.SetSpill(s.failing.Load() > 0)
			return err
		})
		if !ok {
			return // ctx ended: the batch is sent again after a restart
		}
		if err := s.spool.Ack(b.Seq); err != nil {
			s.logger.Warn("spool bookkeeping failed; delivered batches may be sent again after a restart", "err", err.Error())
		}
	}
}
