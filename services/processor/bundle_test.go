package processor

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
)

// Bundles keep every event's stage and offset, in order, go to the
// partition each key hashes to, and are sealed at bundleBytes.
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
	for i := range 100 {
		key := fmt.Sprintf("user-%d", i%7)
		ev := append(fmt.Appendf(nil, "event %d ", i), big...)
		b.add(i%2, key, int64(1000+i), ev)
		to := kafka.Murmur2Balancer{}.Balance(kafka.Message{Key: []byte(key)}, 0, 1, 2, 3, 4, 5)
		want[to] = append(want[to], item{stages[i%2], int64(1000 + i), string(ev)})
	}
	require.Equal(t, 100, b.items)
	msgs := b.take(nil)
	require.Zero(t, b.items)
	require.Empty(t, b.take(nil), "taken")
	got := map[int][]item{}
	for _, m := range msgs {
		require.LessOrEqual(t, len(m.Value), bundleBytes+11_000, "sealed at bundleBytes")
		r, err := parseRekeyed(&m)
		require.NoError(t, err)
		require.Equal(t, rekeyed{bundle: true, from: 3}, r)
		to := toPartition{}.Balance(m, 0, 1, 2, 3, 4, 5)
		require.NoError(t, readBundle(m.Value, func(it bundleItem) error {
			got[to] = append(got[to], item{it.stage, it.offset, string(it.event)})
			return nil
		}))
	}
	require.Greater(t, len(msgs), len(want), "some partitions' bundles were sealed early")
	require.Equal(t, want, got)
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
