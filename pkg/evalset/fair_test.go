package evalset

import (
	"net/netip"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// feature is what a counting profile measures of one event: a count or a
// sum (value), or a distinct count (key).
type feature struct {
	profile string
	value   func(e *event.Event) float64
	key     func(e *event.Event) string
}

var features = []feature{
	{profile: ProfileBruteForce, value: func(*event.Event) float64 { return 1 }},
	{profile: ProfilePasswordSpraying, key: func(e *event.Event) string { return e.User }},
	{profile: ProfilePortScan, key: func(e *event.Event) string { return strconv.Itoa(int(e.DstPort)) }},
	{profile: ProfileHostScan, key: func(e *event.Event) string { return e.DstIP }},
	{profile: ProfileExfilHost, value: func(e *event.Event) float64 { return float64(e.BytesOut) }},
	{profile: ProfileExfilUser, value: func(e *event.Event) float64 { return float64(e.BytesOut) }},
	{profile: ProfileDBQueryVolume, value: func(*event.Event) float64 { return 1 }},
	{profile: ProfileHTTPAuthFailures, value: func(*event.Event) float64 { return 1 }},
}

// TestAttacksStandOut: the benchmark is fair. For every counting profile,
// each attack's busiest window (of 5, 15 or 60 minutes) is above the
// largest window its entity reaches outside any attack on it; an entity
// never seen before must exceed the 99.9th percentile of the ordinary
// entities of its class: internal addresses, external addresses, or names
// (not the monitoring hosts, whose polls reach 50–150 hosts every half
// hour by design).
func TestAttacksStandOut(t *testing.T) {
	cfg := intense()
	events, labels := collect(t, cfg)
	monitors := map[string]bool{}
	for _, h := range newPopulation(cfg).monitors {
		monitors[h.ip] = true
	}
	type cell struct {
		entity string
		window int64
	}
	windows := []time.Duration{5 * time.Minute, 15 * time.Minute, time.Hour}
	for _, f := range features {
		t.Run(f.profile, func(t *testing.T) {
			var attacks []Label
			involved := map[string]bool{} // entities of any label of the profile, own or also
			for _, l := range labels.Incidents {
				if l.Profile == f.profile && !l.Benign {
					attacks = append(attacks, l)
				}
				if l.Profile == f.profile {
					involved[l.Entity] = true
				}
				if e, ok := l.Also[f.profile]; ok {
					involved[e] = true
				}
			}
			require.NotEmpty(t, attacks)
			standsOut := make([]bool, len(attacks))
			for _, w := range windows {
				sums := map[cell]float64{}
				keys := map[cell]map[string]bool{}
				for _, e := range events {
					ent, ok := entityOf(f.profile, e)
					if !ok {
						continue
					}
					c := cell{ent, e.Timestamp.UnixNano() / int64(w)}
					if f.key == nil {
						sums[c] += f.value(e)
						continue
					}
					if keys[c] == nil {
						keys[c] = map[string]bool{}
					}
					keys[c][f.key(e)] = true
				}
				for c, k := range keys {
					sums[c] = float64(len(k))
				}
				inAttack := func(c cell) bool {
					for _, l := range attacks {
						if l.Entity == c.entity && c.window >= l.Start.UnixNano()/int64(w) && c.window <= l.End.UnixNano()/int64(w) {
							return true
						}
					}
					return false
				}
				normalMax := map[string]float64{}
				population := map[string][]float64{}
				for c, v := range sums {
					if inAttack(c) {
						continue
					}
					normalMax[c.entity] = max(normalMax[c.entity], v)
					if !involved[c.entity] && !monitors[c.entity] {
						population[class(c.entity)] = append(population[class(c.entity)], v)
					}
				}
				p999 := map[string]float64{}
				for k, vs := range population {
					slices.Sort(vs)
					p999[k] = vs[int(0.999*float64(len(vs)-1))]
				}
				for i, l := range attacks {
					peak := 0.0
					for x := l.Start.UnixNano() / int64(w); x <= l.End.UnixNano()/int64(w); x++ {
						peak = max(peak, sums[cell{l.Entity, x}])
					}
					limit, seen := normalMax[l.Entity]
					if !seen {
						limit = p999[class(l.Entity)]
					}
					standsOut[i] = standsOut[i] || peak > limit
				}
			}
			for i, l := range attacks {
				require.True(t, standsOut[i], "%s %s (%s, %s) does not stand out at any window", l.Kind, l.Entity, l.Start, l.End.Sub(l.Start))
			}
		})
	}
}

// class is "internal" or "external" for an address, "name" otherwise.
func class(entity string) string {
	a, err := netip.ParseAddr(entity)
	switch {
	case err != nil:
		return "name"
	case a.IsPrivate():
		return "internal"
	}
	return "external"
}
