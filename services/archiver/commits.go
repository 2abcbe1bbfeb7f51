package archiver

import (
	"sync"

	"github.com/segmentio/kafka-go"
)

// commits keeps, per partition, the batches holding its messages in the
// order they were sealed, so that an offset is committed only once every
// batch up to it is inserted, whatever order parallel inserts finish in.
type commits struct {
	mu     sync.Mutex
	queues map[partition][]*mark
	// committed is the highest offset committed per partition: a batch
	// read again after a rebalance never moves it back.
	committed map[partition]int64
	// lags is the distance to the end of each partition as last read.
	lags map[partition]int64
}

type partition struct {
	topic string
	id    int
}

// mark is a batch's place in one partition: the highest offset of that
// partition it holds, and whether the batch is done.
type mark struct {
	partition
	offset int64
	done   bool
}

func newCommits() *commits {
	return &commits{queues: map[partition][]*mark{}, committed: map[partition]int64{}, lags: map[partition]int64{}}
}

// track queues a batch of msgs, returning its marks.
func (c *commits) track(msgs []kafka.Message) []*mark {
	c.mu.Lock()
	defer c.mu.Unlock()
	byPartition := map[partition]*mark{}
	var marks []*mark
	for _, m := range msgs {
		p := partition{m.Topic, m.Partition}
		mk := byPartition[p]
		if mk == nil {
			mk = &mark{partition: p, offset: m.Offset}
			byPartition[p] = mk
			marks = append(marks, mk)
		}
		mk.offset = max(mk.offset, m.Offset)
		c.lags[p] = max(m.HighWaterMark-m.Offset-1, 0)
	}
	for _, mk := range marks {
		c.queues[mk.partition] = append(c.queues[mk.partition], mk)
	}
	return marks
}

// assigned takes, for partition p newly assigned to this archiver, the
// offset its consumer group has committed (next, the offset to read next;
// negative when none) as the highest committed: one this archiver
// counted as committed may not have been (its generation had ended), and
// the batches read again from there must commit it.
func (c *commits) assigned(p partition, next int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if next < 0 {
		delete(c.committed, p)
		return
	}
	c.committed[p] = next - 1
}

// lag is how far behind the end of topic's partitions reading is, as of
// the last message read from each.
func (c *commits) lag(topic string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	var sum int64
	for p, l := range c.lags {
		if p.topic == topic {
			sum += l
		}
	}
	return sum
}

// done marks a batch done and returns, for each partition it holds, the
// message whose offset is now the highest below which every batch is
// done, when that moved forward.
func (c *commits) done(marks []*mark) []kafka.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var ready []kafka.Message
	for _, mk := range marks {
		mk.done = true
	}
	for _, mk := range marks {
		q := c.queues[mk.partition]
		last := int64(-1)
		for len(q) > 0 && q[0].done {
			last = max(last, q[0].offset)
			q = q[1:]
		}
		if len(q) == 0 {
			delete(c.queues, mk.partition)
		} else {
			c.queues[mk.partition] = q
		}
		if prev, ok := c.committed[mk.partition]; last < 0 || ok && last <= prev {
			continue
		}
		c.committed[mk.partition] = last
		ready = append(ready, kafka.Message{Topic: mk.topic, Partition: mk.id, Offset: last})
	}
	return ready
}
