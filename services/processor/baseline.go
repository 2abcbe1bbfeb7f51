package processor

import "math"

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
	w := math.Max(clipSigmas*math.Sqrt(e.Var), clipFloor)
	return math.Min(math.Max(x, e.Mean-w), e.Mean+w)
}

// maxCatchUp bounds the zero-count windows applied when an entity comes
// back after a gap; beyond it the estimate no longer changes materially.
const maxCatchUp = 200

// skip applies n windows with a zero count.
func (e *ewma) skip(n int64, alpha float64) {
	for i := int64(0); i < n && i < maxCatchUp; i++ {
		e.update(0, alpha)
	}
}
