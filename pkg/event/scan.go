package event

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/bits"
	"time"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// decodePlain decodes the envelope as the encoder writes it, without the
// general decoder: an object of the envelope's keys (without escapes)
// whose values are of the right type and well formed, with white space
// anywhere JSON allows it; it expects the keys in the encoder's order
// (taking any order), scans strings eight bytes at a time, unescapes what
// the encoder escapes and parses the encoder's UTC times. It reports false
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
	next := keyVersion
	for {
		k, ok := s.key(&next)
		if !ok || fieldOf(e, k, s) != nil {
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

// quotedKeys are the envelope's keys as the encoder writes them, quoted
// and followed by a colon, by key.
var quotedKeys = func() (q [keyUnknown]string) {
	for k, name := range keyNames {
		q[k] = `"` + name + `":`
	}
	return q
}()

// key reads a key and the colon after it. It looks first for the keys the
// encoder writes from *next on, in its order (some are left out when
// empty), and moves *next past the one found; that takes one comparison
// for most keys, where reading the key and looking it up takes several.
func (s *scanner) key(next *key) (key, bool) {
	s.space()
	for k := *next; k < keyUnknown; k++ {
		if q := quotedKeys[k]; len(s.b)-s.i >= len(q) && string(s.b[s.i:s.i+len(q)]) == q {
			s.i += len(q)
			*next = k + 1
			return k, true
		}
	}
	name, _, ok := s.raw()
	if !ok || !s.byte(':') {
		return 0, false
	}
	return keyOf(name), true
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

// str reads a string with raw, or with escaped when it has escapes.
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
	return s.escaped()
}

// escaped reads a string with escapes into a new string, each byte of
// invalid UTF-8 in it becoming U+FFFD. It takes the escapes the encoder
// writes (\" \\ \/ \b \f \n \r \t and \u of a character that is not a
// surrogate) and reports errNotPlain for anything else, which is left to
// the general decoder.
func (s *scanner) escaped() (string, error) {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return "", errNotPlain
	}
	i := s.i + 1
	var buf [256]byte // most strings fit: then the result is the one allocation
	out := buf[:0]
	for {
		n, _ := plainRun(s.b[i:])
		out = append(out, s.b[i:i+n]...)
		i += n
		if i >= len(s.b) || s.b[i] < 0x20 {
			return "", errNotPlain
		}
		if s.b[i] == '"' {
			s.i = i + 1
			return validUTF8(string(out)), nil
		}
		if i+1 >= len(s.b) {
			return "", errNotPlain
		}
		switch c := s.b[i+1]; c {
		case '"', '\\', '/':
			out = append(out, c)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(s.b[i+2:])
			if !ok || utf16.IsSurrogate(r) {
				return "", errNotPlain
			}
			out = utf8.AppendRune(out, r)
			i += 4
		default:
			return "", errNotPlain
		}
		i += 2
	}
}

// hex4 reads the four hex digits at the start of b.
func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	var r rune
	for _, c := range b[:4] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c -= 'a' - 10
		case 'A' <= c && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// raw reads a string without escapes or control characters and returns
// what is between its quotes, and whether that is all ASCII.
func (s *scanner) raw() (b []byte, ascii, ok bool) {
	s.space()
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	rest := s.b[start:]
	n, ascii := plainRun(rest)
	if n == len(rest) || rest[n] != '"' {
		return nil, false, false
	}
	s.i = start + n + 1
	return rest[:n], ascii, true
}

// plainRun returns the length of the run at the start of b without a
// quote, a backslash or a control character, and whether the run is all
// ASCII. It looks at eight bytes at a time.
func plainRun(b []byte) (n int, ascii bool) {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	var high uint64 // the bytes passed, or'ed: their high bit says non-ASCII
	for ; len(b)-n >= 8; n += 8 {
		w := binary.LittleEndian.Uint64(b[n:])
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
		return n + i, high&highs == 0
	}
	for ; n < len(b); n++ {
		switch c := b[n]; {
		case c == '"' || c == '\\' || c < 0x20:
			return n, high&highs == 0
		case c >= 0x80:
			high = highs
		}
	}
	return n, high&highs == 0
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
	b, _, ok := s.raw()
	if !ok {
		return errNotPlain
	}
	if parseUTC(b, t) {
		return nil
	}
	if t.UnmarshalJSON(s.b[start:s.i]) != nil {
		return errNotPlain
	}
	return nil
}

// parseUTC parses b when it is a time as the encoder writes one in UTC,
// 2006-01-02T15:04:05Z with 1 to 9 digits of fraction or none, into t, the
// same time.Time as time.Time's UnmarshalJSON gives. It reports false for
// anything else (another zone, a day the month does not have, …), which
// is left to UnmarshalJSON.
func parseUTC(b []byte, t *time.Time) bool {
	if len(b) < len("2006-01-02T15:04:05Z") || b[len(b)-1] != 'Z' ||
		b[4] != '-' || b[7] != '-' || b[10] != 'T' || b[13] != ':' || b[16] != ':' {
		return false
	}
	year, ok1 := digitsAt(b, 0, 4)
	month, ok2 := digitsAt(b, 5, 2)
	day, ok3 := digitsAt(b, 8, 2)
	hour, ok4 := digitsAt(b, 11, 2)
	minute, ok5 := digitsAt(b, 14, 2)
	sec, ok6 := digitsAt(b, 17, 2)
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) || month < 1 || month > 12 || day < 1 ||
		day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return false
	}
	nsec := 0
	if frac := b[19 : len(b)-1]; len(frac) > 0 {
		n := len(frac) - 1
		if frac[0] != '.' || n < 1 || n > 9 {
			return false
		}
		v, ok := digitsAt(frac, 1, n)
		if !ok {
			return false
		}
		nsec = v * pow10[9-n]
	}
	days := daysSinceEpoch(year, month, day)
	// What time.Date(…, time.UTC) returns, without its normalizing.
	*t = time.Unix(int64(days)*86400+int64(hour*3600+minute*60+sec), int64(nsec)).UTC()
	return true
}

// daysSinceEpoch returns the days from 1970-01-01 to the date, in the
// proleptic Gregorian calendar (negative before 1970).
func daysSinceEpoch(year, month, day int) int {
	if month <= 2 {
		year-- // count the year from March, so that a leap day ends it
	}
	era := year / 400
	if year < 0 {
		era = (year - 399) / 400
	}
	yearOfEra := year - era*400
	dayOfYear := (153*((month+9)%12)+2)/5 + day - 1
	dayOfEra := yearOfEra*365 + yearOfEra/4 - yearOfEra/100 + dayOfYear
	return era*146097 + dayOfEra - 719468
}

var pow10 = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

// digitsAt returns the number written by the n decimal digits of b at i.
func digitsAt(b []byte, i, n int) (int, bool) {
	v := 0
	for _, c := range b[i : i+n] {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int(c-'0')
	}
	return v, true
}

// daysIn returns the number of days of month in year.
func daysIn(month, year int) int {
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return int(monthDays[month])
}

var monthDays = [...]uint8{1: 31, 2: 28, 3: 31, 4: 30, 5: 31, 6: 30, 7: 31, 8: 31, 9: 30, 10: 31, 11: 30, 12: 31}

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
	if s.optional(c) { // as the encoder writes it: no white space
		return true
	}
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
