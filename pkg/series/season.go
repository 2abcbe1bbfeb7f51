package series

import (
	"fmt"
	"math"
	"time"
)

const (
	day  = 24 * time.Hour
	week = 7 * day
)

// Seasonal model settings: the level's time constant is levelPeriods of a
// period, an offset remembers about offsetPeriods periods, a bucket's spread
// is shrunk towards the model's with bucketPrior visits' weight, and the
// model scores only after minPeriods periods and while its residual spread
// is at most helpRatio of the plain level's.
const (
	levelPeriods  = 0.5
	offsetPeriods = 4
	bucketPrior   = 4
	minPeriods    = 2
	helpRatio     = 0.7
	shiftAlpha    = 0.15
	errAlpha      = 0.005
)

// seasonal is an additive Holt-Winters model with hour-of-day or
// hour-of-week buckets indexed by time, so irregular sampling is fine:
// the value is predicted as a deseasonalised level plus its bucket's
// offset. plain is the same level without offsets, the reference that says
// whether the seasons help.
type seasonal struct {
	period  time.Duration
	buckets int
	lvl     level   // of value - offset
	plain   float64 // EWMA of the value, as fast as lvl
	errS    float64 // EWMA of |value - seasonal prediction|
	errP    float64 // EWMA of |value - plain|
	nerr    uint32
	off     []float64
	dev     []float32 // per-bucket EWMA of |residual|
	visits  []uint32
	first   time.Time
	seen    bool
	last    time.Time
	step    float64 // EWMA of the seconds between rows
	shift   float64 // EWMA of standardised residuals
	z       signedTail
	zshift  signedTail
	lastZ   float64
	lastExp float64
	lastSpr float64
	lastB   int
	scored  bool // lastZ is meaningful (the bucket had history)
}

func newSeasonal(period time.Duration) *seasonal {
	n := int(period / time.Hour)
	return &seasonal{
		period: period, buckets: n,
		off: make([]float64, n), dev: make([]float32, n), visits: make([]uint32, n),
	}
}

func (s *seasonal) bucket(t time.Time) int {
	t = t.UTC()
	h := t.Hour()
	if s.buckets == 24 {
		return h
	}
	return int(t.Weekday())*24 + h
}

// bucketName names a bucket for explanations: "14h" or "Tue 14h".
func (s *seasonal) bucketName(b int) string {
	if s.buckets == 24 {
		return fmt.Sprintf("%02dh", b)
	}
	return fmt.Sprintf("%s %02dh", time.Weekday(b / 24).String()[:3], b%24)
}

// ready is whether the model has seen enough periods to score.
func (s *seasonal) ready(t time.Time) bool {
	return s.seen && t.Sub(s.first) >= minPeriods*s.period
}

// helps is whether the seasonal prediction is clearly better than the
// plain level. Both errors are plain averages, not robust ones: the
// question is how much of the series' movement the seasons explain.
func (s *seasonal) helps() bool {
	return s.errS < helpRatio*s.errP
}

// observe predicts v at t, records the standardised residual, and learns v.
func (s *seasonal) observe(t time.Time, v float64) {
	b := s.bucket(t)
	if !s.seen {
		s.first, s.last, s.seen = t, t, true
	}
	dt := t.Sub(s.last).Seconds()
	if dt < 0 {
		dt = 0
	}
	s.last = t
	width := (time.Hour).Seconds()
	dt = math.Min(dt, s.period.Seconds())
	if s.step == 0 {
		s.step = math.Min(dt, width)
	} else {
		s.step += 0.05 * (math.Min(dt, width) - s.step)
	}
	alpha := 1 - math.Exp(-dt/(levelPeriods*s.period.Seconds()))

	s.scored = false
	s.lastB = b
	if s.visits[b] > 0 && s.lvl.n > 0 {
		s.nerr++
		a := math.Max(errAlpha, 1/float64(s.nerr))
		s.errS += a * (math.Abs(v-s.lvl.mean-s.off[b]) - s.errS)
		s.errP += a * (math.Abs(v-s.plain) - s.errP)
	}
	if s.visits[b] > 1 && s.lvl.n > minSamples && s.ready(t) {
		exp := s.lvl.mean + s.off[b]
		r := v - exp
		spr := s.bucketSpread(b)
		z := r / spr
		s.lastZ, s.lastExp, s.lastSpr, s.scored = z, exp, spr, true
		s.shift += shiftAlpha * (clampZ(z) - s.shift)
	}

	if s.visits[b] == 0 {
		if s.lvl.n == 0 {
			s.lvl.update(v, alpha)
		}
		s.off[b] = v - s.lvl.mean
	}
	r := s.lvl.update(v-s.off[b], alpha)
	if s.lvl.n == 1 {
		s.plain = v
	}
	s.plain += alpha * (v - s.plain)
	s.visits[b]++
	g := math.Max(1/float64(s.visits[b]), s.step/(width*offsetPeriods))
	g = math.Min(g, 0.5)
	s.off[b] += g * (v - s.lvl.mean - s.off[b])
	if s.visits[b] > 1 {
		d := float64(s.dev[b])
		ar := math.Abs(r)
		if s.visits[b] > minSamples && d > 0 {
			ar = math.Min(ar, clipSigmas*d)
		}
		s.dev[b] = float32(d + math.Max(g, 1/float64(s.visits[b]-1))*(ar-d))
	}
}

// bucketSpread is the standard deviation of the residuals in bucket b,
// shrunk towards the whole model's.
func (s *seasonal) bucketSpread(b int) float64 {
	k := float64(s.visits[b] - 1)
	d := (k*float64(s.dev[b]) + bucketPrior*s.lvl.dev) / (k + bucketPrior)
	return math.Max(d*madToSigma, 1e-9*(1+math.Abs(s.lvl.mean)))
}

// shiftZ is the standardised mean of the recent residuals: a run of values
// off their season, each unremarkable, adds up here.
func (s *seasonal) shiftZ() float64 {
	return s.shift / math.Sqrt(shiftAlpha/(2-shiftAlpha))
}
