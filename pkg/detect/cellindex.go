package detect

import (
	"math/bits"
	"math/rand/v2"
)

// cellIndex finds a window's cells by entity hash: a table of slots with
// linear probing, at most three quarters full, each slot holding the
// position of a cell and 32 bits of its hash (the cell has the rest). A
// slot is 8 bytes, so the table of a window of a million entities is 16 MB
// and a lookup usually reads one cache line, where a Go map reads a
// group's control word and then a 16-byte slot; and it holds no pointers,
// so the collector skips it. Where a hash lands depends on a random seed,
// so entities named to collide in the table do not make it probe far.
type cellIndex struct {
	slots []cellSlot // a power of two of them, or none
	shift uint       // 64 less log2(len(slots))
	seed  uint64
}

// cellSlot is used when at > 0: the cell at position at-1, whose hash has
// tag as its high 32 bits.
type cellSlot struct {
	tag, at uint32
}

// minCellSlots is the size of the smallest table.
const minCellSlots = 8

// newCellIndex returns an empty index sized for n cells.
func newCellIndex(n int) cellIndex {
	size := minCellSlots
	for size*3 < n*4 {
		size *= 2
	}
	return cellIndex{slots: make([]cellSlot, size), shift: uint(64 - bits.TrailingZeros(uint(size))), seed: rand.Uint64()}
}

// fits reports whether the table takes n cells.
func (x *cellIndex) fits(n int) bool { return n*4 <= len(x.slots)*3 }

// home is the slot where the search for h starts.
func (x *cellIndex) home(h uint64) int {
	hi, lo := bits.Mul64(h^x.seed, 0x9e3779b97f4a7c15)
	return int((hi ^ lo) >> x.shift)
}

// insert adds the cell at position at, with hash h, to a table with room.
func (x *cellIndex) insert(h uint64, at int) {
	mask := len(x.slots) - 1
	i := x.home(h)
	for x.slots[i].at != 0 {
		i = (i + 1) & mask
	}
	x.slots[i] = cellSlot{tag: uint32(h >> 32), at: uint32(at + 1)}
}

// cell returns the cell of the entity with hash h, nil when it has none.
// The pointer is valid until the next add.
func (w *window) cell(h uint64) *cell {
	x := &w.cells
	if w.n == 0 {
		return nil
	}
	mask, tag := len(x.slots)-1, uint32(h>>32)
	for i := x.home(h); ; i = (i + 1) & mask {
		s := x.slots[i]
		if s.at == 0 {
			return nil
		}
		if s.tag == tag {
			if c := w.at(int(s.at - 1)); c.hash == h {
				return c
			}
		}
	}
}

// index adds the cell at position at, with hash h, to w.cells, making the
// table larger when it is full.
func (w *window) index(h uint64, at int) {
	if !w.cells.fits(at + 1) {
		w.cells = newCellIndex(2 * len(w.cells.slots) * 3 / 4)
		for i := range at {
			w.cells.insert(w.at(i).hash, i)
		}
	}
	w.cells.insert(h, at)
}
