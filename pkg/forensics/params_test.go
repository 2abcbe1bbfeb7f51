package forensics_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/forensics"
)

func TestBind(t *testing.T) {
	now := time.Date(2025, 3, 5, 10, 30, 15, 500, time.UTC)
	env := forensics.Env{Now: now, Tenant: "acme"}
	tests := []struct {
		name   string
		query  string
		params map[string]string
		want   map[string]any
		errs   []string
	}{
		{
			"defaults", "ip-activity", map[string]string{"ip": "203.0.113.7"},
			map[string]any{"ip": "203.0.113.7", "from": now.Add(-24 * time.Hour).Truncate(time.Second),
				"to": now.Truncate(time.Second), "tenant": "acme", "limit": int64(1000)}, nil,
		},
		{
			"every time form", "ip-activity",
			map[string]string{"ip": "::ffff:10.0.0.1", "from": "2025-03-01", "to": "2025-03-02T01:02:03+01:00", "tenant": "t", "limit": "5"},
			map[string]any{"ip": "10.0.0.1", "from": time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC),
				"to": time.Date(2025, 3, 2, 0, 2, 3, 0, time.UTC), "tenant": "t", "limit": int64(5)}, nil,
		},
		{
			"a date and time, days before now", "first-seen", map[string]string{"from": "-7d", "to": "2025-03-05 10:00:00", "lookback": "30d"},
			map[string]any{"from": now.AddDate(0, 0, -7).Truncate(time.Second), "to": time.Date(2025, 3, 5, 10, 0, 0, 0, time.UTC),
				"lookback": int64(30 * 24 * 3600), "tenant": "acme", "limit": int64(1000)}, nil,
		},
		{
			"durations and an empty optional IP", "failed-then-success", map[string]string{"window": "90s", "failures": "3"},
			map[string]any{"from": now.Add(-24 * time.Hour).Truncate(time.Second), "to": now.Truncate(time.Second),
				"failures": int64(3), "window": int64(90), "ip": "", "tenant": "acme", "limit": int64(1000)}, nil,
		},
		{"missing required", "ip-activity", map[string]string{}, nil, []string{"ip: required"}},
		{"bad IP", "ip-activity", map[string]string{"ip": "203.0.113"}, nil, []string{`ip: "203.0.113" is not an IP address`}},
		{"bad time", "ip-activity", map[string]string{"ip": "::1", "from": "yesterday"}, nil, []string{`from: "yesterday" is not a time`}},
		{"from after to", "ip-activity", map[string]string{"ip": "::1", "from": "2025-03-02", "to": "2025-03-01"}, nil, []string{"from: 2025-03-02 00:00:00 is not before to"}},
		{"limit out of range", "ip-activity", map[string]string{"ip": "::1", "limit": "0"}, nil, []string{"limit: 0 is not from 1 to 100000"}},
		{"not a number", "failed-then-success", map[string]string{"failures": "many"}, nil, []string{`failures: "many" is not a whole number`}},
		{"bad duration", "failed-then-success", map[string]string{"window": "10 minutes"}, nil, []string{`window: "10 minutes" is not a duration`}},
		{"too short a duration", "failed-then-success", map[string]string{"window": "10ms"}, nil, []string{"window: \"10ms\": must be at least 1s"}},
		{"bad choice", "top-talkers", map[string]string{"by": "packets"}, nil, []string{`by: "packets" is not one of events, bytes`}},
		{"unknown parameter", "top-talkers", map[string]string{"ip": "::1", "zz": "1"}, nil, []string{"ip: top-talkers takes no such parameter", "zz: top-talkers"}},
		{
			"every problem at once", "ip-activity", map[string]string{"from": "x", "limit": "-1"}, nil,
			[]string{"ip: required", "from: \"x\"", "limit: -1"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := forensics.Lookup(tt.query)
			require.NoError(t, err)
			got, err := q.Bind(tt.params, env)
			if tt.errs != nil {
				require.True(t, errors.Is(err, forensics.ErrBadParam), "%v", err)
				for _, e := range tt.errs {
					require.ErrorContains(t, err, e)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

func TestLookupUnknown(t *testing.T) {
	_, err := forensics.Lookup("ip_activity")
	require.ErrorIs(t, err, forensics.ErrUnknownQuery)
	require.ErrorContains(t, err, "ip-activity, user-logins")
}

// Every parameter a query's SQL binds is declared, and every declared
// one is bound; defaults are valid.
func TestQueriesAreWellFormed(t *testing.T) {
	env := forensics.Env{Now: time.Now(), Tenant: "default"}
	for _, q := range forensics.Queries() {
		t.Run(q.Name, func(t *testing.T) {
			require.NotEmpty(t, q.Summary)
			bound := forensics.Placeholders(q.SQL)
			var declared []string
			values := map[string]string{}
			for _, p := range q.Params {
				declared = append(declared, p.Name)
				require.NotEmpty(t, p.Doc, "%s has a doc", p.Name)
				if p.Required {
					require.Empty(t, p.Default, "%s: a required parameter has no default", p.Name)
					values[p.Name] = map[forensics.Type]string{forensics.IP: "::1", forensics.String: "x"}[p.Type]
				}
			}
			require.ElementsMatch(t, declared, bound)
			_, err := q.Bind(values, env)
			require.NoError(t, err, "the defaults bind")
		})
	}
}

func FuzzBind(f *testing.F) {
	for _, s := range []string{"now", "-24h", "-7d", "2025-03-01", "2025-03-01 10:00:00", "2025-03-01T10:00:00Z", "::1", "10m", "5"} {
		f.Add(s)
	}
	env := forensics.Env{Now: time.Now(), Tenant: "default"}
	f.Fuzz(func(t *testing.T, s string) {
		for _, q := range forensics.Queries() {
			values := map[string]string{}
			for _, p := range q.Params {
				values[p.Name] = s
			}
			got, err := q.Bind(values, env)
			if err == nil && len(got) != len(q.Params) {
				t.Fatalf("%s bound %d of %d parameters", q.Name, len(got), len(q.Params))
			}
		}
	})
}
