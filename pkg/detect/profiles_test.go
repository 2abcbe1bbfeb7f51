package detect

import (
	"fmt"
	"io"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// replay runs evs (sorted here) through e and returns every alert.
func replay(t *testing.T, e *Engine, evs []*event.Event) (alerts []alert.Alert, scores int) {
	t.Helper()
	testkit.SortByTime(evs)
	i := 0
	require.NoError(t, e.Replay(func() (*event.Event, error) {
		if i == len(evs) {
			return nil, io.EOF
		}
		i++
		return evs[i-1], nil
	}, func(out Output) error {
		alerts = append(alerts, out.Alerts...)
		scores += len(out.Scores)
		return nil
	}))
	return alerts, scores
}

func ev(ts time.Time, category, outcome string, set func(*event.Event)) *event.Event {
	e := &event.Event{Version: 1, Timestamp: ts, Ingested: ts, Tenant: "default", Source: "test",
		Category: category, Action: "x", Outcome: outcome}
	set(e)
	e.ID = event.NewID("default", "test", ts.UnixNano(), []byte(fmt.Sprint(e.SrcIP, e.User, e.Host, e.DstIP, e.DstPort)))
	return e
}

func TestPasswordSpraying(t *testing.T) {
	var evs []*event.Event
	// Background: 50 IPs each failing for one or two users now and then.
	for m := range 240 {
		for i := range 50 {
			if (m+i)%7 == 0 {
				evs = append(evs, ev(t0.Add(time.Duration(m)*time.Minute+time.Duration(i)*time.Second), "authentication", "failure",
					func(e *event.Event) { e.SrcIP, e.User = fmt.Sprintf("198.51.100.%d", i), fmt.Sprintf("user%d", i%3) }))
			}
		}
	}
	// The spray: one IP, 60 users, one try each, over eight minutes.
	for u := range 60 {
		evs = append(evs, ev(t0.Add(200*time.Minute+time.Duration(u*8)*time.Second), "authentication", "failure",
			func(e *event.Event) { e.SrcIP, e.User = "203.0.113.50", fmt.Sprintf("victim%d", u) }))
	}
	all, _ := replay(t, newEngine(t, "password_spraying"), evs)
	alerts, _ := byStatus(all)
	require.Len(t, alerts, 1, "%+v", alerts)
	require.Equal(t, "password_spraying", alerts[0].Profile)
	require.Equal(t, "203.0.113.50", alerts[0].Entity)
	require.Equal(t, "distinct_users_failed", alerts[0].Explanation.Feature)
}

func TestNewUserSource(t *testing.T) {
	var evs []*event.Event
	for d := range 30 { // a month of weekday logins from the office
		for h := 9; h < 12; h++ {
			evs = append(evs, ev(t0.Add(time.Duration(d*24+h)*time.Hour), "authentication", "success",
				func(e *event.Event) { e.User, e.SrcIP = "alice", "10.0.0.5" }))
		}
	}
	at := t0.Add(30*24*time.Hour + 10*time.Hour)
	evs = append(evs, ev(at, "authentication", "success", func(e *event.Event) { e.User, e.SrcIP = "alice", "203.0.113.9" }))
	all, _ := replay(t, newEngine(t, "new_user_source", "new_user_subnet"), evs)
	alerts, _ := byStatus(all)
	require.Len(t, alerts, 2, "%+v", alerts)
	byProfile := map[string]alert.Alert{}
	for _, a := range alerts {
		byProfile[a.Profile] = a
	}
	require.Equal(t, "alice|203.0.113.9", byProfile["new_user_source"].Entity)
	require.Equal(t, "alice|203.0.113.0/24", byProfile["new_user_subnet"].Entity)
	require.Equal(t, "user.name|source.ip/24", byProfile["new_user_subnet"].EntityField)
	require.Equal(t, at.Truncate(time.Hour), byProfile["new_user_source"].FirstSeen)
	require.Contains(t, byProfile["new_user_source"].Links.Query, "user = 'alice' AND src_ip = '203.0.113.9'")
}

func TestUnusualHourLogin(t *testing.T) {
	var evs []*event.Event
	monday := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
	for d := range 28 {
		day := monday.Add(time.Duration(d) * 24 * time.Hour)
		if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
			continue
		}
		for h := 9; h < 17; h++ {
			evs = append(evs, ev(day.Add(time.Duration(h)*time.Hour+17*time.Minute), "authentication", "success",
				func(e *event.Event) { e.User, e.SrcIP = "bob", "10.0.0.7" }))
		}
	}
	night := monday.Add(30*24*time.Hour + 3*time.Hour) // a Wednesday, 03:00
	evs = append(evs, ev(night, "authentication", "success", func(e *event.Event) { e.User, e.SrcIP = "bob", "10.0.0.7" }))
	all, _ := replay(t, newEngine(t, "unusual_hour_login"), evs)
	alerts, _ := byStatus(all)
	require.Len(t, alerts, 1, "%+v", alerts)
	require.Equal(t, "bob", alerts[0].Entity)
	require.Equal(t, night, alerts[0].FirstSeen)
	require.Equal(t, "Wed 03h UTC", alerts[0].Explanation.Season)
}

func TestSilentSource(t *testing.T) {
	var evs []*event.Event
	stop := t0.Add(9*24*time.Hour + 3*time.Hour) // 12:00, where a two-hour window starts
	for m := 0; m < 10*24*60; m++ {
		at := t0.Add(time.Duration(m) * time.Minute)
		for h, rate := range []int{30, 5} { // events a minute of two hosts
			if h == 0 && !at.Before(stop) && at.Before(stop.Add(3*time.Hour)) {
				continue // host0 goes quiet for three hours
			}
			for i := range rate {
				evs = append(evs, ev(at.Add(time.Duration(i)*time.Second), "process", "unknown",
					func(e *event.Event) { e.Host = fmt.Sprintf("host%d", h) }))
			}
		}
	}
	all, _ := replay(t, newEngine(t, "silent_source"), evs)
	alerts, resolved := byStatus(all)
	require.Len(t, alerts, 1, "%+v", alerts)
	require.Len(t, resolved, 1, "the host came back")
	require.Equal(t, stop.Add(2*time.Hour), resolved[0].LastSeen, "the next two-hour window has the host's events again")
	require.Equal(t, "host0", alerts[0].Entity)
	require.Equal(t, stop, alerts[0].FirstSeen)
	require.Zero(t, alerts[0].Explanation.Observed)
	require.Contains(t, alerts[0].Explanation.Method, "count_low_tail")
}

// A profile from configuration: failed-login ratio per host, with a field
// filter and a two-field key.
func TestCustomProfile(t *testing.T) {
	c := config.Default()
	c.Processor.Profiles = []config.ProfileConfig{{
		Name: "sudo_failures", Key: []string{"host.name", "user.name"},
		Match:    config.MatchConfig{Category: []string{"authentication"}, Fields: map[string][]string{"labels.tty": {"*"}}},
		Features: []config.FeatureConfig{{Kind: "failure_ratio"}, {Kind: "count"}},
	}}
	c.Processor.Disabled = []string{"brute_force"}
	require.NoError(t, c.Validate())
	var ps []config.ProfileConfig
	for _, p := range c.Processor.ActiveProfiles() {
		if p.Name == "sudo_failures" {
			ps = append(ps, p)
		}
		require.NotEqual(t, "brute_force", p.Name)
	}
	require.Len(t, ps, 1)
	require.Equal(t, "failure_ratio", ps[0].Features[0].Name)
	e, err := New(ps, OptionsFrom(c.Processor))
	require.NoError(t, err)
	evs := []*event.Event{
		ev(t0, "authentication", "failure", func(e *event.Event) { e.Host, e.User, e.Attrs = "h1", "u1", map[string]string{"tty": "pts/0"} }),
		ev(t0.Add(time.Second), "authentication", "success", func(e *event.Event) { e.Host, e.User, e.Attrs = "h1", "u1", map[string]string{"tty": "pts/0"} }),
		ev(t0.Add(2*time.Second), "authentication", "failure", func(e *event.Event) { e.Host, e.User = "h1", "u1" }), // no tty: not matched
	}
	_, scores := replay(t, e, evs)
	require.Equal(t, 2, scores, "one score per feature for h1|u1")
	require.Equal(t, uint64(2), e.Stats().Counted)
	require.Equal(t, uint64(1), e.Stats().Ignored)
}

// An entity that bursts every eight minutes is one incident: its firing
// alert is republished with one id when it flaps, so a pager pages once.
func TestFlappingEntityIsOneIncident(t *testing.T) {
	var evs []*event.Event
	evs = append(evs, testkit.FailedLogins{Background: 20, Minutes: 120}.Events(t0, 1)...)
	for b := range 8 {
		evs = append(evs, testkit.FailedLogins{Minutes: 1, BurstIP: "203.0.113.66", BurstSize: 150}.Events(t0.Add(time.Duration(30+8*b)*time.Minute), 0)...)
	}
	e := bruteForce(t)
	all, _ := replay(t, e, evs)
	fired, resolved := byStatus(all)
	ids := map[string]bool{}
	for _, a := range fired {
		require.Equal(t, "203.0.113.66", a.Entity)
		ids[a.ID] = true
	}
	require.Len(t, ids, 1, "one incident: %+v", fired)
	// Resolved after five quiet windows (09:36), reopened by the burst at
	// 09:38 (a flap), which doubles the quiet windows needed to ten: the
	// bursts, eight minutes apart, then keep it open until the last one.
	require.Len(t, fired, 2, "opened once, reopened once")
	require.Equal(t, uint64(1), e.ProfileStats()["brute_force"].Flaps)
	require.Len(t, resolved, 2, "%+v", resolved)
	require.Equal(t, t0.Add(87*time.Minute), resolved[1].LastSeen)
	require.Equal(t, 8, resolved[1].Count, "every burst counted in the one incident")
}

// A burst inside the profile's suppression window opens no incident.
func TestSuppressionWindow(t *testing.T) {
	bf := testkit.MinuteBruteForce()
	bf.Suppress = []config.SuppressConfig{{Days: []string{"mon"}, From: "09:30", To: "10:00"}} // t0 is a Monday, 09:00
	e, err := New([]config.ProfileConfig{bf}, OptionsFrom(config.Default().Processor))
	require.NoError(t, err)
	evs := testkit.FailedLogins{Background: 20, Minutes: 60, BurstIP: "203.0.113.7", BurstAt: 40, BurstSize: 200}.Events(t0, 2)
	all, _ := replay(t, e, evs)
	require.Empty(t, all)
	require.Equal(t, uint64(1), e.ProfileStats()["brute_force"].Suppressed)

	_, err = config.ParseSuppress(config.SuppressConfig{Days: []string{"someday"}, From: "09:00", To: "10:00"})
	require.ErrorContains(t, err, `day "someday"`)
	_, err = config.ParseSuppress(config.SuppressConfig{From: "10:00", To: "09:00"})
	require.ErrorContains(t, err, "must be after")
}

func TestKeySpec(t *testing.T) {
	for _, tt := range []struct {
		key  []string
		want string
	}{
		{[]string{"source.ip"}, "source.ip"},
		{[]string{"user.name", "source.ip/24"}, "user.name+source.ip/24"},
		{[]string{"source.ip/024"}, "source.ip/24"},
		{[]string{"labels.team", "host.name"}, "labels.team+host.name"},
		{[]string{"source.ip/x"}, "source.ip/x"},
	} {
		require.Equal(t, tt.want, KeySpec(config.ProfileConfig{Key: tt.key}), "%v", tt.key)
	}
}

// Key names the entity of the first profile that matches an event and
// whose key fields it has.
func TestKey(t *testing.T) {
	subnet := builtin(t, "brute_force")
	subnet.Name, subnet.Key = "brute_force_subnet", []string{"source.ip/24"}
	users := builtin(t, "db_query_volume")
	e, err := New([]config.ProfileConfig{users, subnet, builtin(t, "brute_force")}, OptionsFrom(config.Default().Processor))
	require.NoError(t, err)
	login := testkit.FailedLogin("192.0.2.7", t0)
	query := &event.Event{Category: "database", Action: "db_query", User: "alice", SrcIP: "192.0.2.7"}
	for _, tt := range []struct {
		name string
		ev   *event.Event
		want string
		ok   bool
	}{
		{"first matching profile", login, "192.0.2.0/24", true},
		{"another profile", query, "alice", true},
		{"without the key fields", &event.Event{Category: "database", Action: "db_query"}, "", false},
		{"matched by none", &event.Event{Category: "process", User: "alice"}, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := e.Key(tt.ev)
			require.Equal(t, tt.ok, ok)
			require.Equal(t, tt.want, got)
		})
	}
}

// The engine keeps copies of the strings it holds on to: a caller may
// decode each event into strings that point into a buffer it then reuses.
func TestEventStringsMayPointIntoAReusedBuffer(t *testing.T) {
	var evs []*event.Event
	for d := range 30 {
		for h := 9; h < 12; h++ {
			evs = append(evs, ev(t0.Add(time.Duration(d*24+h)*time.Hour), "authentication", "success",
				func(e *event.Event) { e.User, e.SrcIP = "alice", "10.0.0.5" }))
		}
	}
	at := t0.Add(30*24*time.Hour + 10*time.Hour)
	evs = append(evs, ev(at, "authentication", "success", func(e *event.Event) { e.User, e.SrcIP = "alice", "203.0.113.9" }))

	buf := make([]byte, 0, 256)
	shared := func(s string) string {
		buf = append(buf, s...)
		return unsafe.String(&buf[len(buf)-len(s)], len(s))
	}
	i := 0
	var alerts []alert.Alert
	require.NoError(t, newEngine(t, "new_user_source").Replay(func() (*event.Event, error) {
		// The previous event's strings are overwritten before the next
		// event is handed over.
		for j := range buf {
			buf[j] = '#'
		}
		buf = buf[:0]
		if i == len(evs) {
			return nil, io.EOF
		}
		e := *evs[i]
		i++
		e.Tenant, e.User, e.SrcIP = shared(e.Tenant), shared(e.User), shared(e.SrcIP)
		return &e, nil
	}, func(out Output) error {
		alerts = append(alerts, out.Alerts...)
		return nil
	}))
	firing, _ := byStatus(alerts)
	require.Len(t, firing, 1, "%+v", firing)
	require.Equal(t, "default", firing[0].Tenant)
	require.Equal(t, "alice|203.0.113.9", firing[0].Entity)
}
