package testkit

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/stream"
)

// ReadAll returns every message now in topic, partition by partition, in
// offset order within each partition. A missing topic has no messages.
func ReadAll(t testing.TB, cfg config.KafkaConfig, topic string) []kafka.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := kafka.DialContext(ctx, "tcp", cfg.Brokers[0])
	require.NoError(t, err)
	parts, err := conn.ReadPartitions(topic)
	conn.Close()
	if err != nil {
		return nil
	}
	var out []kafka.Message
	for _, p := range parts {
		out = append(out, readPartition(t, cfg, topic, p.ID)...)
	}
	return out
}

// readPartition reads a partition from its first offset to its end, in
// large fetches, each with its own deadline (a big topic takes a while).
func readPartition(t testing.TB, cfg config.KafkaConfig, topic string, partition int) []kafka.Message {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	pc, err := kafka.DialLeader(ctx, "tcp", cfg.Brokers[0], topic, partition)
	require.NoError(t, err)
	defer pc.Close()
	last, err := pc.ReadLastOffset()
	require.NoError(t, err)
	first, err := pc.ReadFirstOffset()
	require.NoError(t, err)
	var out []kafka.Message
	for off := first; off < last; {
		_, err = pc.Seek(off, kafka.SeekAbsolute)
		require.NoError(t, err)
		require.NoError(t, pc.SetReadDeadline(time.Now().Add(30*time.Second)))
		batch := pc.ReadBatch(1, 64<<20)
		from := off
		for {
			m, err := batch.ReadMessage()
			if err != nil {
				break
			}
			out = append(out, m)
			off = m.Offset + 1
		}
		if err := batch.Close(); err != nil && !errors.Is(err, io.EOF) {
			require.NoError(t, err, "read %s/%d at %d", topic, partition, off)
		}
		require.Greater(t, off, from, "read %s/%d: no message at %d (end %d)", topic, partition, off, last)
	}
	return out
}

// Produce writes values to topic, keyed by keys[i] when keys is not nil,
// and waits until every one is acknowledged.
func Produce(t testing.TB, cfg config.KafkaConfig, topic string, keys, values [][]byte) {
	t.Helper()
	w := &kafka.Writer{
		Addr: kafka.TCP(cfg.Brokers...), Topic: topic, Balancer: kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchSize: 1000, BatchTimeout: 5 * time.Millisecond,
		AllowAutoTopicCreation: true,
	}
	defer w.Close()
	msgs := make([]kafka.Message, len(values))
	for i, v := range values {
		msgs[i].Value = v
		if keys != nil {
			msgs[i].Key = keys[i]
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))
}

// Topics creates topics with the configured partition count.
func Topics(t testing.TB, cfg config.KafkaConfig, names ...string) {
	t.Helper()
	c, err := stream.NewClient(cfg)
	require.NoError(t, err)
	defer c.Close()
	ts := make([]stream.Topic, len(names))
	for i, n := range names {
		ts[i] = stream.Topic{Name: n, Partitions: cfg.Partitions}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.EnsureTopics(ctx, ts...))
}

// GoleakOptions are the background goroutines kafka-go leaves behind for a
// while after its clients close; tests of Kafka code pass them to
// goleak.VerifyTestMain.
func GoleakOptions() []goleak.Option {
	return []goleak.Option{
		// Idle connections' goroutines run until they time out.
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*conn).run"),
		// The transport pool refreshes metadata until its connections idle out.
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		// A transport's idle connections are closed asynchronously.
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*Transport).CloseIdleConnections"),
		// Readers and writers back off with time.Sleep in goroutines that end on their own.
		goleak.IgnoreTopFunction("time.Sleep"),
		// Connections blocked in a read until their deadline passes.
		goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"),
	}
}

// Committed returns a consumer group's committed offset for each of the
// configured number of partitions of topic; -1 means none.
func Committed(t testing.TB, cfg config.KafkaConfig, group, topic string) map[int]int64 {
	t.Helper()
	parts := make([]int, cfg.Partitions)
	for i := range parts {
		parts[i] = i
	}
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := kafka.Client{Addr: kafka.TCP(cfg.Brokers...), Timeout: 10 * time.Second, Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cl.OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: group, Topics: map[string][]int{topic: parts}})
	require.NoError(t, err)
	require.NoError(t, res.Error)
	require.Len(t, res.Topics[topic], len(parts))
	out := map[int]int64{}
	for _, p := range res.Topics[topic] {
		require.NoError(t, p.Error)
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// CommittedSum is the sum of a group's committed offsets over topic's
// partitions, a partition without a commit counting as 0: for a topic that
// started empty, the number of messages committed.
func CommittedSum(t testing.TB, cfg config.KafkaConfig, group, topic string) int64 {
	t.Helper()
	var sum int64
	for _, off := range Committed(t, cfg, group, topic) {
		sum += max(off, 0)
	}
	return sum
}
