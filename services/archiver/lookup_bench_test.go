package archiver

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// lookupRows is how many events the lookup benchmark stores.
const lookupRows = 10_000_000

// lookupWeek is the first second of the week the stored events span.
var lookupWeek = time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)

// seedSQL fills the events table with lookupRows events over a week: a
// hundred thousand source IPs whose activity is skewed as on the internet
// (a few very busy, most seen a few times), 5,000 users, 500 hosts, four
// kinds of source, messages of about a hundred bytes. Every value derives
// from the row number, so every run stores the same data.
const seedSQL = `INSERT INTO events (id, timestamp, timestamp_ns, ingested, tenant, source, host, category, action, outcome,
    src_ip, src_port, dst_ip, dst_port, user, protocol, bytes_out, bytes_in, value, message, parse_error, attr_keys, attr_values)
SELECT id, ts, toUInt32(h % 1000000000), ts, 'default', source, host, category, action, outcome,
    ip, toUInt16(1024 + h % 60000), '192.0.2.1', toUInt16(22), user, 'ssh', h % 100000, h % 1000000, 0,
    concat(toString(ts), ' ', host, ' sshd[', toString(h % 30000), ']: ', action, ' for ', user, ' from ', ip, ' port ', toString(1024 + h % 60000)),
    '', ['pid'], [toString(h % 30000)]
FROM
(
    SELECT lower(hex(MD5(toString(number)))) AS id,
        cityHash64(number) AS h,
        toDateTime({week} + cityHash64(number, 1) % 604800) AS ts,
        toUInt32(100000 * pow((cityHash64(number, 2) % 1000000) / 1000000, 3)) AS ipn,
        concat('10.', toString(intDiv(ipn, 65536)), '.', toString(intDiv(ipn, 256) % 256), '.', toString(ipn % 256)) AS ip,
        concat('user', toString(cityHash64(number, 3) % 5000)) AS user,
        concat('host-', toString(cityHash64(number, 4) % 500)) AS host,
        ['sshd', 'netflow', 'nginx', 'postgres'][h % 4 + 1] AS source,
        ['authentication', 'network', 'web', 'database'][h % 4 + 1] AS category,
        ['ssh_login', 'flow', 'http_request', 'query'][h % 4 + 1] AS action,
        if(h % 3 = 0, 'failure', 'success') AS outcome
    FROM system.numbers LIMIT {rows}
)`

// lookupConfig returns the ClickHouse configuration of the lookup
// benchmark's database, seeded by the real migrations and seedSQL. The
// database is kept in the test server's data directory and reused while it
// holds lookupRows events and no migration is pending.
func lookupConfig(b *testing.B) config.ClickHouseConfig {
	b.Helper()
	addr := os.Getenv(testkit.EnvClickHouse)
	if addr == "" {
		testkit.ClickHouse(b) // skips or fails as every ClickHouse test does
	}
	cfg := config.Default().ClickHouse
	cfg.Addr, cfg.Database, cfg.Local = []string{addr}, "vigil_bench_lookup", false
	cfg.ReadTimeout = 10 * time.Minute
	ctx := context.Background()
	applied, err := store.Migrate(ctx, cfg, testkit.Logger(b))
	require.NoError(b, err)
	conn, err := store.Open(cfg)
	require.NoError(b, err)
	defer conn.Close()
	if len(applied.Applied) == 0 && count(b, conn, "SELECT count() FROM events") == lookupRows {
		return cfg
	}
	// Seed from scratch, with every migration applied to an empty database.
	require.NoError(b, conn.Exec(ctx, "DROP DATABASE "+cfg.Database))
	_, err = store.Migrate(ctx, cfg, testkit.Logger(b))
	require.NoError(b, err)
	seed := strings.NewReplacer("{week}", strconv.FormatInt(lookupWeek.Unix(), 10), "{rows}", strconv.Itoa(lookupRows)).Replace(seedSQL)
	require.NoError(b, conn.Exec(ctx, seed))
	require.Equal(b, uint64(lookupRows), count(b, conn, "SELECT count() FROM events"))
	return cfg
}

// BenchmarkForensicLookup times the forensic question "everything one
// source IP did in a day" over ten million stored events, with the two ways
// of seeing exactly one copy of each event (FINAL, GROUP BY id), and the
// same question by user and by host, which the sort order does not serve.
func BenchmarkForensicLookup(b *testing.B) {
	cfg := lookupConfig(b)
	conn, err := store.Open(cfg)
	require.NoError(b, err)
	defer conn.Close()
	ctx := context.Background()

	// Entities to look up, drawn from stored rows: busy ones come up as
	// often as an analyst meets them.
	sample := func(column string) []string {
		rows, err := conn.Query(ctx, "SELECT "+column+" FROM events WHERE cityHash64(id) % 250000 = 7 ORDER BY id LIMIT 40")
		require.NoError(b, err)
		defer rows.Close()
		var out []string
		for rows.Next() {
			var v string
			require.NoError(b, rows.Scan(&v))
			out = append(out, v)
		}
		require.NoError(b, rows.Err())
		require.NotEmpty(b, out)
		return out
	}
	from, to := lookupWeek.Add(3*24*time.Hour), lookupWeek.Add(4*24*time.Hour)
	const cols = "timestamp, host, user, action, outcome, message"
	const grouped = "any(timestamp) AS ts, any(host), any(user), any(action), any(outcome), any(message)"
	queries := []struct {
		name, column, sql string
	}{
		{"ip_final", "src_ip", "SELECT " + cols + " FROM events FINAL WHERE tenant = 'default' AND src_ip = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp"},
		{"ip_group_by_id", "src_ip", "SELECT " + grouped + " FROM events WHERE tenant = 'default' AND src_ip = ? AND timestamp >= ? AND timestamp < ? GROUP BY id ORDER BY ts"},
		{"user_final", "user", "SELECT " + cols + " FROM events FINAL WHERE tenant = 'default' AND user = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp"},
		// As the query library asks: the filter outside the sorting key in
		// PREWHERE, which is exact because every copy of an event is alike.
		{"user_final_prewhere", "user", "SELECT " + cols + " FROM events FINAL PREWHERE user = ? WHERE tenant = 'default' AND timestamp >= ? AND timestamp < ? ORDER BY timestamp"},
		{"user_group_by_id", "user", "SELECT " + grouped + " FROM events WHERE tenant = 'default' AND user = ? AND timestamp >= ? AND timestamp < ? GROUP BY id ORDER BY ts"},
		{"host_final", "host", "SELECT " + cols + " FROM events FINAL WHERE tenant = 'default' AND host = ? AND timestamp >= ? AND timestamp < ? ORDER BY timestamp"},
		{"host_final_prewhere", "host", "SELECT " + cols + " FROM events FINAL PREWHERE host = ? WHERE tenant = 'default' AND timestamp >= ? AND timestamp < ? ORDER BY timestamp"},
		{"host_group_by_id", "host", "SELECT " + grouped + " FROM events WHERE tenant = 'default' AND host = ? AND timestamp >= ? AND timestamp < ? GROUP BY id ORDER BY ts"},
	}
	samples := map[string][]string{}
	for _, q := range queries {
		if samples[q.column] == nil {
			samples[q.column] = sample(q.column)
		}
	}
	for range b.N {
		for _, q := range queries {
			var lat []time.Duration
			var rows int
			for _, v := range samples[q.column] {
				t0 := time.Now()
				rows += drain(b, conn, q.sql, v, from, to)
				lat = append(lat, time.Since(t0))
			}
			require.Positive(b, rows, "%s found nothing", q.name)
			slices.Sort(lat)
			at := func(p float64) float64 {
				return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))]) / float64(time.Millisecond)
			}
			fmt.Printf("BENCH name=lookup_%s_p50 value=%.1f unit=ms\n", q.name, at(0.50))
			fmt.Printf("BENCH name=lookup_%s_p99 value=%.1f unit=ms\n", q.name, at(0.99))
		}
	}
}

// drain runs query and reads every row it returns, returning how many.
func drain(tb testing.TB, conn driver.Conn, query string, args ...any) int {
	tb.Helper()
	rows, err := conn.Query(context.Background(), query, args...)
	require.NoError(tb, err)
	defer rows.Close()
	var (
		ts                                   time.Time
		host, user, action, outcome, message string
		n                                    int
	)
	for rows.Next() {
		require.NoError(tb, rows.Scan(&ts, &host, &user, &action, &outcome, &message))
		n++
	}
	require.NoError(tb, rows.Err())
	return n
}
