package archiver

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func retentionDeps(t *testing.T, ch config.ClickHouseConfig) (service.Deps, *prometheus.Registry) {
	cfg := config.Default()
	cfg.ClickHouse = ch
	reg := prometheus.NewRegistry()
	return service.Deps{Config: cfg, Logger: testkit.Logger(t), Registry: reg}, reg
}

func TestRetentionShutdownWithoutStart(t *testing.T) {
	deps, _ := retentionDeps(t, config.Default().ClickHouse)
	require.NoError(t, NewRetention(deps).Shutdown(context.Background()))
}

func TestRetentionOffConnectsToNothing(t *testing.T) {
	ch := config.Default().ClickHouse
	ch.Addr = []string{testkit.FreeAddr(t)} // nothing listens there
	deps, _ := retentionDeps(t, ch)
	r := NewRetention(deps)
	require.NoError(t, r.Start(context.Background()))
	require.Nil(t, r.conn)
	require.NoError(t, r.Shutdown(context.Background()))
}

func TestBuildRunsRetentionAfterTheArchiver(t *testing.T) {
	deps, _ := retentionDeps(t, config.Default().ClickHouse)
	comps, err := Build(deps)
	require.NoError(t, err)
	require.Len(t, comps, 2)
	require.Equal(t, "archiver", comps[0].Name)
	require.Equal(t, "retention", comps[1].Name)
}

// The component drops expired day partitions when it starts and again
// every interval, and never today's.
func TestRetentionDropsExpiredPartitionsPeriodically(t *testing.T) {
	ch := testkit.ClickHouse(t)
	ch.Retention.EventsDays = 2
	ch.Retention.Interval = 50 * time.Millisecond
	today := time.Now().UTC().Truncate(24 * time.Hour)
	seed := func(daysAgo ...int) {
		var rows [][]any
		for _, d := range daysAgo {
			ts := today.AddDate(0, 0, -d)
			rows = append(rows, []any{ts.Format("20060102"), ts, "default"})
		}
		testkit.Insert(t, ch, "events", "id, timestamp, tenant", rows...)
	}
	partitions := func() []string {
		conn, err := store.Open(ch)
		require.NoError(t, err)
		defer conn.Close()
		parts, err := store.DayPartitions(context.Background(), conn, ch.Database, "events")
		require.NoError(t, err)
		var ids []string
		for _, p := range parts {
			ids = append(ids, p.ID())
		}
		return ids
	}
	day := func(ago int) string { return today.AddDate(0, 0, -ago).Format("20060102") }
	seed(0, 1, 2, 3, 9)

	deps, reg := retentionDeps(t, ch)
	r := NewRetention(deps)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() { _ = r.Shutdown(context.Background()) })
	require.Eventually(t, func() bool {
		return len(partitions()) == 3
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{day(2), day(1), day(0)}, partitions())

	seed(4)                       // a late event for a day already gone
	m := &running{reg: reg, t: t} // for its metric reader
	require.Eventually(t, func() bool {
		return m.metric("vigil_retention_partitions_dropped_total", map[string]string{"table": "events"}) == 3
	}, 10*time.Second, 20*time.Millisecond)
	require.Equal(t, []string{day(2), day(1), day(0)}, partitions())
	require.Equal(t, float64(3), m.metric("vigil_retention_rows_dropped_total", map[string]string{"table": "events"}))
	require.Positive(t, m.metric("vigil_retention_runs_total", map[string]string{"result": "ok"}))
	require.Zero(t, m.metric("vigil_retention_runs_total", map[string]string{"result": "error"}))
	require.Positive(t, m.metric("vigil_retention_last_success_timestamp_seconds", nil))

	require.NoError(t, r.Shutdown(context.Background()))
}
