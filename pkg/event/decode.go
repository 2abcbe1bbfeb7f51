package event

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/go-faster/jx"
)

// Decode parses one JSON envelope and validates it.
//
// It reads the envelope with a streaming decoder rather than through
// reflection (several times faster, which the archiver and the processor
// feel at hundreds of thousands of events a second), first with a scanner
// of the shape the encoder writes (strings scanned eight bytes at a time),
// then, for anything else, a general JSON decoder. It accepts what
// encoding/json would decode into Event: keys are matched exactly as the
// schema spells them, unknown keys and null values are ignored, invalid
// UTF-8 in strings becomes U+FFFD, numbers must fit their field.
func Decode(b []byte) (*Event, error) {
	var e Event
	if err := decodeInto(&e, b, nil); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	if err := e.validate(false); err != nil {
		return nil, err
	}
	return &e, nil
}

// DecodeShared is Decode into e (reset first) for a caller that never
// modifies b afterwards: the event's strings point into b rather than
// being copied, which saves an allocation per field. A map e.Attrs already
// holds is emptied and reused rather than replaced (so it is empty, not
// nil, when b has no labels), which saves one more per event for a caller
// decoding event after event into the same e.
func DecodeShared(e *Event, b []byte) error {
	attrs := e.Attrs
	clear(attrs)
	*e = Event{Attrs: attrs}
	if err := decodeInto(e, b, b); err != nil {
		return fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	return e.validate(false)
}

// decodeInto decodes b into e. Strings that are a part of shared (b, or
// nil) point into it; the others are copied. It tries the envelope as the
// encoder writes it first (decodePlain), then any JSON.
func decodeInto(e *Event, b, shared []byte) error {
	attrs := e.Attrs
	if decodePlain(e, b, shared) {
		return nil
	}
	clear(attrs)
	*e = Event{Attrs: attrs}
	return decodeJSON(e, b, shared)
}

// decodeJSON decodes any JSON b into e, as decodeInto.
func decodeJSON(e *Event, b, shared []byte) error {
	d := jx.GetDecoder()
	defer jx.PutDecoder(d)
	d.ResetBytes(b)
	switch d.Next() {
	case jx.Object:
	case jx.Null:
		// As encoding/json: null leaves the event empty.
		if err := d.Null(); err != nil {
			return err
		}
		return atEnd(d)
	default:
		return fmt.Errorf("the envelope must be a JSON object")
	}
	v := &jsonValues{d: d, shared: shared}
	if err := d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if err := field(e, key, v); err != nil {
			return fmt.Errorf("%s: %w", key, err)
		}
		return nil
	}); err != nil {
		return err
	}
	return atEnd(d)
}

// atEnd fails when anything but white space follows the envelope.
func atEnd(d *jx.Decoder) error {
	if err := d.Skip(); !errors.Is(err, io.EOF) {
		return fmt.Errorf("data after the envelope")
	}
	return nil
}

// values reads the values of an envelope's keys, one after the other:
// decodeJSON and decodePlain each have one.
type values interface {
	// null reads null when it is next.
	null() (bool, error)
	// str reads a string, each byte of invalid UTF-8 in it becoming
	// U+FFFD (as encoding/json does).
	str() (string, error)
	// number reads a number and returns its text.
	number() (string, error)
	// time reads an RFC 3339 string into t, as time.Time's UnmarshalJSON does.
	time(t *time.Time) error
	// labels reads an object of strings into e.Attrs, adding to what an
	// earlier labels key put there.
	labels(e *Event) error
	// skip reads any value.
	skip() error
}

// key is a key of the envelope. The keys are numbered in the order the
// encoder writes them.
type key uint8

const (
	keyVersion key = iota
	keyID
	keyTimestamp
	keyIngested
	keyTenant
	keySource
	keyHost
	keyCategory
	keyAction
	keyOutcome
	keySrcIP
	keySrcPort
	keyDstIP
	keyDstPort
	keyUser
	keyProtocol
	keyBytesOut
	keyBytesIn
	keyValue
	keyMessage
	keyParseError
	keyLabels
	// keyUnknown is any other key.
	keyUnknown
)

// keyNames are the envelope's keys as JSON spells them, by key.
var keyNames = [keyUnknown]string{
	keyVersion: "vigil.version", keyID: "event.id", keyTimestamp: "@timestamp", keyIngested: "event.ingested",
	keyTenant: "organization.id", keySource: "event.dataset", keyHost: "host.name", keyCategory: "event.category",
	keyAction: "event.action", keyOutcome: "event.outcome", keySrcIP: "source.ip", keySrcPort: "source.port",
	keyDstIP: "destination.ip", keyDstPort: "destination.port", keyUser: "user.name", keyProtocol: "network.protocol",
	keyBytesOut: "source.bytes", keyBytesIn: "destination.bytes", keyValue: "vigil.value", keyMessage: "event.original",
	keyParseError: "vigil.parse_error", keyLabels: "labels",
}

// keyOf returns the key name spells.
func keyOf(name []byte) key {
	for k, n := range keyNames {
		if string(name) == n {
			return key(k)
		}
	}
	return keyUnknown
}

// field reads the value of the key name from v into e.
func field(e *Event, name []byte, v values) error { return fieldOf(e, keyOf(name), v) }

// fieldOf reads the value of k from v into e.
func fieldOf(e *Event, k key, v values) error {
	if null, err := v.null(); null || err != nil {
		if null && k == keyLabels {
			e.Attrs = nil // as encoding/json sets a map to nil
		}
		return err // as encoding/json, null leaves a field as it is
	}
	if p := stringField(e, k); p != nil {
		s, err := v.str()
		*p = s
		return err
	}
	var err error
	switch k {
	case keyVersion:
		var n int64
		n, err = number(v, parseInt)
		e.Version = int(n)
	case keyTimestamp:
		err = v.time(&e.Timestamp)
	case keyIngested:
		err = v.time(&e.Ingested)
	case keySrcPort:
		e.SrcPort, err = number(v, parseUint16)
	case keyDstPort:
		e.DstPort, err = number(v, parseUint16)
	case keyBytesOut:
		e.BytesOut, err = number(v, parseUint64)
	case keyBytesIn:
		e.BytesIn, err = number(v, parseUint64)
	case keyValue:
		e.Value, err = number(v, parseFloat64)
	case keyLabels:
		err = v.labels(e)
	default:
		err = v.skip()
	}
	return err
}

// stringField returns the string field of e that k is, or nil.
func stringField(e *Event, k key) *string {
	switch k {
	case keyID:
		return &e.ID
	case keyTenant:
		return &e.Tenant
	case keySource:
		return &e.Source
	case keyHost:
		return &e.Host
	case keyCategory:
		return &e.Category
	case keyAction:
		return &e.Action
	case keyOutcome:
		return &e.Outcome
	case keySrcIP:
		return &e.SrcIP
	case keyDstIP:
		return &e.DstIP
	case keyUser:
		return &e.User
	case keyProtocol:
		return &e.Protocol
	case keyMessage:
		return &e.Message
	case keyParseError:
		return &e.ParseError
	}
	return nil
}

// number reads a number from v and converts its text with parse, which
// refuses what does not fit (as encoding/json does).
func number[T any](v values, parse func(string) (T, error)) (T, error) {
	t, err := v.number()
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(t)
}

func parseInt(s string) (int64, error)       { return strconv.ParseInt(s, 10, strconv.IntSize) }
func parseFloat64(s string) (float64, error) { return strconv.ParseFloat(s, 64) }

func parseUint16(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	return uint16(v), err
}

func parseUint64(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }

// unsafeString is b as a string without a copy, for text that is only
// parsed: the strconv parsers keep no reference to it (their errors hold
// a copy).
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

// text returns b as a string, each byte of invalid UTF-8 in it becoming
// U+FFFD, pointing into shared when b is a part of it and copied otherwise.
func text(b, shared []byte) string {
	if len(b) == 0 {
		return ""
	}
	if within(b, shared) {
		return validUTF8(unsafe.String(&b[0], len(b)))
	}
	return validUTF8(string(b))
}

// within reports whether b is a part of the memory of buf.
func within(b, buf []byte) bool {
	if len(buf) == 0 {
		return false
	}
	start, end := uintptr(unsafe.Pointer(&buf[0])), uintptr(unsafe.Pointer(&buf[len(buf)-1]))
	p := uintptr(unsafe.Pointer(&b[0]))
	return p >= start && p+uintptr(len(b))-1 <= end
}

// validUTF8 returns s with each byte of invalid UTF-8 replaced by U+FFFD.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]byte, 0, len(s)+8)
	for _, r := range s { // ranging over a string yields U+FFFD per invalid byte
		out = utf8.AppendRune(out, r)
	}
	return string(out)
}

// jsonValues reads values of any JSON with a general decoder. Strings that
// are a part of shared point into it.
type jsonValues struct {
	d      *jx.Decoder
	shared []byte
}

func (v *jsonValues) null() (bool, error) {
	if v.d.Next() != jx.Null {
		return false, nil
	}
	return true, v.d.Null()
}

func (v *jsonValues) str() (string, error) {
	if v.d.Next() != jx.String {
		return "", fmt.Errorf("want a string, got %s", v.d.Next())
	}
	b, err := v.d.StrBytes()
	if err != nil {
		return "", err
	}
	return text(b, v.shared), nil
}

func (v *jsonValues) number() (string, error) {
	if v.d.Next() != jx.Number {
		return "", fmt.Errorf("want a number, got %s", v.d.Next())
	}
	raw, err := v.d.Raw()
	return unsafeString(raw), err
}

func (v *jsonValues) time(t *time.Time) error {
	if v.d.Next() != jx.String {
		return fmt.Errorf("want an RFC 3339 string, got %s", v.d.Next())
	}
	raw, err := v.d.Raw()
	if err != nil {
		return err
	}
	return t.UnmarshalJSON(raw)
}

func (v *jsonValues) labels(e *Event) error {
	if v.d.Next() != jx.Object {
		return fmt.Errorf("want an object, got %s", v.d.Next())
	}
	if e.Attrs == nil {
		e.Attrs = map[string]string{}
	}
	return v.d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		k := text(key, v.shared)
		if d.Next() == jx.Null {
			// encoding/json stores the zero value for a null map element.
			e.Attrs[k] = ""
			return d.Null()
		}
		s, err := v.str()
		if err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		e.Attrs[k] = s
		return nil
	})
}

func (v *jsonValues) skip() error { return v.d.Skip() }
