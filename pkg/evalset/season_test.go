package evalset

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// TestSeasonality: a week without attacks; people's activity per hour is
// far higher on weekday working hours than at night or on the weekend, and
// servers' flows follow business hours more mildly.
func TestSeasonality(t *testing.T) {
	cfg := Small()
	cfg.Duration, cfg.WarmUp = 7*24*time.Hour, 6*24*time.Hour
	cfg.Attacks = Attacks{}
	events, labels := collect(t, cfg)
	for _, l := range labels.Incidents {
		require.True(t, l.Benign, "no attacks configured: %+v", l)
	}
	type rate struct{ people, servers, hours float64 }
	classes := map[string]*rate{"business": {}, "night": {}, "weekend": {}}
	class := func(ts time.Time) string {
		switch {
		case ts.Weekday() == time.Saturday || ts.Weekday() == time.Sunday:
			return "weekend"
		case ts.Hour() >= 10 && ts.Hour() < 16:
			return "business"
		case ts.Hour() < 5:
			return "night"
		}
		return ""
	}
	for ts := cfg.Start; ts.Before(cfg.Start.Add(cfg.Duration)); ts = ts.Add(time.Hour) {
		if c := class(ts); c != "" {
			classes[c].hours++
		}
	}
	for _, e := range events {
		c := classes[class(e.Timestamp)]
		if c == nil {
			continue
		}
		switch {
		case e.User != "" && e.Outcome == event.OutcomeSuccess: // logins, queries, browsing, web
			c.people++
		case e.Category == event.CategoryNetwork && e.User == "" && strings.HasPrefix(e.SrcIP, "10.0.") && !strings.HasPrefix(e.Host, "mon-"):
			c.servers++ // servers' own flows, not the monitoring hosts' polls and sweeps
		}
	}
	per := func(c string, f func(*rate) float64) float64 { return f(classes[c]) / classes[c].hours }
	people := func(r *rate) float64 { return r.people }
	servers := func(r *rate) float64 { return r.servers }
	t.Logf("people per hour: business %.0f, night %.0f, weekend %.0f", per("business", people), per("night", people), per("weekend", people))
	t.Logf("server flows per hour: business %.0f, night %.0f, weekend %.0f", per("business", servers), per("night", servers), per("weekend", servers))
	require.Greater(t, per("business", people), 10*per("night", people))
	require.Greater(t, per("business", people), 5*per("weekend", people))
	require.Greater(t, per("business", servers), 1.5*per("night", servers))
	require.Greater(t, per("business", servers), 1.5*per("weekend", servers))
	require.Greater(t, per("night", servers), 0.0, "servers never fall silent on their own")
}

// TestUsersDiffer: base rates are heavy-tailed and working hours differ
// from user to user.
func TestUsersDiffer(t *testing.T) {
	p := newPopulation(Default())
	var rates []float64
	starts := map[int]int{}
	for _, u := range p.users {
		rates = append(rates, u.loginRate+u.dbRate+u.proxyRate+u.webRate)
		starts[u.ws]++
	}
	require.GreaterOrEqual(t, len(starts), 4, "working days start at different hours")
	mean, top := 0.0, 0.0
	for _, r := range rates {
		mean += r / float64(len(rates))
		top = max(top, r)
	}
	require.Greater(t, top, 10*mean, "a few users are far busier than the mean")
}

func TestConfigValidate(t *testing.T) {
	for _, cfg := range []Config{Default(), Small()} {
		require.NoError(t, cfg.Validate())
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"tenant", func(c *Config) { c.Tenant = "" }, "tenant: must not be empty"},
		{"start", func(c *Config) { c.Start = time.Time{} }, "start: must be set"},
		{"warm-up", func(c *Config) { c.WarmUp = -time.Hour }, "warm_up: must not be negative"},
		{"duration", func(c *Config) { c.Duration = c.WarmUp + time.Hour }, "duration: must exceed warm_up"},
		{"users", func(c *Config) { c.Users = 10 }, "users: must be at least 50"},
		{"hosts", func(c *Config) { c.Hosts = 3 }, "hosts: must be at least 20"},
		{"external", func(c *Config) { c.ExternalIPs = 0 }, "external_ips: must be at least 30"},
		{"internal", func(c *Config) { c.InternalClients = 1 }, "internal_clients: must be at least 10"},
		{"negative", func(c *Config) { c.Attacks.PortScan = -1 }, "attacks.port_scan: must not be negative"},
		{"too many on users", func(c *Config) { c.Attacks.NewSource = 100 }, "attacks on users need at least"},
		{"too many on hosts", func(c *Config) { c.Attacks.SilentSource = 20 }, "attacks on hosts need at least"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := Small()
			tt.edit(&cfg)
			err := cfg.Validate()
			require.ErrorContains(t, err, tt.want)
			_, err = Generate(cfg, func(*event.Event) error { return nil })
			require.ErrorContains(t, err, tt.want)
		})
	}
}

// TestDefaultPlacesEveryAttack without generating its events.
func TestDefaultPlacesEveryAttack(t *testing.T) {
	cfg := Default()
	g := newGen(cfg)
	srcs, err := g.schedule()
	require.NoError(t, err)
	a := cfg.Attacks
	require.Len(t, srcs, a.total()-a.SilentSource, "one source per attack; silences drop events instead")
	require.Len(t, g.incidents, a.total()+a.NewSource)
}

func TestLabelsJSONRoundTrip(t *testing.T) {
	_, labels := collect(t, Small())
	var buf bytes.Buffer
	require.NoError(t, labels.WriteJSON(&buf))
	got, err := ReadLabels(&buf)
	require.NoError(t, err)
	require.Equal(t, labels, got)

	_, err = ReadLabels(bytes.NewReader([]byte(`{"seed": 1, "incidentz": []}`)))
	require.ErrorContains(t, err, "incidentz")
}
