package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestExpired(t *testing.T) {
	day := func(s string) time.Time {
		d, err := time.Parse(time.DateOnly, s)
		require.NoError(t, err)
		return d
	}
	at := func(s string) time.Time {
		ts, err := time.Parse(time.DateTime, s)
		require.NoError(t, err)
		return ts
	}
	tests := []struct {
		name string
		day  string
		days int
		now  string
		want bool
	}{
		{"forever", "2000-01-01", 0, "2025-06-10 12:00:00", false},
		{"today, one day", "2025-06-10", 1, "2025-06-10 12:00:00", false},
		{"yesterday, one day: part of it is younger than a day", "2025-06-09", 1, "2025-06-10 12:00:00", false},
		{"two days ago, one day", "2025-06-08", 1, "2025-06-10 00:00:00", true},
		{"two days ago, one day, late at night", "2025-06-08", 1, "2025-06-10 23:59:59", true},
		{"the last day kept", "2025-06-03", 7, "2025-06-10 00:00:01", false},
		{"the first day dropped", "2025-06-02", 7, "2025-06-10 00:00:01", true},
		{"tomorrow (clock skew)", "2025-06-11", 1, "2025-06-10 12:00:00", false},
		{"across a year", "2024-12-30", 10, "2025-01-10 08:00:00", true},
		{"negative days keep", "2000-01-01", -1, "2025-06-10 12:00:00", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, store.Expired(day(tt.day), tt.days, at(tt.now)))
		})
	}
}

// Partitions of several days, today's included, in every table retention
// covers; only the expired days go, and a dry run drops nothing.
func TestEnforceRetention(t *testing.T) {
	cfg := testkit.ClickHouse(t)
	now := time.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	ago := []int{0, 1, 2, 5, 10}
	var events, scores, alerts [][]any
	for _, d := range ago {
		ts := today.AddDate(0, 0, -d).Add(time.Hour)
		if d == 0 {
			ts = today // the first second of today
		}
		for i := 0; i < 3; i++ {
			id := ts.Format("20060102") + string(rune('a'+i))
			events = append(events, []any{id, ts, "default", "sshd", "authentication", "failure", "203.0.113.7"})
		}
		scores = append(scores, []any{ts.Format("20060102"), ts, ts.Add(time.Minute), "default", "brute_force", "203.0.113.7"})
		alerts = append(alerts, []any{ts.Format("20060102"), "k", ts, "default"})
	}
	testkit.Insert(t, cfg, "events", "id, timestamp, tenant, source, category, outcome, src_ip", events...)
	testkit.Insert(t, cfg, "scores", "id, window_start, window_end, tenant, profile, entity", scores...)
	testkit.Insert(t, cfg, "alerts", "id, dedup_key, timestamp, tenant", alerts...)

	plan := store.RetentionPlan(config.RetentionConfig{EventsDays: 2, ScoresDays: 0, AlertsDays: 1, RollupsDays: 4})
	conn, err := store.Open(cfg)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	days := func(table string) []int {
		parts, err := store.DayPartitions(ctx, conn, cfg.Database, table)
		require.NoError(t, err)
		var out []int
		for _, p := range parts {
			out = append(out, int(today.Sub(p.Day).Hours()/24))
		}
		return out
	}
	all := []int{10, 5, 2, 1, 0}
	for _, table := range []string{"events", "scores", "alerts", "events_per_minute", "failed_auth_per_minute"} {
		require.Equal(t, all, days(table), "%s has a partition for each seeded day", table)
	}

	dry, err := store.EnforceRetention(ctx, conn, cfg.Database, plan, now, true)
	require.NoError(t, err)
	type dropped struct {
		table string
		ago   int
		rows  uint64
	}
	got := func(ps []store.Partition) []dropped {
		var out []dropped
		for _, p := range ps {
			out = append(out, dropped{p.Table, int(today.Sub(p.Day).Hours() / 24), p.Rows})
		}
		return out
	}
	want := []dropped{
		{"events", 10, 3}, {"events", 5, 3},
		{"alerts", 10, 1}, {"alerts", 5, 1}, {"alerts", 2, 1},
		{"events_per_minute", 10, 1}, {"events_per_minute", 5, 1},
		{"failed_auth_per_minute", 10, 1}, {"failed_auth_per_minute", 5, 1},
	}
	require.Equal(t, want, got(dry))
	require.Equal(t, all, days("events"), "a dry run drops nothing")

	done, err := store.EnforceRetention(ctx, conn, cfg.Database, plan, now, false)
	require.NoError(t, err)
	require.Equal(t, want, got(done))
	require.Equal(t, []int{2, 1, 0}, days("events"))
	require.Equal(t, all, days("scores"), "0 days keeps forever")
	require.Equal(t, []int{1, 0}, days("alerts"))
	require.Equal(t, []int{2, 1, 0}, days("events_per_minute"))
	require.Equal(t, []int{2, 1, 0}, days("failed_auth_per_minute"))

	again, err := store.EnforceRetention(ctx, conn, cfg.Database, plan, now, false)
	require.NoError(t, err)
	require.Empty(t, again, "a second run finds nothing more")

	// Even the shortest retention leaves today and yesterday.
	short, err := store.EnforceRetention(ctx, conn, cfg.Database, []store.Keep{{Table: "events", Days: 1}}, now, false)
	require.NoError(t, err)
	require.Equal(t, []dropped{{"events", 2, 3}}, got(short))
	require.Equal(t, []int{1, 0}, days("events"))
}

func TestEnforceRetentionRefuses(t *testing.T) {
	cfg := testkit.ClickHouse(t)
	conn, err := store.Open(cfg)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, conn.Exec(ctx, "CREATE TABLE monthly (d Date COMMENT 'd') ENGINE = MergeTree PARTITION BY toYYYYMM(d) ORDER BY d"))

	tests := []struct {
		table, want string
	}{
		{"monthly", `partitioned by "toYYYYMM(d)", not by day`},
		{"nope", "no such table"},
	}
	for _, tt := range tests {
		t.Run(tt.table, func(t *testing.T) {
			_, err := store.EnforceRetention(ctx, conn, cfg.Database, []store.Keep{{Table: tt.table, Days: 3}}, time.Now(), false)
			require.ErrorContains(t, err, tt.want)
		})
	}
}
