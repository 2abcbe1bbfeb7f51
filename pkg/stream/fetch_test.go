package stream_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// fetchValue is message i's value, of letters that do not compress to
// nothing: mostly short, one empty, three larger than the room a value is
// first read into (one by many times).
func fetchValue(i int) []byte {
	size := i % 300
	switch i {
	case 7:
		return nil
	case 100:
		size = 200 << 10
	case 101:
		size = 70 << 10
	case 2500:
		size = 900 << 10
	}
	rng := rand.New(rand.NewPCG(uint64(i), 3))
	v := fmt.Appendf(nil, "%d:", i)
	for range size {
		v = append(v, byte('a'+rng.IntN(26)))
	}
	return v
}

// produceFetch writes messages from..to-1 (keyed, with a header) to
// partition 0 of topic through a compressing writer, in several batches.
func produceFetch(t *testing.T, c *stream.Client, topic string, from, to int) {
	t.Helper()
	w, err := c.NewWriter(topic, stream.WriterOptions{BatchSize: 400})
	require.NoError(t, err)
	defer w.Close()
	var msgs []kafka.Message
	for i := from; i < to; i++ {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "k%d", i), Value: fetchValue(i),
			Headers: []kafka.Header{{Key: "h", Value: fmt.Appendf(nil, "%d", i)}}})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, w.WriteMessages(ctx, msgs...))
}

// fetchTopic starts a broker with a one-partition topic holding messages
// 0..n-1, and returns its configuration with a client of it.
func fetchTopic(t *testing.T, topic string, n int) (config.KafkaConfig, *stream.Client) {
	t.Helper()
	k := testkit.Broker(t)
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: topic, Partitions: 1}))
	produceFetch(t, c, topic, 0, n)
	return k, c
}

// collect runs ReadPartition from offset (reading whole messages or
// values) until n messages arrived and returns them, with the size of the
// largest run.
func collect(c *stream.Client, topic string, offset int64, n int, whole bool) ([]kafka.Message, int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var got []kafka.Message
	largest := 0
	done := errors.New("done")
	err := c.ReadPartition(ctx, topic, 0, offset, func(_ context.Context, run []kafka.Message) error {
		largest = max(largest, len(run))
		got = append(got, run...)
		if len(got) >= n {
			return done
		}
		return nil
	}, stream.ReadOptions{Whole: whole})
	if !errors.Is(err, done) {
		return got, largest, fmt.Errorf("read ended with %v, not deliver's error", err)
	}
	return got, largest, nil
}

// ReadPartition hands over every message from the offset asked, in order,
// with its offset, high-water mark and exact value, whatever its size; and
// messages produced later, when it started at the end.
func TestReadPartition(t *testing.T) {
	const topic, n = "vigil.fetch", 3000
	_, c := fetchTopic(t, topic, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	check := func(got []kafka.Message, from int, whole bool) {
		t.Helper()
		for i, m := range got {
			want := from + i
			require.Equal(t, int64(want), m.Offset)
			require.Equal(t, topic, m.Topic)
			require.Equal(t, 0, m.Partition)
			require.Equal(t, len(fetchValue(want)), len(m.Value), "offset %d", want)
			require.True(t, bytes.Equal(fetchValue(want), m.Value), "value of offset %d", want)
			if whole {
				require.Equal(t, fmt.Sprintf("k%d", want), string(m.Key))
				require.Equal(t, []kafka.Header{{Key: "h", Value: fmt.Appendf(nil, "%d", want)}}, m.Headers)
			} else {
				require.Nil(t, m.Key)
				require.Nil(t, m.Headers)
			}
		}
	}
	for _, whole := range []bool{false, true} {
		read := func(offset int64, n int) []kafka.Message {
			t.Helper()
			got, largest, err := collect(c, topic, offset, n, whole)
			require.NoError(t, err)
			require.LessOrEqual(t, largest, stream.RunSize)
			return got
		}
		all := read(kafka.FirstOffset, n)
		require.Equal(t, n, len(all))
		check(all, 0, whole)
		require.Equal(t, int64(n), all[0].HighWaterMark)

		// From the middle of a producer's batch: nothing before it.
		mid := read(1234, n-1234)
		require.Equal(t, n-1234, len(mid))
		check(mid, 1234, whole)
	}

	// From the end (and from past it): what is produced afterwards.
	for _, start := range []int64{kafka.LastOffset, n + 50} {
		type result struct {
			msgs []kafka.Message
			err  error
		}
		got := make(chan result, 1)
		go func() {
			msgs, _, err := collect(c, topic, start, 5, false)
			got <- result{msgs, err}
		}()
		time.Sleep(500 * time.Millisecond) // reading waits at the end
		ends, err := c.EndOffsets(ctx, topic)
		require.NoError(t, err)
		end := int(ends[0])
		produceFetch(t, c, topic, end, end+5)
		later := <-got
		require.NoError(t, later.err)
		require.Equal(t, 5, len(later.msgs))
		check(later.msgs, end, false)
	}

	// Whole messages, keys and headers too, when they are needed; an
	// offset past the end is left out.
	whole, err := c.ReadMessagesAt(ctx, topic, 0, []int64{3, 1501, 1502, 2999, n + 100})
	require.NoError(t, err)
	require.Len(t, whole, 4)
	for _, off := range []int64{3, 1501, 1502, 2999} {
		m := whole[off]
		require.Equal(t, off, m.Offset)
		require.Equal(t, fmt.Sprintf("k%d", off), string(m.Key))
		require.Equal(t, fetchValue(int(off)), m.Value)
		require.Equal(t, []kafka.Header{{Key: "h", Value: fmt.Appendf(nil, "%d", off)}}, m.Headers)
	}
}

// brittleConn fails every read once its budget of bytes is spent, as a
// connection cut in the middle of a response does.
type brittleConn struct {
	net.Conn
	budget int
	cut    *atomic.Bool // set when it is cut, if not nil
}

var errCut = errors.New("connection cut")

func (c *brittleConn) Read(b []byte) (int, error) {
	if c.budget <= 0 {
		if c.cut != nil {
			c.cut.Store(true)
		}
		return 0, errCut
	}
	n, err := c.Conn.Read(b[:min(len(b), c.budget)])
	c.budget -= n
	return n, err
}

// cutOnce returns a client of k whose connections are cut after budget
// bytes each until one has been.
func cutOnce(t *testing.T, k config.KafkaConfig, budget int) *stream.Client {
	t.Helper()
	var cut atomic.Bool
	var d net.Dialer
	c, err := stream.NewClient(k, stream.WithDial(func(ctx context.Context, network, address string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, address)
		if err != nil || cut.Load() {
			return conn, err
		}
		return &brittleConn{Conn: conn, budget: budget, cut: &cut}, nil
	}))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

// A connection cut at any point (while connecting, in a fetch's header,
// among the messages of the first batch that come before the offset
// asked, in the middle of a batch, between fetches) is reopened where
// reading stopped: nothing before the offset asked, nothing twice,
// nothing skipped; uncompressed or not. And reading whole messages again
// fails or succeeds, whatever the cut.
func TestReadPartitionResumesAfterCutConnections(t *testing.T) {
	for _, compression := range []string{"none", "lz4"} {
		t.Run(compression, func(t *testing.T) {
			const topic, n, start = "vigil.fetch.cut", 3000, 1234
			k := testkit.Broker(t)
			k.Compression = compression
			c := client(t, k)
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: topic, Partitions: 1}))
			produceFetch(t, c, topic, 0, n)

			cuts := 0
			for budget := 500; budget < 3_000_000; budget = budget * 3 / 2 {
				failures := 0
				var got []kafka.Message
				rctx, stop := context.WithCancel(ctx)
				err := cutOnce(t, k, budget).ReadPartition(rctx, topic, 0, start, func(_ context.Context, run []kafka.Message) error {
					got = append(got, run...)
					if len(got) >= n-start {
						stop()
					}
					return nil
				}, stream.ReadOptions{OnError: func(error) { failures++ }})
				stop()
				require.ErrorIs(t, err, context.Canceled)
				require.Equal(t, n-start, len(got), "messages handed over with the first connection cut after %d bytes", budget)
				for i, m := range got {
					require.Equal(t, int64(start+i), m.Offset, "cut after %d bytes", budget)
					require.True(t, bytes.Equal(fetchValue(start+i), m.Value), "value of offset %d", start+i)
				}
				cuts += failures

				whole, err := cutOnce(t, k, budget).ReadMessagesAt(ctx, topic, 0, []int64{5, 2500})
				if err == nil {
					require.Len(t, whole, 2)
					require.Equal(t, fetchValue(2500), whole[2500].Value)
				}
			}
			require.Greater(t, cuts, 10, "connections were cut")
		})
	}
}

// A value larger than a buffer, after smaller ones in its batch, is read
// whole.
func TestReadPartitionLargeValue(t *testing.T) {
	k := testkit.Broker(t)
	c := client(t, k)
	const topic = "vigil.fetch.large"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: topic, Partitions: 1}))
	large := bytes.Repeat([]byte("a"), 3<<20) // LZ4 makes it small enough to produce
	w, err := c.NewWriter(topic, stream.WriterOptions{BatchSize: 100})
	require.NoError(t, err)
	w.BatchBytes = 8 << 20
	var msgs []kafka.Message
	for i := range 10 {
		v := fmt.Appendf(nil, "small %d", i)
		if i == 5 {
			v = large
		}
		msgs = append(msgs, kafka.Message{Value: v})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	require.NoError(t, w.Close())

	got, _, err := collect(c, topic, kafka.FirstOffset, 10, false)
	require.NoError(t, err)
	require.Equal(t, 10, len(got))
	for i, m := range got {
		require.Equal(t, int64(i), m.Offset)
		if i == 5 {
			require.True(t, bytes.Equal(large, m.Value), "the large value")
		} else {
			require.Equal(t, fmt.Sprintf("small %d", i), string(m.Value))
		}
	}
}

// ReadPartition ends when its context does, and ReadMessagesAt finds no
// message at an offset the partition does not have.
func TestReadPartitionStops(t *testing.T) {
	const topic = "vigil.fetch.stop"
	_, c := fetchTopic(t, topic, 10)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rctx, stop := context.WithCancel(ctx)
	read := 0
	ended := make(chan error, 1)
	go func() {
		ended <- c.ReadPartition(rctx, topic, 0, kafka.FirstOffset, func(_ context.Context, run []kafka.Message) error {
			read += len(run)
			if read == 10 {
				stop()
			}
			return nil
		}, stream.ReadOptions{})
	}()
	select {
	case err := <-ended:
		require.ErrorIs(t, err, context.Canceled)
	case <-ctx.Done():
		t.Fatal("ReadPartition did not end with its context")
	}
	require.Equal(t, 10, read)

	gone, err := c.ReadMessagesAt(ctx, topic, 0, []int64{99})
	require.NoError(t, err)
	require.Empty(t, gone)
}
