package evalset

import (
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// collect generates cfg's events into memory.
func collect(tb testing.TB, cfg Config) ([]*event.Event, Labels) {
	tb.Helper()
	var events []*event.Event
	labels, err := Generate(cfg, func(e *event.Event) error {
		events = append(events, e)
		return nil
	})
	require.NoError(tb, err)
	return events, labels
}

// entityOf forms e's entity for profile the way the engine does, or false
// when the profile does not count e.
func entityOf(profile string, e *event.Event) (string, bool) {
	auth := e.Category == event.CategoryAuthentication && e.Action == "ssh_login"
	failed := auth && e.Outcome == event.OutcomeFailure
	login := auth && e.Outcome == event.OutcomeSuccess
	flow := e.Category == event.CategoryNetwork && e.Action == "network_flow"
	switch profile {
	case ProfileBruteForce, ProfilePasswordSpraying:
		return e.SrcIP, failed
	case ProfilePortScan, ProfileHostScan:
		return e.SrcIP, flow
	case ProfileExfilHost:
		return e.Host, flow && e.Host != ""
	case ProfileExfilUser:
		return e.User, flow && e.User != ""
	case ProfileUnusualHour:
		return e.User, login
	case ProfileNewUserSource:
		return userSource(e.User, e.SrcIP), login
	case ProfileNewUserSubnet:
		return userSubnet(e.User, e.SrcIP), login
	case ProfileDBQueryVolume:
		return e.User, e.Category == event.CategoryDatabase && e.Action == "db_query"
	case ProfileHTTPAuthFailures:
		s := e.Attrs["http.response.status_code"]
		return e.SrcIP, e.Category == event.CategoryWeb && (s == "401" || s == "403")
	case ProfileSilentSource:
		return e.Host, e.Host != ""
	}
	return "", false
}

// during returns the events counted by profile for entity in [from, to].
func during(events []*event.Event, profile, entity string, from, to time.Time) []*event.Event {
	i, _ := slices.BinarySearchFunc(events, from, func(e *event.Event, t time.Time) int { return e.Timestamp.Compare(t) })
	var out []*event.Event
	for _, e := range events[i:] {
		if e.Timestamp.After(to) {
			break
		}
		if got, ok := entityOf(profile, e); ok && got == entity {
			out = append(out, e)
		}
	}
	return out
}

func TestGenerateIsDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	la, err := WriteNDJSON(Small(), &a)
	require.NoError(t, err)
	lb, err := WriteNDJSON(Small(), &b)
	require.NoError(t, err)
	require.Equal(t, a.Bytes(), b.Bytes(), "same seed, same bytes")
	require.Equal(t, la, lb)
	require.EqualValues(t, bytes.Count(a.Bytes(), []byte("\n")), la.Events)

	other := Small()
	other.Seed = 2
	_, err = WriteNDJSON(other, &c)
	require.NoError(t, err)
	require.NotEqual(t, a.Bytes(), c.Bytes(), "another seed, other events")
}

func TestEventsAreOrderedValidAndUnique(t *testing.T) {
	cfg := Small()
	events, labels := collect(t, cfg)
	require.EqualValues(t, len(events), labels.Events)
	require.Greater(t, len(events), 10000)
	ids := make(map[string]bool, len(events))
	for i, e := range events {
		require.NoError(t, e.Validate(), "event %d", i)
		require.False(t, ids[e.ID], "event %d: id %s repeated", i, e.ID)
		ids[e.ID] = true
		if i > 0 {
			require.False(t, e.Timestamp.Before(events[i-1].Timestamp), "event %d is earlier than the one before", i)
		}
		require.False(t, e.Timestamp.Before(cfg.Start), "event %d before the start", i)
		require.True(t, e.Timestamp.Before(cfg.Start.Add(cfg.Duration)), "event %d after the end", i)
		require.True(t, e.Ingested.After(e.Timestamp), "event %d ingested before it happened", i)
		require.Equal(t, "default", e.Tenant)
		require.True(t, strings.HasPrefix(e.Source, "synthetic."), e.Source)
		require.NotEmpty(t, e.Message)
	}
	for _, cat := range []string{event.CategoryAuthentication, event.CategoryNetwork, event.CategoryDatabase, event.CategoryWeb} {
		require.True(t, slices.ContainsFunc(events, func(e *event.Event) bool { return e.Category == cat }), cat)
	}
}

func TestGenerateStopsOnEmitError(t *testing.T) {
	boom := errors.New("boom")
	n := 0
	_, err := Generate(Small(), func(*event.Event) error {
		if n++; n == 100 {
			return boom
		}
		return nil
	})
	require.ErrorIs(t, err, boom)
	require.Equal(t, 100, n)
}

// TestLabelsMatchTheEvents: every incident's entity (and every entity of
// its Also map) is in the events during [start, end], as its profile would
// count it; a silent host has no events then, and had some at the same
// hours a day before.
func TestLabelsMatchTheEvents(t *testing.T) {
	cfg := Small()
	events, labels := collect(t, cfg)
	attacks := 0
	for _, l := range labels.Incidents {
		require.Equal(t, cfg.Tenant, l.Tenant)
		require.False(t, l.Start.Before(labels.EvalStart), "%+v starts in the warm-up", l)
		require.False(t, l.End.Before(l.Start), "%+v", l)
		if !l.Benign {
			attacks++
		}
		if l.Profile == ProfileSilentSource {
			require.Empty(t, during(events, l.Profile, l.Entity, l.Start, l.End.Add(-time.Millisecond)), "%+v", l)
			before := during(events, l.Profile, l.Entity, l.Start.Add(-24*time.Hour), l.End.Add(-24*time.Hour))
			require.GreaterOrEqual(t, len(before), 8, "%+v: a silent host should be busy at that time", l)
			continue
		}
		require.NotEmpty(t, during(events, l.Profile, l.Entity, l.Start, l.End), "%+v", l)
		for p, e := range l.Also {
			require.NotEmpty(t, during(events, p, e, l.Start, l.End), "%+v: also %s %s", l, p, e)
		}
	}
	a := cfg.Attacks
	require.Equal(t, a.total()+a.NewSource, attacks, "one label per attack, two per new source")
	for _, b := range labels.Bursts {
		require.False(t, b.Benign, "%+v", b)
		require.False(t, b.Start.Before(labels.EvalStart), "%+v", b)
		require.NotEmpty(t, during(events, b.Profile, b.Entity, b.Start, b.End), "%+v", b)
	}
}

// TestRarityLabelsAreComplete: after the warm-up, every first successful
// login of a user from an address or a /24 is labelled, as an attack or as
// benign; and none that is not first.
func TestRarityLabelsAreComplete(t *testing.T) {
	events, labels := collect(t, Small())
	type key struct{ profile, entity string }
	want := map[key]time.Time{}
	seen := map[string]bool{}
	for _, e := range events {
		for _, p := range []string{ProfileNewUserSource, ProfileNewUserSubnet} {
			ent, ok := entityOf(p, e)
			if !ok || seen[p+ent] {
				continue
			}
			seen[p+ent] = true
			if !e.Timestamp.Before(labels.EvalStart) {
				want[key{p, ent}] = e.Timestamp
			}
		}
	}
	got := map[key]time.Time{}
	for _, l := range labels.Incidents {
		if l.Profile == ProfileNewUserSource || l.Profile == ProfileNewUserSubnet {
			got[key{l.Profile, l.Entity}] = l.Start
		}
	}
	require.Equal(t, want, got)
}

// intense is a configuration with six attacks of each kind.
func intense() Config {
	c := Small()
	c.Users, c.Hosts = 400, 120
	a := &c.Attacks
	for _, n := range []*int{&a.BruteForce, &a.LowAndSlow, &a.Spraying, &a.PortScan, &a.HostScan, &a.ExfilHost,
		&a.ExfilUser, &a.OffHoursLogin, &a.NewSource, &a.DBQueryVolume, &a.HTTPAuthFlood, &a.SilentSource} {
		*n = 6
	}
	return c
}

// attackBytes sums the bytes sent to never-seen addresses: normal traffic
// goes to internal hosts and to 203.0.113.0/24 and 192.0.2.0/24.
func attackBytes(es []*event.Event) float64 {
	ext := netip.MustParsePrefix("198.18.0.0/15")
	sum := 0.0
	for _, e := range es {
		if ext.Contains(netip.MustParseAddr(e.DstIP)) {
			sum += float64(e.BytesOut)
		}
	}
	return sum
}

func distinct(es []*event.Event, f func(*event.Event) string) map[string]int {
	m := map[string]int{}
	for _, e := range es {
		m[f(e)]++
	}
	return m
}

// TestAttackIntensities: each attack's events lie in its documented range.
func TestAttackIntensities(t *testing.T) {
	cfg := intense()
	g := newGen(cfg) // the same population Generate builds, for the usual rates
	users, hosts := map[string]*user{}, map[string]*host{}
	for _, u := range g.pop.users {
		users[u.name] = u
	}
	for _, h := range g.pop.hosts {
		hosts[h.name] = h
	}
	events, labels := collect(t, cfg)
	first := map[string]time.Time{} // first event of each source.ip
	for _, e := range events {
		if _, ok := first[e.SrcIP]; !ok && e.SrcIP != "" {
			first[e.SrcIP] = e.Timestamp
		}
	}
	perMinute := func(n int, l Label) float64 { return float64(n) / l.End.Sub(l.Start).Minutes() }
	between := func(t *testing.T, what string, got, lo, hi float64) {
		t.Helper()
		require.True(t, got >= lo && got <= hi, "%s = %.2f, want [%g, %g]", what, got, lo, hi)
	}
	kinds := map[string]int{}
	for _, l := range labels.Incidents {
		if l.Benign {
			continue
		}
		kinds[strings.TrimSuffix(l.Kind, "_dictionary")]++
		es := during(events, l.Profile, l.Entity, l.Start, l.End)
		d := l.End.Sub(l.Start)
		t.Run(fmt.Sprintf("%s/%s", l.Kind, l.Entity), func(t *testing.T) {
			switch l.Kind {
			case "brute_force", "brute_force_dictionary":
				between(t, "minutes", d.Minutes(), 5, 60)
				between(t, "failures a minute", perMinute(len(es), l), 29.9, 600.1)
				require.Equal(t, l.Start, first[l.Entity], "a new address")
			case "low_and_slow", "low_and_slow_dictionary":
				between(t, "minutes", d.Minutes(), 30, 120)
				between(t, "failures a minute", perMinute(len(es), l), 4.9, 10.1)
				require.Equal(t, l.Start, first[l.Entity], "a new address")
			case "spraying":
				tries := distinct(es, func(e *event.Event) string { return e.User })
				between(t, "users", float64(len(tries)), 20, 200)
				for _, n := range tries {
					between(t, "tries per user", float64(n), 1, 3)
				}
				require.Equal(t, l.Start, first[l.Entity], "a new address")
			case "port_scan": // from a compromised desk, its users' browsing goes on
				dsts := distinct(es, func(e *event.Event) string { return e.DstIP })
				target := ""
				for ip, n := range dsts {
					if target == "" || n > dsts[target] {
						target = ip
					}
				}
				require.GreaterOrEqual(t, float64(dsts[target]), 0.9*float64(len(es)), "one host")
				ports := distinct(es, func(e *event.Event) string {
					if e.DstIP != target {
						return ""
					}
					return fmt.Sprint(e.DstPort)
				})
				delete(ports, "")
				between(t, "ports", float64(len(ports)), 100, 2000)
			case "host_scan":
				between(t, "hosts", float64(len(distinct(es, func(e *event.Event) string { return e.DstIP }))), 50, 500)
			case "exfiltration_host":
				between(t, "minutes", d.Minutes(), 10, 60)
				between(t, "× busy hour", attackBytes(es)/busyHostBytes(hosts[l.Entity]), 9.99, 100.01)
			case "exfiltration_user":
				between(t, "minutes", d.Minutes(), 10, 60)
				between(t, "× busy hour", attackBytes(es)/busyUserBytes(users[l.Entity]), 9.99, 100.01)
			case "db_query_volume":
				u := users[l.Entity]
				usual := usualQueries(u, l.Start.UnixNano(), l.End.UnixNano())
				require.GreaterOrEqual(t, len(es), 30)
				require.GreaterOrEqual(t, float64(len(es)), 20*usual)
				require.LessOrEqual(t, float64(len(es)), 110*usual+10)
			case "http_auth_flood":
				between(t, "minutes", d.Minutes(), 5, 30)
				between(t, "401/403 a minute", perMinute(len(es), l), 0.8*20, 300.1)
				requests := 0
				for _, e := range events {
					if e.SrcIP == l.Entity && e.Category == event.CategoryWeb && !e.Timestamp.Before(l.Start) && !e.Timestamp.After(l.End) {
						requests++
					}
				}
				between(t, "share of 401/403", float64(len(es))/float64(requests), 0.8, 1)
			case "off_hours_login":
				for _, e := range es {
					require.Less(t, e.Timestamp.Hour(), 5, "a night login")
				}
				for _, e := range events {
					if ent, ok := entityOf(ProfileUnusualHour, e); ok && ent == l.Entity && e.Timestamp.Hour() < 5 {
						require.False(t, e.Timestamp.Before(l.Start) || e.Timestamp.After(l.End), "%s logs in at night outside the attack: %s", l.Entity, e.Timestamp)
					}
				}
			case "new_source":
				for _, e := range events {
					if !e.Timestamp.Before(l.Start) {
						break
					}
					ent, ok := entityOf(l.Profile, e)
					require.False(t, ok && ent == l.Entity, "%s seen before the attack", l.Entity)
				}
			case "silent_source":
				between(t, "hours", d.Hours(), 2, 6)
			default:
				t.Fatalf("no check for kind %q", l.Kind)
			}
		})
	}
	require.Len(t, kinds, 12)
}
