package stream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
)

// GroupOptions tune a consumer group; the zero value takes the defaults.
type GroupOptions struct {
	// SessionTimeout is how long the coordinator waits for a member's
	// heartbeat before it gives the member's partitions to the others.
	// Kafka accepts 6s to 5m by default. Default 10s.
	SessionTimeout time.Duration
	// RebalanceTimeout is how long the coordinator waits for every member
	// to rejoin in a rebalance, so how long a member may take to finish
	// what it holds when its generation ends. Default 30s.
	RebalanceTimeout time.Duration
}

// NewConsumerGroup returns a consumer group of topics, for consumers that
// must finish their work on a partition before another member takes it:
// each generation waits for the functions started on it (Generation.Start)
// to return before the member rejoins. Partitions without a committed
// offset start at the first offset.
func (c *Client) NewConsumerGroup(groupID string, topics []string, o GroupOptions) (*kafka.ConsumerGroup, error) {
	if o.SessionTimeout == 0 {
		o.SessionTimeout = 10 * time.Second
	}
	if o.RebalanceTimeout == 0 {
		o.RebalanceTimeout = 30 * time.Second
	}
	infoLog, errLog := c.kafkaLoggers("kafka group", "group", groupID)
	return kafka.NewConsumerGroup(kafka.ConsumerGroupConfig{
		ID:                     groupID,
		Brokers:                c.cfg.Brokers,
		Dialer:                 c.dialer(),
		Topics:                 topics,
		HeartbeatInterval:      max(o.SessionTimeout/10, 100*time.Millisecond),
		PartitionWatchInterval: 5 * time.Second,
		WatchPartitionChanges:  true,
		SessionTimeout:         o.SessionTimeout,
		RebalanceTimeout:       o.RebalanceTimeout,
		JoinGroupBackoff:       time.Second,
		StartOffset:            kafka.FirstOffset,
		Logger:                 infoLog,
		ErrorLogger:            errLog,
		Timeout:                c.cfg.DialTimeout,
	})
}

// FollowGroup follows the generations of g until ctx ends or g is closed:
// start is called for every partition each generation assigns (typically
// to run gen.Start), and ready hears nil once a generation began, or why
// joining failed (retried every second).
func FollowGroup(ctx context.Context, g *kafka.ConsumerGroup, logger *slog.Logger, ready func(error),
	start func(gen *kafka.Generation, topic string, pa kafka.PartitionAssignment)) {
	for {
		gen, err := g.Next(ctx)
		if ctx.Err() != nil || errors.Is(err, kafka.ErrGroupClosed) {
			return
		}
		if err != nil {
			ready(fmt.Errorf("consumer group: %w", err))
			logger.Warn("consumer group: retrying", "err", err.Error())
			backoff.Sleep(ctx, time.Second)
			continue
		}
		ready(nil)
		n := 0
		for topic, parts := range gen.Assignments {
			for _, pa := range parts {
				n++
				start(gen, topic, pa)
			}
		}
		logger.Info("partitions assigned", "generation", gen.ID, "member", gen.MemberID, "partitions", n)
	}
}

// CloseGroup leaves g once the functions its generation started have
// returned, or fails when ctx ends first. Safe with a nil g.
func CloseGroup(ctx context.Context, g *kafka.ConsumerGroup) error {
	if g == nil {
		return nil
	}
	closed := make(chan error, 1)
	go func() { closed <- g.Close() }()
	select {
	case err := <-closed:
		return err
	case <-ctx.Done():
		return fmt.Errorf("leaving the consumer group: %w", ctx.Err())
	}
}

// CommitInGeneration commits offsets (the next offset to read, per topic
// and partition) for gen's member in gen: the group refuses them once gen
// has ended. It fails with the first partition the group refused.
func (c *Client) CommitInGeneration(ctx context.Context, gen *kafka.Generation, offsets map[string][]kafka.OffsetCommit) error {
	res, err := c.KafkaClient().OffsetCommit(ctx, &kafka.OffsetCommitRequest{
		GroupID: gen.GroupID, GenerationID: int(gen.ID), MemberID: gen.MemberID, Topics: offsets,
	})
	if err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	for topic, parts := range res.Topics {
		for _, p := range parts {
			if p.Error != nil {
				return fmt.Errorf("commit offset of %s/%d: %w", topic, p.Partition, p.Error)
			}
		}
	}
	return nil
}
