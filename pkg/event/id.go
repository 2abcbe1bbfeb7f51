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
	// The hashed bytes are laid out in one buffer (on the stack for lines
	// of common length) and hashed in one call.
	var stack [512]byte
	b := binary.BigEndian.AppendUint64(stack[:0], uint64(len(tenant)))
	b = append(b, tenant...)
	b = binary.BigEndian.AppendUint64(b, uint64(len(origin)))
	b = append(b, origin...)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = append(b, line...)
	sum := sha256.Sum256(b)
	var id [IDLength]byte
	hex.Encode(id[:], sum[:IDLength/2])
	return string(id[:])
}
