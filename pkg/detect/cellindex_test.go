package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCellIndex(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		name  string
		sized int
		n     int
		mask  uint64 // of the hashes: low bits only, or high bits only
	}{
		{"empty", 0, 0, ^uint64(0)},
		{"zero value grows", -1, 1000, ^uint64(0)},
		{"sized", 1000, 1000, ^uint64(0)},
		{"grows past its size", 10, 10_000, ^uint64(0)},
		{"hashes differing in low bits", 0, 10_000, 0xffff},
		{"hashes differing in high bits", 0, 10_000, 0xffff << 48},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var x cellIndex
			if tt.sized >= 0 {
				x = newCellIndex(tt.sized)
			}
			want := map[uint64]int{}
			for len(want) < tt.n {
				h := rng.Uint64() & tt.mask
				if _, ok := want[h]; ok {
					continue
				}
				_, ok := x.get(h)
				require.False(t, ok)
				want[h] = len(want)
				x.put(h, want[h])
			}
			require.Equal(t, len(want), x.len())
			for h, at := range want {
				got, ok := x.get(h)
				require.True(t, ok)
				require.Equal(t, at, got)
			}
			x.reset()
			require.Zero(t, x.len())
			for h := range want {
				_, ok := x.get(h)
				require.False(t, ok)
			}
		})
	}
}
