package event

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// IDLength is the length of an event id in hex characters (128 bits).
const IDLength = 32

// NewID returns the deterministic id of a line: the first 128 bits of the
// SHA-256 of the tenant, the place the line was read from (e.g. a file's
// identity), its offset there, and the line itself. Reading the same line
// from the same place again gives the same id, so downstream stages can
// drop the copy; two equal lines at different offsets stay distinct.
func NewID(tenant, origin string, offset int64, line []byte) string {
	h := sha256.New()
	var n [8]byte
	for _, s := range []string{tenant, origin} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	binary.BigEndian.PutUint64(n[:], uint64(offset))
	h.Write(n[:])
	h.Write(line)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:IDLength/2])
}
