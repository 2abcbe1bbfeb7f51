package store_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestStatements(t *testing.T) {
	tests := []struct {
		name string
		sql  string
		want []string
	}{
		{"empty", "", nil},
		{"only comments and blanks", "-- one\n\n   -- two\n\t\n", nil},
		{"one statement with trailing semicolon", "SELECT 1;\n", []string{"SELECT 1"}},
		{"one statement without trailing semicolon", "SELECT 1\n", []string{"SELECT 1"}},
		{"without final newline", "SELECT 1", []string{"SELECT 1"}},
		{
			"comments before and between statements",
			"-- header\n-- more\nCREATE TABLE a (x UInt8)\n-- inside\nENGINE = Memory;\n\n-- next\nCREATE TABLE b (y UInt8) ENGINE = Memory;\n",
			[]string{"CREATE TABLE a (x UInt8)\nENGINE = Memory", "CREATE TABLE b (y UInt8) ENGINE = Memory"},
		},
		{
			"multiple statements, last without semicolon",
			"SELECT 1;\nSELECT 2;\nSELECT 3\n",
			[]string{"SELECT 1", "SELECT 2", "SELECT 3"},
		},
		{
			"multi-line statement keeps its lines and indentation",
			"CREATE TABLE t\n(\n    a UInt8 COMMENT 'x'\n)\nENGINE = Memory;\n",
			[]string{"CREATE TABLE t\n(\n    a UInt8 COMMENT 'x'\n)\nENGINE = Memory"},
		},
		{
			"semicolon not at the end of a line does not split",
			"SELECT ';' AS a, 1;\n",
			[]string{"SELECT ';' AS a, 1"},
		},
		{"semicolon followed by spaces", "SELECT 1;   \nSELECT 2;\t\n", []string{"SELECT 1", "SELECT 2"}},
		{"indented comment", "  -- indented\nSELECT 1;", []string{"SELECT 1"}},
		{"CRLF line endings", "SELECT 1;\r\nSELECT 2;\r\n", []string{"SELECT 1", "SELECT 2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, store.Statements(tt.sql))
		})
	}
}

func TestMigrationsOrderedAndUnique(t *testing.T) {
	ms, err := store.Migrations()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	require.Equal(t, uint32(1), ms[0].Version, "migrations start at 1")
	for i, m := range ms {
		require.NotEmpty(t, m.Name)
		require.False(t, strings.HasSuffix(m.Name, ".sql"), "name without .sql: %s", m.Name)
		require.NotEmpty(t, store.Statements(m.SQL), "migration %s has statements", m.Name)
		if i > 0 {
			require.Greater(t, m.Version, ms[i-1].Version, "%s after %s", m.Name, ms[i-1].Name)
		}
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	require.Subset(t, names, []string{"0001_events", "0002_scores", "0003_alerts"})
}

type column struct {
	table, name, typ, comment string
}

func columns(tb testing.TB, cfg config.ClickHouseConfig) []column {
	tb.Helper()
	var out []column
	query(tb, cfg, func(scan func(...any)) {
		var c column
		scan(&c.table, &c.name, &c.typ, &c.comment)
		out = append(out, c)
	}, "SELECT table, name, type, comment FROM system.columns WHERE database = ? ORDER BY table, name", cfg.Database)
	return out
}

func materializedViews(tb testing.TB, cfg config.ClickHouseConfig) []string {
	tb.Helper()
	var views []string
	query(tb, cfg, func(scan func(...any)) {
		var name string
		scan(&name)
		views = append(views, name)
	}, "SELECT name FROM system.tables WHERE database = ? AND engine = 'MaterializedView' ORDER BY name", cfg.Database)
	return views
}

func serverVersion(tb testing.TB, cfg config.ClickHouseConfig) string {
	tb.Helper()
	var v string
	query(tb, cfg, func(scan func(...any)) { scan(&v) }, "SELECT version()")
	return v
}

// query runs sql and calls row for each row, with a scan that fails the
// test on error.
func query(tb testing.TB, cfg config.ClickHouseConfig, row func(scan func(...any)), sql string, args ...any) {
	tb.Helper()
	conn, err := store.Open(cfg)
	require.NoError(tb, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rows, err := conn.Query(ctx, sql, args...)
	require.NoError(tb, err)
	defer rows.Close()
	for rows.Next() {
		row(func(dest ...any) { require.NoError(tb, rows.Scan(dest...)) })
	}
	require.NoError(tb, rows.Err())
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

type migrationRow struct {
	Version       uint32
	Name          string
	AppliedAt     time.Time
	ServerVersion string
	Extras        []string
}

func migrationRows(tb testing.TB, cfg config.ClickHouseConfig) []migrationRow {
	tb.Helper()
	var out []migrationRow
	query(tb, cfg, func(scan func(...any)) {
		var r migrationRow
		scan(&r.Version, &r.Name, &r.AppliedAt, &r.ServerVersion, &r.Extras)
		out = append(out, r)
	}, "SELECT version, name, applied_at, server_version, extras FROM "+cfg.Database+".schema_migrations ORDER BY version, name, applied_at")
	return out
}

func TestMigrate(t *testing.T) {
	cfg := testkit.ClickHouse(t) // a fresh database, migrated once
	ms, err := store.Migrations()
	require.NoError(t, err)

	cols := columns(t, cfg)
	byTable := map[string][]string{}
	views := materializedViews(t, cfg)
	for _, c := range cols {
		byTable[c.table] = append(byTable[c.table], c.name)
		if !slices.Contains(views, c.table) { // a view's columns are its target table's
			require.NotEmpty(t, strings.TrimSpace(c.comment), "column %s.%s has no COMMENT", c.table, c.name)
		}
	}
	require.ElementsMatch(t, []string{"events_per_minute_mv", "failed_auth_per_minute_mv"}, views)
	for _, table := range []string{"events", "scores", "alerts", "events_per_minute", "failed_auth_per_minute", "schema_migrations"} {
		require.Contains(t, byTable, table, "table %s exists", table)
	}
	require.Subset(t, byTable["events"], []string{"id", "timestamp", "tenant", "src_ip", "message", "attr_keys", "attr_values"})
	require.ElementsMatch(t, []string{"version", "name", "applied_at", "server_version", "extras"}, byTable["schema_migrations"])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	server := serverVersion(t, cfg)
	v, err := store.ParseVersion(server)
	require.NoError(t, err)
	before := migrationRows(t, cfg)
	require.Len(t, before, len(ms), "one row per migration")
	for i, m := range ms {
		require.Equal(t, m.Version, before[i].Version)
		require.Equal(t, m.Name, before[i].Name)
		require.False(t, before[i].AppliedAt.IsZero())
		require.Equal(t, server, before[i].ServerVersion, "the server it was applied on is recorded")
		_, used, err := store.Render(m.SQL, store.ExtrasFor(v))
		require.NoError(t, err)
		require.Equal(t, nonNil(used), before[i].Extras, "the extras %s used are recorded", m.Name)
	}

	rep, err := store.Migrate(ctx, cfg, testkit.Logger(t))
	require.NoError(t, err)
	require.Empty(t, rep.Applied, "a second run applies nothing")
	require.Equal(t, server, rep.Server)
	require.Equal(t, store.ExtrasFor(v), rep.Extras)
	require.Equal(t, before, migrationRows(t, cfg), "a second run leaves schema_migrations as it was")
	require.Equal(t, cols, columns(t, cfg), "a second run leaves the schema as it was")
}

// Migrate reports every version it applied, in order, on a database that
// has none yet.
func TestMigrateFreshDatabaseAppliesAll(t *testing.T) {
	cfg := otherDatabase(t, testkit.ClickHouse(t), "_b")
	ms, err := store.Migrations()
	require.NoError(t, err)
	var want []uint32
	for _, m := range ms {
		want = append(want, m.Version)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := store.Migrate(ctx, cfg, testkit.Logger(t))
	require.NoError(t, err)
	require.Equal(t, want, rep.Versions())
	require.True(t, slices.IsSorted(rep.Versions()))
}

// otherDatabase returns cfg naming a database that does not exist yet,
// dropped at the end of the test.
func otherDatabase(t *testing.T, cfg config.ClickHouseConfig, suffix string) config.ClickHouseConfig {
	t.Helper()
	cfg.Database += suffix
	testkit.DropAtEnd(t, cfg)
	return cfg
}

func TestWaitReadyGivesUp(t *testing.T) {
	addr := testkit.FreeAddr(t) // nothing listens there
	cfg := config.Default().ClickHouse
	cfg.Addr = []string{addr}
	cfg.DialTimeout = 200 * time.Millisecond

	ctx, cancel := context.WithTimeout(context.Background(), 700*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := store.WaitReady(ctx, cfg, testkit.Logger(t))
	require.Error(t, err)
	require.Contains(t, err.Error(), addr, "the error names the address")
	require.Contains(t, err.Error(), "not reachable")
	require.Less(t, time.Since(start), 10*time.Second, "gives up when its context ends")
	require.Error(t, ctx.Err(), "returned only once its context expired")
}

func TestWaitReady(t *testing.T) {
	cfg := testkit.ClickHouse(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, store.WaitReady(ctx, cfg, testkit.Logger(t)))
}
