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
// feel at hundreds of thousands of events a second), and accepts what
// encoding/json would decode into Event: keys are matched exactly as the
// schema spells them, unknown keys and null values are ignored, invalid
// UTF-8 in strings becomes U+FFFD, numbers must fit their field.
func Decode(b []byte) (*Event, error) {
	var e Event
	if err := decodeInto(&e, b, nil); err != nil {
		return nil, fmt.Errorf("%w: decode: %w", ErrInvalid, err)
	}
	if err := e.Validate(); err != nil {
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
	return e.Validate()
}

// decodeInto decodes b into e. Strings that are a part of shared (b, or
// nil) point into it; the others are copied.
func decodeInto(e *Event, b, shared []byte) error {
	str := func(d *jx.Decoder) (string, error) { return str(d, shared) }
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
	if err := d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		if d.Next() == jx.Null {
			if string(key) == "labels" {
				e.Attrs = nil // as encoding/json sets a map to nil
			}
			return d.Null()
		}
		var err error
		switch string(key) {
		case "vigil.version":
			var v int64
			v, err = number(d, func(s string) (int64, error) { return strconv.ParseInt(s, 10, strconv.IntSize) })
			e.Version = int(v)
		case "event.id":
			e.ID, err = str(d)
		case "@timestamp":
			err = timestamp(d, &e.Timestamp)
		case "event.ingested":
			err = timestamp(d, &e.Ingested)
		case "organization.id":
			e.Tenant, err = str(d)
		case "event.dataset":
			e.Source, err = str(d)
		case "host.name":
			e.Host, err = str(d)
		case "event.category":
			e.Category, err = str(d)
		case "event.action":
			e.Action, err = str(d)
		case "event.outcome":
			e.Outcome, err = str(d)
		case "source.ip":
			e.SrcIP, err = str(d)
		case "source.port":
			e.SrcPort, err = number(d, parseUint16)
		case "destination.ip":
			e.DstIP, err = str(d)
		case "destination.port":
			e.DstPort, err = number(d, parseUint16)
		case "user.name":
			e.User, err = str(d)
		case "network.protocol":
			e.Protocol, err = str(d)
		case "source.bytes":
			e.BytesOut, err = number(d, parseUint64)
		case "destination.bytes":
			e.BytesIn, err = number(d, parseUint64)
		case "vigil.value":
			e.Value, err = number(d, func(s string) (float64, error) { return strconv.ParseFloat(s, 64) })
		case "event.original":
			e.Message, err = str(d)
		case "vigil.parse_error":
			e.ParseError, err = str(d)
		case "labels":
			err = labels(d, e, shared)
		default:
			err = d.Skip()
		}
		if err != nil {
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

// number reads a JSON number and converts its text with parse, which
// refuses what does not fit (as encoding/json does).
func number[T any](d *jx.Decoder, parse func(string) (T, error)) (T, error) {
	var zero T
	if d.Next() != jx.Number {
		return zero, fmt.Errorf("want a number, got %s", d.Next())
	}
	raw, err := d.Raw()
	if err != nil {
		return zero, err
	}
	// The text is not copied: the strconv parsers keep no reference to it
	// (their errors hold a copy).
	return parse(unsafe.String(unsafe.SliceData(raw), len(raw)))
}

func parseUint16(s string) (uint16, error) {
	v, err := strconv.ParseUint(s, 10, 16)
	return uint16(v), err
}

func parseUint64(s string) (uint64, error) { return strconv.ParseUint(s, 10, 64) }

// str reads a string, each byte of invalid UTF-8 in it becoming U+FFFD (as
// encoding/json does). When the string is a part of shared it points there.
func str(d *jx.Decoder, shared []byte) (string, error) {
	if d.Next() != jx.String {
		return "", fmt.Errorf("want a string, got %s", d.Next())
	}
	b, err := d.StrBytes()
	if err != nil {
		return "", err
	}
	return text(b, shared), nil
}

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

// timestamp reads an RFC 3339 time as time.Time's UnmarshalJSON does.
func timestamp(d *jx.Decoder, t *time.Time) error {
	if d.Next() != jx.String {
		return fmt.Errorf("want an RFC 3339 string, got %s", d.Next())
	}
	raw, err := d.Raw()
	if err != nil {
		return err
	}
	return t.UnmarshalJSON(raw)
}

// labels reads an object of strings into e.Attrs, adding to what an
// earlier labels key put there.
func labels(d *jx.Decoder, e *Event, shared []byte) error {
	if d.Next() != jx.Object {
		return fmt.Errorf("want an object, got %s", d.Next())
	}
	if e.Attrs == nil {
		e.Attrs = map[string]string{}
	}
	return d.ObjBytes(func(d *jx.Decoder, key []byte) error {
		k := text(key, shared)
		if d.Next() == jx.Null {
			// encoding/json stores the zero value for a null map element.
			e.Attrs[k] = ""
			return d.Null()
		}
		v, err := str(d, shared)
		if err != nil {
			return fmt.Errorf("%q: %w", k, err)
		}
		e.Attrs[k] = v
		return nil
	})
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
