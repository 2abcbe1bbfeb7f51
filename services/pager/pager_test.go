package pager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/pager/internal/hooktest"
	"github.com/vigil-soc/vigil/services/pager/receiver"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, append(testkit.GoleakOptions(),
		// httptest servers' idle keep-alive connections close on their own.
		goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
		goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
	)...)
}

var t0 = time.Date(2024, 3, 5, 10, 11, 0, 0, time.UTC)

// testAlert is the i-th of a set of alerts with distinct dedup keys.
func testAlert(i int) alert.Alert {
	entity := fmt.Sprintf("203.0.113.%d", i+1)
	key := alert.DedupKey("default", "brute_force", entity)
	first := t0.Add(time.Duration(i) * time.Minute)
	return alert.Alert{
		Version: 1, ID: alert.ID(key, first, alert.StatusFiring), DedupKey: key, Status: alert.StatusFiring,
		Severity: alert.SeverityHigh, Summary: fmt.Sprintf("%d failed logins from %s", 40+i, entity), Tenant: "default",
		Profile: "brute_force", Entity: entity, EntityField: "source.ip", FirstSeen: first, LastSeen: first.Add(time.Minute),
		Count: 1, AnomalyScore: 0.999999,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: float64(40 + i), Expected: 1.5, Spread: 1.2, Samples: 30, Method: "poisson_ewma"},
		Links:       alert.Links{Dashboard: "/d/vigil-entity/vigil-entity?var-entity=" + entity},
	}
}

// resolvedOf is the resolved alert of a's incident.
func resolvedOf(a alert.Alert) alert.Alert {
	a.Status = alert.StatusResolved
	a.ID = alert.ID(a.DedupKey, a.FirstSeen, a.Status)
	a.ResolvedAt = a.LastSeen.Add(5 * time.Minute)
	return a
}

func produceAlerts(t *testing.T, k config.KafkaConfig, topic string, alerts ...alert.Alert) {
	t.Helper()
	var keys, values [][]byte
	for _, a := range alerts {
		b, err := json.Marshal(a)
		require.NoError(t, err)
		keys, values = append(keys, []byte(a.DedupKey)), append(values, b)
	}
	testkit.Produce(t, k, topic, keys, values)
}

// Secrets of the test receivers.
const (
	routingKey = "R0UT1NGKEY0123456789abcdefabcdef"
	genieKey   = "genie-key-5f1e2d3c"
	slackPath  = "/slack/services/T000/B000/SLACKTOKENxyz"
	bearer     = "bearer-token-77"
)

// allReceivers returns one receiver of each type at h: /pd, /og, /slack
// and /hook.
func allReceivers(h *hooktest.Server) []config.ReceiverConfig {
	return []config.ReceiverConfig{
		{Name: "oncall", Type: "pagerduty", URL: config.SecretURL(h.URL + "/pd/v2/enqueue"), RoutingKey: routingKey},
		{Name: "ops", Type: "opsgenie", URL: config.SecretURL(h.URL + "/og"), APIKey: genieKey},
		{Name: "chat", Type: "slack", URL: config.SecretURL(h.URL + slackPath)},
		{Name: "soar", Type: "webhook", URL: config.SecretURL(h.URL + "/hook"), BearerToken: bearer},
	}
}

// testConfig is a configuration on a fresh embedded broker with fast
// retries and commits, and receivers without a rate limit unless they set
// one.
func testConfig(t *testing.T, receivers ...config.ReceiverConfig) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Kafka = testkit.Broker(t)
	cfg.Telemetry.Listen = ""
	cfg.Pager.Output = "none"
	cfg.Pager.GrafanaURL = "https://grafana.example.com"
	cfg.Pager.CommitInterval = 50 * time.Millisecond
	cfg.Pager.SessionTimeout = 6 * time.Second
	cfg.Pager.Retry = config.RetryConfig{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, MaxAttempts: 4, MaxElapsed: 10 * time.Second}
	for i := range receivers {
		r := &receivers[i]
		if r.RateLimit == 0 {
			r.RateLimit, r.Burst = 1000, 1000
		}
		if r.Timeout == 0 {
			r.Timeout = 5 * time.Second
		}
	}
	cfg.Pager.Receivers = receivers
	require.NoError(t, cfg.Validate())
	return cfg
}

type running struct {
	*Pager
	reg  *prometheus.Registry
	stop func()
}

// startPager starts a pager; stop shuts it down (also at the end of the
// test, if not called before).
func startPager(t *testing.T, cfg config.Config, logger *slog.Logger, opts ...Option) *running {
	t.Helper()
	if logger == nil {
		logger = testkit.Logger(t)
	}
	reg := prometheus.NewRegistry()
	p, err := New(service.Deps{Config: cfg, Logger: logger, Registry: reg}, opts...)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, p.Shutdown(ctx))
		})
	}
	t.Cleanup(stop)
	return &running{Pager: p, reg: reg, stop: stop}
}

// metric returns the sum of the samples of name in reg whose labels
// include labels (name=value pairs).
func metric(t *testing.T, reg *prometheus.Registry, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return sum
}

func TestShutdownWithoutStart(t *testing.T) {
	p, err := New(service.Deps{Config: config.Default(), Logger: testkit.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}

func TestOutput(t *testing.T) {
	var buf bytes.Buffer
	for output, want := range map[string]io.Writer{"stdout": &buf, "stderr": &buf, "none": nil} {
		cfg := config.Default()
		cfg.Pager.Output = output
		p, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t)}, WithOutput(&buf))
		require.NoError(t, err)
		require.Equal(t, want, p.out, output)
	}
	cfg := config.Default()
	cfg.Pager.Output = "stderr"
	p, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t)})
	require.NoError(t, err)
	require.Equal(t, io.Writer(os.Stderr), p.out)
}

func TestStartThenShutdown(t *testing.T) {
	cfg := testConfig(t)
	r := startPager(t, cfg, nil)
	r.stop()
}

// Every alert reaches every receiver once, in exactly the form the
// receiver package builds (its golden files pin that form), firing and
// resolved; a message that is not an alert goes to the dead-letter topic
// with the reason. After a clean shutdown everything is committed and a
// second pager sends only what is new.
func TestDeliversToEveryReceiver(t *testing.T) {
	h := hooktest.New(t, nil)
	cfg := testConfig(t, allReceivers(h)...)
	cfg.Pager.Output = "stdout" // printed to out instead
	k := cfg.Kafka
	var out bytes.Buffer
	var outMu sync.Mutex
	r := startPager(t, cfg, nil, WithOutput(writerFunc(func(b []byte) (int, error) {
		outMu.Lock()
		defer outMu.Unlock()
		return out.Write(b)
	})))

	var alerts []alert.Alert
	for i := range 5 {
		alerts = append(alerts, testAlert(i))
	}
	alerts = append(alerts, resolvedOf(testAlert(0)), resolvedOf(testAlert(3)))
	produceAlerts(t, k, k.Topics.Alerts, alerts...)
	testkit.Produce(t, k, k.Topics.Alerts, [][]byte{[]byte("junk")}, [][]byte{[]byte("not an alert")})

	paths := map[string]string{"pagerduty": "/pd", "opsgenie": "/og", "slack": "/slack", "webhook": "/hook"}
	require.Eventually(t, func() bool {
		for _, p := range paths {
			if len(h.Requests(p)) < len(alerts) {
				return false
			}
		}
		return metric(t, r.reg, "vigil_pager_dead_letters_total") == 1
	}, 30*time.Second, 10*time.Millisecond)
	r.stop()

	for typ, prefix := range paths {
		reqs := h.Requests(prefix)
		require.Len(t, reqs, len(alerts), typ)
		var got, want []string
		for _, rq := range reqs {
			got = append(got, rq.Path+" "+string(rq.Body))
		}
		for _, a := range alerts {
			path, body := expectedRequest(t, typ, a, cfg.Pager.GrafanaURL)
			want = append(want, prefix+path+" "+string(body))
		}
		sort.Strings(got)
		sort.Strings(want)
		require.Equal(t, want, got, typ)
	}
	// Per dedup key, firing is sent before resolved.
	requireOrdered(t, h.Requests("/hook"))

	dl := testkit.ReadAll(t, k, k.Topics.AlertsDLQ)
	require.Len(t, dl, 1)
	require.Equal(t, "not an alert", string(dl[0].Value))
	require.Contains(t, header(dl[0], stream.HeaderDLQReason), "invalid: not an alert")
	require.Equal(t, "", header(dl[0], HeaderDLQReceiver))
	require.Equal(t, k.Topics.Alerts, header(dl[0], stream.HeaderDLQTopic))

	require.Equal(t, float64(len(alerts)+1), metric(t, r.reg, "vigil_pager_alerts_read_total"))
	require.Equal(t, float64(len(alerts)), metric(t, r.reg, "vigil_pager_notifications_total", "receiver", "oncall", "result", "delivered"))
	require.Equal(t, 1.0, metric(t, r.reg, "vigil_pager_alerts_invalid_total"))
	outMu.Lock()
	require.Equal(t, len(alerts), strings.Count(out.String(), "ALERT "), "every alert printed once")
	outMu.Unlock()
	require.Equal(t, int64(len(alerts)+1), testkit.CommittedSum(t, k, cfg.Pager.GroupID, k.Topics.Alerts),
		"after Shutdown every finished message is committed")

	// A second pager in the group sends only the alert published after
	// the first stopped.
	again := startPager(t, cfg, nil)
	late := testAlert(100)
	produceAlerts(t, k, k.Topics.Alerts, late)
	require.Eventually(t, func() bool { return len(h.Requests("/hook")) == len(alerts)+1 }, 30*time.Second, 10*time.Millisecond)
	again.stop()
	for _, prefix := range paths {
		require.Len(t, h.Requests(prefix), len(alerts)+1, "nothing sent twice after a clean shutdown")
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

// expectedRequest is the path (below the receiver's URL) and body the
// receiver package builds for a.
func expectedRequest(t *testing.T, typ string, a alert.Alert, grafanaURL string) (string, []byte) {
	t.Helper()
	var body []byte
	var err error
	path := ""
	switch typ {
	case "pagerduty":
		path = "/v2/enqueue"
		body, err = receiver.PagerDutyEvent(a, routingKey, grafanaURL)
	case "opsgenie":
		path, body, err = receiver.OpsgenieRequest(a, grafanaURL)
	case "slack":
		path = strings.TrimPrefix(slackPath, "/slack")
		body, err = receiver.SlackMessage(a, grafanaURL)
	case "webhook":
		body, err = receiver.WebhookBody(a, "soar", grafanaURL)
	}
	require.NoError(t, err)
	return path, body
}

// requireOrdered checks that no resolved webhook came before the firing
// one of its dedup key.
func requireOrdered(t *testing.T, reqs []hooktest.Request) {
	t.Helper()
	firing := map[string]bool{}
	for _, rq := range reqs {
		var m receiver.AlertmanagerMessage
		require.NoError(t, json.Unmarshal(rq.Body, &m))
		key := m.GroupLabels[alert.LabelDedupKey]
		if m.Status == alert.StatusFiring {
			firing[key] = true
		} else {
			require.True(t, firing[key], "resolved before firing for %s", key)
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestFormat(t *testing.T) {
	base := testAlert(6)
	tests := []struct {
		name string
		edit func(*alert.Alert)
		want string
	}{
		{
			name: "firing",
			want: "ALERT firing [high] 46 failed logins from 203.0.113.7 score=0.999999 first_seen=2024-03-05T10:17:00Z key=vigil/default/brute_force/203.0.113.7",
		},
		{
			name: "resolved, first seen in another zone, score rounded to 6 places, line breaks escaped",
			edit: func(a *alert.Alert) {
				a.Status, a.Severity, a.Summary = alert.StatusResolved, "critical", "quiet\nagain\r"
				a.AnomalyScore = 0.12345678
				a.FirstSeen = time.Date(2024, 3, 5, 12, 17, 0, 999, time.FixedZone("CEST", 2*3600))
			},
			want: `ALERT resolved [critical] quiet\nagain\r score=0.123457 first_seen=2024-03-05T10:17:00Z key=vigil/default/brute_force/203.0.113.7`,
		},
		{
			name: "empty fields",
			edit: func(a *alert.Alert) { *a = alert.Alert{DedupKey: "k"} },
			want: "ALERT  []  score=0.000000 first_seen=0001-01-01T00:00:00Z key=k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			if tt.edit != nil {
				tt.edit(&a)
			}
			require.Equal(t, tt.want, Format(a))
		})
	}
}

// Pagers joining and leaving the group mid-stream (rebalances, a clean
// shutdown) never send a notification twice and never lose one.
func TestRebalancesSendOnce(t *testing.T) {
	var mu sync.Mutex
	accepted := map[string]int{}
	h := hooktest.New(t, func(r hooktest.Request, _ int) hooktest.Answer {
		time.Sleep(5 * time.Millisecond) // a receiver that takes a while, so rebalances find requests under way
		id := alertIDOf(t, r.Body)
		mu.Lock()
		accepted[id]++
		mu.Unlock()
		return hooktest.Answer{Status: http.StatusAccepted}
	})
	cfg := testConfig(t, config.ReceiverConfig{Name: "soar", Type: "webhook", URL: config.SecretURL(h.URL + "/hook")})
	k := cfg.Kafka
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted)
	}
	var alerts []alert.Alert
	for i := range 90 {
		alerts = append(alerts, testAlert(i))
	}

	first := startPager(t, cfg, nil)
	produceAlerts(t, k, k.Topics.Alerts, alerts[:30]...)
	require.Eventually(t, func() bool { return count() >= 5 }, 30*time.Second, time.Millisecond)
	second := startPager(t, cfg, nil) // joins while the first is sending
	produceAlerts(t, k, k.Topics.Alerts, alerts[30:60]...)
	require.Eventually(t, func() bool { return count() >= 40 }, 30*time.Second, time.Millisecond)
	first.stop() // leaves while sending
	third := startPager(t, cfg, nil)
	produceAlerts(t, k, k.Topics.Alerts, alerts[60:]...)
	require.Eventually(t, func() bool { return count() == len(alerts) }, 60*time.Second, 10*time.Millisecond)
	second.stop()
	third.stop()

	mu.Lock()
	defer mu.Unlock()
	for _, a := range alerts {
		require.Equal(t, 1, accepted[a.ID], "alert %s accepted once", a.Entity)
	}
	require.Len(t, h.Requests("/hook"), len(alerts))
}
