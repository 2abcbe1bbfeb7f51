package processor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	kafkaproduce "github.com/segmentio/kafka-go/protocol/produce"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// A flush's bundles keep every event's stage and offset, in order, go
// to the partition each key hashes to (one bundle per partition), and
// say when one is due to be written.
func TestBundlesRoundTrip(t *testing.T) {
	stages := []string{"host.name", "user.name"}
	b := newBundler(3, 6, stages)
	type item struct {
		stage  string
		offset int64
		event  string
	}
	want := map[int][]item{}
	big := bytes.Repeat([]byte("x"), 10_000)
	for i := 0; !b.full; i++ {
		key := fmt.Sprintf("user-%d", i%7)
		ev := append(fmt.Appendf(nil, "event %d ", i), big...)
		b.add(i%2, key, int64(1000+i), ev)
		to := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(key)}, 0, 1, 2, 3, 4, 5)
		want[to] = append(want[to], item{stages[i%2], int64(1000 + i), string(ev)})
	}
	require.True(t, b.pending())
	msgs := b.take(nil)
	require.False(t, b.pending())
	require.False(t, b.full)
	require.Empty(t, b.take(nil), "taken")
	got := map[int][]item{}
	for _, m := range msgs {
		require.LessOrEqual(t, len(m.Value), bundleBytes+11_000, "full at bundleBytes")
		r, err := parseRekeyed(&m)
		require.NoError(t, err)
		require.Equal(t, rekeyed{bundle: true, from: 3}, r)
		to := toPartition{}.Balance(m, 0, 1, 2, 3, 4, 5)
		require.NotContains(t, got, to, "one bundle per partition")
		got[to] = []item{}
		require.NoError(t, readBundle(m.Value, func(it bundleItem) error {
			got[to] = append(got[to], item{it.stage, it.offset, string(it.event)})
			return nil
		}))
	}
	require.Equal(t, want, got)
}

// A progress report goes with the bundles of its flush: in a header of
// each, and alone to the partitions without one.
func TestBundlesCarryTheirProgressReport(t *testing.T) {
	b := newBundler(2, 6, []string{"user.name"})
	b.add(0, "alice", 10, []byte("event"))
	ts := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	b.progress(progressReport{eventTime: ts, idle: true})
	require.True(t, b.pending())
	msgs := b.take(nil)
	require.Len(t, msgs, 6, "a message per partition")
	bundles := 0
	seen := map[int]bool{}
	for _, m := range msgs {
		r, err := parseRekeyed(&m)
		require.NoError(t, err)
		require.True(t, r.progress)
		require.Equal(t, 2, r.from)
		require.Equal(t, ts, r.eventTime)
		require.True(t, r.idle)
		seen[toPartition{}.Balance(m, 0, 1, 2, 3, 4, 5)] = true
		if r.bundle {
			bundles++
		}
	}
	require.Equal(t, 1, bundles)
	require.Len(t, seen, 6)
	require.False(t, b.pending(), "the report went with the flush")
}

// failFirstProduce fails the first produce request it sees, as a request
// that failed after the writer's own retries.
type failFirstProduce struct {
	kafka.RoundTripper
	failed atomic.Bool
}

func (f *failFirstProduce) RoundTrip(ctx context.Context, addr net.Addr, req kafka.Request) (kafka.Response, error) {
	if _, ok := req.(*kafkaproduce.Request); ok && f.failed.CompareAndSwap(false, true) {
		return nil, errors.New("produce request failed")
	}
	return f.RoundTripper.RoundTrip(ctx, addr, req)
}

// A flush whose first produce request fails, written again as a task
// does, loses no forwarded event: a receiver that drops offsets at or
// below the highest it counted counts every one (a writer sends several
// messages for one partition in several requests, so two bundles of a
// flush for one partition could land out of order).
func TestFailedFlushLosesNoForwardedEvent(t *testing.T) {
	k := testkit.Broker(t)
	const topic = "bundles"
	testkit.Topics(t, k, topic)
	c, err := stream.NewClient(k)
	require.NoError(t, err)
	defer c.Close()
	w, err := c.NewWriter(topic, writerOptions)
	require.NoError(t, err)
	defer w.Close()
	w.Balancer = toPartition{}
	w.Transport = &failFirstProduce{RoundTripper: &kafka.Transport{}}

	b := newBundler(0, k.Partitions, []string{"host.name"})
	ev := bytes.Repeat([]byte{1}, 160)
	items := 0
	for range 3 { // three flushes, each of one partition's full bundle
		for !b.full {
			b.add(0, "busy-host", int64(items), ev)
			items++
		}
		msgs := b.take(nil)
		for writeWhole(context.Background(), w, msgs) != nil {
		}
	}

	ends, err := c.EndOffsets(context.Background(), topic)
	require.NoError(t, err)
	to := b.partition("busy-host")
	r := c.NewPartitionReader(topic, to, kafka.FirstOffset)
	defer r.Close()
	high, counted := int64(-1), 0
	for {
		m, err := r.FetchMessage(context.Background())
		require.NoError(t, err)
		require.NoError(t, readBundle(m.Value, func(it bundleItem) error {
			if it.offset > high {
				high = it.offset
				counted++
			}
			return nil
		}))
		if m.Offset == ends[to]-1 {
			break
		}
	}
	require.Equal(t, items, counted, "every event counted once")
}

func TestBadBundles(t *testing.T) {
	b := newBundler(0, 1, []string{"user.name"})
	b.add(0, "alice", 5, []byte("event"))
	good := b.take(nil)[0].Value
	for name, v := range map[string][]byte{
		"empty":           {},
		"not a bundle":    []byte("{}"),
		"cut":             good[:len(good)-2],
		"too many stages": {bundleV1, 200},
		"unknown stage":   append(good[:len(good)-8:len(good)-8], 1, 5, 5, 'e', 'v', 'e', 'n', 't'),
	} {
		t.Run(name, func(t *testing.T) {
			require.ErrorIs(t, readBundle(v, func(bundleItem) error { return nil }), errBundle)
		})
	}
	stop := errors.New("stop")
	require.ErrorIs(t, readBundle(good, func(bundleItem) error { return stop }), stop, "fn's error")
}

func FuzzReadBundle(f *testing.F) {
	b := newBundler(0, 1, []string{"host.name", "user.name"})
	b.add(0, "h", 1, []byte("one"))
	b.add(1, "h", 2, []byte("two"))
	f.Add(b.take(nil)[0].Value)
	f.Add([]byte{bundleV1, 0})
	f.Fuzz(func(t *testing.T, v []byte) {
		var items []bundleItem
		err := readBundle(v, func(it bundleItem) error {
			if it.offset < 0 {
				t.Fatalf("negative offset %d", it.offset)
			}
			items = append(items, it)
			return nil
		})
		if err != nil || len(items) == 0 {
			return
		}
		// What was read bundles again into the same items.
		var stages []string
		for _, it := range items {
			if !slices.Contains(stages, it.stage) {
				stages = append(stages, it.stage)
			}
		}
		b := newBundler(0, 1, stages)
		for _, it := range items {
			b.add(slices.Index(stages, it.stage), "k", it.offset, it.event)
		}
		var again []bundleItem
		for _, m := range b.take(nil) {
			require.NoError(t, readBundle(m.Value, func(it bundleItem) error {
				again = append(again, it)
				return nil
			}))
		}
		require.Equal(t, items, again)
	})
}
