package series

import "math"

// Robust updates: once a level has minSamples values, a residual beyond
// clipSigmas spreads is clipped before it is learned (winsorized), and
// adoptRun clipped residuals in a row on the same side are taken as a new
// level, which the level then jumps to.
const (
	clipSigmas = 4
	adoptRun   = 4
	devAlpha   = 0.02
	minSamples = 5
)

// madToSigma turns a mean absolute deviation into the standard deviation
// of a normal distribution with it.
const madToSigma = 1.2533141373155003

// level is a robust exponentially weighted mean with a mean absolute
// deviation: one step ahead, mean predicts the next value and spread is
// how far off that prediction usually is.
type level struct {
	mean float64
	dev  float64 // EWMA of |residual|, winsorized like the mean
	n    uint32
	run  int32   // clipped residuals in a row: positive above, negative below
	sum  float64 // sum of the values in run, for adopting their mean
}

// spread is the standard deviation the deviation stands for, never 0 for a
// level with history: a floor of 1e-9 of the level's magnitude keeps
// divisions finite on a constant series while any real change stays
// huge against it.
func (l *level) spread() float64 {
	return math.Max(l.dev*madToSigma, 1e-9*(1+math.Abs(l.mean)))
}

// update learns x with weight alpha (at least 1/n for the first values, so
// early estimates are plain averages) and returns the residual x-mean it
// had before learning.
func (l *level) update(x, alpha float64) float64 {
	r := x - l.mean
	l.n++
	if l.n == 1 {
		l.mean = x
		return 0
	}
	a := math.Max(alpha, 1/float64(l.n))
	ad := math.Max(devAlpha, 1/float64(l.n-1))
	lim := clipSigmas * l.dev
	if l.n > minSamples && l.dev > 0 && math.Abs(r) > lim {
		side := int32(1)
		if r < 0 {
			side = -1
		}
		if l.run*side > 0 {
			l.run += side
			l.sum += x
		} else {
			l.run, l.sum = side, x
		}
		if l.run*side >= adoptRun {
			// A sustained shift: the values since it began are the new level.
			l.mean = l.sum / float64(l.run*side)
			l.run, l.sum = 0, 0
			return r
		}
		rc := math.Copysign(lim, r)
		l.mean += a * rc
		l.dev += ad * (lim - l.dev)
		return r
	}
	l.run, l.sum = 0, 0
	l.mean += a * r
	l.dev += ad * (math.Abs(r) - l.dev)
	return r
}
