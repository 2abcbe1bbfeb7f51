package silence_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/labels"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/silence"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.GoleakOptions()...)
}

const topic = "vigil.silences"

func startStore(t *testing.T, k config.KafkaConfig, reg prometheus.Registerer) *silence.Store {
	t.Helper()
	c, err := stream.NewClient(k)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	s := silence.NewStore(c, topic, silence.Options{Logger: testkit.Logger(t), Registerer: reg})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s
}

func dbAlert(severity string) alert.Alert {
	return alert.Alert{
		DedupKey: "vigil/acme/db_exfil/alice", Tenant: "acme", Profile: "db_exfil", Entity: "alice",
		Severity: severity, Labels: map[string]string{"team": "db"},
		Explanation: score.Explanation{Feature: "bytes_out"},
	}
}

// A silence added through one store mutes matching alerts in another
// (which loaded the topic before it was added) and in a store started
// later; expiring it unmutes them everywhere.
func TestStoresShareSilences(t *testing.T) {
	k := testkit.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	a := startStore(t, k, reg)
	b := startStore(t, k, nil)
	now := time.Now()

	ms, err := labels.ParseMatchers([]string{"team=db", "severity=~high|critical"})
	require.NoError(t, err)
	sil, err := silence.New(ms, now.Add(-time.Minute), now.Add(2*time.Hour), "database upgrade", "alice", now)
	require.NoError(t, err)
	require.NoError(t, a.Add(ctx, sil))
	got, ok := a.Get(sil.ID)
	require.True(t, ok, "Add returns once the writer's store holds it")
	require.Equal(t, sil.Reason, got.Reason)

	require.NoError(t, b.Sync(ctx))
	require.Equal(t, []string{sil.ID}, b.Silenced(dbAlert("high"), now))
	require.Empty(t, b.Silenced(dbAlert("low"), now), "severity does not match")
	web := dbAlert("high")
	web.Labels = map[string]string{"team": "web"}
	require.Empty(t, b.Silenced(web, now))
	require.Empty(t, b.Silenced(dbAlert("high"), now.Add(3*time.Hour)), "over after EndsAt")
	require.Len(t, b.Active(now), 1)
	require.Equal(t, 1.0, metric(t, reg, "vigil_silences_active"))

	later := startStore(t, k, nil)
	require.Equal(t, []string{sil.ID}, later.Silenced(dbAlert("critical"), now), "a store started later loads it")

	expired, err := b.Expire(ctx, sil.ID, now.Add(time.Minute))
	require.NoError(t, err)
	require.Equal(t, silence.StateExpired, expired.StateAt(now.Add(time.Minute)))
	require.NoError(t, a.Sync(ctx))
	require.Empty(t, a.Silenced(dbAlert("high"), now.Add(time.Minute)))
	require.Empty(t, a.Active(now.Add(time.Minute)))
	require.Len(t, a.All(), 1, "an expired silence is still listed")

	_, err = a.Expire(ctx, sil.ID, now.Add(2*time.Minute))
	require.ErrorIs(t, err, silence.ErrExpired)
	_, err = a.Expire(ctx, "0123", now)
	require.ErrorIs(t, err, silence.ErrNotFound)
}

// What is on the topic but not a silence is counted and ignored; a
// tombstone deletes a silence.
func TestStoreIgnoresWhatIsNotASilence(t *testing.T) {
	k := testkit.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	reg := prometheus.NewRegistry()
	s := startStore(t, k, reg)
	now := time.Now()
	ms, err := labels.ParseMatchers([]string{"team=db"})
	require.NoError(t, err)
	sil, err := silence.New(ms, now, now.Add(time.Hour), "r", "a", now)
	require.NoError(t, err)
	require.NoError(t, s.Add(ctx, sil))

	testkit.Produce(t, k, topic,
		[][]byte{[]byte("junk"), []byte("no-matchers"), []byte("other-key"), []byte(sil.ID)},
		[][]byte{
			[]byte("not json"),
			[]byte(`{"vigil.version":1,"id":"no-matchers","matchers":[],"starts_at":"2024-01-01T00:00:00Z","ends_at":"2024-01-02T00:00:00Z","reason":"r"}`),
			[]byte(`{"vigil.version":1,"id":"mismatch","matchers":["a=b"],"starts_at":"2024-01-01T00:00:00Z","ends_at":"2024-01-02T00:00:00Z","reason":"r"}`),
			nil,
		})
	require.NoError(t, s.Sync(ctx))
	require.Empty(t, s.All(), "the tombstone deleted the silence; the rest were ignored")
	require.Equal(t, 3.0, metric(t, reg, "vigil_silences_invalid_total"))

	require.ErrorIs(t, s.Add(ctx, silence.Silence{ID: "x"}), silence.ErrInvalid, "Add validates")
}

// metric returns the value of the counter or gauge name in reg.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() == name {
			require.Len(t, mf.GetMetric(), 1)
			m := mf.GetMetric()[0]
			return m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

func TestShutdownBeforeStart(t *testing.T) {
	s := silence.NewStore(nil, topic, silence.Options{})
	require.NoError(t, s.Shutdown(context.Background()))
}

// Two stores of one process (the processor's and the pager's in `vigil
// up`) can share a registry.
func TestStoresShareARegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	a := silence.NewStore(nil, topic, silence.Options{Registerer: reg})
	b := silence.NewStore(nil, topic, silence.Options{Registerer: reg})
	require.NoError(t, a.Shutdown(context.Background()))
	require.NoError(t, b.Shutdown(context.Background()))
	require.Equal(t, 0.0, metric(t, reg, "vigil_silences_invalid_total"))
}

// Purge deletes the silences that ended before the cutoff from the topic:
// this store, another one, and one started later no longer hold them; the
// others stay.
func TestPurgeDeletesLongExpiredSilences(t *testing.T) {
	k := testkit.Broker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	a := startStore(t, k, nil)
	b := startStore(t, k, nil)
	now := time.Now()
	ms, err := labels.ParseMatchers([]string{"team=db"})
	require.NoError(t, err)
	old, err := silence.New(ms, now.Add(-10*24*time.Hour), now.Add(-9*24*time.Hour), "last week's upgrade", "alice", now)
	require.NoError(t, err)
	recent, err := silence.New(ms, now.Add(-2*time.Hour), now.Add(-time.Hour), "this morning's upgrade", "bob", now)
	require.NoError(t, err)
	active, err := silence.New(ms, now.Add(-time.Hour), now.Add(time.Hour), "the upgrade now", "carol", now)
	require.NoError(t, err)
	for _, sil := range []silence.Silence{old, recent, active} {
		require.NoError(t, a.Add(ctx, sil))
	}

	n, err := b.Purge(ctx, now.Add(-5*24*time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	n, err = a.Purge(ctx, now.Add(-5*24*time.Hour))
	require.NoError(t, err)
	require.Zero(t, n, "purged already")

	later := startStore(t, k, nil)
	for _, s := range []*silence.Store{a, b, later} {
		require.NoError(t, s.Sync(ctx))
		_, ok := s.Get(old.ID)
		require.False(t, ok)
		require.Len(t, s.All(), 2)
	}
}
