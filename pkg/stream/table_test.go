package stream_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// kv is what a table applied: the newest value per key.
type kv struct {
	mu sync.Mutex
	m  map[string]string
	n  int
}

func (s *kv) apply(m kafka.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m[string(m.Key)] = string(m.Value)
	s.n++
}

func (s *kv) snapshot() (map[string]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]string, len(s.m))
	for k, v := range s.m {
		out[k] = v
	}
	return out, s.n
}

// A table holds every message written before Start once Start returns,
// and every message written before Sync once Sync returns, on every
// partition; it stops at Close.
func TestTableLoadsAndFollows(t *testing.T) {
	k := testkit.Broker(t)
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "vigil.table"
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: topic, Partitions: 3, Compacted: true}))

	var keys, values [][]byte
	want := map[string]string{}
	for i := range 40 {
		key := fmt.Sprintf("k%d", i%13)
		val := fmt.Sprintf("v%d", i)
		keys, values = append(keys, []byte(key)), append(values, []byte(val))
		want[key] = val
	}
	testkit.Produce(t, k, topic, keys, values)

	got := &kv{m: map[string]string{}}
	tbl := c.NewTable(topic, got.apply)
	require.NoError(t, tbl.Start(ctx))
	m, n := got.snapshot()
	require.Equal(t, want, m, "Start returns with everything written before it applied")
	require.Equal(t, 40, n)

	testkit.Produce(t, k, topic, [][]byte{[]byte("k1"), []byte("new")}, [][]byte{[]byte("changed"), []byte("x")})
	require.NoError(t, tbl.Sync(ctx))
	want["k1"], want["new"] = "changed", "x"
	m, n = got.snapshot()
	require.Equal(t, want, m, "Sync returns with everything written before it applied")
	require.Equal(t, 42, n)

	require.NoError(t, tbl.Close())
	require.NoError(t, tbl.Close(), "Close twice is fine")
}

func TestTableOfEmptyAndMissingTopics(t *testing.T) {
	k := testkit.Broker(t)
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: "vigil.empty", Partitions: 2, Compacted: true}))
	got := &kv{m: map[string]string{}}
	tbl := c.NewTable("vigil.empty", got.apply)
	require.NoError(t, tbl.Start(ctx), "an empty topic is loaded at once")
	require.NoError(t, tbl.Sync(ctx))
	require.NoError(t, tbl.Close())

	never := c.NewTable("vigil.never-created", got.apply)
	require.NoError(t, never.Close(), "Close before Start is fine")
	require.Error(t, never.Sync(ctx), "Sync before Start says so")
}

// Sync honours its context when the table cannot catch up (here: it was
// closed, so it reads nothing more).
func TestTableSyncHonoursContext(t *testing.T) {
	k := testkit.Broker(t)
	c := client(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const topic = "vigil.table.closed"
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: topic, Partitions: 1, Compacted: true}))
	got := &kv{m: map[string]string{}}
	tbl := c.NewTable(topic, got.apply)
	require.NoError(t, tbl.Start(ctx))
	require.NoError(t, tbl.Close())
	testkit.Produce(t, k, topic, [][]byte{[]byte("k")}, [][]byte{[]byte("v")})
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	require.ErrorIs(t, tbl.Sync(short), context.DeadlineExceeded)
}
