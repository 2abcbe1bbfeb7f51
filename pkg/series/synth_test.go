package series_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// A labelled synthetic series: values with the rows where anomalies begin
// and, NAB-style, a window around each in which detecting it counts.
type labelled struct {
	name    string
	family  string
	ts      []time.Time
	vs      []float64
	onsets  []int
	kinds   []string
	windows [][2]int // [first, last] rows, inclusive
}

// noiseKind is the distribution of a series' noise.
type noiseKind int

const (
	gaussian noiseKind = iota
	heavy              // Student t with 3 degrees of freedom
	laplace
	counts // Poisson around the signal
	quantized
)

var noiseNames = map[noiseKind]string{gaussian: "gaussian", heavy: "t3", laplace: "laplace", counts: "poisson", quantized: "quantized"}

// base describes the normal behaviour of a synthetic series.
type base struct {
	n        int
	step     time.Duration
	jitter   bool // irregular sampling: steps vary, and there are gaps
	offset   float64
	sigma    float64
	noise    noiseKind
	daily    float64 // amplitude of a daily cycle
	square   bool    // the daily cycle is a square wave (working hours)
	weekend  float64 // added on Saturdays and Sundays
	trend    float64 // per row
	walk     float64 // random-walk step size (a wandering level)
	quantum  float64 // for quantized noise
	lambda   float64 // for counts: the mean at offset
	start    time.Time
	clampPos bool // values cannot go below 0
}

func (b base) times(r *rand.Rand) []time.Time {
	ts := make([]time.Time, b.n)
	t := b.start
	for i := range ts {
		ts[i] = t
		d := b.step
		if b.jitter {
			d = time.Duration(float64(b.step) * (0.5 + r.Float64()))
			if r.IntN(200) == 0 {
				d *= time.Duration(5 + r.IntN(20)) // a gap
			}
		}
		t = t.Add(d)
	}
	return ts
}

// signal is the noiseless value at row i and time t.
func (b base) signal(i int, t time.Time, walk float64) float64 {
	v := b.offset + b.trend*float64(i) + walk
	if b.daily != 0 {
		h := float64(t.Hour()) + float64(t.Minute())/60
		if b.square {
			if h >= 8 && h < 18 {
				v += b.daily
			}
		} else {
			v += b.daily * math.Sin(2*math.Pi*(h-9)/24)
		}
	}
	if wd := t.Weekday(); b.weekend != 0 && (wd == time.Saturday || wd == time.Sunday) {
		v += b.weekend
	}
	return v
}

func (b base) draw(r *rand.Rand, mean, sigma float64) float64 {
	switch b.noise {
	case heavy:
		// t3 scaled to unit variance
		z := r.NormFloat64()
		chi := 0.0
		for range 3 {
			g := r.NormFloat64()
			chi += g * g
		}
		return mean + sigma*z/math.Sqrt(chi/3)/math.Sqrt(3)
	case laplace:
		u := r.Float64() - 0.5
		return mean - sigma/math.Sqrt2*math.Copysign(math.Log(1-2*math.Abs(u)), u)
	case counts:
		return float64(poisson(r, math.Max(mean, 0)))
	case quantized:
		v := mean + sigma*r.NormFloat64()
		return math.Round(v/b.quantum) * b.quantum
	default:
		return mean + sigma*r.NormFloat64()
	}
}

func poisson(r *rand.Rand, lambda float64) int {
	if lambda > 50 {
		return int(math.Max(0, math.Round(lambda+math.Sqrt(lambda)*r.NormFloat64())))
	}
	l, k, p := math.Exp(-lambda), 0, 1.0
	for {
		p *= r.Float64()
		if p <= l {
			return k
		}
		k++
	}
}

// anomaly changes a series from row at.
type anomaly struct {
	kind string
	at   int
	size float64 // in noise sigmas (or the cycle's amplitude for seasonal kinds)
	dur  int     // rows
}

// trendRows is how many rows a trend change takes to move by its size.
const trendRows = 200

// generate draws a series from b with the anomalies injected, and its
// NAB-style windows: 10% of the rows shared among the anomalies, each
// window centred on its onset.
func generate(name, family string, seed uint64, b base, anoms []anomaly) labelled {
	r := rand.New(rand.NewPCG(seed, seed*7919+1))
	if b.start.IsZero() {
		b.start = time.Date(2024, 3, 4, 0, 0, 0, 0, time.UTC)
	}
	ts := b.times(r)
	vs := make([]float64, b.n)
	walk := 0.0
	sigma := b.sigma
	for i := range vs {
		walk = 0.995*walk + b.walk*r.NormFloat64() // a wandering but bounded level
		mean := b.signal(i, ts[i], walk)
		sd := sigma
		stuck := false
		for _, a := range anoms {
			if i < a.at || i >= a.at+max(a.dur, 1) {
				continue
			}
			switch a.kind {
			case "spike":
				mean += a.size * sigma
			case "dip":
				mean -= a.size * sigma
			case "shift":
				mean += a.size * sigma
			case "variance":
				sd *= a.size
			case "flatline":
				stuck = true
			case "season_missing":
				// The cycle does not happen: the value stays at its daily mean.
				mean = b.offset + b.trend*float64(i) + walk
				if b.square {
					mean += b.daily * 10 / 24
				}
			case "weekday_on_weekend":
				mean -= b.weekend
			case "burst":
				mean *= a.size
			case "spike_density":
				if r.IntN(8) == 0 {
					mean += a.size * sigma
				}
			case "trend_change":
				mean += a.size * sigma * float64(i-a.at) / trendRows
			}
		}
		if stuck && i > 0 {
			vs[i] = vs[i-1]
			continue
		}
		vs[i] = b.draw(r, mean, sd)
		if b.clampPos && vs[i] < 0 {
			vs[i] = 0
		}
	}
	l := labelled{name: name, family: family, ts: ts, vs: vs}
	if len(anoms) > 0 {
		w := int(0.1 * float64(b.n) / float64(len(anoms)))
		for _, a := range anoms {
			l.onsets = append(l.onsets, a.at)
			l.kinds = append(l.kinds, a.kind)
			l.windows = append(l.windows, [2]int{max(a.at-w/2, 0), min(a.at+w/2, b.n-1)})
		}
	}
	return l
}

// corpus is the labelled synthetic set: series without anomalies (for
// false positives) and series with spikes, dips, level shifts, variance
// changes, flat lines, missing seasons, bursts and trend changes, over
// sampling steps from a second to an hour, regular or not.
func corpus() []labelled {
	var out []labelled
	steps := []time.Duration{time.Second, time.Minute, 5 * time.Minute, time.Hour}
	noises := []noiseKind{gaussian, heavy, laplace, counts, quantized}
	seed := uint64(1)
	next := func() uint64 { seed++; return seed }
	mk := func(i int, n int) base {
		nk := noises[i%len(noises)]
		b := base{
			n: n, step: steps[i%len(steps)], jitter: i%3 == 2,
			offset: []float64{50, -20, 1e6, 0.5, 300}[i%5], sigma: []float64{5, 2, 40, 0.05, 12}[i%5],
			noise: nk, quantum: 1, lambda: 20,
		}
		if nk == counts {
			b.offset, b.sigma = 20, math.Sqrt(20)
		}
		if nk == quantized {
			b.quantum = b.sigma / 2
		}
		return b
	}
	// Normal series: no anomaly at all.
	for i := range 10 {
		b := mk(i, 4000)
		switch i % 4 {
		case 1:
			b.walk = b.sigma * 0.3
		case 2:
			b.step, b.daily = 5*time.Minute, 6*b.sigma
		case 3:
			b.trend = b.sigma / 500
		}
		out = append(out, generate(fmt.Sprintf("normal_%d_%s", i, noiseNames[b.noise]), "normal", next(), b, nil))
	}
	// Spikes and dips.
	for i := range 10 {
		b := mk(i, 4000)
		if i%2 == 1 {
			b.walk = b.sigma * 0.2
		}
		a := []anomaly{{kind: "spike", at: 1500 + 37*i, size: 8 + float64(i%4)*2}, {kind: "dip", at: 3000 - 41*i, size: 8 + float64(i%3)*3}}
		switch b.noise {
		case counts:
			a[0].size, a[1].size = 8, 4 // Poisson(20) cannot dip far below 0
		case heavy:
			a[0].size, a[1].size = a[0].size*2, a[1].size*2 // t3 has 8-sigma values every thousand rows or so
		}
		out = append(out, generate(fmt.Sprintf("spikes_%d_%s", i, noiseNames[b.noise]), "spike", next(), b, a))
	}
	// Level shifts, up and down, sustained.
	for i := range 10 {
		b := mk(i, 4000)
		size := []float64{4, -5, 6, -4, 8}[i%5]
		out = append(out, generate(fmt.Sprintf("shift_%d_%s", i, noiseNames[b.noise]), "shift", next(), b,
			[]anomaly{{kind: "shift", at: 2000 + 53*i, size: size, dur: 4000}}))
	}
	// Variance increases for a while.
	for i := range 6 {
		b := mk(i, 4000)
		out = append(out, generate(fmt.Sprintf("variance_%d_%s", i, noiseNames[b.noise]), "variance", next(), b,
			[]anomaly{{kind: "variance", at: 2500 + 31*i, size: 4, dur: 150}}))
	}
	// A stuck sensor: the value stops moving.
	for i := range 6 {
		b := mk(i, 4000)
		if b.noise == quantized || b.noise == counts {
			b.noise = gaussian
		}
		out = append(out, generate(fmt.Sprintf("flatline_%d_%s", i, noiseNames[b.noise]), "flatline", next(), b,
			[]anomaly{{kind: "flatline", at: 2800 - 29*i, dur: 200}}))
	}
	// Daily cycles where one day's cycle does not happen.
	for i := range 6 {
		b := mk(i, 14*288)
		b.step = 5 * time.Minute
		b.jitter = i%2 == 1
		b.daily = []float64{8, 10, 6}[i%3] * b.sigma
		b.square = i%2 == 0
		if b.noise == counts {
			b.daily = 10
		}
		at := 10*288 + 6*12 // day 10, 06:00
		out = append(out, generate(fmt.Sprintf("season_missing_%d_%s", i, noiseNames[b.noise]), "season", next(), b,
			[]anomaly{{kind: "season_missing", at: at, dur: 14 * 12}}))
	}
	// Weekly cycles, hourly samples, where a weekend looks like a weekday.
	for i := range 4 {
		b := mk(i, 7*24*7)
		b.step = time.Hour
		b.jitter = false
		b.daily = 5 * b.sigma
		b.weekend = -8 * b.sigma
		if b.noise == counts {
			b.offset, b.daily, b.weekend = 40, 10, -20
		}
		at := 5*7*24 + 5*24 // week 5, Saturday
		out = append(out, generate(fmt.Sprintf("weekly_%d_%s", i, noiseNames[b.noise]), "season", next(), b,
			[]anomaly{{kind: "weekday_on_weekend", at: at, dur: 24}}))
	}
	// Count bursts and denser spikes.
	for i := range 4 {
		b := mk(i, 4000)
		b.noise, b.offset, b.sigma = counts, 10, math.Sqrt(10)
		out = append(out, generate(fmt.Sprintf("burst_%d", i), "burst", next(), b,
			[]anomaly{{kind: "burst", at: 2200 + 71*i, size: 3, dur: 30}}))
	}
	for i := range 4 {
		b := mk(i, 4000)
		out = append(out, generate(fmt.Sprintf("spike_density_%d_%s", i, noiseNames[b.noise]), "density", next(), b,
			[]anomaly{{kind: "spike_density", at: 2600, size: 5, dur: 300}}))
	}
	// A trend that starts.
	for i := range 4 {
		b := mk(i, 4000)
		out = append(out, generate(fmt.Sprintf("trend_%d_%s", i, noiseNames[b.noise]), "trend", next(), b,
			[]anomaly{{kind: "trend_change", at: 2400, size: 10, dur: 4000}}))
	}
	return out
}
