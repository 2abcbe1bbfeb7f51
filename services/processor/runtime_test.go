package processor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/evalset"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// evalStream is the small labelled evaluation set (two days of logins,
// flows, queries and web requests with two attacks of every kind), as the
// shipper publishes it: keyed by source IP, or by host without one.
var evalStream = sync.OnceValues(func() ([][]byte, error) {
	var msgs [][]byte
	_, err := evalset.Generate(evalset.Small(), func(e *event.Event) error {
		b, err := event.Encode(e)
		msgs = append(msgs, b)
		return err
	})
	return msgs, err
})

func shipperKey(t testing.TB, value []byte) []byte {
	e, err := event.Decode(value)
	require.NoError(t, err)
	if e.SrcIP != "" {
		return []byte(e.SrcIP)
	}
	return []byte(e.Host)
}

// runConfig is a processor configuration with topics and a group of its
// own, named after run, on broker k.
func runConfig(k config.KafkaConfig, run string) config.Config {
	cfg := config.Default()
	cfg.Kafka = k
	cfg.Kafka.Topics.Events = run + ".events"
	cfg.Kafka.Topics.Scores = run + ".scores"
	cfg.Kafka.Topics.Alerts = run + ".alerts"
	cfg.Processor.GroupID = run + "-processor"
	// Longer than any pause of a stream fed in chunks (a partition idle
	// for this long closes its windows by the wall clock, which depends on
	// timing); the last windows close this long after the stream ends.
	cfg.Processor.IdleFlush = 10 * time.Second
	cfg.Processor.SessionTimeout = 6 * time.Second
	cfg.Processor.Checkpoint.Interval = 500 * time.Millisecond
	return cfg
}

// produceStream publishes msgs to cfg's events topic, keyed as the shipper keys them.
func produceStream(t testing.TB, cfg config.Config, msgs [][]byte) {
	t.Helper()
	keys := make([][]byte, len(msgs))
	for i, m := range msgs {
		keys[i] = shipperKey(t, m)
	}
	testkit.Topics(t, cfg.Kafka, cfg.Kafka.Topics.Events)
	testkit.Produce(t, cfg.Kafka, cfg.Kafka.Topics.Events, keys, msgs)
}

// settled reports whether the group committed every message of the events
// and repartition topics: every task read everything and checkpointed it.
// An error (the broker busy) is a no.
func settled(t testing.TB, cfg config.Config) bool {
	t.Helper()
	c, err := stream.NewClient(cfg.Kafka)
	require.NoError(t, err)
	defer c.Close()
	ctx := context.Background()
	for _, topic := range []string{cfg.Kafka.Topics.Events, cfg.Processor.GroupID + ".repartition"} {
		ends, err := c.EndOffsets(ctx, topic)
		if err != nil {
			return false
		}
		parts := make([]int, 0, len(ends))
		for p := range ends {
			parts = append(parts, p)
		}
		res, err := c.KafkaClient().OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.Processor.GroupID, Topics: map[string][]int{topic: parts}})
		if err != nil || res.Error != nil {
			return false
		}
		for _, op := range res.Topics[topic] {
			if end := ends[op.Partition]; op.Error != nil || end > 0 && op.CommittedOffset != end {
				return false
			}
		}
	}
	return true
}

// outputs is what a run published, by identity.
type published struct {
	scores map[string][]score.Score // by id: every copy
	alerts map[string][]alert.Alert // by alertIdentity: every copy
}

func readPublished(t testing.TB, cfg config.Config) published {
	t.Helper()
	out := published{scores: map[string][]score.Score{}, alerts: map[string][]alert.Alert{}}
	for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Scores) {
		var s score.Score
		require.NoError(t, json.Unmarshal(m.Value, &s))
		out.scores[s.ID] = append(out.scores[s.ID], s)
	}
	for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Alerts) {
		var a alert.Alert
		require.NoError(t, json.Unmarshal(m.Value, &a))
		out.alerts[alertIdentity(a)] = append(out.alerts[alertIdentity(a)], a)
	}
	return out
}

// sameWithin compares two values through their JSON form, numbers within
// a relative tolerance.
func sameWithin(t testing.TB, want, got any, what string) {
	t.Helper()
	var a, b any
	for _, x := range []struct {
		v   any
		dst *any
	}{{want, &a}, {got, &b}} {
		raw, err := json.Marshal(x.v)
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(raw, x.dst))
	}
	if diff := jsonDiff(a, b, ""); diff != "" {
		t.Fatalf("%s differs at %s\nwant %+v\ngot  %+v", what, diff, want, got)
	}
}

func jsonDiff(a, b any, path string) string {
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok || len(av) != len(bv) {
			return path
		}
		for k := range av {
			if d := jsonDiff(av[k], bv[k], path+"."+k); d != "" {
				return d
			}
		}
	case []any:
		bv, ok := b.([]any)
		if !ok || len(av) != len(bv) {
			return path
		}
		for i := range av {
			if d := jsonDiff(av[i], bv[i], fmt.Sprintf("%s[%d]", path, i)); d != "" {
				return d
			}
		}
	case float64:
		bv, ok := b.(float64)
		if !ok || math.Abs(av-bv) > 1e-9*math.Max(1, math.Max(math.Abs(av), math.Abs(bv))) {
			return path
		}
	default:
		if a != b {
			return path
		}
	}
	return ""
}

// requireSameOutputs checks that got published what want did: the same
// scores (a score published again after a crash is an exact copy) and the
// same alerts, none of them twice.
func requireSameOutputs(t testing.TB, want, got published) {
	t.Helper()
	for id, ws := range want.scores {
		if _, ok := got.scores[id]; !ok {
			t.Errorf("score missing: %s %s %s %s %s", id, ws[0].Profile, ws[0].Entity, ws[0].WindowStart, ws[0].Explanation.Method)
		}
	}
	require.Equal(t, len(want.scores), len(got.scores), "distinct scores")
	for id, ws := range want.scores {
		gs, ok := got.scores[id]
		require.True(t, ok, "score %s (%s %s %s) missing", id, ws[0].Profile, ws[0].Entity, ws[0].WindowStart)
		for _, g := range gs {
			sameWithin(t, ws[0], g, "score "+id)
		}
	}
	for id, wa := range want.alerts {
		if _, ok := got.alerts[id]; !ok {
			t.Errorf("alert missing: %s %s %s %s count %d first %s last %s", id, wa[0].Profile, wa[0].Entity, wa[0].Status, wa[0].Count, wa[0].FirstSeen, wa[0].LastSeen)
		}
	}
	for id, ga := range got.alerts {
		if _, ok := want.alerts[id]; !ok {
			t.Errorf("alert not expected: %s %s %s %s count %d first %s last %s", id, ga[0].Profile, ga[0].Entity, ga[0].Status, ga[0].Count, ga[0].FirstSeen, ga[0].LastSeen)
		}
	}
	require.Equal(t, len(want.alerts), len(got.alerts), "distinct alerts")
	for id, wa := range want.alerts {
		ga, ok := got.alerts[id]
		require.True(t, ok, "alert %s (%s %s %s) missing", id, wa[0].Profile, wa[0].Entity, wa[0].Status)
		require.Len(t, ga, 1, "alert %s (%s %s %s) published %d times", id, wa[0].Profile, wa[0].Entity, wa[0].Status, len(ga))
		sameWithin(t, wa[0], ga[0], "alert "+id)
	}
}

// startInProcess starts a processor of cfg in this process; hooks, when
// given, are its restored and stopped hooks.
func startInProcess(t testing.TB, cfg config.Config, hooks ...func(*task)) *Processor {
	t.Helper()
	p, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t)})
	require.NoError(t, err)
	if len(hooks) == 2 {
		if restored := hooks[0]; restored != nil {
			p.hooks.restored = func(_ context.Context, tk *task) { restored(tk) }
		}
		p.hooks.stopped = hooks[1]
	}
	require.NoError(t, p.Start(context.Background()))
	return p
}

// uninterrupted runs one processor over the whole stream and returns what
// it published.
func uninterrupted(t *testing.T, k config.KafkaConfig, msgs [][]byte) published {
	t.Helper()
	cfg := runConfig(k, "reference")
	produceStream(t, cfg, msgs)
	p := startInProcess(t, cfg)
	awaitFinished(t, cfg, p)
	require.NoError(t, p.Shutdown(context.Background()))
	out := readPublished(t, cfg)
	require.NotEmpty(t, out.alerts, "the evaluation set has attacks")
	for id, as := range out.alerts {
		require.Len(t, as, 1, "alert %s published once", id)
	}
	return out
}

// awaitFinished waits until procs, together, have read everything of cfg's
// topics and closed every window.
func awaitFinished(t testing.TB, cfg config.Config, procs ...*Processor) {
	t.Helper()
	require.Eventually(t, func() bool {
		open := 0
		for _, p := range procs {
			sum, _ := p.totals()
			open += sum.openWins
		}
		return open == 0 && settled(t, cfg)
	}, 120*time.Second, 100*time.Millisecond, "everything read and every window closed")
}

// snapshotOf returns the state of every engine of t, as a checkpoint holds it.
func snapshotOf(t testing.TB, tk *task) taskState {
	st := taskState{next: tk.next}
	for i, e := range tk.engines {
		var b bytes.Buffer
		require.NoError(t, e.Snapshot(&b))
		st.engines = append(st.engines, namedBlob{name: tk.names[i], blob: b.Bytes()})
	}
	if tk.recent != nil {
		var err error
		st.recent, err = tk.recent.MarshalBinary()
		require.NoError(t, err)
	}
	return st
}

// checkpoints reads the checkpoint every partition of the group committed.
func checkpoints(t testing.TB, cfg config.Config) map[string]taskState {
	t.Helper()
	ctx := context.Background()
	c, err := stream.NewClient(cfg.Kafka)
	require.NoError(t, err)
	defer c.Close()
	changelog := cfg.Processor.GroupID + ".changelog"
	ends, err := c.EndOffsets(ctx, changelog)
	require.NoError(t, err)
	out := map[string]taskState{}
	for _, topic := range []string{cfg.Kafka.Topics.Events, cfg.Processor.GroupID + ".repartition"} {
		parts, err := c.Partitions(ctx, topic)
		require.NoError(t, err)
		res, err := c.KafkaClient().OffsetFetch(ctx, &kafka.OffsetFetchRequest{GroupID: cfg.Processor.GroupID, Topics: map[string][]int{topic: parts}})
		require.NoError(t, err)
		for _, op := range res.Topics[topic] {
			ref, ok, err := parseRef(op.Metadata)
			require.NoError(t, err)
			require.True(t, ok, "%s/%d committed with a checkpoint", topic, op.Partition)
			b, err := readCheckpoint(ctx, c.NewPartitionReader, ends[ref.partition], changelog, ref)
			require.NoError(t, err)
			var st taskState
			require.NoError(t, st.readFrom(b))
			require.Equal(t, op.CommittedOffset, st.next)
			out[fmt.Sprintf("%s/%d", topic, op.Partition)] = st
		}
	}
	return out
}

// capture collects the state of tasks by partition.
type capture struct {
	mu     sync.Mutex
	states map[string]taskState
}

func (c *capture) hook(t testing.TB) func(*task) {
	return func(tk *task) {
		st := snapshotOf(t, tk)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.states[fmt.Sprintf("%s/%d", tk.topic, tk.part)] = st
	}
}

func (c *capture) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.states)
}

func requireSameStates(t testing.TB, want, got map[string]taskState, what string) {
	t.Helper()
	require.Equal(t, len(want), len(got), what)
	for id, w := range want {
		g, ok := got[id]
		require.True(t, ok, "%s: %s missing", what, id)
		require.Equal(t, w.next, g.next, "%s: %s offset", what, id)
		require.True(t, bytes.Equal(w.recent, g.recent), "%s: %s recent event ids", what, id)
		require.Equal(t, len(w.engines), len(g.engines), "%s: %s engines", what, id)
		for i := range w.engines {
			require.Equal(t, w.engines[i].name, g.engines[i].name)
			require.True(t, bytes.Equal(w.engines[i].blob, g.engines[i].blob), "%s: %s, stage %s", what, id, w.engines[i].name)
		}
	}
}

// Three instances run over the first half of the stream and stop; three
// new ones restore every partition from the changelog. The state each task
// restores is the state its last owner held when it stopped (byte for
// byte, as a checkpoint encodes it: every baseline, open window, incident
// and watermark), and the second half then gives exactly the outputs one
// uninterrupted instance gives.
func TestRestartedInstancesRestoreTheirState(t *testing.T) {
	if testing.Short() {
		t.Skip("runs seven processors over the evaluation set")
	}
	msgs, err := evalStream()
	require.NoError(t, err)
	k := testkit.Broker(t)
	want := uninterrupted(t, k, msgs)

	cfg := runConfig(k, "restart")
	// Never idle while the second half is awaited: windows stay open
	// across the restart as they would without one.
	first := cfg
	first.Processor.IdleFlush = time.Hour
	half := len(msgs) / 2
	produceStream(t, cfg, msgs[:half])
	held := &capture{states: map[string]taskState{}}
	var procs []*Processor
	for range 3 {
		procs = append(procs, startInProcess(t, first, nil, held.hook(t)))
	}
	require.Eventually(t, func() bool { return settled(t, cfg) }, 120*time.Second, 100*time.Millisecond)
	for _, p := range procs {
		require.NoError(t, p.Shutdown(context.Background()))
	}
	require.Equal(t, 2*cfg.Kafka.Partitions, held.len(), "every task handed its partition over")
	requireSameStates(t, held.states, checkpoints(t, cfg), "checkpointed state")

	restored := &capture{states: map[string]taskState{}}
	procs = procs[:0]
	for range 3 {
		procs = append(procs, startInProcess(t, cfg, restored.hook(t), nil))
	}
	require.Eventually(t, func() bool { return restored.len() == held.len() }, 60*time.Second, 50*time.Millisecond,
		"every partition assigned and restored")
	restored.mu.Lock()
	requireSameStates(t, held.states, restored.states, "restored state")
	restored.mu.Unlock()

	produceStream(t, cfg, msgs[half:])
	awaitFinished(t, cfg, procs...)
	for _, p := range procs {
		require.NoError(t, p.Shutdown(context.Background()))
	}
	requireSameOutputs(t, want, readPublished(t, cfg))
}

// Three instances forwarding in the three forms, as during a rolling
// upgrade (bundles, a message per event in the binary form, JSON), share
// the partitions: each reads what the others forward, and together they
// publish exactly what one uninterrupted instance does.
func TestInstancesForwardingInEveryFormAgree(t *testing.T) {
	if testing.Short() {
		t.Skip("runs four processors over the evaluation set")
	}
	msgs, err := evalStream()
	require.NoError(t, err)
	k := testkit.Broker(t)
	want := uninterrupted(t, k, msgs)

	cfg := runConfig(k, "mixed")
	testkit.Topics(t, cfg.Kafka, cfg.Kafka.Topics.Events)
	var procs []*Processor
	for _, format := range []string{config.ForwardBundles, config.ForwardBinary, config.ForwardJSON} {
		c := cfg
		c.Processor.ForwardFormat = format
		procs = append(procs, startInProcess(t, c))
	}
	// The stream is published once every instance holds its share of
	// the partitions, so that each one forwards some of it.
	require.Eventually(t, func() bool {
		for _, p := range procs {
			if _, n := p.totals(); n != 2*cfg.Kafka.Partitions/len(procs) {
				return false
			}
		}
		return true
	}, 60*time.Second, 50*time.Millisecond, "every instance holds its share of the partitions")
	produceStream(t, cfg, msgs)
	awaitFinished(t, cfg, procs...)
	forwarded := map[string]float64{}
	for i, p := range procs {
		forwarded[p.cfg.Processor.ForwardFormat] = testutil.ToFloat64(procs[i].metrics.forwarded)
	}
	for _, p := range procs {
		require.NoError(t, p.Shutdown(context.Background()))
	}
	requireSameOutputs(t, want, readPublished(t, cfg))
	for format, n := range forwarded {
		require.Positive(t, n, "the instance forwarding in %s forwarded events", format)
	}
}
