package event

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// AppendJSON appends e's JSON encoding to dst and returns the extended
// buffer. The bytes are exactly those encoding/json writes for e (the same
// key order, escaping and number formats; labels sorted by key), so readers
// cannot tell the two apart; it exists because the shipper encodes hundreds
// of thousands of events a second and reflection dominated that cost.
//
// It fails, like encoding/json, for a time outside the years 0..9999 and
// for a NaN or infinite Value; dst is then returned unchanged.
func AppendJSON(dst []byte, e *Event) ([]byte, error) {
	if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		return dst, fmt.Errorf("encode event %s: vigil.value: unsupported value %v", e.ID, e.Value)
	}
	if y := e.Timestamp.Year(); y < 0 || y > 9999 {
		return dst, fmt.Errorf("encode event %s: @timestamp: year %d outside [0,9999]", e.ID, y)
	}
	if y := e.Ingested.Year(); y < 0 || y > 9999 {
		return dst, fmt.Errorf("encode event %s: event.ingested: year %d outside [0,9999]", e.ID, y)
	}
	b := append(dst, `{"vigil.version":`...)
	b = strconv.AppendInt(b, int64(e.Version), 10)
	b = appendKey(b, "event.id")
	b = appendString(b, e.ID)
	b = appendKey(b, "@timestamp")
	b = appendTime(b, e.Timestamp)
	b = appendKey(b, "event.ingested")
	b = appendTime(b, e.Ingested)
	b = appendKey(b, "organization.id")
	b = appendString(b, e.Tenant)
	b = appendKey(b, "event.dataset")
	b = appendString(b, e.Source)
	b = appendOptString(b, "host.name", e.Host)
	b = appendKey(b, "event.category")
	b = appendString(b, e.Category)
	b = appendOptString(b, "event.action", e.Action)
	b = appendKey(b, "event.outcome")
	b = appendString(b, e.Outcome)
	b = appendOptString(b, "source.ip", e.SrcIP)
	b = appendOptUint(b, "source.port", uint64(e.SrcPort))
	b = appendOptString(b, "destination.ip", e.DstIP)
	b = appendOptUint(b, "destination.port", uint64(e.DstPort))
	b = appendOptString(b, "user.name", e.User)
	b = appendOptString(b, "network.protocol", e.Protocol)
	b = appendOptUint(b, "source.bytes", e.BytesOut)
	b = appendOptUint(b, "destination.bytes", e.BytesIn)
	if e.Value != 0 {
		b = appendKey(b, "vigil.value")
		b = appendFloat(b, e.Value)
	}
	b = appendKey(b, "event.original")
	b = appendString(b, e.Message)
	b = appendOptString(b, "vigil.parse_error", e.ParseError)
	if len(e.Attrs) > 0 {
		b = appendKey(b, "labels")
		b = append(b, '{')
		var few [8]string // most events have a few labels: no allocation
		keys := few[:0]
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			b = appendString(b, e.Attrs[k])
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendOptString(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	return appendString(appendKey(b, k), v)
}

func appendOptUint(b []byte, k string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(appendKey(b, k), v, 10)
}

// appendTime writes t as time.Time's MarshalJSON does: RFC 3339 with
// nanoseconds, trailing zeros dropped.
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendFloat writes f as encoding/json does: the shortest representation,
// in exponent form only below 1e-6 or from 1e21, with a short exponent.
func appendFloat(b []byte, f float64) []byte {
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		n := len(b) - start
		if n >= 4 && b[len(b)-4] == 'e' && b[len(b)-3] == '-' && b[len(b)-2] == '0' {
			b[len(b)-2] = b[len(b)-1]
			b = b[:len(b)-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// plain marks the ASCII bytes a JSON string holds as they are: printable,
// and neither a quote, a backslash nor one of the HTML characters <, >, &.
var plain = func() (t [utf8.RuneSelf]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

// appendString writes s as a JSON string the way encoding/json does: with
// <, > and & escaped for HTML, U+2028 and U+2029 escaped, and each invalid
// UTF-8 byte replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if plain[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '\\', '"':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
