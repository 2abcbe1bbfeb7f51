package archiver

import (
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// msgs returns messages of topic t on partition p with the given offsets.
func msgs(p int, offsets ...int64) []kafka.Message {
	out := make([]kafka.Message, len(offsets))
	for i, o := range offsets {
		out[i] = kafka.Message{Topic: "t", Partition: p, Offset: o, HighWaterMark: 100}
	}
	return out
}

// An offset is committed only once every batch before it is done, in
// whatever order the batches finish.
func TestCommitsWaitForEveryEarlierBatch(t *testing.T) {
	c := newCommits()
	a := c.track(msgs(0, 0, 1, 2))
	b := c.track(append(msgs(0, 3, 4), msgs(1, 0, 1)...))
	d := c.track(msgs(0, 5))

	require.Equal(t, []kafka.Message{{Topic: "t", Partition: 1, Offset: 1}}, c.done(b),
		"b is the first batch of partition 1, not of partition 0")
	require.Empty(t, c.done(d), "a is not done yet")
	require.Equal(t, []kafka.Message{{Topic: "t", Partition: 0, Offset: 5}}, c.done(a),
		"a done: everything of partition 0 up to d is")
	require.Empty(t, c.queues, "nothing is left to wait for")
	require.Equal(t, int64(94+98), c.lag("t"), "partition 0 read to 5, partition 1 to 1, of 100")
}

// A batch read again after a rebalance never moves a committed offset back.
func TestCommitsNeverMoveBack(t *testing.T) {
	c := newCommits()
	first := c.track(msgs(0, 0, 1, 2, 3))
	again := c.track(msgs(0, 2, 3))
	require.Equal(t, []kafka.Message{{Topic: "t", Partition: 0, Offset: 3}}, c.done(first))
	require.Empty(t, c.done(again))
	next := c.track(msgs(0, 4))
	require.Equal(t, []kafka.Message{{Topic: "t", Partition: 0, Offset: 4}}, c.done(next))
}

// A partition assigned again starts from what its group committed: offsets
// this archiver counted as committed, but whose commit was skipped (the
// partition's generation had ended), are committed by the batches read
// again.
func TestCommitsStartFromTheGroupsOffsetWhenAssigned(t *testing.T) {
	c := newCommits()
	p := partition{"t", 0}
	c.assigned(p, kafka.FirstOffset)
	first := c.track(msgs(0, 0, 1, 2, 3))
	// Counted as committed; the commit is not made (its generation ended).
	require.Equal(t, []kafka.Message{{Topic: "t", Partition: 0, Offset: 3}}, c.done(first))
	// Assigned again: the group has offset 2 as the next to read.
	c.assigned(p, 2)
	again := c.track(msgs(0, 2, 3))
	require.Equal(t, []kafka.Message{{Topic: "t", Partition: 0, Offset: 3}}, c.done(again))
}
