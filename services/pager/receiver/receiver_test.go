package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/services/pager/internal/hooktest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2024, 3, 5, 10, 11, 0, 0, time.UTC)

// Secrets of the test receivers: none may appear in an error.
const (
	routingKey = "R0UT1NGKEY0123456789abcdefabcdef"
	genieKey   = "genie-key-5f1e2d3c"
	slackPath  = "/services/T000/B000/SLACKTOKENxyz"
	bearer     = "bearer-token-77"
)

func firing() alert.Alert {
	key := alert.DedupKey("acme", "brute_force", "203.0.113.7")
	return alert.Alert{
		Version: 1, ID: alert.ID(key, t0, alert.StatusFiring), DedupKey: key, Status: alert.StatusFiring,
		Severity: alert.SeverityHigh, Summary: "Brute force from 203.0.113.7: 40 failed logins in 1m0s (expected 1.5 ± 1.2)",
		Tenant: "acme", Profile: "brute_force", Entity: "203.0.113.7", EntityField: "source.ip",
		FirstSeen: t0, LastSeen: t0.Add(time.Minute), Count: 1, EventCount: 40, AnomalyScore: 0.9999995,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: 40, Expected: 1.5, Spread: 1.2, Samples: 30, Season: "weekday-10h", Method: "poisson_ewma"},
		Labels:      map[string]string{"team": "identity"},
		Links: alert.Links{
			Dashboard: "/d/vigil-entity/vigil-entity?var-entity=203.0.113.7&var-tenant=acme",
			Query:     "SELECT timestamp, host, user, action, outcome, message FROM events FINAL WHERE tenant = 'acme' AND src_ip = '203.0.113.7' ORDER BY timestamp",
		},
	}
}

func resolved() alert.Alert {
	a := firing()
	a.Status = alert.StatusResolved
	a.ID = alert.ID(a.DedupKey, a.FirstSeen, a.Status)
	a.Summary = "Brute force from 203.0.113.7 is over after 4 windows"
	a.LastSeen = t0.Add(4 * time.Minute)
	a.ResolvedAt = t0.Add(9 * time.Minute)
	a.Count, a.EventCount = 4, 171
	return a
}

// odd is an alert that tests the limits: a key too long for PagerDuty and
// Opsgenie, markup in the summary, no links, no labels, low severity.
func odd() alert.Alert {
	a := firing()
	a.Entity = strings.Repeat("x", 600)
	a.DedupKey = alert.DedupKey("acme", "db_exfil", a.Entity)
	a.ID = alert.ID(a.DedupKey, a.FirstSeen, a.Status)
	a.Profile, a.Severity = "db_exfil", alert.SeverityLow
	a.Summary = "<b>bytes & more</b> " + strings.Repeat("é", 700)
	a.Labels, a.Links, a.EventCount = nil, alert.Links{}, 0
	a.Explanation.Season = ""
	return a
}

// receivers returns one receiver of each type, all pointed at srv.
func receivers(t *testing.T, srv string) map[string]Receiver {
	t.Helper()
	cfgs := []config.ReceiverConfig{
		{Name: "oncall", Type: "pagerduty", URL: config.SecretURL(srv + "/v2/enqueue"), RoutingKey: routingKey},
		{Name: "ops", Type: "opsgenie", URL: config.SecretURL(srv), APIKey: genieKey},
		{Name: "chat", Type: "slack", URL: config.SecretURL(srv + slackPath)},
		{Name: "soar", Type: "webhook", URL: config.SecretURL(srv + "/hooks/vigil"), BearerToken: bearer},
	}
	out := map[string]Receiver{}
	for _, c := range cfgs {
		r, err := New(c, Options{GrafanaURL: "https://grafana.example.com"})
		require.NoError(t, err)
		out[c.Type] = r
	}
	return out
}

// golden renders a request as the golden files hold it: the request line,
// the headers that matter, and the body indented.
func golden(t *testing.T, r hooktest.Request) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s\n", r.Method, r.Path)
	for _, h := range []string{"Authorization", "Content-Type", "User-Agent"} {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(&b, "%s: %s\n", h, v)
		}
	}
	b.WriteString("\n")
	require.NoError(t, json.Indent(&b, r.Body, "", "  "), "body is JSON: %s", r.Body)
	b.WriteString("\n")
	return b.Bytes()
}

// Each receiver sends exactly the request in its golden file, for a firing
// alert, a resolved one and one at the limits of each API. Run with
// -update to rewrite them.
func TestGoldenPayloads(t *testing.T) {
	cases := map[string]alert.Alert{"firing": firing(), "resolved": resolved(), "odd": odd()}
	for _, typ := range config.ReceiverTypes {
		for name, a := range cases {
			t.Run(typ+"_"+name, func(t *testing.T) {
				srv := hooktest.New(t, nil)
				require.NoError(t, receivers(t, srv.URL)[typ].Notify(context.Background(), a))
				reqs := srv.Requests("/")
				require.Len(t, reqs, 1)
				got := golden(t, reqs[0])
				path := filepath.Join("testdata", typ+"_"+name+".golden")
				if *update {
					require.NoError(t, os.WriteFile(path, got, 0o644))
				}
				want, err := os.ReadFile(path)
				require.NoError(t, err, "run go test -update to create it")
				require.Equal(t, string(want), string(got))
			})
		}
	}
}

// What every payload must hold, whatever the golden files say.
func TestPayloadInvariants(t *testing.T) {
	a := firing()
	pd, err := PagerDutyEvent(a, routingKey, "")
	require.NoError(t, err)
	var ev map[string]any
	require.NoError(t, json.Unmarshal(pd, &ev))
	require.Equal(t, "trigger", ev["event_action"])
	require.Equal(t, a.DedupKey, ev["dedup_key"])
	require.NotContains(t, ev, "links", "a dashboard path without grafana_url is no link")
	require.NotContains(t, ev, "client_url")
	payload := ev["payload"].(map[string]any)
	for field, want := range map[string]string{
		"summary": a.Summary, "source": a.Entity, "severity": "error", "component": a.Profile,
		"group": a.Tenant, "class": a.Explanation.Feature, "timestamp": "2024-03-05T10:12:00Z",
	} {
		require.Equal(t, want, payload[field], field)
	}

	long, err := PagerDutyEvent(odd(), routingKey, "")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(long, &ev))
	require.LessOrEqual(t, len(ev["dedup_key"].(string)), 255)
	require.LessOrEqual(t, len(ev["payload"].(map[string]any)["summary"].(string)), 1024)

	path, body, err := OpsgenieRequest(odd(), "")
	require.NoError(t, err)
	require.Equal(t, "/v2/alerts", path)
	var og map[string]any
	require.NoError(t, json.Unmarshal(body, &og))
	require.LessOrEqual(t, len([]rune(og["message"].(string))), 130)
	require.LessOrEqual(t, len(og["alias"].(string)), 512)

	path, _, err = OpsgenieRequest(resolved(), "")
	require.NoError(t, err)
	require.Equal(t, "/v2/alerts/vigil%2Facme%2Fbrute_force%2F203.0.113.7/close?identifierType=alias", path)

	am := AlertmanagerPayload(firing(), "soar", "")
	require.True(t, am.Alerts[0].EndsAt.IsZero(), "a firing alert has Alertmanager's zero endsAt")
	require.Equal(t, "brute_force", am.CommonLabels["alertname"])
	require.Equal(t, Fingerprint(a.DedupKey), am.Alerts[0].Fingerprint)
	require.Regexp(t, `^[0-9a-f]{16}$`, am.Alerts[0].Fingerprint)
	am = AlertmanagerPayload(resolved(), "soar", "")
	require.Equal(t, t0.Add(9*time.Minute), am.Alerts[0].EndsAt)
}

func TestSeverityMaps(t *testing.T) {
	for s, want := range map[string][2]string{
		"critical": {"critical", "P1"}, "high": {"error", "P2"}, "medium": {"warning", "P3"},
		"low": {"warning", "P4"}, "info": {"info", "P5"}, "": {"info", "P5"},
	} {
		require.Equal(t, want[0], PagerDutySeverity(s), s)
		require.Equal(t, want[1], OpsgeniePriority(s), s)
	}
}

// Network errors, 5xx and 429 are worth retrying, with Retry-After when
// given; other answers are final. No error names a key, a token or the
// URL's path, even when the server echoes them.
func TestErrors(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name      string
		res       hooktest.Answer
		retryable bool
		after     time.Duration
	}{
		{"500", hooktest.Answer{Status: 500, Body: "oops"}, true, 0},
		{"503 with Retry-After", hooktest.Answer{Status: 503, Header: map[string]string{"Retry-After": "3"}}, true, 3 * time.Second},
		{"429 with Retry-After seconds", hooktest.Answer{Status: 429, Header: map[string]string{"Retry-After": "7"}}, true, 7 * time.Second},
		{"429 with Retry-After date", hooktest.Answer{Status: 429, Header: map[string]string{"Retry-After": now.Add(time.Hour).UTC().Format(http.TimeFormat)}}, true, time.Hour},
		{"429 with a bad Retry-After", hooktest.Answer{Status: 429, Header: map[string]string{"Retry-After": "soon"}}, true, 0},
		{"400", hooktest.Answer{Status: 400, Body: `{"status":"invalid event","message":"key ` + routingKey + ` ` + genieKey + ` ` + bearer + ` ` + slackPath + `"}`}, false, 0},
		{"401", hooktest.Answer{Status: 401}, false, 0},
		{"404", hooktest.Answer{Status: 404, Body: "no_service"}, false, 0},
		{"410", hooktest.Answer{Status: 410, Body: "channel_is_archived"}, false, 0},
		{"302", hooktest.Answer{Status: 302}, false, 0},
	}
	for _, tt := range tests {
		for _, typ := range config.ReceiverTypes {
			t.Run(tt.name+"/"+typ, func(t *testing.T) {
				srv := hooktest.New(t, hooktest.Script(tt.res))
				err := receivers(t, srv.URL)[typ].Notify(context.Background(), firing())
				require.Error(t, err)
				retry, after := Retryable(err)
				require.Equal(t, tt.retryable, retry)
				require.InDelta(t, float64(tt.after), float64(after), float64(2*time.Second))
				require.Contains(t, err.Error(), fmt.Sprint(tt.res.Status))
				requireNoSecret(t, typ, err.Error())
			})
		}
	}

	// Nobody listens: a network error, worth retrying.
	srv := hooktest.New(t, nil)
	srv.Close()
	for _, typ := range config.ReceiverTypes {
		err := receivers(t, srv.URL)[typ].Notify(context.Background(), firing())
		retry, _ := Retryable(err)
		require.True(t, retry, "%s: %v", typ, err)
		requireNoSecret(t, typ, err.Error())
	}
	retry, _ := Retryable(fmt.Errorf("not a receiver error"))
	require.False(t, retry)
}

// requireNoSecret checks that s holds none of the secrets of the receiver
// of type typ.
func requireNoSecret(t *testing.T, typ, s string) {
	t.Helper()
	secrets := map[string][]string{
		"pagerduty": {routingKey},
		"opsgenie":  {genieKey},
		"slack":     {"SLACKTOKENxyz", "/services/"},
		"webhook":   {bearer, "/hooks/vigil"},
	}[typ]
	require.NotEmpty(t, secrets)
	for _, secret := range secrets {
		require.NotContains(t, s, secret)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"": 0, "0": 0, "120": 2 * time.Minute, "-5": 0, "x": 0,
		"Tue, 05 Mar 2024 10:00:30 GMT": 30 * time.Second,
		"Tue, 05 Mar 2024 09:00:00 GMT": 0,
	} {
		require.Equal(t, want, parseRetryAfter(v, now), "%q", v)
	}
}

func TestTruncateAndKeys(t *testing.T) {
	require.Equal(t, "abc", truncate("abc", 3))
	require.Equal(t, "a…", truncate("abcdef", 4))
	cut := truncate(strings.Repeat("é", 10), 6)
	require.Equal(t, "é…", cut, "cut on a rune boundary")
	require.Equal(t, "k", shortKey("k", 5))
	long := shortKey(strings.Repeat("k", 300), 255)
	require.Regexp(t, `^vigil/[0-9a-f]{64}$`, long)
	require.Equal(t, long, shortKey(strings.Repeat("k", 300), 255), "stable")
	require.Equal(t, "https://g.example/d/x", link("https://g.example/", "/d/x"))
	require.Equal(t, "https://other/d/x", link("https://g.example", "https://other/d/x"))
	require.Equal(t, "/d/x", link("", "/d/x"))
}
