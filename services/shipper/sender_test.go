package shipper

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// Many small batches, several awaiting Kafka at once: every partition
// holds its messages in the order they were spooled, each once, and the
// spool's callbacks run for every batch.
func TestSenderKeepsEachPartitionsOrder(t *testing.T) {
	const (
		batches  = 400
		perBatch = 25
		keys     = 40
	)
	k := testkit.Broker(t)
	testkit.Topics(t, k, k.Topics.Events)
	sp, err := spool.Open(spool.Options{Dir: t.TempDir()})
	require.NoError(t, err)
	defer sp.Close()
	client, err := stream.NewClient(k)
	require.NoError(t, err)
	defer client.Close()
	w, err := client.NewWriter(k.Topics.Events, stream.WriterOptions{BatchSize: 100})
	require.NoError(t, err)
	defer w.Close()

	snd := newSender(sp, w, newMetrics(nil), testkit.Logger(t))
	ctx, cancel := context.WithCancel(context.Background())
	snd.start(ctx, 8)
	defer func() { cancel(); snd.wait() }()

	var acked atomic.Int64
	n := uint64(0)
	for range batches {
		msgs := make([]spool.Msg, perBatch)
		for i := range msgs {
			v := binary.BigEndian.AppendUint64(nil, n)
			msgs[i] = spool.Msg{Key: fmt.Appendf(nil, "key-%d", n%keys), Value: v}
			n++
		}
		require.NoError(t, sp.Append(ctx, msgs, func() { acked.Add(1) }, false))
	}
	wctx, wcancel := context.WithTimeout(ctx, time.Minute)
	defer wcancel()
	require.NoError(t, sp.Wait(wctx))
	cancel()
	snd.wait() // every acknowledgement's callback has run
	require.Equal(t, int64(batches), acked.Load())

	got := testkit.ReadAll(t, k, k.Topics.Events)
	require.Len(t, got, batches*perBatch)
	last := map[int]uint64{}
	seen := map[uint64]bool{}
	for _, m := range got {
		v := binary.BigEndian.Uint64(m.Value)
		require.False(t, seen[v], "message %d twice", v)
		seen[v] = true
		if prev, ok := last[m.Partition]; ok {
			require.Greater(t, v, prev, "partition %d: message %d after %d", m.Partition, v, prev)
		}
		last[m.Partition] = v
	}
}
