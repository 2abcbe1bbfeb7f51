package detect

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
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

// builtin returns the built-in profile of that name.
func builtin(t testing.TB, name string) config.ProfileConfig {
	for _, p := range config.BuiltinProfiles() {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("no built-in profile %s", name)
	return config.ProfileConfig{}
}

// newEngine returns an engine running the named built-in profiles with the
// default options.
func newEngine(t testing.TB, names ...string) *Engine {
	t.Helper()
	var ps []config.ProfileConfig
	for _, n := range names {
		ps = append(ps, builtin(t, n))
	}
	e, err := New(ps, OptionsFrom(config.Default().Processor))
	require.NoError(t, err)
	return e
}

// bruteForce returns an engine running brute_force with one-minute windows.
func bruteForce(t testing.TB) *Engine {
	e, err := New([]config.ProfileConfig{testkit.MinuteBruteForce()}, OptionsFrom(config.Default().Processor))
	require.NoError(t, err)
	return e
}

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func run(t *testing.T, d *Engine, evs []*event.Event) Output {
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

// byStatus splits alerts into firing and resolved ones.
func byStatus(alerts []alert.Alert) (firing, resolved []alert.Alert) {
	for _, a := range alerts {
		if a.Status == alert.StatusResolved {
			resolved = append(resolved, a)
		} else {
			firing = append(firing, a)
		}
	}
	return firing, resolved
}

func TestSteadyBackgroundRaisesNothing(t *testing.T) {
	for seed := range uint64(5) {
		d := bruteForce(t)
		out := run(t, d, testkit.FailedLogins{Background: 40, Minutes: 90}.Events(t0, seed))
		require.NotEmpty(t, out.Scores)
		require.Empty(t, out.Alerts, "seed %d: steady traffic alerted: %+v", seed, out.Alerts)
		require.Zero(t, d.Stats().Late)
	}
}

func TestBurstRaisesOneAlert(t *testing.T) {
	d := bruteForce(t)
	// The burst lasts three minutes: one incident, one alert.
	evs := testkit.FailedLogins{Background: 40, Minutes: 60, BurstIP: "203.0.113.7", BurstAt: 30, BurstSize: 120}.Events(t0, 1)
	evs = append(evs, testkit.FailedLogins{Minutes: 60, BurstIP: "203.0.113.7", BurstAt: 31, BurstSize: 100}.Events(t0, 2)...)
	evs = append(evs, testkit.FailedLogins{Minutes: 60, BurstIP: "203.0.113.7", BurstAt: 32, BurstSize: 90}.Events(t0, 3)...)
	testkit.SortByTime(evs)
	out := run(t, d, evs)
	fired, resolved := byStatus(out.Alerts)
	require.Len(t, fired, 1, "alerts: %+v", out.Alerts)
	require.Len(t, resolved, 1, "alerts: %+v", out.Alerts)
	r := resolved[0]
	require.Equal(t, 3, r.Count, "three anomalous windows in one incident")
	require.Equal(t, t0.Add(33*time.Minute), r.LastSeen)
	require.Equal(t, fired[0].DedupKey, r.DedupKey)
	require.NotEqual(t, fired[0].ID, r.ID)
	a := fired[0]
	require.Equal(t, "203.0.113.7", a.Entity)
	require.Equal(t, "vigil/default/brute_force/203.0.113.7", a.DedupKey)
	require.Equal(t, "firing", a.Status)
	require.Equal(t, t0.Add(30*time.Minute), a.FirstSeen)
	require.GreaterOrEqual(t, a.Explanation.Observed, 10.0, "raised early, on the count so far")
	require.LessOrEqual(t, a.Explanation.Observed, 120.0)
	require.GreaterOrEqual(t, a.AnomalyScore, testkit.MinuteBruteForce().Threshold)
	require.Contains(t, a.Links.Query, "src_ip = '203.0.113.7'")
}

func TestNewIPJudgedAgainstPopulation(t *testing.T) {
	d := bruteForce(t)
	out := run(t, d, testkit.FailedLogins{Background: 20, Minutes: 20, BurstIP: "203.0.113.9", BurstAt: 19, BurstSize: 4}.Events(t0, 7))
	found := false
	for _, sc := range out.Scores {
		if sc.Entity == "203.0.113.9" {
			found = true
			require.Equal(t, MethodPopulation+"/count_tail", sc.Explanation.Method)
			require.Less(t, sc.AnomalyScore, 0.999999)
		}
	}
	require.True(t, found)
	require.Empty(t, out.Alerts)
}

func TestLateEventsAreCountedNotScored(t *testing.T) {
	d := bruteForce(t)
	now := time.Now()
	d.Observe(testkit.FailedLogin("192.0.2.1", t0), Position{0, 0}, now)
	d.Observe(testkit.FailedLogin("192.0.2.1", t0.Add(5*time.Minute)), Position{0, 1}, now)
	out := d.Advance(now)
	require.Len(t, out.Scores, 1, "the first window closed by the watermark")
	require.Equal(t, Late, d.Observe(testkit.FailedLogin("192.0.2.1", t0.Add(10*time.Second)), Position{0, 2}, now))
	require.Equal(t, uint64(1), d.Stats().Late)
}

func TestLowWaterHoldsOpenWindows(t *testing.T) {
	d := bruteForce(t)
	now := time.Now()
	d.Observe(testkit.FailedLogin("192.0.2.1", t0), Position{Partition: 3, Offset: 10}, now)
	d.Observe(testkit.FailedLogin("192.0.2.2", t0.Add(time.Second)), Position{Partition: 3, Offset: 11}, now)
	d.Observe(testkit.FailedLogin("192.0.2.3", t0.Add(2*time.Minute)), Position{Partition: 4, Offset: 7}, now)
	require.Equal(t, map[int]int64{3: 10, 4: 7}, d.LowWater())
	d.Advance(now)
	require.Equal(t, map[int]int64{3: 10, 4: 7}, d.LowWater(), "each partition has its own watermark")
	d.Observe(testkit.FailedLogin("192.0.2.1", t0.Add(2*time.Minute)), Position{Partition: 3, Offset: 12}, now)
	d.Advance(now) // partition 3's watermark t0+1m30s closes its first window only
	require.Equal(t, map[int]int64{3: 12, 4: 7}, d.LowWater())
}

func TestEntityCap(t *testing.T) {
	opts := OptionsFrom(config.Default().Processor)
	opts.MaxEntities = 5
	d, err := New([]config.ProfileConfig{testkit.MinuteBruteForce()}, opts)
	require.NoError(t, err)
	run(t, d, testkit.FailedLogins{Background: 10, Minutes: 3}.Events(t0, 3))
	require.Equal(t, 5, d.Entities()["brute_force"])
	require.Positive(t, d.ProfileStats()["brute_force"].Overflow)
}

func TestRedeliveredEventsCountOnce(t *testing.T) {
	d := bruteForce(t)
	now := time.Now()
	e := testkit.FailedLogin("192.0.2.1", t0)
	require.Equal(t, Counted, d.Observe(e, Position{0, 0}, now))
	require.Equal(t, Duplicate, d.Observe(e, Position{0, 1}, now), "the same event id again, e.g. after a shipper crash")
	require.Equal(t, uint64(1), d.Stats().Duplicate)
	require.Equal(t, uint64(1), d.Stats().Counted)
}

// Each dedup mode recognises its own kind of redelivery: the same id at a
// new offset (a shipper sending a line again), or an offset not above the
// partition's highest (a partition read again from a committed position).
func TestDedupModes(t *testing.T) {
	a, b := testkit.FailedLogin("192.0.2.1", t0), testkit.FailedLogin("192.0.2.2", t0.Add(time.Second))
	other := &event.Event{Version: 1, ID: recentID(9), Timestamp: t0, Tenant: "default", Category: "process"}
	type obs struct {
		ev   *event.Event
		pos  Position
		want Result
	}
	tests := []struct {
		mode DedupMode
		seq  []obs
	}{
		{DedupIDs, []obs{
			{a, Position{0, 0}, Counted}, {a, Position{0, 1}, Duplicate}, {a, Position{1, 0}, Counted},
			{b, Position{0, 0}, Counted}, {other, Position{0, 2}, Ignored}, {other, Position{0, 3}, Ignored},
		}},
		{DedupNone, []obs{
			{a, Position{0, 0}, Counted}, {a, Position{0, 0}, Counted}, {a, Position{0, 1}, Counted},
		}},
		{DedupOffsets, []obs{
			{a, Position{0, 5}, Counted}, {a, Position{0, 6}, Counted}, {b, Position{0, 6}, Duplicate},
			{b, Position{0, 3}, Duplicate}, {b, Position{1, 3}, Counted}, {other, Position{0, 7}, Ignored},
			{other, Position{0, 7}, Duplicate}, {b, Position{0, 8}, Counted},
		}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.mode), func(t *testing.T) {
			opts := OptionsFrom(config.Default().Processor)
			opts.Dedup = tt.mode
			d, err := New([]config.ProfileConfig{testkit.MinuteBruteForce()}, opts)
			require.NoError(t, err)
			now := t0.Add(time.Hour)
			dups := uint64(0)
			for i, o := range tt.seq {
				require.Equal(t, o.want, d.Observe(o.ev, o.pos, now), "observation %d", i)
				if o.want == Duplicate {
					dups++
				}
			}
			require.Equal(t, dups, d.Stats().Duplicate)
			if tt.mode != DedupIDs {
				for _, ln := range d.parts {
					require.Nil(t, ln.seen, "no id memory")
				}
			}
		})
	}
}

// With ExplicitIdle a partition without events holds the watermark back
// however long the wall clock runs, until its upstream reports progress or
// marks it idle; windows close by the wall clock only once every partition
// is marked idle.
func TestExplicitIdle(t *testing.T) {
	opts := OptionsFrom(config.Default().Processor)
	opts.ExplicitIdle = true
	d, err := New([]config.ProfileConfig{testkit.MinuteBruteForce()}, opts)
	require.NoError(t, err)
	now := t0.Add(time.Hour)
	closed := func(at time.Time) int { return len(d.Advance(at).Scores) }
	require.Zero(t, closed(now), "no partition: not idle")
	d.Observe(testkit.FailedLogin("192.0.2.1", t0), Position{1, 0}, now)
	d.Observe(testkit.FailedLogin("192.0.2.2", t0.Add(5*time.Minute)), Position{0, 0}, now)
	require.Zero(t, closed(now.Add(time.Hour)), "partition 1 holds the watermark back however long it is quiet")
	d.Progress(1, t0.Add(3*time.Minute), false, now)
	require.Equal(t, 1, closed(now), "partition 1 read up to t0+3m: the first window closes")
	require.Equal(t, 1, d.OpenWindows())
	d.Progress(1, t0.Add(3*time.Minute), true, now)
	require.Zero(t, closed(now.Add(time.Hour)), "partition 0 is not idle: its events are within the lateness")
	d.Progress(0, t0.Add(5*time.Minute), true, now)
	d.Observe(testkit.FailedLogin("192.0.2.2", t0.Add(5*time.Minute+time.Second)), Position{0, 1}, now)
	require.Zero(t, closed(now.Add(time.Hour)), "an event clears the idle mark")
	d.Progress(0, time.Time{}, true, now)
	require.Equal(t, 1, closed(now), "every partition idle: closed by the wall clock")
	require.Zero(t, d.OpenWindows())
}

// Without ExplicitIdle, Progress counts as activity: a partition quiet for
// IdleFlush stops holding the watermark back, and progress reported for it
// makes it hold again.
func TestProgressWithoutExplicitIdle(t *testing.T) {
	d := bruteForce(t)
	now := t0.Add(time.Hour)
	d.Observe(testkit.FailedLogin("192.0.2.1", t0), Position{1, 0}, now)
	d.Observe(testkit.FailedLogin("192.0.2.2", t0.Add(5*time.Minute)), Position{0, 0}, now)
	require.Empty(t, d.Advance(now).Scores, "partition 1 holds the watermark at t0-30s")
	d.Progress(1, t0.Add(2*time.Minute), true, now.Add(time.Minute))
	d.Observe(testkit.FailedLogin("192.0.2.2", t0.Add(7*time.Minute)), Position{0, 1}, now.Add(time.Minute))
	require.Len(t, d.Advance(now.Add(time.Minute)).Scores, 1, "partition 1 read up to t0+2m (its idle mark ignored): the first window closes")
	d.Observe(testkit.FailedLogin("192.0.2.2", t0.Add(7*time.Minute+time.Second)), Position{0, 2}, now.Add(2*time.Minute))
	require.Len(t, d.Advance(now.Add(2*time.Minute)).Scores, 1, "partition 1 quiet for IdleFlush: partition 0's watermark closes t0+5m")
}

func TestFutureEventsAreNotCounted(t *testing.T) {
	d := bruteForce(t)
	now := time.Now()
	require.Equal(t, Future, d.Observe(testkit.FailedLogin("192.0.2.1", now.Add(50*365*24*time.Hour)), Position{0, 0}, now))
	require.Equal(t, uint64(1), d.Stats().Future)
	require.Empty(t, d.LowWater(), "a far-future event holds back no offset")
	require.Equal(t, Counted, d.Observe(testkit.FailedLogin("192.0.2.1", now), Position{0, 1}, now))
}

// An incident resolves after resolve_windows windows without anomaly even
// when its partition sees nothing else, so a later burst pages again.
func TestIncidentResolvesInQuietPartition(t *testing.T) {
	d := bruteForce(t)
	burst := func(at time.Time) []*event.Event {
		return testkit.FailedLogins{Minutes: 1, BurstIP: "203.0.113.7", BurstAt: 0, BurstSize: 200}.Events(at, 0)
	}
	evs := append(burst(t0), burst(t0.Add(3*time.Hour))...)
	out := run(t, d, evs)
	fired, resolved := byStatus(out.Alerts)
	require.Len(t, fired, 2, "one incident per burst")
	require.Len(t, resolved, 1, "the first resolved; the second is still open when the stream ends")
}

func TestSortKeys(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{0, 1, 2, radixMin - 1, radixMin, 1000, 100_000} {
		for _, mask := range []uint64{math.MaxUint64, 0xff, 0xffff_0000_0000_00ff, 0xff00_0000_0000_0000} {
			seen := map[uint64]bool{}
			var keys []cellKey
			for tries := 0; len(keys) < n && tries < 4*n; tries++ {
				h := rng.Uint64() & mask
				if !seen[h] {
					seen[h] = true
					keys = append(keys, cellKey{hash: h, at: len(keys)})
				}
			}
			want := slices.Clone(keys)
			slices.SortFunc(want, func(a, b cellKey) int { return cmp.Compare(a.hash, b.hash) })
			require.Equal(t, want, sortKeys(keys, make([]cellKey, len(keys))), "%d keys, mask %x", n, mask)
		}
	}
}

// Three busy sources failing steadily (125 times per five minutes each)
// in an engine of their own, as in a partition with few entities: too
// few for peers, so their first windows are judged against the prior
// alone and may page, but they are learned all the same: after the cold
// start they raise nothing, the population is established, and a new
// source failing 1,000 times is raised early, before its window closes.
func TestFewBusySourcesBecomeTheBaseline(t *testing.T) {
	bf, e := bruteForceEngine(t)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	wall := start.Add(time.Hour)
	var late []alert.Alert
	for i := range 3 * 1500 {
		ev := &event.Event{Version: 1, Timestamp: start.Add(time.Duration(i) * time.Hour / 4500), Tenant: "default",
			Category: event.CategoryAuthentication, Outcome: event.OutcomeFailure, SrcIP: fmt.Sprintf("198.51.100.%d", i%3)}
		e.Observe(ev, Position{Offset: int64(i)}, wall)
		for _, a := range e.Advance(wall).Alerts {
			if a.FirstSeen.After(start.Add(bf.Window * time.Duration(bf.Warmup+1))) {
				late = append(late, a)
			}
		}
	}
	require.Empty(t, late, "paged after the cold start")
	require.GreaterOrEqual(t, e.profiles[0].feats[0].pop.baseline().samples, uint64(bf.Warmup))

	now := wall.Add(3 * time.Minute)
	var early []alert.Alert
	for j := range 1000 {
		ev := &event.Event{Version: 1, Timestamp: now, Tenant: "default",
			Category: event.CategoryAuthentication, Outcome: event.OutcomeFailure, SrcIP: "203.0.113.101"}
		e.Observe(ev, Position{Offset: int64(4500 + j)}, now)
		early = append(early, e.Advance(now).Alerts...)
	}
	require.Len(t, early, 1)
	require.Equal(t, "203.0.113.101", early[0].Entity)
}

// While the population warms up, a source bursting among quiet ones in the
// same window is judged against the prior alone, and stays out of the
// population: the baseline the next new sources are judged by is the quiet
// sources', not widened by the bursts.
func TestBurstsAmongQuietSourcesStayOutOfThePopulation(t *testing.T) {
	bf, e := bruteForceEngine(t)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	wall := start.Add(24 * time.Hour)
	var off int64
	fail := func(ts time.Time, ip string) {
		off++
		e.Observe(&event.Event{Version: 1, Timestamp: ts, Tenant: "default",
			Category: event.CategoryAuthentication, Outcome: event.OutcomeFailure, SrcIP: ip}, Position{Offset: off}, wall)
	}
	windows := 2 * bf.Warmup
	for w := range windows {
		ts := start.Add(time.Duration(w) * bf.Window)
		for q := range 3 {
			fail(ts, fmt.Sprintf("198.51.100.%d", q)) // one failure each
		}
		if w%2 == 0 {
			for range 60 {
				fail(ts, fmt.Sprintf("203.0.113.%d", w)) // a new source bursting
			}
		}
		e.Advance(wall)
	}
	e.Flush()
	pop := e.profiles[0].feats[0].pop.baseline()
	require.GreaterOrEqual(t, pop.samples, uint64(bf.Warmup), "the quiet sources warmed the population up")
	require.Equal(t, 1.0, pop.mean)
	require.Less(t, math.Sqrt(pop.variance), 2.0, "no burst widened the population's spread")
}

// bruteForceEngine is an engine running the built-in brute_force profile
// alone, with that profile.
func bruteForceEngine(t *testing.T) (config.ProfileConfig, *Engine) {
	t.Helper()
	for _, p := range config.BuiltinProfiles() {
		if p.Name == "brute_force" {
			e, err := New([]config.ProfileConfig{p}, OptionsFrom(config.Default().Processor))
			require.NoError(t, err)
			return p, e
		}
	}
	t.Fatal("no built-in brute_force profile")
	return config.ProfileConfig{}, nil
}

// A measurement (bytes sent out by a host) while the population warms up
// and a window has fewer than five hosts: nothing to judge it by, so no
// host is paged; the values join the population only when they do not
// stand out from at least two others in their window.
func TestFewHostsMeasurementsWarmUpWithoutPaging(t *testing.T) {
	var prof config.ProfileConfig
	for _, p := range config.BuiltinProfiles() {
		if p.Name == "exfiltration_host" {
			prof = p
		}
	}
	e, err := New([]config.ProfileConfig{prof}, OptionsFrom(config.Default().Processor))
	require.NoError(t, err)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	wall := start.Add(24 * time.Hour)
	var off int64
	flow := func(w int, host string, mib uint64) {
		off++
		e.Observe(&event.Event{Version: 1, Timestamp: start.Add(time.Duration(w) * prof.Window), Tenant: "default",
			Category: event.CategoryNetwork, Outcome: event.OutcomeSuccess, Host: host, BytesOut: mib << 20}, Position{Offset: off}, wall)
	}
	// Window 0: three quiet hosts and one sending 500 MiB.
	flow(0, "db-1", 5)
	flow(0, "db-2", 6)
	flow(0, "db-3", 7)
	flow(0, "build-1", 500)
	// Window 1: two hosts, one of them sending 500 MiB.
	flow(1, "db-1", 5)
	flow(1, "build-2", 500)
	out := e.Advance(wall)
	flushed := e.Flush()
	out.Scores, out.Alerts = append(out.Scores, flushed.Scores...), append(out.Alerts, flushed.Alerts...)
	require.Empty(t, out.Alerts, "nothing to judge by yet")
	var judged int
	for _, s := range out.Scores {
		if s.WindowStart.Before(start.Add(2 * prof.Window)) {
			require.Equal(t, "warming_up", s.Explanation.Method, "%s", s.Entity)
			judged++
		}
	}
	require.Equal(t, 6, judged)
	ring := slices.Sorted(slices.Values(e.profiles[0].feats[0].pop.ring))
	require.Equal(t, []float64{5 << 20, 6 << 20, 7 << 20}, ring, "only the quiet hosts of the window of four")
}
