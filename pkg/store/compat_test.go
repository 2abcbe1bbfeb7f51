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

// ev is the part of an event row the rollups read.
type ev struct {
	id       string
	ts       time.Time
	source   string
	category string
	outcome  string
	srcIP    string
}

func insertEvents(t *testing.T, cfg config.ClickHouseConfig, evs ...ev) {
	t.Helper()
	rows := make([][]any, len(evs))
	for i, e := range evs {
		rows[i] = []any{e.id, e.ts, "default", e.source, e.category, e.outcome, e.srcIP}
	}
	testkit.Insert(t, cfg, "events", "id, timestamp, tenant, source, category, outcome, src_ip", rows...)
}

// rollups reads both rollups, summed per key as their readers must, as
// "HH:MM key" → count.
func rollups(t *testing.T, cfg config.ClickHouseConfig) (perMinute, failedAuth map[string]uint64) {
	t.Helper()
	read := func(sql string) map[string]uint64 {
		out := map[string]uint64{}
		query(t, cfg, func(scan func(...any)) {
			var m time.Time
			var k string
			var n uint64
			scan(&m, &k, &n)
			out[m.UTC().Format("15:04")+" "+k] = n
		}, sql)
		return out
	}
	return read("SELECT minute, concat(source, '/', category, '/', outcome), sum(event_count) FROM " + cfg.Database +
			".events_per_minute GROUP BY minute, source, category, outcome"),
		read("SELECT minute, src_ip, sum(failures) FROM " + cfg.Database + ".failed_auth_per_minute GROUP BY minute, src_ip")
}

// A database made by the first release (schema_migrations without
// server_version and extras, migrations 1 to 3, events stored) migrates
// to the current schema: the new columns appear, the old rows keep their
// meaning, and the rollups count the events already stored, once each.
func TestMigrateFromFirstRelease(t *testing.T) {
	cfg := otherDatabase(t, testkit.ClickHouse(t), "_old")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	admin, err := store.Open(config.ClickHouseConfig{Addr: cfg.Addr, Database: "default", Username: cfg.Username,
		DialTimeout: cfg.DialTimeout, ReadTimeout: cfg.ReadTimeout})
	require.NoError(t, err)
	defer admin.Close()
	require.NoError(t, admin.Exec(ctx, "CREATE DATABASE "+cfg.Database))
	conn, err := store.Open(cfg)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.Exec(ctx, `CREATE TABLE schema_migrations
(
    version    UInt32   COMMENT 'Migration number (file name prefix)',
    name       String   COMMENT 'Migration file name without .sql',
    applied_at DateTime('UTC') COMMENT 'When it was applied, UTC'
)
ENGINE = ReplacingMergeTree
ORDER BY version`))
	ms, err := store.Migrations()
	require.NoError(t, err)
	applied := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	var old [][]any
	for _, m := range ms[:3] {
		for _, stmt := range store.Statements(m.SQL) {
			require.NoError(t, conn.Exec(ctx, stmt), m.Name)
		}
		old = append(old, []any{m.Version, m.Name, applied})
	}
	testkit.Insert(t, cfg, "schema_migrations", "version, name, applied_at", old...)

	t0 := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	stored := []ev{
		{"a", t0.Add(5 * time.Second), "sshd", "authentication", "failure", "203.0.113.7"},
		{"b", t0.Add(50 * time.Second), "sshd", "authentication", "failure", "203.0.113.7"},
		{"c", t0.Add(70 * time.Second), "sshd", "authentication", "success", "203.0.113.7"},
		{"d", t0.Add(80 * time.Second), "json", "web", "unknown", ""},
	}
	insertEvents(t, cfg, stored...)
	insertEvents(t, cfg, stored[0], stored[1]) // a redelivered batch, before the rollups existed

	rep, err := store.Migrate(ctx, cfg, testkit.Logger(t))
	require.NoError(t, err)
	var want []uint32
	for _, m := range ms[3:] {
		want = append(want, m.Version)
	}
	require.Equal(t, want, rep.Versions(), "only the migrations after the first release are applied")

	rows := migrationRows(t, cfg)
	require.Len(t, rows, len(ms))
	for _, r := range rows[:3] {
		require.Equal(t, applied, r.AppliedAt.UTC())
		require.Empty(t, r.ServerVersion, "older rows say nothing of their server")
		require.Empty(t, r.Extras)
	}
	for _, r := range rows[3:] {
		require.Equal(t, rep.Server, r.ServerVersion)
	}
	for _, c := range columns(t, cfg) {
		if c.table == "schema_migrations" {
			require.NotEmpty(t, c.comment, "schema_migrations.%s has a COMMENT", c.name)
		}
	}

	perMinute, failedAuth := rollups(t, cfg)
	require.Equal(t, map[string]uint64{
		"10:00 sshd/authentication/failure": 2,
		"10:01 sshd/authentication/success": 1,
		"10:01 json/web/unknown":            1,
	}, perMinute, "the history is counted once each, as events FINAL sees it")
	require.Equal(t, map[string]uint64{"10:00 203.0.113.7": 2}, failedAuth)

	// From now on the views count inserts, copies included.
	late := ev{"e", t0.Add(65 * time.Second), "sshd", "authentication", "failure", "203.0.113.7"}
	insertEvents(t, cfg, late)
	insertEvents(t, cfg, late) // redelivered
	perMinute, failedAuth = rollups(t, cfg)
	require.Equal(t, uint64(2), perMinute["10:01 sshd/authentication/failure"], "a redelivered event counts twice in a rollup")
	require.Equal(t, uint64(2), failedAuth["10:01 203.0.113.7"])
	var exact uint64
	query(t, cfg, func(scan func(...any)) { scan(&exact) },
		"SELECT count() FROM "+cfg.Database+".events FINAL WHERE outcome = 'failure' AND timestamp >= ?", t0.Add(time.Minute))
	require.Equal(t, uint64(1), exact, "events FINAL counts it once")

	again, err := store.Migrate(ctx, cfg, testkit.Logger(t))
	require.NoError(t, err)
	require.Empty(t, again.Applied)
}
