package detect

import (
	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"
)

// exactDistinct is how many distinct values a window counts exactly before
// it switches to a HyperLogLog sketch (about 0.8% error, a few KiB).
const exactDistinct = 128

// distinctSet counts the distinct values of one feature in one window:
// exactly while few, then with HyperLogLog.
type distinctSet struct {
	exact []uint64
	hll   *hyperloglog.Sketch
}

func (s *distinctSet) add(v string) {
	h := xxhash.Sum64String(v)
	if s.hll != nil {
		s.hll.InsertHash(h)
		return
	}
	for _, x := range s.exact {
		if x == h {
			return
		}
	}
	if len(s.exact) < exactDistinct {
		s.exact = append(s.exact, h)
		return
	}
	s.hll = hyperloglog.New14()
	for _, x := range s.exact {
		s.hll.InsertHash(x)
	}
	s.hll.InsertHash(h)
	s.exact = nil
}

func (s *distinctSet) count() uint64 {
	if s.hll != nil {
		return s.hll.Estimate()
	}
	return uint64(len(s.exact))
}
