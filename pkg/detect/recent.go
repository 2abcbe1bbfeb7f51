package detect

import "encoding/hex"

// recentIDsPerPartition is how many of a partition's most recent counted
// event ids are remembered to drop redelivered copies: many times the
// shipper's largest batch, which is what a crash can send again.
const recentIDsPerPartition = 1 << 16

// recentIDs remembers the last n event ids seen, in a ring.
type recentIDs struct {
	set  map[[16]byte]struct{}
	ring [][16]byte
	next int
}

func newRecentIDs(n int) *recentIDs {
	return &recentIDs{set: make(map[[16]byte]struct{}, n), ring: make([][16]byte, 0, n)}
}

// seenBefore reports whether id is among the remembered ones, and
// remembers it. Ids that are not 32 hex digits are never duplicates.
func (r *recentIDs) seenBefore(id string) bool {
	var k [16]byte
	if len(id) != 32 {
		return false
	}
	if _, err := hex.Decode(k[:], []byte(id)); err != nil {
		return false
	}
	if _, ok := r.set[k]; ok {
		return true
	}
	if len(r.ring) < cap(r.ring) {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[k] = struct{}{}
	return false
}
