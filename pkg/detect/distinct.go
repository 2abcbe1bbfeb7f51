package detect

import (
	"slices"

	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
)

// exactDistinct is how many distinct values a window counts exactly before
// it switches to a HyperLogLog sketch (about 0.8% error, a few KiB).
const exactDistinct = 128

// sketchBatch is how many values a sketch takes at once. Values added to
// a sketch wait until there are this many, and its estimate is taken only
// then: an estimate merges the sketch's sparse list (a cost growing with
// the values) or sums its 16,384 registers (about 0.3 ms), so taking one
// per value made a window scanning 65,536 ports cost 17 s of CPU.
const sketchBatch = 128

// distinctSet counts the distinct values of one feature in one window:
// exactly while few, then with HyperLogLog.
type distinctSet struct {
	exact []uint64
	hll   *hyperloglog.Sketch
	// pending are the hashes added since the sketch took its last batch
	// (fewer than sketchBatch).
	pending []uint64
	// estimate is the sketch's estimate after its last batch, when
	// estimated (derived from hll, not state of its own: a restored
	// sketch is estimated when first asked).
	estimate  uint64
	estimated bool
}

func (s *distinctSet) add(v string) {
	h := xxhash.Sum64String(v)
	if s.hll != nil {
		s.pending = append(s.pending, h)
		if len(s.pending) == sketchBatch {
			s.takeBatch()
		}
		return
	}
	if slices.Contains(s.exact, h) {
		return
	}
	if len(s.exact) < exactDistinct {
		s.exact = append(s.exact, h)
		return
	}
	s.hll = hyperloglog.New14()
	s.pending = append(s.exact, h)
	s.exact = nil
	s.takeBatch()
}

// takeBatch adds the pending hashes to the sketch and takes its estimate,
// which merges everything the sketch holds: after a batch the sketch
// (its sparse list or its registers, and its encoding) depends only on
// the values added so far, wherever a checkpoint falls.
func (s *distinctSet) takeBatch() {
	for _, h := range s.pending {
		s.hll.InsertHash(h)
	}
	s.pending = s.pending[:0]
	s.estimate, s.estimated = s.hll.Estimate(), true
}

// count is how many distinct values were added. It does not change s.
func (s *distinctSet) count() uint64 {
	switch {
	case s.hll == nil:
		return uint64(len(s.exact))
	case len(s.pending) == 0:
		return s.counted()
	}
	sk := s.hll.Clone()
	for _, h := range s.pending {
		sk.InsertHash(h)
	}
	return sk.Estimate()
}

// counted is count as of the sketch's last batch, at no cost: what an
// open window is judged early by.
func (s *distinctSet) counted() uint64 {
	if s.hll == nil {
		return uint64(len(s.exact))
	}
	if !s.estimated {
		s.estimate, s.estimated = s.hll.Estimate(), true // merged already: changes nothing
	}
	return s.estimate
}
