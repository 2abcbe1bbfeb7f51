package detect

import (
	"math"
	"time"
)

// expectation is what a baseline expects of a feature in one window.
type expectation struct {
	mean, variance float64
	samples        uint64
	season         string // the hour-of-week bucket used, empty when none
}

// baseline is an entity's learned normal for one feature, in O(1) memory.
type baseline interface {
	// expect is the expectation for the window starting at t.
	expect(t time.Time) expectation
	// learn adds the window starting at t with value x; weight 1 is a
	// normal window, less a suspicious one (learned from slowly and not
	// counted as a sample).
	learn(x float64, t time.Time, alpha float64, suspicious bool)
	// samples is how many windows have been learned.
	samples() uint64
	// method names the baseline in explanations.
	method() string
}

// ewma is an exponentially weighted mean and variance. For the first 1/alpha
// samples it weighs them equally, so early estimates are not biased towards
// the first value. Updates are winsorized: once there is a little history, a
// value is clipped to clipSigmas standard deviations of the mean before it
// is learned, so one outlier cannot drag the baseline (a robust EWMA).
type ewma struct {
	Mean    float64
	Var     float64
	Samples uint64
}

func (e *ewma) update(x, alpha float64) {
	x = e.clip(x)
	e.Samples++
	a := math.Max(alpha, 1/float64(e.Samples))
	d := x - e.Mean
	inc := a * d
	e.Mean += inc
	e.Var = (1 - a) * (e.Var + d*inc)
}

// nudge moves the estimate towards x with the fixed weight alpha, without
// counting a sample: how suspicious windows are learned from, slowly.
func (e *ewma) nudge(x, alpha float64) {
	x = e.clip(x)
	d := x - e.Mean
	inc := alpha * d
	e.Mean += inc
	e.Var = (1 - alpha) * (e.Var + d*inc)
}

// Winsorizing: values are clipped to clipSigmas standard deviations (at
// least clipFloor) above or below the mean once clipAfter samples are in.
const (
	clipSigmas = 3
	clipFloor  = 3
	clipAfter  = 5
)

func (e *ewma) clip(x float64) float64 {
	if e.Samples < clipAfter {
		return x
	}
	w := math.Max(clipSigmas*math.Sqrt(e.Var), math.Max(clipFloor, 0.1*math.Abs(e.Mean)))
	return math.Min(math.Max(x, e.Mean-w), e.Mean+w)
}

// learnSlowly is the share of alpha a suspicious window is learned with.
const learnSlowly = 0.1

func (e *ewma) expect(time.Time) expectation {
	return expectation{mean: e.Mean, variance: e.Var, samples: e.Samples}
}

func (e *ewma) learn(x float64, _ time.Time, alpha float64, suspicious bool) {
	if suspicious {
		e.nudge(x, alpha*learnSlowly)
		return
	}
	e.update(x, alpha)
}

func (e *ewma) samples() uint64 { return e.Samples }
func (e *ewma) method() string  { return "ewma" }

// medianMAD is a streaming sketch of the median and the median absolute
// deviation in three words: each value moves the median estimate a step
// towards itself (a sign-based stochastic approximation, which settles where
// as many values fall above as below) and the MAD estimate a multiplicative
// step towards the value's deviation (settling where half the deviations
// are larger). Steps scale with the MAD, so the sketch follows a level
// change at a rate set by alpha and is unmoved by the size of an outlier.
// The first medianWarm values set both by their mean and mean deviation.
type medianMAD struct {
	Med, MAD float64
	Samples  uint64
}

const medianWarm = 8

func (m *medianMAD) update(x, alpha float64) {
	m.Samples++
	if m.Samples <= medianWarm {
		a := 1 / float64(m.Samples)
		m.Med += a * (x - m.Med)
		m.MAD += a * (math.Abs(x-m.Med) - m.MAD)
		return
	}
	// A floor keeps a constant series' sketch able to move.
	scale := math.Max(m.MAD, 1e-6*math.Max(1, math.Abs(m.Med)))
	step := 1.4826 * scale * alpha
	switch {
	case x > m.Med:
		m.Med += math.Min(step, x-m.Med)
	case x < m.Med:
		m.Med -= math.Min(step, m.Med-x)
	}
	if math.Abs(x-m.Med) > m.MAD {
		m.MAD += alpha * scale
	} else {
		m.MAD = math.Max(0, m.MAD-alpha*scale)
	}
}

func (m *medianMAD) expect(time.Time) expectation {
	sd := 1.4826 * m.MAD
	return expectation{mean: m.Med, variance: sd * sd, samples: m.Samples}
}

func (m *medianMAD) learn(x float64, _ time.Time, alpha float64, suspicious bool) {
	if suspicious {
		// Sign-based steps are bounded already; a suspicious window moves
		// the sketch a tenth of a step and is not a sample.
		s := m.Samples
		m.update(x, alpha*learnSlowly)
		m.Samples = s
		return
	}
	m.update(x, alpha)
}

func (m *medianMAD) samples() uint64 { return m.Samples }
func (m *medianMAD) method() string  { return "median_mad" }

// hourOfWeek is the bucket of t: hours since Sunday 00:00 UTC, 0..167.
func hourOfWeek(t time.Time) int {
	t = t.UTC()
	return int(t.Weekday())*24 + t.Hour()
}

var weekdays = [...]string{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"}

// seasonName names a bucket, e.g. "Mon 09h UTC".
func seasonName(b int) string {
	return weekdays[b/24] + " " + string(rune('0'+b%24/10)) + string(rune('0'+b%24%10)) + "h UTC"
}

// seasonal keeps a mean per hour of the week: each bucket's mean is an
// EWMA of the windows that fell in it, kept as a byte (log1p of the value
// quantized in steps of about 8%, 0 = not yet learned), so Monday 09:00 is
// compared with Mondays at nine. A shared dispersion (an EWMA of the squared
// residual over the expectation + 1) gives the spread, and an overall EWMA
// serves buckets not learned yet. 168 bytes plus three words per entity and
// feature.
type seasonal struct {
	Level ewma
	Disp  float32
	Means [168]uint8
}

const (
	seasonLogMax  = 20.0 // log1p of the largest mean kept, about 4.8e8
	seasonStep    = seasonLogMax / 254
	seasonalAlpha = 0.3 // weight of a bucket's newest window in its mean
)

func (s *seasonal) bucketMean(b int) (float64, bool) {
	q := s.Means[b]
	if q == 0 {
		return s.Level.Mean, false
	}
	return math.Expm1(float64(q-1) * seasonStep), true
}

func (s *seasonal) setMean(b int, m float64) {
	l := math.Min(math.Log1p(math.Max(m, 0)), seasonLogMax)
	s.Means[b] = uint8(math.Round(l/seasonStep)) + 1
}

func (s *seasonal) expect(t time.Time) expectation {
	b := hourOfWeek(t)
	m, ok := s.bucketMean(b)
	if !ok {
		return s.Level.expect(t)
	}
	return expectation{mean: m, variance: float64(s.Disp) * (m + 1), samples: s.Level.Samples, season: seasonName(b)}
}

func (s *seasonal) learn(x float64, t time.Time, alpha float64, suspicious bool) {
	b := hourOfWeek(t)
	m, ok := s.bucketMean(b)
	s.Level.learn(x, t, alpha, suspicious)
	if suspicious {
		if ok {
			s.setMean(b, m+seasonalAlpha*learnSlowly*(x-m))
		}
		return
	}
	if !ok {
		s.setMean(b, x)
		if s.Disp == 0 {
			s.Disp = float32(math.Max(1, s.Level.Var/(s.Level.Mean+1)))
		}
		return
	}
	r := (x - m) * (x - m) / (m + 1)
	s.Disp = float32((1-alpha)*float64(s.Disp) + alpha*r)
	s.setMean(b, m+seasonalAlpha*(x-m))
}

func (s *seasonal) samples() uint64 { return s.Level.Samples }
func (s *seasonal) method() string  { return "seasonal_hour_of_week" }

// skipEmpty applies n windows in which the entity had no events (a zero
// value), from the window starting at from, step apart: at most maxCatchUp,
// beyond which the estimate no longer changes materially.
func skipEmpty(b baseline, n int64, from time.Time, step time.Duration, alpha float64) {
	for i := int64(0); i < n && i < maxCatchUp; i++ {
		b.learn(0, from.Add(time.Duration(i)*step), alpha, false)
	}
}

// maxCatchUp bounds the zero windows applied when an entity comes back
// after a gap.
const maxCatchUp = 200
