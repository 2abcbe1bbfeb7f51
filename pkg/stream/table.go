package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
)

// Table follows a topic from its first offset on every partition and hands
// each message to a function: what a process needs to hold a compacted
// topic's newest value per key (silences, delivery records). It reads
// without a consumer group, so every process sees every message.
//
// The partitions are those the topic has at Start; partitions added later
// are not read.
type Table struct {
	c     *Client
	topic string
	apply func(kafka.Message)

	mu      sync.Mutex
	next    map[int]int64 // partition → offset of the next message to apply
	changed chan struct{} // closed and replaced whenever next moves
	readers []*kafka.Reader
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// NewTable returns a table of topic that passes every message to apply, in
// offset order within a partition and from one goroutine per partition;
// apply must be safe for concurrent use when the topic has several
// partitions. Nothing is read before Start.
func (c *Client) NewTable(topic string, apply func(kafka.Message)) *Table {
	return &Table{c: c, topic: topic, apply: apply, next: map[int]int64{}, changed: make(chan struct{})}
}

// Start reads every message now in the topic, then keeps following it
// until Close. It returns once the messages that were there are applied,
// or with ctx's error.
func (t *Table) Start(ctx context.Context) error {
	parts, err := t.partitions(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithCancel(context.Background())
	t.mu.Lock()
	t.cancel = cancel
	for _, p := range parts {
		t.next[p] = 0
		r := t.c.NewPartitionReader(t.topic, p, kafka.FirstOffset)
		t.readers = append(t.readers, r)
		t.wg.Go(func() { t.follow(rctx, r) })
	}
	t.mu.Unlock()
	return t.Sync(ctx)
}

func (t *Table) partitions(ctx context.Context) ([]int, error) { return t.c.Partitions(ctx, t.topic) }

func (t *Table) follow(ctx context.Context, r *kafka.Reader) {
	for {
		m, err := r.FetchMessage(ctx)
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, io.EOF) {
				return
			}
			backoff.Sleep(ctx, 100*time.Millisecond)
			continue
		}
		t.apply(m)
		t.mu.Lock()
		t.next[m.Partition] = m.Offset + 1
		close(t.changed)
		t.changed = make(chan struct{})
		t.mu.Unlock()
	}
}

// Sync waits until every message written to the topic before the call is
// applied, or ctx ends.
func (t *Table) Sync(ctx context.Context) error {
	t.mu.Lock()
	reqs := make([]kafka.OffsetRequest, 0, 2*len(t.next))
	for p := range t.next {
		reqs = append(reqs, kafka.FirstOffsetOf(p), kafka.LastOffsetOf(p))
	}
	t.mu.Unlock()
	if len(reqs) == 0 {
		return errors.New("table " + t.topic + ": not started")
	}
	res, err := t.c.KafkaClient().ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{t.topic: reqs}})
	if err != nil {
		return fmt.Errorf("offsets of %s: %w", t.topic, err)
	}
	want := map[int]kafka.PartitionOffsets{}
	for _, po := range res.Topics[t.topic] {
		if po.Error != nil {
			return fmt.Errorf("offsets of %s/%d: %w", t.topic, po.Partition, po.Error)
		}
		want[po.Partition] = po
	}
	for {
		t.mu.Lock()
		behind := false
		for p, po := range want {
			// A partition whose messages were all deleted has first == last.
			if t.next[p] < po.LastOffset && po.FirstOffset < po.LastOffset {
				behind = true
			}
		}
		changed := t.changed
		t.mu.Unlock()
		if !behind {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("catch up with %s: %w", t.topic, ctx.Err())
		}
	}
}

// Close stops following the topic; safe before Start and more than once.
func (t *Table) Close() error {
	t.mu.Lock()
	cancel, readers := t.cancel, t.readers
	t.cancel, t.readers = nil, nil
	t.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel()
	t.wg.Wait()
	var errs []error
	for _, r := range readers {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// NewPartitionReader returns a reader of one partition, outside any
// consumer group, starting at offset (an offset, kafka.FirstOffset or
// kafka.LastOffset).
func (c *Client) NewPartitionReader(topic string, partition int, offset int64) *kafka.Reader {
	infoLog, errLog := c.kafkaLoggers("kafka reader", "topic", topic, "partition", partition)
	r := kafka.NewReader(kafka.ReaderConfig{
		Logger:         infoLog,
		ErrorLogger:    errLog,
		Brokers:        c.cfg.Brokers,
		Topic:          topic,
		Partition:      partition,
		Dialer:         c.dialer(),
		MinBytes:       1,
		MaxBytes:       16 << 20,
		MaxWait:        250 * time.Millisecond,
		QueueCapacity:  1000,
		ReadBackoffMin: 50 * time.Millisecond,
		ReadBackoffMax: 500 * time.Millisecond,
	})
	// SetOffset fails only on a group reader or a closed one.
	_ = r.SetOffset(offset)
	return r
}

// KafkaClient returns a kafka-go client of the brokers, for the requests
// the readers and writers do not make (offsets, produce to a partition).
func (c *Client) KafkaClient() *kafka.Client {
	return &kafka.Client{Addr: kafka.TCP(c.cfg.Brokers...), Timeout: c.cfg.DialTimeout, Transport: c.transport}
}
