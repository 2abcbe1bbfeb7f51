package stream

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	metadataAPI "github.com/segmentio/kafka-go/protocol/metadata"
	produceAPI "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/stretchr/testify/require"
)

// countingTransport answers metadata requests with what topics holds (an
// unknown topic gets an error code) and counts every request.
type countingTransport struct {
	topics map[string]int // partitions per topic
	fail   error
	calls  int
}

func (c *countingTransport) RoundTrip(_ context.Context, _ net.Addr, req kafka.Request) (kafka.Response, error) {
	c.calls++
	if c.fail != nil {
		return nil, c.fail
	}
	m, ok := req.(*metadataAPI.Request)
	if !ok {
		return &produceAPI.Response{}, nil
	}
	res := &metadataAPI.Response{}
	for _, name := range m.TopicNames {
		n, known := c.topics[name]
		tp := metadataAPI.ResponseTopic{Name: name}
		if !known {
			tp.ErrorCode = int16(kafka.UnknownTopicOrPartition)
		}
		for i := range n {
			tp.Partitions = append(tp.Partitions, metadataAPI.ResponsePartition{PartitionIndex: int32(i)})
		}
		res.Topics = append(res.Topics, tp)
	}
	return res, nil
}

func TestWriterTransportRemembersPartitionsForATime(t *testing.T) {
	ctx := context.Background()
	addr := kafka.TCP("127.0.0.1:9092")
	meta := func(topic string) kafka.Request { return &metadataAPI.Request{TopicNames: []string{topic}} }
	clock := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name      string
		requests  func(t *testing.T, w *writerTransport, next *countingTransport)
		wantCalls int
	}{
		{"one topic asked a thousand times within the TTL", func(t *testing.T, w *writerTransport, _ *countingTransport) {
			for range 1000 {
				res, err := w.RoundTrip(ctx, addr, meta("events"))
				require.NoError(t, err)
				require.Len(t, res.(*metadataAPI.Response).Topics[0].Partitions, 6)
			}
		}, 1},
		{"asked again once the TTL passed", func(t *testing.T, w *writerTransport, _ *countingTransport) {
			_, _ = w.RoundTrip(ctx, addr, meta("events"))
			clock = clock.Add(writerMetadataTTL)
			_, _ = w.RoundTrip(ctx, addr, meta("events"))
		}, 2},
		{"each topic kept on its own", func(t *testing.T, w *writerTransport, _ *countingTransport) {
			for range 10 {
				_, _ = w.RoundTrip(ctx, addr, meta("events"))
				_, _ = w.RoundTrip(ctx, addr, meta("alerts"))
			}
		}, 2},
		{"an unknown topic is not kept", func(t *testing.T, w *writerTransport, _ *countingTransport) {
			for range 3 {
				res, err := w.RoundTrip(ctx, addr, meta("nope"))
				require.NoError(t, err)
				require.NotZero(t, res.(*metadataAPI.Response).Topics[0].ErrorCode)
			}
		}, 3},
		{"a failed request is not kept", func(t *testing.T, w *writerTransport, next *countingTransport) {
			next.fail = errors.New("broker down")
			_, err := w.RoundTrip(ctx, addr, meta("events"))
			require.Error(t, err)
			next.fail = nil
			for range 3 {
				_, err = w.RoundTrip(ctx, addr, meta("events"))
				require.NoError(t, err)
			}
		}, 2},
		{"topic creation, several topics and other requests pass through", func(t *testing.T, w *writerTransport, _ *countingTransport) {
			for range 2 {
				_, _ = w.RoundTrip(ctx, addr, &metadataAPI.Request{TopicNames: []string{"events"}, AllowAutoTopicCreation: true})
				_, _ = w.RoundTrip(ctx, addr, &metadataAPI.Request{TopicNames: []string{"events", "alerts"}})
				_, _ = w.RoundTrip(ctx, addr, &produceAPI.Request{})
			}
		}, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &countingTransport{topics: map[string]int{"events": 6, "alerts": 3}}
			w := newWriterTransport(next)
			w.now = func() time.Time { return clock }
			tt.requests(t, w, next)
			require.Equal(t, tt.wantCalls, next.calls)
		})
	}
}
