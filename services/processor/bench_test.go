package processor

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/evalset"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// benchStream is three days of the evaluation set's traffic (2,000 users,
// 500 hosts; logins, flows, queries, web requests), about half a million
// events.
func benchStream(b *testing.B) [][]byte {
	cfg := evalset.Default()
	cfg.Duration = 3 * 24 * time.Hour
	cfg.WarmUp = 24 * time.Hour
	var msgs [][]byte
	_, err := evalset.Generate(cfg, func(e *event.Event) error {
		v, err := event.Encode(e)
		msgs = append(msgs, v)
		return err
	})
	require.NoError(b, err)
	return msgs
}

// BenchmarkProcessor measures, over the same topic in one run: a bare
// kafka-go consume-and-discard loop (the best of three runs), and the
// processor with every built-in profile on 1, 2 and 3 instances, and one
// instance with no profile and with the local profiles only (in this
// process, each with its own consumer group reading the whole topic from
// the start; events per second from the moment every partition is
// assigned until every event, and every event forwarded for a re-keyed
// profile, is processed).
func BenchmarkProcessor(b *testing.B) {
	k := testkit.Broker(b)
	msgs := benchStream(b)
	base := runConfig(k, "bench")
	base.Processor.IdleFlush = time.Hour // not idle while measured
	base.Processor.Checkpoint.Interval = 5 * time.Second
	produceStream(b, base, msgs)
	n := len(msgs)

	for range b.N {
		// The bare loop's figure moves with what the garbage collector
		// does meanwhile: the best of three runs, each from a collected
		// heap, is the bar.
		var bare float64
		for range 3 {
			runtime.GC()
			bare = max(bare, bareConsume(b, base, n))
		}
		fmt.Printf("BENCH name=kafka_go_consume_discard value=%.0f unit=events/s\n", bare)
		for instances := 1; instances <= 3; instances++ {
			runtime.GC()
			rate := runInstances(b, base, n, instances)
			fmt.Printf("BENCH name=processor_%d_instance value=%.0f unit=events/s vs=kafka_go_consume_discard ratio=%.2f\n",
				instances, rate, rate/bare)
		}
		// Where the time goes: one instance over the same input with no
		// profile at all (reading, decoding, dropping copies and
		// checkpointing only), then with only the profiles that run
		// where the events are read (nothing forwarded).
		for _, run := range []struct {
			name string
			keep func(config.ProfileConfig) bool
		}{
			{"no_profiles", func(config.ProfileConfig) bool { return false }},
			{"local_profiles", func(pc config.ProfileConfig) bool { return slices.Contains(pc.Key, partitionKey) }},
		} {
			runtime.GC()
			rate := runInstances(b, onlyProfiles(base, run.keep), n, 1)
			fmt.Printf("BENCH name=processor_1_instance_%s value=%.0f unit=events/s vs=kafka_go_consume_discard ratio=%.2f\n",
				run.name, rate, rate/bare)
		}
	}
}

// onlyProfiles is cfg with every built-in profile disabled that keep
// does not want.
func onlyProfiles(cfg config.Config, keep func(config.ProfileConfig) bool) config.Config {
	cfg.Processor.Disabled = nil
	for _, pc := range config.BuiltinProfiles() {
		if !keep(pc) {
			cfg.Processor.Disabled = append(cfg.Processor.Disabled, pc.Name)
		}
	}
	return cfg
}

// bareConsume reads n messages of cfg's events topic in a consumer group
// of its own, discarding them, and returns messages per second from the
// first to the last.
func bareConsume(b *testing.B, cfg config.Config, n int) float64 {
	c, err := stream.NewClient(cfg.Kafka)
	require.NoError(b, err)
	defer c.Close()
	r := c.NewGroupReader(fmt.Sprintf("bare-%d", time.Now().UnixNano()), cfg.Kafka.Topics.Events)
	defer r.Close()
	ctx := context.Background()
	var first time.Time
	for i := range n {
		if _, err := r.FetchMessage(ctx); err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = time.Now()
		}
	}
	return float64(n-1) / time.Since(first).Seconds()
}

// runInstances runs instances processors in one new group over cfg's
// events topic and returns events per second.
func runInstances(b *testing.B, cfg config.Config, n, instances int) float64 {
	cfg.Processor.GroupID = fmt.Sprintf("bench-%d-%d", instances, time.Now().UnixNano())
	gate := make(chan struct{})
	var procs []*Processor
	for range instances {
		p, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(b)})
		require.NoError(b, err)
		p.hooks.restored = func(ctx context.Context, _ *task) {
			select {
			case <-gate:
			case <-ctx.Done():
			}
		}
		require.NoError(b, p.Start(context.Background()))
		procs = append(procs, p)
	}
	defer func() {
		for _, p := range procs {
			require.NoError(b, p.Shutdown(context.Background()))
		}
	}()
	require.Eventually(b, func() bool {
		total := 0
		for _, p := range procs {
			_, tasks := p.totals()
			if tasks == 0 {
				return false
			}
			total += tasks
		}
		return total == 2*cfg.Kafka.Partitions
	}, 120*time.Second, 10*time.Millisecond, "every instance joined and every partition is assigned")

	start := time.Now()
	close(gate)
	require.Eventually(b, func() bool {
		var read, forwarded, received float64
		for _, p := range procs {
			read += testutil.ToFloat64(p.metrics.readEvents)
			forwarded += testutil.ToFloat64(p.metrics.forwarded)
			received += testutil.ToFloat64(p.metrics.readForwarded)
		}
		return read >= float64(n) && received >= forwarded
	}, 600*time.Second, time.Millisecond)
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkRestore checkpoints a partition whose state holds 1,000,000
// source IPs (brute force and password spraying baselines, one closed and
// one open window each) and restores it, as a new owner of the partition
// does.
func BenchmarkRestore(b *testing.B) {
	k := testkit.Broker(b)
	cfg := onlyProfiles(runConfig(k, "restore"), func(pc config.ProfileConfig) bool { return pc.Name == "brute_force" })
	p, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(b)})
	require.NoError(b, err)
	ctx := context.Background()
	require.NoError(b, p.connect(ctx))
	defer func() { require.NoError(b, p.Shutdown(ctx)) }()
	gen := &kafka.Generation{GroupID: cfg.Processor.GroupID, ID: -1}

	const entities = 1_000_000
	src := newTask(p, gen, cfg.Kafka.Topics.Events, 0)
	require.NoError(b, src.reset(0))
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	now := time.Now()
	off := int64(0)
	for w := range 2 {
		for i := range entities {
			ip := fmt.Sprintf("10.%d.%d.%d", i>>16, (i>>8)&255, i&255)
			e := testkit.FailedLogin(ip, t0.Add(time.Duration(w)*5*time.Minute+time.Duration(i%60)*time.Second))
			src.engines[0].Observe(e, detect.Position{Partition: 0, Offset: off}, now)
			off++
		}
		src.engines[0].Advance(now)
	}
	src.next, src.dirty = off, true
	require.Equal(b, entities, src.engines[0].Entities()["brute_force"])

	for range b.N {
		src.dirty = true
		start := time.Now()
		require.NoError(b, src.checkpoint(ctx))
		ckpt := time.Since(start)

		dst := newTask(p, gen, cfg.Kafka.Topics.Events, 0)
		start = time.Now()
		require.True(b, dst.restoreOrReset(ctx))
		restore := time.Since(start)
		require.True(b, dst.restored(), "restored from the checkpoint")
		require.Equal(b, entities, dst.engines[0].Entities()["brute_force"])

		fmt.Printf("BENCH name=processor_checkpoint_1m_entities value=%.2f unit=s\n", ckpt.Seconds())
		fmt.Printf("BENCH name=processor_checkpoint_bytes_per_entity value=%.0f unit=bytes\n", float64(src.ref.bytes)/entities)
		fmt.Printf("BENCH name=processor_restore_1m_entities value=%.2f unit=s\n", restore.Seconds())
	}
}
