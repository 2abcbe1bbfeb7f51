package alert_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/schemas"
)

// alertSchema compiles schemas/alerts/alert.v1.json, asserting formats
// (date-time) as well as types.
func alertSchema(tb testing.TB) *jsonschema.Schema {
	tb.Helper()
	raw, err := schemas.FS.ReadFile("alerts/alert.v1.json")
	require.NoError(tb, err)
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	require.NoError(tb, err)
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	const url = "https://vigil.dev/schemas/alerts/alert.v1.json"
	require.NoError(tb, c.AddResource(url, doc))
	s, err := c.Compile(url)
	require.NoError(tb, err)
	return s
}

func validateJSON(tb testing.TB, s *jsonschema.Schema, b []byte) error {
	tb.Helper()
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	require.NoError(tb, err)
	return s.Validate(inst)
}

// The examples in testdata/valid pass the schema and Validate, and survive
// a round trip through alert.Alert unchanged; those in testdata/invalid
// fail the schema, each for the reason its name gives.
func TestExamplesAgainstSchema(t *testing.T) {
	s := alertSchema(t)
	valid, err := filepath.Glob("testdata/valid/*.json")
	require.NoError(t, err)
	require.NotEmpty(t, valid)
	for _, path := range valid {
		t.Run(path, func(t *testing.T) {
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			require.NoError(t, validateJSON(t, s, b))
			var a alert.Alert
			require.NoError(t, json.Unmarshal(b, &a))
			require.NoError(t, a.Validate())
			again, err := json.Marshal(a)
			require.NoError(t, err)
			require.NoError(t, validateJSON(t, s, again), "re-encoded: %s", again)
			var want, got any
			require.NoError(t, json.Unmarshal(b, &want))
			require.NoError(t, json.Unmarshal(again, &got))
			normalizeTimes(want)
			normalizeTimes(got)
			// Absent links and {} say the same; alert.Alert writes {}.
			if links, _ := want.(map[string]any)["links"].(map[string]any); len(links) == 0 {
				delete(want.(map[string]any), "links")
				delete(got.(map[string]any), "links")
			}
			require.Equal(t, want, got)
		})
	}

	// Each invalid example fails at the place its name says.
	wantAt := map[string]string{
		"bad_first_seen":               "at '/first_seen'",
		"count_zero":                   "at '/count'",
		"empty_id":                     "at '/id'",
		"explanation_without_observed": "at '/explanation': missing property 'observed'",
		"label_not_string":             "at '/labels/team'",
		"label_overrides_builtin":      "at '/labels'",
		"no_dedup_key":                 "missing property 'dedup_key'",
		"score_above_one":              "at '/anomaly_score'",
		"unknown_severity":             "at '/severity'",
		"unknown_status":               "at '/status'",
		"version_two":                  "at '/vigil.version'",
	}
	invalid, err := filepath.Glob("testdata/invalid/*.json")
	require.NoError(t, err)
	require.Len(t, invalid, len(wantAt))
	for _, path := range invalid {
		t.Run(path, func(t *testing.T) {
			want, ok := wantAt[strings.TrimSuffix(filepath.Base(path), ".json")]
			require.True(t, ok, "no expectation for %s", path)
			b, err := os.ReadFile(path)
			require.NoError(t, err)
			err = validateJSON(t, s, b)
			require.Error(t, err)
			require.Contains(t, err.Error(), want)
		})
	}
}

// normalizeTimes rewrites every RFC 3339 string in v as UTC, so that the
// same instant written in two zones compares equal.
func normalizeTimes(v any) {
	m, ok := v.(map[string]any)
	if !ok {
		return
	}
	for k, x := range m {
		if str, ok := x.(string); ok {
			if ts, err := time.Parse(time.RFC3339Nano, str); err == nil && strings.Contains(str, "T") {
				m[k] = ts.UTC().Format(time.RFC3339Nano)
			}
		}
		normalizeTimes(x)
	}
}

// What alert.Alert writes is valid, with every field set or only the
// required ones.
func TestMarshalledAlertsAreValid(t *testing.T) {
	s := alertSchema(t)
	key := alert.DedupKey("acme", "brute_force", "203.0.113.7")
	full := alert.Alert{
		Version: 1, ID: alert.ID(key, t0, alert.StatusResolved), DedupKey: key, Status: alert.StatusResolved,
		Severity: alert.SeverityHigh, Summary: "over", Tenant: "acme", Profile: "brute_force", Entity: "203.0.113.7",
		EntityField: "source.ip", FirstSeen: t0, LastSeen: t0.Add(time.Minute), ResolvedAt: t0.Add(6 * time.Minute),
		Count: 2, EventCount: 80, AnomalyScore: 0.5,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: 0, Expected: 1.5, Spread: 1.2, Samples: 30, Season: "weekday-10h", Method: "poisson_ewma"},
		Labels:      map[string]string{"team": "identity"},
		Links:       alert.Links{Dashboard: "/d/x", Query: "SELECT 1"},
	}
	minimal := alert.Alert{
		Version: 1, ID: "x", DedupKey: key, Status: alert.StatusFiring, Severity: alert.SeverityInfo,
		FirstSeen: t0, LastSeen: t0, Count: 1,
	}
	for name, a := range map[string]alert.Alert{"full": full, "minimal": minimal} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, a.Validate())
			b, err := json.Marshal(a)
			require.NoError(t, err)
			require.NoError(t, validateJSON(t, s, b), "%s", b)
		})
	}
	b, err := json.Marshal(minimal)
	require.NoError(t, err)
	require.NotContains(t, string(b), "resolved_at", "a firing alert has no resolved_at")
	require.NotContains(t, string(b), "event_count")
	require.NotContains(t, string(b), "labels")
}

func TestValidate(t *testing.T) {
	key := alert.DedupKey("acme", "brute_force", "203.0.113.7")
	good := alert.Alert{ID: "x", DedupKey: key, Status: alert.StatusFiring, Severity: alert.SeverityHigh, FirstSeen: t0, LastSeen: t0}
	tests := []struct {
		name string
		edit func(*alert.Alert)
		want []string
	}{
		{"valid", nil, nil},
		{"labels naming a built-in are ignored, not an error", func(a *alert.Alert) { a.Labels = map[string]string{"severity": "low"} }, nil},
		{"no id", func(a *alert.Alert) { a.ID = "" }, []string{"id is empty"}},
		{"no dedup key", func(a *alert.Alert) { a.DedupKey = "" }, []string{"dedup_key is empty"}},
		{"status", func(a *alert.Alert) { a.Status = "acked" }, []string{`status "acked"`}},
		{"severity", func(a *alert.Alert) { a.Severity = "warning" }, []string{`severity "warning"`}},
		{"times", func(a *alert.Alert) { a.FirstSeen, a.LastSeen = time.Time{}, time.Time{} }, []string{"first_seen", "last_seen"}},
		{"empty", func(a *alert.Alert) { *a = alert.Alert{} }, []string{"id", "dedup_key", "status", "severity", "first_seen", "last_seen"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := good
			if tt.edit != nil {
				tt.edit(&a)
			}
			err := a.Validate()
			if tt.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, alert.ErrInvalid)
			for _, w := range tt.want {
				require.ErrorContains(t, err, w)
			}
		})
	}
}

func TestLabelSet(t *testing.T) {
	a := alert.Alert{
		DedupKey: "vigil/acme/brute_force/203.0.113.7", Severity: alert.SeverityHigh, Tenant: "acme",
		Profile: "brute_force", Entity: "203.0.113.7", EntityField: "source.ip",
		Explanation: score.Explanation{Feature: "failed_logins"},
		Labels:      map[string]string{"team": "identity", "severity": "low", "tenant": "evil"},
	}
	require.Equal(t, map[string]string{
		"tenant": "acme", "profile": "brute_force", "entity": "203.0.113.7", "entity_field": "source.ip",
		"severity": "high", "dedup_key": "vigil/acme/brute_force/203.0.113.7", "feature": "failed_logins",
		"team": "identity",
	}, a.LabelSet(), "extra labels are added; built-in ones are not overridden")
	require.Equal(t, "low", a.Labels["severity"], "LabelSet leaves the alert's labels alone")
	require.ElementsMatch(t, alert.BuiltinLabels, []string{"tenant", "profile", "entity", "entity_field", "severity", "dedup_key", "feature"})
}
