package detect

import (
	"math/bits"
	"math/rand/v2"
)

// cellIndex maps the entity hashes of a window's cells to the cells'
// positions: a table of (hash, position) slots with linear probing, at most
// three quarters full. Finding a cell usually reads one cache line, where
// a Go map reads a group's control word and then its slot; and the table
// holds no pointers, so the collector skips it. Where a hash lands depends
// on a random seed, so entities named to collide in the table do not make
// it probe far.
type cellIndex struct {
	slots []cellSlot // a power of two of them, or none
	n     int        // used slots
	shift uint       // 64 less log2(len(slots))
	seed  uint64
}

// cellSlot is used when at > 0: the cell at position at-1 has entity hash
// hash.
type cellSlot struct {
	hash uint64
	at   int
}

// minCellSlots is the size of the smallest table.
const minCellSlots = 8

// newCellIndex returns an index sized for n cells.
func newCellIndex(n int) cellIndex {
	var x cellIndex
	x.resize(n)
	return x
}

// resize empties x and sizes it for n cells.
func (x *cellIndex) resize(n int) {
	size := minCellSlots
	for size*3 < n*4 {
		size *= 2
	}
	x.slots, x.n, x.shift = make([]cellSlot, size), 0, uint(64-bits.TrailingZeros(uint(size)))
	x.seed = rand.Uint64()
}

// reset empties x, keeping its table.
func (x *cellIndex) reset() {
	clear(x.slots)
	x.n = 0
}

// len is the number of cells indexed.
func (x *cellIndex) len() int { return x.n }

// home is the slot where the search for h starts.
func (x *cellIndex) home(h uint64) int {
	hi, lo := bits.Mul64(h^x.seed, 0x9e3779b97f4a7c15)
	return int((hi ^ lo) >> x.shift)
}

// get returns the position of the cell with hash h.
func (x *cellIndex) get(h uint64) (at int, ok bool) {
	if x.n == 0 {
		return 0, false
	}
	mask := len(x.slots) - 1
	for i := x.home(h); ; i = (i + 1) & mask {
		switch s := &x.slots[i]; {
		case s.at == 0:
			return 0, false
		case s.hash == h:
			return s.at - 1, true
		}
	}
}

// put adds the cell at position at, with hash h, which x does not hold.
func (x *cellIndex) put(h uint64, at int) {
	if (x.n+1)*4 > len(x.slots)*3 {
		old := x.slots
		x.resize(max(2*len(old), minCellSlots) * 3 / 4)
		for _, s := range old {
			if s.at > 0 {
				x.insert(s)
			}
		}
	}
	x.insert(cellSlot{hash: h, at: at + 1})
}

func (x *cellIndex) insert(s cellSlot) {
	mask := len(x.slots) - 1
	i := x.home(s.hash)
	for x.slots[i].at != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = s
	x.n++
}
