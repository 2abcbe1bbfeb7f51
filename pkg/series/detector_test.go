package series_test

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/series"
)

var t0 = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)

func TestConfigValidate(t *testing.T) {
	require.NoError(t, series.DefaultConfig().Validate())
	bad := series.Config{WarmUp: 1, Seasonality: "hourly", Threshold: 0}
	err := bad.Validate()
	require.ErrorContains(t, err, "warm_up")
	require.ErrorContains(t, err, "seasonality")
	require.ErrorContains(t, err, "threshold")
	require.Panics(t, func() { series.New(bad) })
}

func gaussianSeries(seed uint64, n int, mean, sd float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 1))
	vs := make([]float64, n)
	for i := range vs {
		vs[i] = mean + sd*r.NormFloat64()
	}
	return vs
}

func TestWarmUpScoresZero(t *testing.T) {
	d := series.New(series.DefaultConfig())
	for i, v := range []float64{1, 1000, -5000, 3, 1e9, 2, 7, 1, 0, 4} {
		require.Zero(t, d.Score(t0.Add(time.Duration(i)*time.Minute), v), "row %d", i)
		require.Equal(t, series.MethodWarmUp, d.Explain().Method)
	}
}

// NaN and infinities score 0 and leave no trace: the scores after them are
// those of the series without them.
func TestInvalidValuesAreNotLearned(t *testing.T) {
	vs := gaussianSeries(3, 600, 10, 2)
	vs[500] = 40
	clean, dirty := series.New(series.DefaultConfig()), series.New(series.DefaultConfig())
	for i, v := range vs {
		ts := t0.Add(time.Duration(i) * time.Minute)
		if i%50 == 7 {
			for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
				require.Zero(t, dirty.Score(ts, bad))
				require.Equal(t, series.MethodInvalid, dirty.Explain().Method)
			}
		}
		require.Equal(t, clean.Score(ts, v), dirty.Score(ts, v), "row %d", i)
	}
}

func TestConstantSeriesThenChange(t *testing.T) {
	for _, tt := range []struct {
		name          string
		level, change float64
	}{
		{"zero to one", 0, 1},
		{"large level, small change", 1e6, 1e6 + 0.5},
		{"negative", -42, -40},
	} {
		t.Run(tt.name, func(t *testing.T) {
			d := series.New(series.DefaultConfig())
			for i := range 800 {
				s := d.Score(t0.Add(time.Duration(i)*time.Minute), tt.level)
				require.Less(t, s, 0.01, "row %d of a constant series", i)
			}
			s := d.Score(t0.Add(800*time.Minute), tt.change)
			require.Greater(t, s, 0.99)
			x := d.Explain()
			require.Equal(t, tt.change, x.Observed)
			require.InDelta(t, tt.level, x.Expected, 1e-6)
			require.EqualValues(t, 801, x.Samples)
		})
	}
}

func TestSpikeScoresHighAndIsExplained(t *testing.T) {
	vs := gaussianSeries(5, 2000, 100, 5)
	d := series.New(series.DefaultConfig())
	var max float64
	for i, v := range vs {
		s := d.Score(t0.Add(time.Duration(i)*time.Minute), v)
		require.GreaterOrEqual(t, s, 0.0)
		require.LessOrEqual(t, s, 1.0)
		if i > 300 {
			max = math.Max(max, s)
		}
	}
	require.Less(t, max, 0.5, "no alert on 1,700 rows of white noise")
	s := d.Score(t0.Add(2000*time.Minute), 160) // 12 sigma
	require.Greater(t, s, 0.99)
	x := d.Explain()
	require.Equal(t, series.MethodLevel, x.Method)
	require.Equal(t, series.FeatureValue, x.Feature)
	require.EqualValues(t, 160, x.Observed)
	require.InDelta(t, 100, x.Expected, 1.5)
	require.InDelta(t, 5, x.Spread, 1)
	// The next, normal value is not an alert, nor is a similar spike soon
	// after: one episode, one alert.
	require.Less(t, d.Score(t0.Add(2001*time.Minute), 101), 0.1)
	require.Less(t, d.Score(t0.Add(2002*time.Minute), 158), 0.5)
}

// A level shift alerts at its onset, then becomes the new normal.
func TestLevelShiftAlertsOnceThenAdapts(t *testing.T) {
	vs := gaussianSeries(9, 3000, 50, 2)
	for i := 2000; i < len(vs); i++ {
		vs[i] += 20
	}
	d := series.New(series.DefaultConfig())
	var alerts []int
	for i, v := range vs {
		if d.Score(t0.Add(time.Duration(i)*5*time.Minute), v) >= 0.5 {
			alerts = append(alerts, i)
		}
	}
	var before, after []int
	for _, a := range alerts {
		if a < 2000 {
			before = append(before, a)
		} else {
			after = append(after, a)
		}
	}
	require.LessOrEqual(t, len(before), 1, "white noise alerts at %v", before)
	require.NotEmpty(t, after)
	require.Equal(t, 2000, after[0])
	require.LessOrEqual(t, len(after), 2, "alerts at %v", after)
}

// A day whose cycle does not happen is seen by the hour-of-day buckets and
// explained with the bucket.
func TestSeasonalAnomalyNamesTheBucket(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 1))
	d := series.New(series.DefaultConfig())
	var best float64
	var x = d.Explain()
	for i := range 12 * 24 * 12 { // 12 days of 5-minute samples
		ts := t0.Add(time.Duration(i) * 5 * time.Minute)
		h := float64(ts.Hour()) + float64(ts.Minute())/60
		v := 100 + 40*math.Sin(2*math.Pi*(h-9)/24) + 3*r.NormFloat64()
		flat := i >= 9*24*12+21*12 && i < 10*24*12+21*12
		if flat {
			v = 100 + 3*r.NormFloat64() // from 21:00 on day 9, a day without the cycle
		}
		s := d.Score(ts, v)
		if flat && s > best {
			best, x = s, d.Explain()
		}
	}
	require.Greater(t, best, 0.9)
	require.Contains(t, []string{series.MethodSeasonal, series.MethodSeasonalShift}, x.Method)
	require.Regexp(t, `^(\d\dh|[A-Z][a-z]{2} \d\dh)$`, x.Season)
}

func TestStateIsBounded(t *testing.T) {
	d := series.New(series.DefaultConfig())
	size := d.StateBytes()
	require.Less(t, size, 32<<10)
	for i, v := range gaussianSeries(1, 50000, 0, 1) {
		d.Score(t0.Add(time.Duration(i)*time.Second), v)
	}
	require.Equal(t, size, d.StateBytes())
}

// decodeSeries turns fuzz bytes into a series: each 10 bytes are a step
// of the clock (which may go back) and a value (any float64, NaN and
// infinities included).
func decodeSeries(b []byte) ([]time.Time, []float64) {
	var ts []time.Time
	var vs []float64
	t := t0
	for len(b) >= 10 {
		step := int16(binary.LittleEndian.Uint16(b))
		t = t.Add(time.Duration(step) * time.Minute)
		ts = append(ts, t)
		vs = append(vs, math.Float64frombits(binary.LittleEndian.Uint64(b[2:])))
		b = b[10:]
	}
	return ts, vs
}

func encodeSeries(steps []int16, vs []float64) []byte {
	var b []byte
	for i := range vs {
		b = binary.LittleEndian.AppendUint16(b, uint16(steps[i]))
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(vs[i]))
	}
	return b
}

// FuzzDetector: no panic, every score in [0,1], and causality: the scores
// of a prefix, scored alone, are the first scores of the whole series.
func FuzzDetector(f *testing.F) {
	steps := make([]int16, 300)
	for i := range steps {
		steps[i] = 5
	}
	f.Add(encodeSeries(steps, gaussianSeries(1, 300, 10, 1)), uint16(150))
	spiky := gaussianSeries(2, 300, 0, 1)
	spiky[100], spiky[200] = 1e300, math.NaN()
	f.Add(encodeSeries(steps, spiky), uint16(250))
	flat := make([]float64, 300)
	flat[250] = 1
	f.Add(encodeSeries(steps, flat), uint16(260))
	back := append([]int16(nil), steps...)
	back[120] = -3000
	f.Add(encodeSeries(back, gaussianSeries(3, 300, -1e9, 1e6)), uint16(299))
	f.Fuzz(func(t *testing.T, b []byte, cut uint16) {
		ts, vs := decodeSeries(b)
		full := series.New(series.DefaultConfig())
		scores := make([]float64, len(vs))
		for i := range vs {
			scores[i] = full.Score(ts[i], vs[i])
			require.False(t, math.IsNaN(scores[i]), "row %d", i)
			require.GreaterOrEqual(t, scores[i], 0.0, "row %d", i)
			require.LessOrEqual(t, scores[i], 1.0, "row %d", i)
		}
		k := int(cut) % (len(vs) + 1)
		prefix := series.New(series.DefaultConfig())
		for i := range k {
			require.Equal(t, scores[i], prefix.Score(ts[i], vs[i]), "row %d of a prefix of %d", i, k)
		}
	})
}

// Causality on a long realistic series too: scoring the first k rows
// alone gives the same scores as the first k rows of the whole run.
func TestCausalPrefix(t *testing.T) {
	for _, l := range corpus()[:12] {
		full := scoreAll(l)
		for _, k := range []int{1, 11, 500, len(l.vs) / 2} {
			d := series.New(series.DefaultConfig())
			for i := range k {
				require.Equal(t, full[i], d.Score(l.ts[i], l.vs[i]), "%s row %d of a prefix of %d", l.name, i, k)
			}
		}
	}
}
