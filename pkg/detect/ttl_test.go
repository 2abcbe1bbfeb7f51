package detect

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// ttlEngine runs pc with the given entity TTL.
func ttlEngine(t *testing.T, pc config.ProfileConfig, ttl time.Duration) *Engine {
	opts := OptionsFrom(config.Default().Processor)
	opts.EntityTTL = ttl
	e, err := New([]config.ProfileConfig{pc}, opts)
	require.NoError(t, err)
	return e
}

// minutes feeds the engine one event a minute from each of ips (a nil
// event for an ip skips it), from minute from to minute to, advancing
// after each minute; after it calls check with the profile's newest closed
// window.
func minutes(e *Engine, from, to int, evAt func(m int) []*event.Event, check func(closedTo time.Time, out Output)) {
	now := t0.Add(30 * 24 * time.Hour)
	for m := from; m < to; m++ {
		for _, ev := range evAt(m) {
			e.Observe(ev, Position{Offset: int64(m)}, now)
		}
		check(e.profiles[0].closedTo, e.Advance(now))
	}
}

// An entity without events for the TTL is forgotten within TTL/16 after it,
// while one with events stays.
func TestEntityTTLForgetsQuietEntities(t *testing.T) {
	const ttl = 64 * time.Minute
	e := ttlEngine(t, testkit.MinuteBruteForce(), ttl)
	var evictedAt time.Time
	minutes(e, 0, 150, func(m int) []*event.Event {
		evs := []*event.Event{testkit.FailedLogin("192.0.2.1", t0.Add(time.Duration(m)*time.Minute))}
		if m == 0 {
			evs = append(evs, testkit.FailedLogin("192.0.2.2", t0))
		}
		return evs
	}, func(closedTo time.Time, _ Output) {
		if evictedAt.IsZero() && e.Entities()["brute_force"] == 1 {
			evictedAt = closedTo
		}
	})
	require.False(t, evictedAt.IsZero(), "the quiet entity was forgotten")
	require.Greater(t, evictedAt.Sub(t0), ttl, "not before its TTL")
	require.LessOrEqual(t, evictedAt.Sub(t0), ttl+ttl/sweepsPerTTL+time.Minute)
	require.Equal(t, uint64(1), e.ProfileStats()["brute_force"].Evicted)
	require.Contains(t, e.profiles[0].entities, entityHash("default", "192.0.2.1"))
}

// An entity whose incident is firing is kept past its TTL; once the
// incident resolves, the entity and the resolved incident go.
func TestEntityTTLKeepsFiringIncidents(t *testing.T) {
	const ttl = 2 * time.Minute
	e := ttlEngine(t, testkit.MinuteBruteForce(), ttl)
	burst := entityHash("default", "203.0.113.7")
	var fired, resolved, keptPastTTL int
	minutes(e, 0, 30, func(m int) []*event.Event {
		evs := []*event.Event{testkit.FailedLogin("192.0.2.1", t0.Add(time.Duration(m)*time.Minute))}
		if m == 0 {
			evs = append(evs, testkit.FailedLogins{Minutes: 1, BurstIP: "203.0.113.7", BurstSize: 200}.Events(t0, 0)...)
		}
		return evs
	}, func(closedTo time.Time, out Output) {
		f, r := byStatus(out.Alerts)
		fired, resolved = fired+len(f), resolved+len(r)
		inc := e.profiles[0].open[burst]
		if inc != nil && inc.firing() && closedTo.Sub(t0) > ttl+time.Minute {
			require.Contains(t, e.profiles[0].entities, burst, "kept while firing, at %s", closedTo)
			keptPastTTL++
		}
		if resolved > 0 && closedTo.Sub(t0) > 10*time.Minute {
			require.NotContains(t, e.profiles[0].entities, burst, "forgotten once resolved, at %s", closedTo)
			require.Nil(t, inc, "with its resolved incident")
		}
	})
	require.Equal(t, 1, fired)
	require.Equal(t, 1, resolved)
	require.Positive(t, keptPastTTL)
	require.Equal(t, uint64(1), e.ProfileStats()["brute_force"].Evicted)
}

// A profile judged low judges an entity in the windows it is absent from,
// but forgets it a TTL after its last window with events.
func TestEntityTTLInProfileJudgedLow(t *testing.T) {
	pc := builtin(t, "silent_source")
	pc.Window, pc.Warmup = time.Minute, 3
	const ttl = 16 * time.Minute
	e := ttlEngine(t, pc, ttl)
	var evictedAt time.Time
	minutes(e, 0, 40, func(m int) []*event.Event {
		at := t0.Add(time.Duration(m) * time.Minute)
		evs := []*event.Event{{ID: recentID(int64(2 * m)), Timestamp: at, Tenant: "default", Host: "busy"}}
		if m < 5 {
			evs = append(evs, &event.Event{ID: recentID(int64(2*m + 1)), Timestamp: at, Tenant: "default", Host: "gone"})
		}
		return evs
	}, func(closedTo time.Time, _ Output) {
		if evictedAt.IsZero() && e.Entities()["silent_source"] == 1 {
			evictedAt = closedTo
		}
	})
	require.False(t, evictedAt.IsZero(), "the host gone quiet was forgotten")
	last := t0.Add(4 * time.Minute)
	require.Greater(t, evictedAt.Sub(last), ttl)
	require.LessOrEqual(t, evictedAt.Sub(last), ttl+ttl/sweepsPerTTL+time.Minute)
}

func TestEntityTTLZeroKeepsEntities(t *testing.T) {
	e := ttlEngine(t, testkit.MinuteBruteForce(), 0)
	minutes(e, 0, 100, func(m int) []*event.Event {
		return []*event.Event{testkit.FailedLogin(fmt.Sprintf("192.0.2.%d", m), t0.Add(time.Duration(m)*time.Minute))}
	}, func(time.Time, Output) {})
	require.Equal(t, 98, e.Entities()["brute_force"], "every entity but those of the two open windows")
	require.Zero(t, e.ProfileStats()["brute_force"].Evicted)
}
