package detect

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"
	"time"
	"unsafe"

	"github.com/stretchr/testify/require"
)

func TestMedianMADSketch(t *testing.T) {
	tests := []struct {
		name     string
		gen      func(r *rand.Rand) float64
		med, mad float64 // true values
	}{
		{"normal 100±10", func(r *rand.Rand) float64 { return 100 + 10*r.NormFloat64() }, 100, 6.745},
		{"normal with 5% outliers at 1e6", func(r *rand.Rand) float64 {
			if r.Float64() < 0.05 {
				return 1e6
			}
			return 100 + 10*r.NormFloat64()
		}, 100, 6.745},
		{"exponential mean 50", func(r *rand.Rand) float64 { return 50 * r.ExpFloat64() }, 50 * math.Ln2, 24},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			var m medianMAD
			for range 20_000 {
				m.update(tt.gen(r), 0.02)
			}
			require.InDelta(t, tt.med, m.Med, 0.15*tt.med+1, "median")
			require.InDelta(t, tt.mad, m.MAD, 0.35*tt.mad, "MAD")
		})
	}
}

func TestMedianMADConstantThenShift(t *testing.T) {
	var m medianMAD
	for range 100 {
		m.update(5, 0.05)
	}
	require.Equal(t, 5.0, m.Med)
	ex := m.expect(time.Time{})
	require.Zero(t, ex.variance, "a constant series has no spread")
	for range 2000 {
		m.update(50, 0.05)
	}
	require.InDelta(t, 50, m.Med, 1, "a lasting change is followed")
}

// The seasonal baseline learns a day/night pattern per hour of the week:
// after three weeks it expects the busy hours busy and the night quiet.
func TestSeasonalLearnsTheWeek(t *testing.T) {
	var s seasonal
	r := rand.New(rand.NewPCG(3, 4))
	start := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC) // a Sunday
	rate := func(t time.Time) float64 {
		if wd := t.Weekday(); wd != time.Saturday && wd != time.Sunday && t.Hour() >= 9 && t.Hour() < 18 {
			return 100
		}
		return 5
	}
	for h := range 3 * 168 {
		at := start.Add(time.Duration(h) * time.Hour)
		s.learn(rate(at)+math.Sqrt(rate(at))*r.NormFloat64(), at, 0.05, false)
	}
	monday10 := start.Add(3*168*time.Hour + 34*time.Hour)
	sunday3 := start.Add(3*168*time.Hour + 3*time.Hour)
	busy, quiet := s.expect(monday10), s.expect(sunday3)
	require.Equal(t, "Mon 10h UTC", busy.season)
	require.InDelta(t, 100, busy.mean, 20)
	require.InDelta(t, 5, quiet.mean, 2.5)
	require.LessOrEqual(t, unsafe.Sizeof(s), uintptr(200), "state per entity and feature")
}

func TestActivityRarity(t *testing.T) {
	var a activity
	start := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC) // a Monday
	for week := range 2 {
		for day := range 5 {
			for h := 9; h < 17; h++ {
				a.learn(start.Add(time.Duration(week*168+day*24+h) * time.Hour))
			}
		}
	}
	tests := []struct {
		at       time.Duration
		min, max float64
	}{
		{2*168*time.Hour + 10*time.Hour, 0, 0.5},                   // Monday 10:00, as always
		{2*168*time.Hour + 2*24*time.Hour + 17*time.Hour, 0, 0.98}, // Wednesday 17:00, next to the usual
		{2*168*time.Hour + 2*24*time.Hour + 3*time.Hour, 0.98, 1},  // Wednesday 03:00, never
		{2*168*time.Hour + 6*24*time.Hour + 3*time.Hour, 0.98, 1},  // Sunday 03:00, never
	}
	for _, tt := range tests {
		at := start.Add(tt.at)
		t.Run(at.Format("Mon 15h"), func(t *testing.T) {
			got, _ := a.rarity(at)
			require.GreaterOrEqual(t, got, tt.min)
			require.LessOrEqual(t, got, tt.max)
		})
	}
}

func TestNoveltyGoodTuring(t *testing.T) {
	tests := []struct {
		n    novelty
		want float64
	}{
		{novelty{}, 0.5},
		{novelty{Windows: 98, Distinct: 1, Once: 0}, 0.01},
		{novelty{Windows: 98, Distinct: 40, Once: 29}, 0.3},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.n), func(t *testing.T) { require.InDelta(t, tt.want, tt.n.pNew(), 1e-9) })
	}
}

func TestDistinctSetSwitchesToHLL(t *testing.T) {
	for _, n := range []int{0, 1, 128, 129, 5000} {
		var s distinctSet
		for i := range n {
			s.add(fmt.Sprint(i))
			s.add(fmt.Sprint(i)) // repeats count once
		}
		require.InDelta(t, float64(n), float64(s.count()), 0.02*float64(n)+0.5, "n=%d", n)
	}
}

func TestCountLowTail(t *testing.T) {
	require.InDelta(t, math.Exp(-30), countLowTail(0, 30, 30), 1e-15)
	require.InDelta(t, 1, countLowTail(1000, 3, 3), 1e-12)
	require.Zero(t, countLowTail(-1, 3, 3))
	require.InDelta(t, 0.5, normalUpper(0), 1e-12)
}
