package series

import "math"

// The histogram behind a tail covers [0, binTop) with log-spaced bins: bin
// 0 holds [0, binBase), bin i ≥ 1 holds [binBase·binRatio^(i-1),
// binBase·binRatio^i), and the last bin also holds everything above.
const (
	binBase  = 1e-3
	binRatio = 1.1
	nBins    = 220 // binBase·binRatio^219 ≈ 1.1e6
)

var logRatio = math.Log(binRatio)

// Tail estimation: below anchorA samples above a value, the tail is
// extrapolated by a generalised Pareto tail through the values with
// anchorB and anchorA samples above them, its shape estimated from the
// log-excesses of the anchorC largest samples (the moment estimator of
// Dekkers, Einmahl and de Haan) once there are
// minShape samples, and exponential before. With fewer than minCalibrated
// samples the empirical tail is blended with the statistic's prior.
const (
	anchorA       = 8.0
	anchorB       = 32.0
	anchorC       = 128.0
	minShape      = 600
	maxShape      = 0.5
	minCalibrated = 100
	priorWeight   = 60
	// tailHorizon is the decay of the histogram, in samples: a sample
	// weighs 1/e after this many newer ones.
	tailHorizon = 20000
)

// tail is the causal, empirical distribution of a non-negative statistic:
// a decayed histogram of the values seen so far, which gives the
// probability of a value at least as large as a new one. Beyond the data it
// extrapolates an exponential tail fitted to its two upper anchors, so
// values larger than any seen still get a graded probability. Its state is
// fixed: nBins float32 weights and three numbers.
type tail struct {
	bins  [nBins]float32
	total float64 // sum of bins
	inc   float64 // weight of the next sample (grows to decay older ones)
	n     uint32  // samples seen, uncapped count
}

func binOf(x float64) int {
	if !(x >= binBase) { // also NaN
		return 0
	}
	f := 1 + math.Log(x/binBase)/logRatio
	if f >= nBins-1 {
		return nBins - 1
	}
	return int(f)
}

func binLow(i int) float64 {
	if i == 0 {
		return 0
	}
	return binBase * math.Exp(float64(i-1)*logRatio)
}

func binHigh(i int) float64 { return binBase * math.Exp(float64(i)*logRatio) }

// Suspicious values are learned slowly: one whose tail probability was
// below suspectP weighs suspectWeight, so an anomaly that builds up over
// many rows does not teach the calibration that it is normal.
const (
	suspectP      = 0.001
	suspectWeight = 0.1
)

func learnWeight(p float64) float64 {
	if p < suspectP {
		return suspectWeight
	}
	return 1
}

// add learns x, whose tail probability was p, into the histogram if
// counted, and into the total in any case (a statistic's other side, or
// a value that is not in its domain).
func (t *tail) add(x float64, counted bool, p float64) {
	if t.inc == 0 {
		t.inc = 1
	}
	w := t.inc * learnWeight(p)
	if counted {
		t.bins[binOf(x)] += float32(w)
	}
	t.total += w
	t.n++
	t.inc *= 1 + 1.0/tailHorizon
	if t.inc > 1e30 {
		t.rescale()
	}
}

func (t *tail) rescale() {
	s := 1 / t.inc
	for i := range t.bins {
		t.bins[i] *= float32(s)
	}
	t.total *= s
	t.inc = 1
}

// effective is the number of samples the histogram stands for, after decay.
func (t *tail) effective() float64 {
	if t.inc == 0 {
		return 0
	}
	return t.total / t.inc
}

// above is the weight, in samples, of the values at least x.
func (t *tail) above(x float64) float64 {
	b := binOf(x)
	var m float64
	for i := nBins - 1; i > b; i-- {
		m += float64(t.bins[i])
	}
	w := float64(t.bins[b])
	if w > 0 && b < nBins-1 {
		lo, hi := binLow(b), binHigh(b)
		var frac float64
		if b == 0 {
			frac = (hi - x) / hi
		} else {
			frac = math.Log(hi/x) / math.Log(hi/lo)
		}
		w *= math.Min(math.Max(frac, 0), 1)
	}
	return (m + w) / t.inc
}

// quantileAbove is the value with k samples at least it (k ≤ effective):
// the inverse of above, interpolated within a bin.
func (t *tail) quantileAbove(k float64) float64 {
	target := k * t.inc
	var m float64
	for i := nBins - 1; i >= 0; i-- {
		w := float64(t.bins[i])
		if m+w >= target && w > 0 {
			if i == nBins-1 {
				return binLow(i)
			}
			frac := (target - m) / w // share of the bin above the quantile
			lo, hi := binLow(i), binHigh(i)
			if i == 0 {
				return hi * (1 - frac)
			}
			return hi * math.Exp(-frac*math.Log(hi/lo))
		}
		m += w
	}
	return 0
}

// prob is the probability, under the values seen so far, of a value at
// least x, blended with prior(x) while there are few samples. It is
// never 0: extrapolation and floor keep it positive, so its logarithm is
// finite.
func (t *tail) prob(x float64, prior func(float64) float64) float64 {
	n := t.effective()
	var emp float64
	if n >= minCalibrated {
		emp = t.extrapolated(x, n)
	} else if n > 0 {
		emp = t.above(x) / n
	}
	p := emp
	if t.n < minCalibrated*4 {
		w := priorWeight * (1 - float64(t.n)/(minCalibrated*4))
		p = (n*emp + w*prior(x)) / (n + w)
	}
	return math.Max(p, minProb)
}

// minProb bounds every probability from below (its -log10 is maxSurprise).
const (
	maxSurprise = 15
	minProb     = 1e-15
)

func (t *tail) extrapolated(x, n float64) float64 {
	m := t.above(x)
	if m >= anchorA {
		return m / n
	}
	ua := t.quantileAbove(anchorA)
	if x <= ua {
		return anchorA / n
	}
	ub := t.quantileAbove(anchorB)
	// The shape: 0 (exponential) for light tails, up to maxShape for
	// heavy ones (a Pareto tail with exponent 1/shape).
	xi := 0.0
	if n >= minShape {
		xi = t.shape(t.quantileAbove(anchorC))
	}
	// The scale puts anchorA samples above ua and anchorB above ub. A
	// degenerate spread (every sample equal) gives a scale of a hundredth
	// of the anchor, so any clearly larger value is very unlikely.
	k := anchorB / anchorA
	var sigma float64
	if xi > 0 {
		sigma = xi * (ua - ub) / (math.Pow(k, xi) - 1)
	} else {
		sigma = (ua - ub) / math.Log(k)
	}
	sigma = math.Max(sigma, 0.01*ua)
	if sigma <= 0 {
		return minProb
	}
	y := x - ub
	if xi > 0 {
		return anchorB / n * math.Pow(1+xi*y/sigma, -1/xi)
	}
	return anchorB / n * math.Exp(-y/sigma)
}

// shape estimates the tail's shape from the samples above u, clamped to
// [0, maxShape]: the moment estimator over their log-excesses, each bin's
// weight at its log-midpoint.
func (t *tail) shape(u float64) float64 {
	if u <= 0 {
		return 0
	}
	var w, m1, m2 float64
	for i := nBins - 1; i >= 1; i-- {
		lo, hi := binLow(i), binHigh(i)
		if hi <= u {
			break
		}
		bw := float64(t.bins[i])
		if bw == 0 {
			continue
		}
		if lo < u {
			bw *= math.Log(hi/u) / math.Log(hi/lo)
			lo = u
		}
		l := 0.5 * (math.Log(lo/u) + math.Log(hi/u))
		w += bw
		m1 += bw * l
		m2 += bw * l * l
	}
	if w == 0 || m2 == 0 {
		return 0
	}
	m1, m2 = m1/w, m2/w
	xi := m1 + 1 - 0.5/(1-m1*m1/m2)
	return math.Min(math.Max(xi, 0), maxShape)
}
