package vigil

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/forensics"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestQueryList(t *testing.T) {
	for _, args := range [][]string{{"query"}, {"query", "--list"}} {
		out, err := run(t, args...)
		require.NoError(t, err)
		for _, q := range forensics.Queries() {
			require.Contains(t, out, q.Name+"\n  "+q.Summary+"\n")
		}
		require.Contains(t, out, "  --param ip        ip       required")
		require.Contains(t, out, "  --param window    duration default 10m")
	}
}

func TestQueryRefuses(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"query", "ip_activity"}, `unknown query "ip_activity"`},
		{[]string{"query", "ip-activity", "--format", "csv"}, `--format: "csv"`},
		{[]string{"query", "ip-activity", "-p", "ip"}, `--param "ip": want key=value`},
		{[]string{"query", "ip-activity", "-p", "ip=::1", "-p", "ip=::2"}, "--param ip: given twice"},
		{[]string{"query", "ip-activity", "-p", "ip=nope", "-p", "limit=0"}, `ip: "nope" is not an IP address`},
		{[]string{"query", "top-talkers", "--set", "clickhouse.addr=nowhere"}, "clickhouse.addr"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := run(t, tt.args...)
			require.ErrorContains(t, err, tt.want)
		})
	}
}

func TestQueryRuns(t *testing.T) {
	ch := testkit.ClickHouse(t)
	t0 := time.Date(2025, 3, 5, 10, 0, 0, 0, time.UTC)
	rows := [][]any{
		{"e1", t0, "default", "authentication", "failure", "203.0.113.7", "root", "Failed password for root"},
		{"e2", t0.Add(time.Second), "default", "authentication", "success", "203.0.113.7", "root", "Accepted password for root"},
		{"e3", t0.Add(2 * time.Second), "default", "authentication", "success", "192.0.2.1", "bob", "Accepted password for bob"},
	}
	testkit.Insert(t, ch, "events", "id, timestamp, tenant, category, outcome, src_ip, user, message", rows...)
	testkit.Insert(t, ch, "events", "id, timestamp, tenant, category, outcome, src_ip, user, message", rows[0]) // a copy
	conn := []string{"--set", "clickhouse.addr=" + ch.Addr[0], "--set", "clickhouse.database=" + ch.Database}
	params := []string{"-p", "ip=203.0.113.7", "-p", "from=2025-03-05", "-p", "to=2025-03-06"}

	out, err := run(t, append(append([]string{"query", "ip-activity"}, params...), conn...)...)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 4, out)
	require.Regexp(t, `^timestamp\s+host\s+user\s+source\s+category\s+action\s+outcome\s+dst_ip\s+dst_port\s+message$`, lines[0])
	require.Regexp(t, `^2025-03-05 10:00:00\s+root\s+authentication\s+failure\s+0\s+Failed password for root$`, lines[1])
	require.Regexp(t, `^2025-03-05 10:00:01\s+root\s+authentication\s+success\s+0\s+Accepted password for root$`, lines[2])
	require.Equal(t, "(2 rows)", lines[3])

	out, err = run(t, append(append([]string{"query", "ip-activity", "--format", "json"}, params...), conn...)...)
	require.NoError(t, err)
	lines = strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	var first map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &first))
	require.Equal(t, "2025-03-05T10:00:00Z", first["timestamp"])
	require.Equal(t, "failure", first["outcome"])
	require.Equal(t, float64(0), first["dst_port"])
	require.True(t, strings.HasPrefix(lines[0], `{"timestamp":`), "keys in column order")

	out, err = run(t, append([]string{"query", "top-talkers", "-p", "from=2025-03-05", "-p", "to=2025-03-06", "--format", "json"}, conn...)...)
	require.NoError(t, err)
	require.Equal(t, `{"src_ip":"203.0.113.7","event_count":2,"bytes_sent":0,"bytes_received":0,"users":1,"hosts":0}`+"\n"+
		`{"src_ip":"192.0.2.1","event_count":1,"bytes_sent":0,"bytes_received":0,"users":1,"hosts":0}`+"\n", out)
}
