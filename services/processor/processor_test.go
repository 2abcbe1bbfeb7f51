package processor

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.GoleakOptions()...)
}

func TestShutdownWithoutStart(t *testing.T) {
	p, err := New(service.Deps{Config: config.Default(), Logger: testkit.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}

// runOnBroker publishes evs to the events topic, runs a processor until it
// has published a score for every (IP, window) pair, and returns the alerts
// on the alerts topic.
func runOnBroker(t *testing.T, evs []*event.Event, configure ...func(*config.Config)) []alert.Alert {
	t.Helper()
	cfg := config.Default()
	cfg.Kafka = testkit.Broker(t)
	cfg.Processor.IdleFlush = time.Second
	for _, b := range config.BuiltinProfiles() {
		if b.Name != "brute_force" {
			cfg.Processor.Disabled = append(cfg.Processor.Disabled, b.Name)
		}
	}
	cfg.Processor.Profiles = []config.ProfileConfig{testkit.MinuteBruteForce()}
	for _, c := range configure {
		c(&cfg)
	}

	values := make([][]byte, len(evs))
	keys := make([][]byte, len(evs))
	windows := map[string]bool{}
	for i, e := range evs {
		b, err := event.Encode(e)
		require.NoError(t, err)
		values[i], keys[i] = b, []byte(e.SrcIP)
		windows[e.SrcIP+e.Timestamp.Truncate(time.Minute).String()] = true
	}
	// A message that is not an envelope is skipped, and the rest flows on.
	values = append(values, []byte(`{"not":"an event"}`))
	keys = append(keys, []byte("x"))
	testkit.Topics(t, cfg.Kafka, cfg.Kafka.Topics.Events)
	testkit.Produce(t, cfg.Kafka, cfg.Kafka.Topics.Events, keys, values)

	p, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t)})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, p.Start(ctx))
	defer func() { require.NoError(t, p.Shutdown(ctx)) }()

	require.Eventually(t, func() bool {
		return len(testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Scores)) >= len(windows)
	}, 60*time.Second, 200*time.Millisecond)
	require.Len(t, testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Scores), len(windows), "one score per IP and window")

	require.Empty(t, testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.EventsDLQ),
		"the archiver dead-letters bad envelopes; the processor only counts them")

	var alerts []alert.Alert
	for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Alerts) {
		var a alert.Alert
		require.NoError(t, json.Unmarshal(m.Value, &a))
		require.Equal(t, a.DedupKey, string(m.Key))
		alerts = append(alerts, a)
	}
	return alerts
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestBurstOnBrokerRaisesOneAlert(t *testing.T) {
	evs := testkit.FailedLogins{Background: 30, Minutes: 40, BurstIP: "203.0.113.7", BurstAt: 25, BurstSize: 150}.Events(t0, 11)
	evs = append(evs, testkit.FailedLogins{Minutes: 40, BurstIP: "203.0.113.7", BurstAt: 26, BurstSize: 140}.Events(t0, 12)...)
	testkit.SortByTime(evs)
	alerts := runOnBroker(t, evs)
	require.Len(t, alerts, 2, "alerts: %+v", alerts)
	require.Equal(t, "203.0.113.7", alerts[0].Entity)
	require.Equal(t, alert.StatusFiring, alerts[0].Status)
	require.Equal(t, alert.StatusResolved, alerts[1].Status, "quiet again after five windows")
	require.Equal(t, alerts[0].DedupKey, alerts[1].DedupKey)
}

func TestSteadyTrafficOnBrokerRaisesNothing(t *testing.T) {
	alerts := runOnBroker(t, testkit.FailedLogins{Background: 30, Minutes: 40}.Events(t0, 13))
	require.Empty(t, alerts)
}

// Alerts matching a route go to its topic too, with the profile's labels.
func TestAlertRoutes(t *testing.T) {
	evs := testkit.FailedLogins{Background: 30, Minutes: 20, BurstIP: "203.0.113.8", BurstAt: 12, BurstSize: 150}.Events(t0, 21)
	testkit.SortByTime(evs)
	var cfg config.Config
	alerts := runOnBroker(t, evs, func(c *config.Config) {
		c.Processor.Profiles[0].Labels = map[string]string{"team": "secops"}
		c.Processor.AlertRoutes = []config.AlertRouteConfig{
			{Matchers: []string{"team=secops", "severity=~high|critical"}, Topic: "vigil.alerts.secops"},
			{Matchers: []string{"team=db"}, Topic: "vigil.alerts.db"},
		}
		require.NoError(t, c.Validate())
		cfg = *c
	})
	require.NotEmpty(t, alerts)
	require.Equal(t, "secops", alerts[0].Labels["team"])
	var routed []alert.Alert
	for _, m := range testkit.ReadAll(t, cfg.Kafka, "vigil.alerts.secops") {
		var a alert.Alert
		require.NoError(t, json.Unmarshal(m.Value, &a))
		require.Equal(t, a.DedupKey, string(m.Key))
		routed = append(routed, a)
	}
	require.Equal(t, alerts, routed, "every alert matches the secops route")
	require.Empty(t, testkit.ReadAll(t, cfg.Kafka, "vigil.alerts.db"))
}
