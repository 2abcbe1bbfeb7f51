package stream

import (
	"time"

	"github.com/segmentio/kafka-go"
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
