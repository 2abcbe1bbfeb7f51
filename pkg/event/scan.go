package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"time"
	"unsafe"

	"github.com/go-faster/jx"
)

// decodePlain decodes the envelope as the encoder writes it, mostly without
// the general decoder: an object of the envelope's keys (without escapes)
// whose values are of the right type and well formed, with white space
// anywhere JSON allows it; it scans strings eight bytes at a time and
// leaves only those with escapes to the general decoder. It reports false
// as soon as b is anything else, leaving e part decoded: the caller then
// decodes b the general way, which takes every JSON (and says what is
// wrong with it). Both ways give the same event for what this one takes.
func decodePlain(e *Event, b, shared []byte) bool {
	s := &scanner{b: b, shared: shared}
	if !s.byte('{') {
		return false
	}
	if s.byte('}') {
		return s.end()
	}
	for {
		key, _, ok := s.raw()
		if !ok || !s.byte(':') || field(e, key, s) != nil {
			return false
		}
		if s.byte('}') {
			return s.end()
		}
		if !s.byte(',') {
			return false
		}
	}
}

// errNotPlain says that a value is not as the encoder writes it.
var errNotPlain = errors.New("not as the encoder writes it")

// scanner reads the values of the envelope as the encoder writes it from
// b at i. Strings that are a part of shared point into it.
type scanner struct {
	b      []byte
	i      int
	shared []byte
}

func (s *scanner) null() (bool, error) {
	s.space()
	if s.i < len(s.b) && s.b[s.i] == 'n' && bytes.HasPrefix(s.b[s.i:], []byte("null")) {
		s.i += 4
		return true, nil
	}
	return false, nil
}

// str reads a string with raw, or with the general decoder when it has
// escapes.
func (s *scanner) str() (string, error) {
	s.space()
	start := s.i
	if b, ascii, ok := s.raw(); ok {
		if ascii && len(b) > 0 && within(b, s.shared) {
			return unsafe.String(&b[0], len(b)), nil
		}
		return text(b, s.shared), nil
	}
	s.i = start
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", errNotPlain
	}
	d := jx.GetDecoder()
	defer jx.PutDecoder(d)
	d.ResetBytes(s.b[s.i:])
	raw, err := d.Raw()
	if err != nil {
		return "", errNotPlain
	}
	d.ResetBytes(raw)
	b, err := d.StrBytes()
	if err != nil {
		return "", errNotPlain
	}
	s.i += len(raw)
	return text(b, s.shared), nil
}

// raw reads a string without escapes or control characters and returns
// what is between its quotes, and whether that is all ASCII. It looks at
// eight bytes at a time for the closing quote, a backslash, a control
// character or a byte of a multi-byte character.
func (s *scanner) raw() (b []byte, ascii, ok bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	start := s.i + 1
	rest := s.b[start:]
	var high uint64 // the bytes passed, or'ed: their high bit says non-ASCII
	n := 0
	for ; len(rest)-n >= 8; n += 8 {
		w := binary.LittleEndian.Uint64(rest[n:])
		q := w ^ ('"' * ones)   // a zero byte where w has a quote
		bs := w ^ ('\\' * ones) // where it has a backslash
		// The lowest byte flagged is the first quote, backslash or byte
		// below 0x20 (bytes above it may be flagged wrongly).
		stop := ((q-ones)&^q | (bs-ones)&^bs | (w-0x20*ones)&^w) & highs
		if stop == 0 {
			high |= w
			continue
		}
		i := bits.TrailingZeros64(stop) / 8
		high |= w & (1<<(8*i) - 1)
		n += i
		if rest[n] != '"' {
			return nil, false, false
		}
		s.i = start + n + 1
		return rest[:n], high&highs == 0, true
	}
	for ; n < len(rest); n++ {
		switch c := rest[n]; {
		case c == '"':
			s.i = start + n + 1
			return rest[:n], high&highs == 0, true
		case c < 0x20 || c == '\\':
			return nil, false, false
		case c >= 0x80:
			high = highs
		}
	}
	return nil, false, false
}

// number reads a number as JSON writes it:
// -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() (string, error) {
	s.space()
	start := s.i
	s.optional('-')
	switch {
	case s.optional('0'):
	case s.i < len(s.b) && '1' <= s.b[s.i] && s.b[s.i] <= '9':
		s.digits()
	default:
		return "", errNotPlain
	}
	if s.optional('.') && !s.digits() {
		return "", errNotPlain
	}
	if s.optional('e') || s.optional('E') {
		if !s.optional('+') {
			s.optional('-')
		}
		if !s.digits() {
			return "", errNotPlain
		}
	}
	return unsafeString(s.b[start:s.i]), nil
}

func (s *scanner) time(t *time.Time) error {
	s.space()
	start := s.i
	if _, _, ok := s.raw(); !ok || t.UnmarshalJSON(s.b[start:s.i]) != nil {
		return errNotPlain
	}
	return nil
}

func (s *scanner) labels(e *Event) error {
	if !s.byte('{') {
		return errNotPlain
	}
	if e.Attrs == nil {
		e.Attrs = map[string]string{}
	}
	if s.byte('}') {
		return nil
	}
	for {
		key, _, ok := s.raw()
		if !ok || !s.byte(':') {
			return errNotPlain
		}
		v := ""
		if null, _ := s.null(); !null {
			var err error
			if v, err = s.str(); err != nil {
				return err
			}
		}
		e.Attrs[text(key, s.shared)] = v
		if s.byte('}') {
			return nil
		}
		if !s.byte(',') {
			return errNotPlain
		}
	}
}

// skip leaves the values of unknown keys to the general decoder.
func (s *scanner) skip() error { return errNotPlain }

// digits reads one or more digits.
func (s *scanner) digits() bool {
	start := s.i
	for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
		s.i++
	}
	return s.i > start
}

// optional reads c when it is next.
func (s *scanner) optional(c byte) bool {
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// byte reads c after white space, when it is next.
func (s *scanner) byte(c byte) bool {
	s.space()
	return s.optional(c)
}

// end reports whether only white space is left.
func (s *scanner) end() bool {
	s.space()
	return s.i == len(s.b)
}

func (s *scanner) space() {
	if s.i < len(s.b) && s.b[s.i] > ' ' {
		return
	}
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}
