package detect

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
)

// DefaultRecentIDs is how many of a partition's most recent counted event
// ids are remembered to drop redelivered copies: many times the shipper's
// largest batch, which is what a crash can send again.
const DefaultRecentIDs = 1 << 16

// RecentIDs remembers the last n event ids seen, in a ring. It is not safe
// for concurrent use.
type RecentIDs struct {
	set  map[[16]byte]struct{}
	ring [][16]byte
	next int // the slot the next id replaces, once the ring is full
	n    int
}

// NewRecentIDs returns a memory of the last n ids (none when n <= 0). It
// grows as ids come, up to n.
func NewRecentIDs(n int) *RecentIDs {
	return &RecentIDs{set: map[[16]byte]struct{}{}, n: max(n, 0)}
}

// SeenBefore reports whether id is among the remembered ones, and
// remembers it. Ids that are not 32 hex digits are never duplicates.
func (r *RecentIDs) SeenBefore(id string) bool {
	var k [16]byte
	if len(id) != 32 || r.n == 0 {
		return false
	}
	if _, err := hex.Decode(k[:], []byte(id)); err != nil {
		return false
	}
	if _, ok := r.set[k]; ok {
		return true
	}
	if len(r.ring) < r.n {
		r.ring = append(r.ring, k)
	} else {
		delete(r.set, r.ring[r.next])
		r.ring[r.next] = k
		r.next = (r.next + 1) % len(r.ring)
	}
	r.set[k] = struct{}{}
	return false
}

// recentIDsVersion is the first byte of MarshalBinary's encoding.
const recentIDsVersion = 1

// maxRecentIDs bounds the size UnmarshalBinary accepts.
const maxRecentIDs = 1 << 24

// MarshalBinary encodes the memory: a version byte, then as uvarints its
// size, the ids held and the next slot to replace, then the ids in ring
// order, 16 bytes each. The same memory always gives the same bytes.
func (r *RecentIDs) MarshalBinary() ([]byte, error) {
	return r.appendBinary(make([]byte, 0, 1+3*binary.MaxVarintLen64+16*len(r.ring))), nil
}

func (r *RecentIDs) appendBinary(b []byte) []byte {
	b = append(b, recentIDsVersion)
	b = binary.AppendUvarint(b, uint64(r.n))
	b = binary.AppendUvarint(b, uint64(len(r.ring)))
	b = binary.AppendUvarint(b, uint64(r.next))
	for _, k := range r.ring {
		b = append(b, k[:]...)
	}
	return b
}

// UnmarshalBinary replaces the memory with the one data encodes (see
// MarshalBinary); on error r is unchanged.
func (r *RecentIDs) UnmarshalBinary(data []byte) error {
	d := decoder{b: data}
	if v := d.u8(); d.err == nil && v != recentIDsVersion {
		return fmt.Errorf("recent ids: version %d, want %d: %w", v, recentIDsVersion, ErrCorruptSnapshot)
	}
	n := d.uvarint()
	held := d.count(16)
	next := d.uvarint()
	switch {
	case d.err != nil:
	case n > maxRecentIDs:
		d.fail("size %d is over %d", n, maxRecentIDs)
	case uint64(held) > n:
		d.fail("%d ids held in a ring of %d", held, n)
	case uint64(held) < n && next != 0 || uint64(held) == n && held > 0 && next >= uint64(held):
		d.fail("next slot %d of a ring of %d holding %d", next, n, held)
	}
	out := &RecentIDs{n: int(n), next: int(next)}
	if d.err == nil {
		out.set = make(map[[16]byte]struct{}, held)
		out.ring = make([][16]byte, held)
		for i := range out.ring {
			copy(out.ring[i][:], d.take(16))
			if _, dup := out.set[out.ring[i]]; dup && d.err == nil {
				d.fail("id %x held twice", out.ring[i])
			}
			out.set[out.ring[i]] = struct{}{}
		}
	}
	d.end()
	if d.err != nil {
		return fmt.Errorf("recent ids: %w", d.err)
	}
	*r = *out
	return nil
}
