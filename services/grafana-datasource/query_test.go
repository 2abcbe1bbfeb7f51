package grafanads

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseQueryNamesEveryBadField(t *testing.T) {
	_, err := parseQuery([]byte(`{"srcIp": "1.2.3", "entityField": "ip", "band": -1, "minScore": 2, "minSeverity": "urgent",
		"status": "open", "groupBy": ["user"], "format": "csv", "limit": -5, "user": "` + strings.Repeat("u", 4097) + `",
		"params": {"ip": "` + strings.Repeat("1", 4097) + `"}}`))
	require.ErrorIs(t, err, errBadQuery)
	for _, want := range []string{`srcIp: "1.2.3" is not an IP address`, `entityField: "ip" is not`, "band: -1",
		"minScore: 2", `minSeverity: "urgent"`, `status: "open"`, `groupBy: "user"`, `format: "csv"`, "limit: -5",
		"user: longer than 4096 bytes", `params: parameter "ip"`} {
		require.Contains(t, err.Error(), want)
	}
	_, err = parseQuery([]byte(`{"limit": "ten"}`))
	require.ErrorIs(t, err, errBadQuery)
}

func TestParseQueryNormalizes(t *testing.T) {
	q, err := parseQuery([]byte(`{"srcIp": "::ffff:203.0.113.7", "entity": "2001:DB8::1", "entityField": "source.ip"}`))
	require.NoError(t, err)
	require.Equal(t, "203.0.113.7", q.SrcIP, "the form events store")
	require.Equal(t, "2001:db8::1", q.Entity)
	require.Equal(t, 1.0, q.Band)
	require.Equal(t, []string{"category", "outcome"}, q.GroupBy)
	require.Equal(t, 10, q.limitOr(10, 100))
	q.Limit = 500
	require.Equal(t, 100, q.limitOr(10, 100), "bounded by maxRows")
	q.MinSeverity = "high"
	require.Equal(t, 4, q.severityRank())
}

func TestStep(t *testing.T) {
	from := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		span, interval time.Duration
		points         int64
		min, want      time.Duration
	}{
		{time.Hour, time.Minute, 1000, time.Second, time.Minute},
		{time.Hour, 0, 0, time.Second, time.Second},
		{24 * time.Hour, time.Second, 100, time.Second, 864 * time.Second},
		{24 * time.Hour, 10 * time.Second, 1000, time.Minute, 2 * time.Minute},
		{365 * 24 * time.Hour, time.Second, 0, time.Minute, 53 * time.Minute},
	} {
		r := request{from: from, to: from.Add(tt.span), interval: tt.interval, maxPoints: tt.points}
		require.Equal(t, tt.want, r.step(tt.min), "%+v", tt)
	}
}
