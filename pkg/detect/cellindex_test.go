package detect

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestWindowCells(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, tt := range []struct {
		name  string
		sized int // -1: the zero index
		n     int
		mask  uint64 // of the hashes
	}{
		{"empty", 0, 0, ^uint64(0)},
		{"zero index grows", -1, 1000, ^uint64(0)},
		{"sized", 1000, 1000, ^uint64(0)},
		{"grows past its size", 10, 10_000, ^uint64(0)},
		{"more than a chunk", 0, 3*cellChunk + 1, ^uint64(0)},
		{"hashes differing in low bits", 0, 10_000, 0xffff},
		{"hashes differing in high bits", 0, 10_000, 0xffff << 48},
		{"hashes with one tag", 0, 10_000, 0xffff_ffff},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := &window{}
			if tt.sized >= 0 {
				w.cells = newCellIndex(tt.sized)
			}
			var spare [][]cell
			want := map[uint64]int{}
			for tries := 0; len(want) < tt.n && tries < 4*tt.n; tries++ {
				h := rng.Uint64() & tt.mask
				if _, ok := want[h]; ok {
					continue
				}
				require.Nil(t, w.cell(h))
				want[h] = len(want)
				c := w.add(cell{hash: h, nextCheck: float64(want[h])}, &spare)
				require.Equal(t, h, c.hash)
			}
			require.Len(t, want, tt.n)
			require.Equal(t, tt.n, w.len())
			for h, at := range want {
				c := w.cell(h)
				require.NotNil(t, c)
				require.Equal(t, h, c.hash)
				require.Equal(t, float64(at), c.nextCheck)
				require.Same(t, w.at(at), c)
			}
		})
	}
}
