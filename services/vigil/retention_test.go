package vigil

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestRetentionCommand(t *testing.T) {
	out, err := run(t, "retention")
	require.NoError(t, err)
	require.Contains(t, out, "retention is off")

	ch := testkit.ClickHouse(t)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	var rows [][]any
	for _, ago := range []int{0, 1, 3} {
		ts := today.AddDate(0, 0, -ago)
		rows = append(rows, []any{ts.Format("20060102"), ts, "default"}, []any{ts.Format("20060102") + "b", ts, "default"})
	}
	testkit.Insert(t, ch, "events", "id, timestamp, tenant", rows...)
	args := []string{"retention", "--set", "clickhouse.addr=" + ch.Addr[0], "--set", "clickhouse.database=" + ch.Database,
		"--set", "clickhouse.retention.events_days=1", "--set", "clickhouse.retention.alerts_days=30"}
	old := today.AddDate(0, 0, -3).Format("20060102")

	out, err = run(t, append(args, "--dry-run")...)
	require.NoError(t, err)
	require.Contains(t, out, "events                   keeps 1 day(s)")
	require.Contains(t, out, "scores                   keeps forever")
	require.Contains(t, out, "would drop events partition "+old+" (2 rows)\n")
	require.Contains(t, out, "would drop 1 partition(s)")

	out, err = run(t, args...)
	require.NoError(t, err)
	require.Contains(t, out, "dropped events partition "+old+" (2 rows)\n")
	require.NotContains(t, out, "events_per_minute partition", "rollups keep forever")

	conn, err := store.Open(ch)
	require.NoError(t, err)
	defer conn.Close()
	parts, err := store.DayPartitions(context.Background(), conn, ch.Database, "events")
	require.NoError(t, err)
	require.Len(t, parts, 2, "today and yesterday stay")
}
