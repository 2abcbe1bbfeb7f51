package processor

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestForwardedMessagesRoundTrip(t *testing.T) {
	src := kafka.Message{Partition: 4, Offset: 12345, Value: []byte(`{"event.id":"x"}`)}
	m := forwardMessage("user.name", "alice", src.Value, &src)
	require.Equal(t, "alice", string(m.Key))
	require.Equal(t, src.Value, m.Value)
	r, err := parseRekeyed(&m)
	require.NoError(t, err)
	require.Equal(t, rekeyed{stage: "user.name", from: 4, offset: 12345}, r)

	ts := time.Date(2026, 3, 2, 9, 0, 0, 123, time.UTC)
	for _, idle := range []bool{false, true} {
		p := progressMessage(2, 5, ts, idle)
		require.Equal(t, 5, toPartition{}.Balance(p, 0, 1, 2, 3, 4, 5), "a progress report goes to the partition it names")
		r, err := parseRekeyed(&p)
		require.NoError(t, err)
		require.Equal(t, rekeyed{progress: true, from: 2, eventTime: ts, idle: idle}, r)
	}
	p := progressMessage(1, 0, time.Time{}, false)
	r, err = parseRekeyed(&p)
	require.NoError(t, err)
	require.True(t, r.eventTime.IsZero(), "nothing read yet")
}

func TestBalancerHashesKeysLikeTheShipper(t *testing.T) {
	m := kafka.Message{Key: []byte("alice")}
	parts := []int{0, 1, 2, 3, 4, 5}
	require.Equal(t, kafka.Murmur2Balancer{}.Balance(m, parts...), toPartition{}.Balance(m, parts...))
	// A partition the topic does not have falls back to the key's.
	m.Headers = []kafka.Header{{Key: hdrTo, Value: []byte("9")}}
	require.Equal(t, kafka.Murmur2Balancer{}.Balance(m, parts...), toPartition{}.Balance(m, parts...))
}

func TestBadRepartitionMessages(t *testing.T) {
	for name, m := range map[string]kafka.Message{
		"no headers":       {Value: []byte("x")},
		"stage, no origin": {Headers: []kafka.Header{{Key: hdrStage, Value: []byte("user.name")}}},
		"bad origin":       {Headers: []kafka.Header{{Key: hdrStage, Value: []byte("u")}, {Key: hdrFrom, Value: []byte("1-2")}}},
		"bad offset":       {Headers: []kafka.Header{{Key: hdrStage, Value: []byte("u")}, {Key: hdrFrom, Value: []byte("1/x")}}},
		"bad progress":     {Value: []byte("12 2"), Headers: []kafka.Header{{Key: hdrProgress, Value: []byte("1")}}},
		"bad progress src": {Value: []byte("12 0"), Headers: []kafka.Header{{Key: hdrProgress, Value: []byte("one")}}},
		"progress no flag": {Value: []byte("12"), Headers: []kafka.Header{{Key: hdrProgress, Value: []byte("1")}}},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseRekeyed(&m)
			require.ErrorIs(t, err, errNotRekeyed)
		})
	}
}

// A re-keyed task counts an event forwarded in the binary form, one
// forwarded as JSON (as before the binary form) and the events of a
// bundle, counts as invalid a value that is neither, and counts a bundle
// read again as copies.
func TestRekeyedTaskReadsBinaryAndJSON(t *testing.T) {
	p, err := New(service.Deps{Config: config.Default(), Logger: testkit.Logger(t)})
	require.NoError(t, err)
	p.partitions = p.cfg.Kafka.Partitions // as connect finds them
	tk := newTask(p, &kafka.Generation{}, p.repartition, 0)
	require.NoError(t, tk.reset(0))
	login := func(i int) *event.Event {
		e := testkit.FailedLogin("203.0.113.9", time.Date(2026, 3, 2, 9, 0, i, 0, time.UTC))
		e.Outcome, e.User = event.OutcomeSuccess, "alice"
		return e
	}
	forwarded := func(offset int64, value []byte) *kafka.Message {
		src := kafka.Message{Partition: 0, Offset: offset}
		m := forwardMessage("user.name", "alice", value, &src)
		return &m
	}
	counted := func() float64 { return testutil.ToFloat64(p.metrics.results[detect.Counted]) }

	tk.handle(forwarded(1, event.AppendBinary(nil, login(1))), time.Now())
	require.Equal(t, 1.0, counted(), "binary")
	asJSON, err := event.Encode(login(2))
	require.NoError(t, err)
	tk.handle(forwarded(2, asJSON), time.Now())
	require.Equal(t, 2.0, counted(), "JSON")
	require.Zero(t, testutil.ToFloat64(p.metrics.invalid))
	tk.handle(forwarded(3, []byte{1, 2, 3}), time.Now())
	require.Equal(t, 2.0, counted())
	require.Equal(t, 1.0, testutil.ToFloat64(p.metrics.invalid), "neither")

	b := newBundler(0, p.partitions, p.topo.stageNames())
	for i := 4; i <= 6; i++ {
		b.add(slices.Index(p.topo.stageNames(), "user.name"), "alice", int64(i), event.AppendBinary(nil, login(i)))
	}
	bundles := b.take(nil)
	require.Len(t, bundles, 1)
	tk.handle(&bundles[0], time.Now())
	require.Equal(t, 5.0, counted(), "bundled")
	tk.handle(&bundles[0], time.Now())
	require.Equal(t, 5.0, counted(), "a bundle read again")
	require.Equal(t, 3.0, testutil.ToFloat64(p.metrics.results[detect.Duplicate]), "a bundle read again")
	require.Equal(t, 1.0, testutil.ToFloat64(p.metrics.invalid))

	// A damaged bundle: the events before the damage are counted, the
	// damage once as invalid.
	for i := 7; i <= 8; i++ {
		b.add(slices.Index(p.topo.stageNames(), "user.name"), "alice", int64(i), event.AppendBinary(nil, login(i)))
	}
	damaged := b.take(nil)[0]
	damaged.Value = damaged.Value[:len(damaged.Value)-3]
	tk.handle(&damaged, time.Now())
	require.Equal(t, 6.0, counted(), "the event before the damage")
	require.Equal(t, 2.0, testutil.ToFloat64(p.metrics.invalid), "the damage")
}

// A source task forwards events in processor.forward_format.
func TestForwardFormat(t *testing.T) {
	for format, isForm := range map[string]func([]byte) bool{
		config.ForwardBundles: func(b []byte) bool { return len(b) > 0 && b[0] == bundleV1 },
		config.ForwardBinary:  event.IsBinary,
		config.ForwardJSON:    func(b []byte) bool { return len(b) > 0 && b[0] == '{' },
	} {
		t.Run(format, func(t *testing.T) {
			cfg := config.Default()
			cfg.Processor.ForwardFormat = format
			p, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t)})
			require.NoError(t, err)
			p.partitions = cfg.Kafka.Partitions // as connect finds them
			tk := newTask(p, &kafka.Generation{}, cfg.Kafka.Topics.Events, 0)
			require.NoError(t, tk.reset(0))
			e := testkit.FailedLogin("203.0.113.9", time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
			e.Host, e.User, e.Outcome = "bastion", "alice", event.OutcomeSuccess
			v, err := event.Encode(e)
			require.NoError(t, err)
			tk.handle(&kafka.Message{Partition: 0, Offset: 7, Value: v}, time.Now())
			msgs := tk.fwd
			if tk.bundles != nil {
				require.Empty(t, tk.fwd)
				msgs = tk.bundles.take(nil)
			}
			require.NotEmpty(t, msgs, "forwarded for the host.name and user.name stages")
			var stages []string
			for _, m := range msgs {
				require.True(t, isForm(m.Value), "%q", m.Value)
				r, err := parseRekeyed(&m)
				require.NoError(t, err)
				values := [][]byte{m.Value}
				if r.bundle {
					values = nil
					require.NoError(t, readBundle(m.Value, func(it bundleItem) error {
						require.EqualValues(t, 7, it.offset)
						stages = append(stages, it.stage)
						values = append(values, it.event)
						return nil
					}))
				} else {
					stages = append(stages, r.stage)
				}
				for _, v := range values {
					var got *event.Event
					if event.IsBinary(v) {
						got, err = event.DecodeBinary(v)
					} else {
						got, err = event.Decode(v)
					}
					require.NoError(t, err)
					require.Equal(t, "alice", got.User)
					require.Empty(t, got.Message, "trimmed")
				}
			}
			require.ElementsMatch(t, []string{"host.name", "user.name"}, stages)
			require.Equal(t, 2.0, testutil.ToFloat64(p.metrics.forwarded))
		})
	}
}
