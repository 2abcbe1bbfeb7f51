package detect

import (
	"math"
	"time"
)

// activity is an entity's hour-of-week activity histogram: how many of its
// active windows fell in each hour of the week, in saturating byte counters
// that are all halved when one fills (so old habits fade), and how many
// active windows it has seen.
type activity struct {
	Counts  [168]uint8
	Samples uint64
}

func (a *activity) learn(t time.Time) {
	b := hourOfWeek(t)
	if a.Counts[b] == math.MaxUint8 {
		for i := range a.Counts {
			a.Counts[i] /= 2
		}
	}
	a.Counts[b]++
	a.Samples++
}

// Smoothing of the histogram: a bucket takes this share of its neighbour
// hours and of the same hour on the other days of the week; the prior is
// one pseudo-window spread over the week.
const (
	activityNeighbour = 0.5
	activitySameHour  = 0.2
	activityPrior     = 1.0
)

// rarity returns the anomaly of activity in the window starting at t: one
// minus the probability, under the smoothed histogram, of an hour at most
// as likely as t's. An hour the entity is always active in scores near 0;
// an hour it never was, near 1 − 1/(active windows + 1).
func (a *activity) rarity(t time.Time) (anomaly, expected float64) {
	var w [168]float64
	var hod [24]float64
	for b, c := range a.Counts {
		hod[b%24] += float64(c)
	}
	total := 0.0
	for b := range w {
		c := float64(a.Counts[b])
		prev := float64(a.Counts[(b+167)%168])
		next := float64(a.Counts[(b+1)%168])
		same := hod[b%24] - c
		w[b] = c + activityNeighbour*(prev+next) + activitySameHour*same/6
		total += w[b]
	}
	if total == 0 {
		return 0, 0
	}
	// Scale the smoothed weights to the number of counted windows, then
	// add the prior, so confidence grows with history, not with smoothing.
	var counted float64
	for _, c := range a.Counts {
		counted += float64(c)
	}
	norm := 0.0
	for b := range w {
		w[b] = w[b]*counted/total + activityPrior/168
		norm += w[b]
	}
	b := hourOfWeek(t)
	pb := w[b] / norm
	mass := 0.0
	for i := range w {
		if p := w[i] / norm; p <= pb {
			mass += p
		}
	}
	return math.Max(0, 1-mass), pb
}

// novelty is what an entity's history says of values new to it (a user's
// source addresses): windows it was active in, distinct values it used, and
// how many of those it used in one window only. The chance that the next
// active window brings a new value is estimated as (once + 1) / (windows +
// 2), after Good and Turing: an entity that keeps one address for a month
// is rarely new, one that roams often is.
type novelty struct {
	Windows  uint32
	Distinct uint32
	Once     uint32
}

func (n *novelty) pNew() float64 {
	return (float64(n.Once) + 1) / (float64(n.Windows) + 2)
}

// pairSeen tracks, for first_seen, which (entity, value) pairs were seen,
// by a 64-bit hash, and whether in one window or more.
type pairSeen map[uint64]uint8
