package detect

import "math"

// maxTailTerms bounds the terms countTail sums.
const maxTailTerms = 100_000

// countTail returns P(X >= k) for a count X with the given mean and
// variance: Poisson when the variance does not exceed the mean, else the
// negative binomial with that mean and variance (over-dispersed counts, as
// login failures are). It sums the lower tail term by term and stops once
// the remaining mass is negligible.
func countTail(k, mean, variance float64) float64 {
	if k <= 0 {
		return 1
	}
	if mean <= 0 {
		return 0
	}
	// P(X >= k) falls as k grows, so summing to a capped k bounds the
	// tail from above (a milder score) and the work from above too.
	n := int(math.Ceil(math.Min(k, maxTailTerms)))
	var logPmf, logStep func(i int) float64
	if variance <= mean*(1+1e-9) {
		logPmf0 := -mean
		logMean := math.Log(mean)
		logPmf = func(int) float64 { return logPmf0 }
		logStep = func(i int) float64 { return logMean - math.Log(float64(i+1)) }
	} else {
		p := mean / variance // success probability
		r := mean * mean / (variance - mean)
		logPmf0 := r * math.Log(p)
		log1p := math.Log1p(-p)
		logPmf = func(int) float64 { return logPmf0 }
		logStep = func(i int) float64 { return math.Log((float64(i)+r)/float64(i+1)) + log1p }
	}
	cdf := 0.0
	lp := logPmf(0)
	for i := 0; i < n; i++ {
		cdf += math.Exp(lp)
		if cdf >= 1-1e-15 {
			return 0
		}
		lp += logStep(i)
	}
	return math.Max(0, 1-cdf)
}

// countLowTail returns P(X <= k) under the same count model as countTail.
func countLowTail(k, mean, variance float64) float64 {
	if k < 0 {
		return 0
	}
	return 1 - countTail(math.Floor(k)+1, mean, variance)
}

// normalUpper returns P(Z >= z) for a standard normal Z.
func normalUpper(z float64) float64 { return 0.5 * math.Erfc(z/math.Sqrt2) }
