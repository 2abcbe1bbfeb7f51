package detect

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrCorruptSnapshot is wrapped by the errors of Restore and of
// RecentIDs.UnmarshalBinary for input that is not state they wrote:
// truncated, corrupt or of another format. Reading it again gives the same
// error; an error that does not wrap it (the reader's) may not.
var ErrCorruptSnapshot = errors.New("corrupt detect state")

// encoder appends the state's binary encoding: unsigned and signed varints,
// float64 bits little-endian, length-prefixed strings. The first problem
// sticks in err.
type encoder struct {
	b   []byte
	err error
}

func (e *encoder) fail(err error) {
	if e.err == nil {
		e.err = err
	}
}

// nextHash writes h, the next of a list of sorted hashes, as its difference
// from the one before, and returns it.
func (e *encoder) nextHash(prev, h uint64) uint64 {
	e.uvarint(h - prev)
	return h
}

// hashes writes a sorted list of hashes: its length, then each as its
// difference from the one before.
func (e *encoder) hashes(hs []uint64) {
	e.uvarint(uint64(len(hs)))
	prev := uint64(0)
	for _, h := range hs {
		prev = e.nextHash(prev, h)
	}
}

func (e *encoder) u8(v byte)        { e.b = append(e.b, v) }
func (e *encoder) uvarint(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *encoder) varint(v int64)   { e.b = binary.AppendVarint(e.b, v) }
func (e *encoder) fixed64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) float(f float64)  { e.fixed64(math.Float64bits(f)) }
func (e *encoder) bytes(b []byte)   { e.uvarint(uint64(len(b))); e.b = append(e.b, b...) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) time(t time.Time) { e.varint(t.Unix()); e.uvarint(uint64(t.Nanosecond())) }

func (e *encoder) bool(v bool) {
	if v {
		e.u8(1)
	} else {
		e.u8(0)
	}
}

// num writes a float compactly when it is a small whole number (counts,
// sums of bytes): uvarint(2n) for such an n, else 1 then its bits.
func (e *encoder) num(f float64) {
	if compact(f) {
		e.uvarint(uint64(f) << 1)
		return
	}
	e.uvarint(1)
	e.float(f)
}

// compact reports whether num writes f as a whole number.
func compact(f float64) bool { return f >= 0 && f < 1<<53 && f == math.Trunc(f) && !math.Signbit(f) }

// decoder reads what encoder wrote. The first problem sticks: later reads
// return zero values, and err says what and where.
type decoder struct {
	b   []byte
	off int
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf("at byte %d: %s: %w", d.off, fmt.Sprintf(format, args...), ErrCorruptSnapshot)
	}
}

func (d *decoder) left() int { return len(d.b) - d.off }

// take returns the next n bytes (aliasing the input), or nil once failed.
func (d *decoder) take(n int) []byte {
	if d.err != nil {
		return nil
	}
	if n < 0 || n > d.left() {
		d.fail("%d bytes needed, %d left", n, d.left())
		return nil
	}
	s := d.b[d.off : d.off+n]
	d.off += n
	return s
}

func (d *decoder) u8() byte {
	if b := d.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (d *decoder) uvarint() uint64 { return readVarint(d, binary.Uvarint) }
func (d *decoder) varint() int64   { return readVarint(d, binary.Varint) }

func readVarint[T uint64 | int64](d *decoder, read func([]byte) (T, int)) T {
	if d.err != nil {
		return 0
	}
	v, n := read(d.b[d.off:])
	if n <= 0 || n > 1 && d.b[d.off+n-1] == 0 {
		d.fail("bad varint")
		return 0
	}
	d.off += n
	return v
}

// count reads a number of items each taking at least minBytes of the input
// that follows, so that nothing is sized beyond what the input can hold.
func (d *decoder) count(minBytes int) int {
	v := d.uvarint()
	if d.err == nil && v > uint64(d.left()/minBytes) {
		d.fail("%d items cannot fit in the %d bytes left", v, d.left())
		return 0
	}
	return int(v)
}

// upTo reads a uvarint of at most limit.
func (d *decoder) upTo(limit uint64, what string) uint64 {
	v := d.uvarint()
	if d.err == nil && v > limit {
		d.fail("%s %d is over %d", what, v, limit)
		return 0
	}
	return v
}

func (d *decoder) fixed64() uint64 {
	if b := d.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (d *decoder) float() float64 { return math.Float64frombits(d.fixed64()) }

func (d *decoder) num() float64 {
	v := d.uvarint()
	switch {
	case v == 1:
		f := d.float()
		if compact(f) {
			d.fail("number %g not written compactly", f)
		}
		return f
	case v&1 == 1:
		d.fail("bad number tag %d", v)
	}
	return float64(v >> 1)
}

func (d *decoder) bytes() []byte { return d.take(d.count(1)) }

func (d *decoder) str() string { return string(d.bytes()) }

func (d *decoder) bool() bool {
	switch v := d.u8(); v {
	case 0:
		return false
	case 1:
		return true
	default:
		d.fail("bad boolean %d", v)
		return false
	}
}

func (d *decoder) time() time.Time {
	sec := d.varint()
	nsec := d.upTo(999_999_999, "nanoseconds")
	if d.err != nil {
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

// hashes reads a list of at most limit hashes that hashes wrote, each
// greater than the one before, or not less when repeats are allowed.
func (d *decoder) hashes(limit int, repeats bool, what string) []uint64 {
	n := int(d.upTo(uint64(limit), what))
	hs := make([]uint64, 0, n)
	h := uint64(0)
	for i := 0; i < n && d.err == nil; i++ {
		h = d.sortedHash(h, i, repeats, what)
		hs = append(hs, h)
	}
	return hs
}

// nextHash reads the i-th of a list of distinct sorted hashes, each
// written as its difference from the one before (prev).
func (d *decoder) nextHash(prev uint64, i int) uint64 {
	return d.sortedHash(prev, i, false, "hashes")
}

// sortedHash reads the i-th hash of a sorted list named what, written as
// its difference from the one before (prev); equal to prev only when
// repeats are allowed.
func (d *decoder) sortedHash(prev uint64, i int, repeats bool, what string) uint64 {
	delta := d.uvarint()
	if d.err == nil && (i > 0 && delta == 0 && !repeats || prev+delta < prev) {
		d.fail("%s out of order", what)
	}
	return prev + delta
}

// nextString reads the i-th of a list of distinct sorted strings.
func (d *decoder) nextString(prev string, i int) string {
	s := d.str()
	if d.err == nil && i > 0 && s <= prev {
		d.fail("strings out of order")
	}
	return s
}

// end fails unless every byte was read.
func (d *decoder) end() {
	if d.err == nil && d.left() != 0 {
		d.fail("%d bytes left over", d.left())
	}
}
