package pager

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/labels"
	"github.com/vigil-soc/vigil/pkg/silence"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/pager/internal/hooktest"
)

// clock is a settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func silenceStore(t *testing.T, k config.KafkaConfig) *silence.Store {
	t.Helper()
	c, err := stream.NewClient(k)
	require.NoError(t, err)
	t.Cleanup(c.Close)
	s := silence.NewStore(c, k.Topics.Silences, silence.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, s.Start(ctx))
	t.Cleanup(func() { require.NoError(t, s.Shutdown(context.Background())) })
	return s
}

// A silence stops the notifications of the alerts it matches, and only
// those, until it ends: by reaching its end time, or by being expired.
func TestSilenceMutesUntilItEnds(t *testing.T) {
	h := hooktest.New(t, nil)
	cfg := testConfig(t, config.ReceiverConfig{Name: "soar", Type: "webhook", URL: config.SecretURL(h.URL + "/hook")})
	k := cfg.Kafka
	start := time.Now()
	clk := &clock{now: start}
	r := startPager(t, cfg, nil, WithClock(clk.Now))
	store := silenceStore(t, k)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Silence the team "identity" for an hour, and entity 203.0.113.9 until expired.
	team, err := labels.ParseMatchers([]string{"team=identity"})
	require.NoError(t, err)
	hour, err := silence.New(team, start.Add(-time.Minute), start.Add(time.Hour), "identity provider migration", "alice", start)
	require.NoError(t, err)
	require.NoError(t, store.Add(ctx, hour))
	ent, err := labels.ParseMatchers([]string{`entity=~"203\\.0\\.113\\.9"`})
	require.NoError(t, err)
	byHand, err := silence.New(ent, start.Add(-time.Minute), start.Add(24*time.Hour), "known scanner", "bob", start)
	require.NoError(t, err)
	require.NoError(t, store.Add(ctx, byHand))

	identity := func(i int) alert.Alert {
		a := testAlert(i)
		a.Labels = map[string]string{"team": "identity"}
		return a
	}
	delivered := func() map[string]bool {
		out := map[string]bool{}
		for _, rq := range h.Requests("/hook") {
			out[alertIDOf(t, rq.Body)] = true
		}
		return out
	}
	waitSilenced := func(n float64) {
		t.Helper()
		require.Eventually(t, func() bool { return metric(t, r.reg, "vigil_pager_alerts_silenced_total") == n }, 30*time.Second, 10*time.Millisecond)
	}

	// The pager sees silences added after it started.
	muted1, other, muted2 := identity(1), testAlert(2), testAlert(8) // testAlert(8) is 203.0.113.9
	produceAlerts(t, k, k.Topics.Alerts, muted1, other, muted2)
	waitSilenced(2)
	require.Eventually(t, func() bool { return len(h.Requests("/hook")) == 1 }, 30*time.Second, 10*time.Millisecond)
	require.Equal(t, map[string]bool{other.ID: true}, delivered(), "only the alert no silence matches")

	// An hour later the first silence is over.
	clk.Set(start.Add(time.Hour))
	after := identity(3)
	produceAlerts(t, k, k.Topics.Alerts, after)
	require.Eventually(t, func() bool { return delivered()[after.ID] }, 30*time.Second, 10*time.Millisecond)

	// Still muted by the second, until it is expired.
	still := testAlert(8)
	still.Status, still.ID = alert.StatusResolved, alert.ID(still.DedupKey, still.FirstSeen, alert.StatusResolved)
	produceAlerts(t, k, k.Topics.Alerts, still)
	waitSilenced(3)
	_, err = store.Expire(ctx, byHand.ID, clk.Now())
	require.NoError(t, err)
	require.Eventually(t, func() bool { return len(r.silences.Active(clk.Now())) == 0 }, 30*time.Second, 10*time.Millisecond,
		"the pager sees the silence expired")
	again := testAlert(8)
	again.FirstSeen = again.FirstSeen.Add(time.Hour)
	again.ID = alert.ID(again.DedupKey, again.FirstSeen, again.Status)
	produceAlerts(t, k, k.Topics.Alerts, again)
	require.Eventually(t, func() bool { return delivered()[again.ID] }, 30*time.Second, 10*time.Millisecond)
	r.stop()
	require.Equal(t, map[string]bool{other.ID: true, after.ID: true, again.ID: true}, delivered())
	require.Equal(t, int64(6), testkit.CommittedSum(t, k, cfg.Pager.GroupID, k.Topics.Alerts), "silenced alerts are finished too")
}

func alertIDOf(t *testing.T, body []byte) string {
	t.Helper()
	var m struct {
		Alerts []struct {
			Annotations map[string]string `json:"annotations"`
		} `json:"alerts"`
	}
	require.NoError(t, json.Unmarshal(body, &m))
	require.Len(t, m.Alerts, 1)
	return m.Alerts[0].Annotations["alert_id"]
}

// A pager deletes the silences that ended more than
// pager.silence_retention ago, and keeps the rest.
func TestPagerDeletesLongExpiredSilences(t *testing.T) {
	h := hooktest.New(t, nil)
	cfg := testConfig(t, config.ReceiverConfig{Name: "soar", Type: "webhook", URL: config.SecretURL(h.URL + "/hook")})
	cfg.Pager.SilenceRetention = 24 * time.Hour
	k := cfg.Kafka
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	store := silenceStore(t, k)
	now := time.Now()
	ms, err := labels.ParseMatchers([]string{"team=db"})
	require.NoError(t, err)
	old, err := silence.New(ms, now.Add(-72*time.Hour), now.Add(-48*time.Hour), "two days ago", "alice", now)
	require.NoError(t, err)
	recent, err := silence.New(ms, now.Add(-2*time.Hour), now.Add(-time.Hour), "an hour ago", "bob", now)
	require.NoError(t, err)
	require.NoError(t, store.Add(ctx, old))
	require.NoError(t, store.Add(ctx, recent))

	startPager(t, cfg, nil)
	require.Eventually(t, func() bool {
		require.NoError(t, store.Sync(ctx))
		_, ok := store.Get(old.ID)
		return !ok
	}, 30*time.Second, 50*time.Millisecond)
	_, ok := store.Get(recent.ID)
	require.True(t, ok, "ended within the retention: kept")
}
