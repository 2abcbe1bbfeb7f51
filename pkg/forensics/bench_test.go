package forensics_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/forensics"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// seedSQL inserts events numbers [lo, hi): ten a second from benchStart,
// 50,000 source IPs, 1,000 users, 50 hosts.
const seedSQL = `INSERT INTO events (id, timestamp, tenant, source, host, category, action, outcome, src_ip, user, bytes_out, bytes_in, message)
SELECT lower(hex(MD5(toString(number)))), toDateTime('2025-03-01 00:00:00', 'UTC') + intDiv(number, 10), 'default', 'sshd',
    concat('h', toString(number %% 50)), 'authentication', 'ssh_login', if(number %% 7 = 0, 'success', 'failure'),
    concat('10.0.', toString(number %% 200), '.', toString(number %% 250)), concat('u', toString(number %% 1000)),
    number %% 1000, number %% 3000, concat('Failed password for u', toString(number %% 1000), ' from 10.0.0.1 port 22 ssh2')
FROM numbers(%d, %d)`

// The other way to see one copy: GROUP BY id, any() of each column.
var groupByID = map[string]string{
	"ip-activity": `SELECT ts, h, u, src, cat, act, res, dip, dport, msg FROM (
    SELECT id, any(timestamp) AS ts, any(timestamp_ns) AS ns, any(host) AS h, any(user) AS u, any(source) AS src,
        any(category) AS cat, any(action) AS act, any(outcome) AS res, any(dst_ip) AS dip, any(dst_port) AS dport, any(message) AS msg
    FROM events
    WHERE tenant = @tenant AND src_ip = @ip AND timestamp >= @from AND timestamp < @to
    GROUP BY id)
ORDER BY ts, ns, id
LIMIT @limit`,
	"user-logins": `SELECT ts, res, ip, port, h, act, msg FROM (
    SELECT id, any(timestamp) AS ts, any(timestamp_ns) AS ns, any(outcome) AS res, any(src_ip) AS ip, any(src_port) AS port,
        any(host) AS h, any(action) AS act, any(message) AS msg
    FROM events
    WHERE tenant = @tenant AND user = @user AND category = 'authentication' AND timestamp >= @from AND timestamp < @to
    GROUP BY id)
ORDER BY ts, ns, id
LIMIT @limit`,
	"top-talkers": `SELECT ip, count() AS event_count, sum(bo) AS bytes_sent, sum(bi) AS bytes_received,
    uniqExactIf(u, u != '') AS users, uniqExactIf(h, h != '') AS hosts
FROM (
    SELECT id, any(src_ip) AS ip, any(bytes_out) AS bo, any(bytes_in) AS bi, any(user) AS u, any(host) AS h
    FROM events
    WHERE tenant = @tenant AND src_ip != '' AND timestamp >= @from AND timestamp < @to
    GROUP BY id)
GROUP BY ip
ORDER BY if(@by = 'bytes', bytes_sent + bytes_received, event_count) DESC, ip
LIMIT @limit`,
}

// BenchmarkOneCopy compares FINAL (as the library queries read events)
// with GROUP BY id on 2,200,000 events, 200,000 of them copies in a part of
// their own. It prints the milliseconds per query of each.
func BenchmarkOneCopy(b *testing.B) {
	cfg := testkit.ClickHouse(b)
	conn, err := store.Open(cfg)
	require.NoError(b, err)
	defer conn.Close()
	ctx := context.Background()
	require.NoError(b, conn.Exec(ctx, fmt.Sprintf(seedSQL, 0, 2_000_000)))
	require.NoError(b, conn.Exec(ctx, fmt.Sprintf(seedSQL, 0, 200_000))) // redelivered

	env := forensics.Env{Now: time.Date(2025, 3, 4, 0, 0, 0, 0, time.UTC), Tenant: "default"}
	cases := []struct {
		name   string
		params map[string]string
	}{
		{"ip-activity", map[string]string{"ip": "10.0.7.7", "from": "2025-03-01", "to": "2025-03-04"}},
		{"user-logins", map[string]string{"user": "u17", "from": "2025-03-01", "to": "2025-03-04"}},
		{"top-talkers", map[string]string{"from": "2025-03-01", "to": "2025-03-04"}},
	}
	for _, c := range cases {
		final, err := forensics.Lookup(c.name)
		require.NoError(b, err)
		grouped := final
		grouped.SQL = groupByID[c.name]
		variants := []struct {
			name string
			q    forensics.Query
		}{{"final", final}, {"group_by_id", grouped}}
		if c.name == "user-logins" { // the same query with its filter in WHERE instead of PREWHERE
			noPrewhere := final
			noPrewhere.SQL = `SELECT timestamp, outcome, src_ip, src_port, host, action, message
FROM events FINAL
WHERE tenant = @tenant AND user = @user AND category = 'authentication' AND timestamp >= @from AND timestamp < @to
ORDER BY timestamp, timestamp_ns, id
LIMIT @limit`
			variants = append(variants, struct {
				name string
				q    forensics.Query
			}{"final_without_prewhere", noPrewhere})
		}
		var want [][]string
		var finalMS float64
		for _, v := range variants {
			b.Run(c.name+"/"+v.name, func(b *testing.B) {
				res, err := v.q.Run(ctx, conn, c.params, env) // warm the caches, untimed
				require.NoError(b, err)
				for b.Loop() {
					res, err = v.q.Run(ctx, conn, c.params, env)
					require.NoError(b, err)
				}
				if want == nil {
					want = res.Strings()
					require.NotEmpty(b, want)
				}
				require.Equal(b, want, res.Strings(), "every way sees the same rows")
				ms := float64(b.Elapsed().Microseconds()) / 1000 / float64(b.N)
				line := fmt.Sprintf("BENCH name=one_copy_%s_%s value=%.1f unit=ms", c.name, v.name, ms)
				if v.name == "final" {
					finalMS = ms
				} else if finalMS > 0 {
					line += fmt.Sprintf(" vs=final ratio=%.2f", ms/finalMS)
				}
				fmt.Println(line)
			})
		}
	}
}
