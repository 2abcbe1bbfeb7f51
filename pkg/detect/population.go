package detect

import (
	"math"
	"slices"
)

// popRing is how many recent entity-windows the population baseline keeps.
const popRing = 2048

// population is the baseline for entities without history of their own,
// from the counts of the most recent popRing entity-windows that were not
// suspicious: the median, and a spread that is the larger of the scaled MAD
// and the distance to the 90th percentile (scaled as for a normal), so the
// long right tail of a mixed population of sources is not taken for noise.
// Quantiles stay put while a good part of what they summarise is an
// attack, where a mean and variance are dragged along by one flood.
type population struct {
	ring   []float64
	next   int
	cached expectation
	dirty  bool
}

func newPopulation() *population {
	return &population{ring: make([]float64, 0, popRing)}
}

// add learns one entity-window's count.
func (p *population) add(x float64) {
	if len(p.ring) < popRing {
		p.ring = append(p.ring, x)
	} else {
		p.ring[p.next] = x
		p.next = (p.next + 1) % popRing
	}
	p.dirty = true
}

// samples is how many windows the population summarises, without
// computing its baseline.
func (p *population) samples() uint64 { return uint64(len(p.ring)) }

// baseline returns the median as the mean, the squared spread as the
// variance, and how many windows it summarises as the samples.
func (p *population) baseline() expectation {
	if !p.dirty {
		return p.cached
	}
	p.dirty = false
	if len(p.ring) == 0 {
		p.cached = expectation{}
		return p.cached
	}
	xs := slices.Clone(p.ring)
	med := median(xs) // sorts xs
	q90 := xs[int(0.9*float64(len(xs)-1))]
	for i, x := range xs {
		xs[i] = math.Abs(x - med)
	}
	sd := math.Max(1.4826*median(xs), (q90-med)/1.2816)
	p.cached = expectation{mean: med, variance: sd * sd, samples: uint64(len(p.ring))}
	return p.cached
}
