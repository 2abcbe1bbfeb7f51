package alert_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/schemas"
)

var t0 = time.Date(2024, 3, 5, 10, 11, 0, 0, time.UTC)

// The dedup key is what paging tools group incidents by (PagerDuty
// dedup_key, Alertmanager groupKey): its format must not change.
func TestDedupKeyFormat(t *testing.T) {
	tests := []struct {
		tenant, profile, entity, want string
	}{
		{"acme", "brute_force", "203.0.113.7", "vigil/acme/brute_force/203.0.113.7"},
		{"default", "brute_force", "2001:db8::1", "vigil/default/brute_force/2001:db8::1"},
		{"acme", "db_exfil", "alice@db-1", "vigil/acme/db_exfil/alice@db-1"},
		{"", "", "", "vigil///"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			require.Equal(t, tt.want, alert.DedupKey(tt.tenant, tt.profile, tt.entity))
			require.Equal(t, alert.DedupKey(tt.tenant, tt.profile, tt.entity), alert.DedupKey(tt.tenant, tt.profile, tt.entity))
		})
	}
	require.NotEqual(t, alert.DedupKey("acme", "brute_force", "a"), alert.DedupKey("acme", "brute_force", "b"))
	require.NotEqual(t, alert.DedupKey("acme", "p1", "a"), alert.DedupKey("acme", "p2", "a"))
	require.NotEqual(t, alert.DedupKey("t1", "p", "a"), alert.DedupKey("t2", "p", "a"))
}

func TestIDDeterministic(t *testing.T) {
	key := alert.DedupKey("acme", "brute_force", "203.0.113.7")
	a := alert.ID(key, t0, alert.StatusFiring)
	require.Regexp(t, `^[0-9a-f]{32}$`, a)
	require.Equal(t, a, alert.ID(key, t0, alert.StatusFiring), "same inputs, same id")
	require.Equal(t, a, alert.ID(key, t0.In(time.FixedZone("CET", 3600)), alert.StatusFiring), "same instant, same id")
	// Pinned: alerts are deduplicated by this id across versions. Checked
	// against an independent SHA-256 of
	// "34:vigil/acme/brute_force/203.0.113.7|1709633460000000000|firing".
	require.Equal(t, "d0cb1201afa496bca1410662d3349987", a)
}

func TestIDSensitivity(t *testing.T) {
	type in struct {
		key    string
		first  time.Time
		status string
	}
	base := in{"vigil/acme/brute_force/203.0.113.7", t0, alert.StatusFiring}
	tests := []struct {
		name string
		a, b in
	}{
		{"dedup key", base, in{"vigil/acme/brute_force/203.0.113.8", t0, alert.StatusFiring}},
		{"first seen", base, in{base.key, t0.Add(time.Minute), alert.StatusFiring}},
		{"first seen by a nanosecond", base, in{base.key, t0.Add(time.Nanosecond), alert.StatusFiring}},
		{"status", base, in{base.key, t0, alert.StatusResolved}},
		{"separator inside the key", in{"k|1", t0, "s"}, in{"k", t0, "1|s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotEqual(t, alert.ID(tt.a.key, tt.a.first, tt.a.status), alert.ID(tt.b.key, tt.b.first, tt.b.status))
		})
	}
}

type objectSchema struct {
	Required   []string                   `json:"required"`
	Properties map[string]json.RawMessage `json:"properties"`
}

func jsonNames(tb testing.TB, typ reflect.Type) []string {
	tb.Helper()
	var names []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		require.NotEmpty(tb, name, "%s.%s has no JSON name", typ.Name(), typ.Field(i).Name)
		names = append(names, name)
	}
	return names
}

// alert.Alert and schemas/alerts/alert.v1.json name the same keys, and a
// populated alert writes every key the schema requires.
func TestSchemaMatchesType(t *testing.T) {
	raw, err := schemas.FS.ReadFile("alerts/alert.v1.json")
	require.NoError(t, err)
	var s struct {
		objectSchema
		Defs struct {
			Explanation objectSchema `json:"explanation"`
		} `json:"$defs"`
	}
	require.NoError(t, json.Unmarshal(raw, &s))

	props := func(m map[string]json.RawMessage) []string {
		var out []string
		for k := range m {
			out = append(out, k)
		}
		return out
	}
	require.ElementsMatch(t, props(s.Properties), jsonNames(t, reflect.TypeFor[alert.Alert]()))
	require.ElementsMatch(t, props(s.Defs.Explanation.Properties), jsonNames(t, reflect.TypeFor[score.Explanation]()))

	key := alert.DedupKey("acme", "brute_force", "203.0.113.7")
	a := alert.Alert{
		Version: 1, ID: alert.ID(key, t0, alert.StatusFiring), DedupKey: key, Status: alert.StatusFiring,
		Severity: "high", Summary: "40 failed logins from 203.0.113.7 (expected 1.5)", Tenant: "acme",
		Profile: "brute_force", Entity: "203.0.113.7", EntityField: "source.ip",
		FirstSeen: t0, LastSeen: t0.Add(time.Minute), Count: 1, AnomalyScore: 0.9995,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: 40, Expected: 1.5, Spread: 1.2, Samples: 30, Method: "poisson_ewma"},
		Links:       alert.Links{Dashboard: "http://grafana/d/entity", Query: "SELECT 1"},
	}
	b, err := json.Marshal(a)
	require.NoError(t, err)
	var written map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &written))
	for _, k := range s.Required {
		require.Contains(t, written, k, "required key %q is written", k)
	}
	var expl map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(written["explanation"], &expl))
	for _, k := range s.Defs.Explanation.Required {
		require.Contains(t, expl, k, "required explanation key %q is written", k)
	}
}
