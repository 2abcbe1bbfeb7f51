package series

import (
	"math"
	"time"
	"unsafe"

	"github.com/vigil-soc/vigil/pkg/score"
)

// Methods, as reported in explanations: the statistic that made the score.
const (
	MethodWarmUp        = "warm_up"
	MethodInvalid       = "invalid_value"
	MethodLevel         = "robust_ewma"
	MethodShift         = "level_shift"
	MethodVolatility    = "volatility"
	MethodFlatline      = "flatline"
	MethodSeasonal      = "seasonal"
	MethodSeasonalShift = "seasonal_shift"
)

// FeatureValue is the feature name in explanations.
const FeatureValue = "value"

// Learning rates (per row) of the three candidate levels, fastest first:
// the one that predicts best is the expectation.
var levelAlphas = [3]float64{0.5, 0.1, 0.02}

const (
	// shortAlpha is the rate of the short mean compared with the slow level.
	shortAlpha = 0.3
	// volAlpha is the rate of the average surprise (volatility statistic).
	volAlpha = 0.1
	// volCap bounds one row's surprise in that average.
	volCap = 6
	// zCap bounds standardised residuals (and keeps them finite).
	zCap = 1e6
	// maxMagnitude bounds the values learned.
	maxMagnitude = 1e300
)

// Calibration from the combined tail probability p to the score: the
// logistic of -log10(p) centred on surprise50 with slope scoreSlope.
//
// Holds damp repeats: after an alert at surprise L, values up to
// escalation decades more surprising still score low (any of the
// statistics may be the one that stays high through an episode); the hold
// stays while the values stay about as surprising as the alert, and fades
// by holdDecay per row once they are not. A value more surprising than
// that is not damped, until an alert scored about 0.99: the episode is
// getting worse.
const (
	surprise50  = 4.0
	scoreSlope  = 2.0
	holdDecay   = 0.05
	escalation  = 0.5
	surpriseTop = surprise50 + 2.5 // scores 0.99: nothing left to escalate to
)

// Detector scores one metric series, one value at a time, causally: a
// score depends only on its value and the values before it. Its memory is
// fixed (StateBytes) whatever the length of the series. It is not safe for
// concurrent use.
type Detector struct {
	cfg  Config
	hold float64 // surprise currently held back after an alert
	held float64 // the surprise of that alert
	n    uint64  // valid values seen

	levels [3]level
	short  float64
	local  signedTail
	shiftT signedTail
	vol    float64
	volT   tail
	prev   float64
	run    uint32 // values in a row equal to prev
	flat   repeats

	seasons []*seasonal // daily and/or weekly, by configuration

	last score.Explanation
}

// New returns a detector; cfg must be valid (see Config.Validate), or New
// panics.
func New(cfg Config) *Detector {
	if err := cfg.Validate(); err != nil {
		panic("series.New: " + err.Error())
	}
	d := &Detector{cfg: cfg}
	switch cfg.Seasonality {
	case SeasonAuto:
		d.seasons = []*seasonal{newSeasonal(day), newSeasonal(week)}
	case SeasonDaily:
		d.seasons = []*seasonal{newSeasonal(day)}
	case SeasonWeekly:
		d.seasons = []*seasonal{newSeasonal(week)}
	}
	return d
}

// Threshold is the score from which a value counts as an alert.
func (d *Detector) Threshold() float64 { return d.cfg.Threshold }

// StateBytes is the memory the detector holds, in bytes: the same after
// ten values or ten million.
func (d *Detector) StateBytes() int {
	n := int(unsafe.Sizeof(*d))
	for _, s := range d.seasons {
		n += int(unsafe.Sizeof(*s)) + s.buckets*int(unsafe.Sizeof(s.off[0])+unsafe.Sizeof(s.dev[0])+unsafe.Sizeof(s.visits[0]))
		n += int(unsafe.Sizeof(s))
	}
	return n
}

// Explain is why the last score is what it is: the statistic that made it,
// with the value observed, the value expected, the spread of values around
// it, and how many values the baseline learned from.
func (d *Detector) Explain() score.Explanation { return d.last }

// candidate is one statistic's tail probability and what explains it.
type candidate struct {
	p        float64
	method   string
	expected float64
	spread   float64
	season   string
}

// Score learns the value v observed at t and returns its anomaly score in
// [0,1]: near 0 for typical values, near 1 for values the history makes
// very unlikely. NaN and infinite values score 0 and are not learned;
// finite values beyond ±1e300 are taken as ±1e300.
func (d *Detector) Score(t time.Time, v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.last = score.Explanation{Feature: FeatureValue, Observed: 0, Samples: d.n, Method: MethodInvalid}
		return 0
	}
	// Beyond ±maxMagnitude a value is learned as ±maxMagnitude, so sums and
	// differences of values stay finite.
	v = math.Max(math.Min(v, maxMagnitude), -maxMagnitude)
	d.n++
	warm := d.n > uint64(d.cfg.WarmUp)
	var cands [8]candidate
	nc := 0

	// Local level: the candidate level that has predicted best.
	best := len(d.levels) - 1
	for i := range d.levels {
		if d.levels[i].dev < d.levels[best].dev {
			best = i
		}
	}
	lb := &d.levels[best]
	exp, spr := lb.mean, lb.spread()
	zl := clampZ((v - exp) / spr)
	// Level shift: the short mean against the slow level.
	slow := &d.levels[len(d.levels)-1]
	// A value is clipped to clipSigmas spreads of the expectation before
	// it enters the short mean: one spike is not a shift.
	if d.n == 1 {
		d.short = v
	} else {
		vc := v
		if lb.n > minSamples {
			vc = math.Min(math.Max(v, exp-clipSigmas*spr), exp+clipSigmas*spr)
		}
		d.short += shortAlpha * (vc - d.short)
	}
	// Against the noise of the best level, not the slow level's own spread:
	// that one grows with the lag a drift causes.
	sspr := spr * math.Sqrt(shortAlpha/(2-shortAlpha))
	zs := clampZ((d.short - slow.mean) / sspr)
	// Flat line: how many values in a row equal this one.
	ended := uint32(0)
	if d.n > 1 && v == d.prev {
		d.run++
	} else {
		ended, d.run = d.run, 1
	}
	d.prev = v

	ready := warm && slow.n > minSamples
	var pl, ps, pv float64
	if ready {
		pl = d.local.prob(zl, zPrior)
		cands[nc] = candidate{p: pl, method: MethodLevel, expected: exp, spread: spr}
		nc++
		ps = d.shiftT.prob(zs, zPrior)
		cands[nc] = candidate{p: ps, method: MethodShift, expected: slow.mean, spread: spr}
		nc++
		d.vol += volAlpha * (math.Min(-math.Log10(pl), volCap) - d.vol)
		pv = d.volT.prob(d.vol, noPrior)
		cands[nc] = candidate{p: pv, method: MethodVolatility, expected: exp, spread: spr}
		nc++
		// A run is judged only against rows before it: not on a series
		// that has been flat all along.
		if d.run > 1 && float64(d.run)+minFlatRows <= d.flat.all {
			cands[nc] = candidate{p: d.flat.prob(d.run), method: MethodFlatline, expected: d.prev, spread: spr}
			nc++
		}
	}

	// Seasons: each learns; the best one that is ready and helps is scored.
	var season *seasonal
	for _, s := range d.seasons {
		s.observe(t, v)
		if ready && s.scored && s.ready(t) && (s.helps() || d.cfg.Seasonality != SeasonAuto) {
			if season == nil || s.lvl.dev < 0.9*season.lvl.dev {
				season = s
			}
		}
	}
	if season != nil {
		name := season.bucketName(season.lastB)
		cands[nc] = candidate{p: season.z.prob(season.lastZ, zPrior), method: MethodSeasonal, expected: season.lastExp, spread: season.lastSpr, season: name}
		nc++
		cands[nc] = candidate{p: season.zshift.prob(season.shiftZ(), zPrior), method: MethodSeasonalShift, expected: season.lastExp, spread: season.lastSpr, season: name}
		nc++
	}

	// Learn: the statistics into their calibrations, then the levels.
	if ready {
		d.local.add(zl, pl)
		d.shiftT.add(zs, ps)
		d.volT.add(d.vol, true, pv)
		d.flat.add(ended)
	}
	for _, s := range d.seasons {
		if ready && s.scored && s.ready(t) {
			s.z.add(s.lastZ, s.z.prob(s.lastZ, zPrior))
			s.zshift.add(s.shiftZ(), s.zshift.prob(s.shiftZ(), zPrior))
		}
	}
	for i := range d.levels {
		d.levels[i].update(v, levelAlphas[i])
	}

	if !ready || nc == 0 {
		d.last = score.Explanation{Feature: FeatureValue, Observed: v, Expected: exp, Spread: spr, Samples: d.n, Method: MethodWarmUp}
		return 0
	}
	// Combine: the smallest probability, times the number of statistics
	// looked at (Bonferroni), so more statistics do not mean more alerts.
	top := cands[0]
	for _, c := range cands[1:nc] {
		if c.p < top.p {
			top = c
		}
	}
	surprise := math.Min(-math.Log10(math.Min(top.p*float64(nc), 1)), maxSurprise)
	d.last = score.Explanation{
		Feature: FeatureValue, Observed: v, Expected: top.expected, Spread: top.spread,
		Samples: d.n, Season: top.season, Method: top.method,
	}
	return d.calibrate(surprise)
}

// calibrate maps a surprise (-log10 of a tail probability) to [0,1],
// damping repeats after an alert.
func (d *Detector) calibrate(surprise float64) float64 {
	eff := surprise
	if surprise <= d.held+escalation || d.held >= surpriseTop {
		eff -= d.hold
	}
	if surprise < d.held-1 {
		d.hold = math.Max(d.hold-holdDecay, 0)
	}
	s := 1 / (1 + math.Exp(-scoreSlope*(eff-surprise50)))
	if s >= d.cfg.Threshold {
		d.hold = math.Max(d.hold, surprise+escalation-surprise50+1)
		d.held = surprise
	}
	return s
}

func clampZ(z float64) float64 {
	if math.IsNaN(z) {
		return 0
	}
	return math.Max(math.Min(z, zCap), -zCap)
}

// zPrior is what a standardised residual's tail is taken to be before the
// series has shown its own: heavier than normal (a Student t with 4
// degrees of freedom, roughly), since early spreads are uncertain.
func zPrior(x float64) float64 {
	return 0.5 * math.Pow(1+x*x/4, -2)
}

// noPrior is for statistics judged only against the series' own history.
func noPrior(float64) float64 { return 1 }

// signedTail calibrates a signed statistic: each side against its own
// history, as the two may differ (counts spike up more than down).
type signedTail struct{ pos, neg tail }

func (s *signedTail) add(z, p float64) {
	s.pos.add(z, z > 0, p)
	s.neg.add(-z, z < 0, p)
}

// prob is the two-sided tail probability of z.
func (s *signedTail) prob(z float64, prior func(float64) float64) float64 {
	if z >= 0 {
		return math.Min(2*s.pos.prob(z, prior), 1)
	}
	return math.Min(2*s.neg.prob(-z, prior), 1)
}

// Flat lines are judged after minFlatRows rows; repeats forget with a
// horizon of flatHorizon rows.
const (
	minFlatRows = 50
	flatHorizon = 5000
)

// repeats models runs of equal values as a Markov chain: how often a value
// repeats the one before, and how often a repeat is followed by another.
// Counts decay, so the model follows the series' recent habits.
type repeats struct {
	all, rep   float64 // rows, and rows equal to the row before
	reps, cont float64 // rows after a repeat, and those that repeat again
}

// add counts a row; ended is the length of the run it ended, 0 if it
// continues one. A run is learned when it ends, so a flat line is judged
// against the runs before it, not against itself.
func (r *repeats) add(ended uint32) {
	const keep = 1 - 1.0/flatHorizon
	r.all, r.rep, r.reps, r.cont = r.all*keep+1, r.rep*keep, r.reps*keep, r.cont*keep
	if ended > 1 {
		r.rep += float64(ended - 1)
		r.cont += float64(ended - 2)
		r.reps += float64(ended - 1) // the rows after its repeats, this one included
	}
}

// prob is the probability of a run at least run values long.
func (r *repeats) prob(run uint32) float64 {
	q1 := (r.rep + 0.5) / (r.all + 1)
	q2 := (r.cont + 0.5) / (r.reps + 1)
	return q1 * math.Pow(q2, float64(run)-2)
}
