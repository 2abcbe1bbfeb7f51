package processor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
)

func TestCountTail(t *testing.T) {
	tests := []struct {
		name              string
		k, mean, variance float64
		want              float64
	}{
		{"k=0 is certain", 0, 3, 3, 1},
		{"poisson P(X>=1|1)", 1, 1, 1, 1 - math.Exp(-1)},
		{"poisson P(X>=3|2)", 3, 2, 2, 1 - math.Exp(-2)*(1+2+2)},
		{"poisson far tail", 90, 1, 1, 0},
		// NB with mean 2, variance 4: p=0.5, r=2; P(X=0)=0.25, P(X=1)=0.25, P(X=2)=0.1875.
		{"negative binomial P(X>=3)", 3, 2, 4, 1 - 0.25 - 0.25 - 0.1875},
		{"zero mean", 5, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, tt.want, countTail(tt.k, tt.mean, tt.variance), 1e-9)
		})
	}
}

func TestEWMAStartsUnbiased(t *testing.T) {
	var e ewma
	for _, x := range []float64{2, 4, 6} {
		e.update(x, 0.05)
	}
	require.InDelta(t, 4, e.Mean, 1e-9, "the first 1/alpha samples weigh equally")
	for range 20 {
		e.update(4, 0.05)
	}
	before := e.Mean
	e.update(1000, 0.05)
	require.Less(t, e.Mean-before, 1.0, "an outlier is clipped before it is learned")
	require.Equal(t, uint64(24), e.Samples)
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func failure(ip string, ts time.Time) *event.Event {
	return &event.Event{
		Version: 1, ID: event.NewID("default", "test", ts.UnixNano(), []byte(ip)),
		Timestamp: ts, Ingested: ts, Tenant: "default", Source: "sshd",
		Category: event.CategoryAuthentication, Action: "ssh_login", Outcome: event.OutcomeFailure, SrcIP: ip,
	}
}

// traffic generates failed logins: every background IP fails a Poisson
// number of times a minute at its own rate, for minutes minutes; burst adds
// burstCount failures from burstIP in minute burstAt.
type traffic struct {
	background         int
	minutes            int
	burstIP            string
	burstAt, burstSize int
}

func (tr traffic) events(seed uint64) []*event.Event {
	return tr.eventsFrom(t0, seed)
}

func (tr traffic) eventsAt(start time.Time) []*event.Event { return tr.eventsFrom(start, 0) }

func (tr traffic) eventsFrom(begin time.Time, seed uint64) []*event.Event {
	rng := rand.New(rand.NewPCG(seed, 1))
	var out []*event.Event
	for m := range tr.minutes {
		start := begin.Add(time.Duration(m) * time.Minute)
		for i := range tr.background {
			rate := 0.5 + float64(i%8) // 0.5 .. 7.5 failures a minute
			n := poisson(rng, rate)
			for range n {
				out = append(out, failure(fmt.Sprintf("198.51.100.%d", i+1), start.Add(time.Duration(rng.IntN(60_000))*time.Millisecond)))
			}
		}
		if tr.burstIP != "" && m == tr.burstAt {
			for j := range tr.burstSize {
				out = append(out, failure(tr.burstIP, start.Add(time.Duration(j*60_000/tr.burstSize)*time.Millisecond)))
			}
		}
	}
	return out
}

func poisson(rng *rand.Rand, lambda float64) int {
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= rng.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

func run(t *testing.T, d *Detector, evs []*event.Event) Output {
	t.Helper()
	var all Output
	now := time.Now()
	for i, e := range evs {
		d.Observe(e, Position{Partition: 0, Offset: int64(i)}, now)
		out := d.Advance(now)
		all.Scores = append(all.Scores, out.Scores...)
		all.Alerts = append(all.Alerts, out.Alerts...)
	}
	out := d.Advance(now.Add(time.Hour)) // idle: close everything
	all.Scores = append(all.Scores, out.Scores...)
	all.Alerts = append(all.Alerts, out.Alerts...)
	require.Zero(t, d.OpenWindows())
	return all
}

func TestSteadyBackgroundRaisesNothing(t *testing.T) {
	for seed := range uint64(5) {
		d := NewDetector(config.Default().Processor.BruteForce)
		out := run(t, d, traffic{background: 40, minutes: 90}.events(seed))
		require.NotEmpty(t, out.Scores)
		require.Empty(t, out.Alerts, "seed %d: steady traffic alerted: %+v", seed, out.Alerts)
		require.Zero(t, d.Stats().Late)
	}
}

func TestBurstRaisesOneAlert(t *testing.T) {
	d := NewDetector(config.Default().Processor.BruteForce)
	// The burst lasts three minutes: one incident, one alert.
	evs := traffic{background: 40, minutes: 60, burstIP: "203.0.113.7", burstAt: 30, burstSize: 120}.events(1)
	evs = append(evs, traffic{minutes: 60, burstIP: "203.0.113.7", burstAt: 31, burstSize: 100}.events(2)...)
	evs = append(evs, traffic{minutes: 60, burstIP: "203.0.113.7", burstAt: 32, burstSize: 90}.events(3)...)
	sortByTime(evs)
	out := run(t, d, evs)
	require.Len(t, out.Alerts, 1, "alerts: %+v", out.Alerts)
	a := out.Alerts[0]
	require.Equal(t, "203.0.113.7", a.Entity)
	require.Equal(t, "vigil/default/brute_force/203.0.113.7", a.DedupKey)
	require.Equal(t, "firing", a.Status)
	require.Equal(t, t0.Add(30*time.Minute), a.FirstSeen)
	require.GreaterOrEqual(t, a.Explanation.Observed, 10.0, "raised early, on the count so far")
	require.LessOrEqual(t, a.Explanation.Observed, 120.0)
	require.GreaterOrEqual(t, a.AnomalyScore, config.Default().Processor.BruteForce.Threshold)
	require.Contains(t, a.Links.Query, "src_ip = '203.0.113.7'")
}

func TestNewIPJudgedAgainstPopulation(t *testing.T) {
	d := NewDetector(config.Default().Processor.BruteForce)
	out := run(t, d, traffic{background: 20, minutes: 20, burstIP: "203.0.113.9", burstAt: 19, burstSize: 4}.events(7))
	found := false
	for _, sc := range out.Scores {
		if sc.Entity == "203.0.113.9" {
			found = true
			require.Equal(t, MethodPopulation, sc.Explanation.Method)
			require.Less(t, sc.AnomalyScore, 0.999999)
		}
	}
	require.True(t, found)
	require.Empty(t, out.Alerts)
}

func TestLateEventsAreCountedNotScored(t *testing.T) {
	cfg := config.Default().Processor.BruteForce
	d := NewDetector(cfg)
	now := time.Now()
	d.Observe(failure("192.0.2.1", t0), Position{0, 0}, now)
	d.Observe(failure("192.0.2.1", t0.Add(5*time.Minute)), Position{0, 1}, now)
	out := d.Advance(now)
	require.Len(t, out.Scores, 1, "the first window closed by the watermark")
	require.False(t, d.Observe(failure("192.0.2.1", t0.Add(10*time.Second)), Position{0, 2}, now))
	require.Equal(t, uint64(1), d.Stats().Late)
}

func TestLowWaterHoldsOpenWindows(t *testing.T) {
	d := NewDetector(config.Default().Processor.BruteForce)
	now := time.Now()
	d.Observe(failure("192.0.2.1", t0), Position{Partition: 3, Offset: 10}, now)
	d.Observe(failure("192.0.2.2", t0.Add(time.Second)), Position{Partition: 3, Offset: 11}, now)
	d.Observe(failure("192.0.2.3", t0.Add(2*time.Minute)), Position{Partition: 4, Offset: 7}, now)
	require.Equal(t, map[int]int64{3: 10, 4: 7}, d.LowWater())
	d.Advance(now)
	require.Equal(t, map[int]int64{3: 10, 4: 7}, d.LowWater(), "each partition has its own watermark")
	d.Observe(failure("192.0.2.1", t0.Add(2*time.Minute)), Position{Partition: 3, Offset: 12}, now)
	d.Advance(now) // partition 3's watermark t0+1m30s closes its first window only
	require.Equal(t, map[int]int64{3: 12, 4: 7}, d.LowWater())
}

func TestEntityCap(t *testing.T) {
	cfg := config.Default().Processor.BruteForce
	cfg.MaxEntities = 5
	d := NewDetector(cfg)
	run(t, d, traffic{background: 10, minutes: 3}.events(3))
	require.Equal(t, 5, d.Entities())
	require.Positive(t, d.Stats().Overflow)
}

func sortByTime(evs []*event.Event) {
	slices.SortStableFunc(evs, func(a, b *event.Event) int { return a.Timestamp.Compare(b.Timestamp) })
}

func TestRedeliveredEventsCountOnce(t *testing.T) {
	d := NewDetector(config.Default().Processor.BruteForce)
	now := time.Now()
	e := failure("192.0.2.1", t0)
	require.True(t, d.Observe(e, Position{0, 0}, now))
	require.False(t, d.Observe(e, Position{0, 1}, now), "the same event id again, e.g. after a shipper crash")
	require.Equal(t, uint64(1), d.Stats().Duplicate)
	require.Equal(t, uint64(1), d.Stats().Counted)
}

func TestRecentIDsForgetTheOldest(t *testing.T) {
	r := newRecentIDs(2)
	id := func(i int64) string { return event.NewID("t", "o", i, nil) }
	require.False(t, r.seenBefore(id(1)))
	require.False(t, r.seenBefore(id(2)))
	require.True(t, r.seenBefore(id(1)))
	require.False(t, r.seenBefore(id(3))) // evicts 1
	require.False(t, r.seenBefore(id(1)))
	require.False(t, r.seenBefore("not-hex"))
	require.False(t, r.seenBefore("not-hex"), "malformed ids are never duplicates")
}

func TestFutureEventsAreNotCounted(t *testing.T) {
	d := NewDetector(config.Default().Processor.BruteForce)
	now := time.Now()
	require.False(t, d.Observe(failure("192.0.2.1", now.Add(50*365*24*time.Hour)), Position{0, 0}, now))
	require.Equal(t, uint64(1), d.Stats().Future)
	require.Empty(t, d.LowWater(), "a far-future event holds back no offset")
	require.True(t, d.Observe(failure("192.0.2.1", now), Position{0, 1}, now))
}

// An incident resolves after resolve_windows windows without anomaly even
// when its partition sees nothing else, so a later burst pages again.
func TestIncidentResolvesInQuietPartition(t *testing.T) {
	d := NewDetector(config.Default().Processor.BruteForce)
	burst := func(at time.Time) []*event.Event {
		return traffic{minutes: 1, burstIP: "203.0.113.7", burstAt: 0, burstSize: 200}.eventsAt(at)
	}
	evs := append(burst(t0), burst(t0.Add(3*time.Hour))...)
	out := run(t, d, evs)
	require.Len(t, out.Alerts, 2, "one incident per burst")
}
