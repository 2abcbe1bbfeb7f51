package event

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"
)

// Version is the envelope version this package writes. Readers accept every
// version up to and including it.
const Version = 1

// Outcome values, as in ECS event.outcome.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeUnknown = "unknown"
)

// Categories used by Vigil's parsers. They are ECS event.category values.
const (
	CategoryAuthentication = "authentication"
	CategoryNetwork        = "network"
	CategoryDatabase       = "database"
	CategoryWeb            = "web"
	CategoryProcess        = "process"
	CategorySession        = "session"
	CategoryIAM            = "iam"
	// CategoryUnknown marks events whose category no parser could tell,
	// including raw lines kept as they were read.
	CategoryUnknown = "unknown"
)

// Event is the envelope. JSON names follow ECS field names, written flat with
// dots; fields without an ECS counterpart live under "vigil.". See
// schemas/events/README.md for the ECS and OCSF mapping.
type Event struct {
	// Version of the envelope (vigil.version).
	Version int `json:"vigil.version"`
	// ID is the deterministic event id (event.id): the same input line read
	// from the same place always gets the same id. See NewID.
	ID string `json:"event.id"`
	// Timestamp is when the event happened, as its source says (@timestamp).
	Timestamp time.Time `json:"@timestamp"`
	// Ingested is when Vigil read the event (event.ingested).
	Ingested time.Time `json:"event.ingested"`
	// Tenant owns the event (organization.id).
	Tenant string `json:"organization.id"`
	// Source names the log source and format that produced the event, e.g.
	// "sshd", "json", "raw" (event.dataset).
	Source string `json:"event.dataset"`
	// Host is the machine the event is about or came from (host.name).
	Host string `json:"host.name,omitempty"`
	// Category is the ECS event.category, e.g. "authentication".
	Category string `json:"event.category"`
	// Action is what happened, e.g. "ssh_login" (event.action).
	Action string `json:"event.action,omitempty"`
	// Outcome is "success", "failure" or "unknown" (event.outcome).
	Outcome string `json:"event.outcome"`
	// SrcIP is the address the activity came from (source.ip).
	SrcIP string `json:"source.ip,omitempty"`
	// SrcPort is the port the activity came from (source.port).
	SrcPort uint16 `json:"source.port,omitempty"`
	// DstIP is the address the activity went to (destination.ip).
	DstIP string `json:"destination.ip,omitempty"`
	// DstPort is the port the activity went to (destination.port).
	DstPort uint16 `json:"destination.port,omitempty"`
	// User is the account acted as or on (user.name).
	User string `json:"user.name,omitempty"`
	// Protocol is the application protocol, e.g. "ssh" (network.protocol).
	Protocol string `json:"network.protocol,omitempty"`
	// BytesOut counts bytes sent by the source (source.bytes).
	BytesOut uint64 `json:"source.bytes,omitempty"`
	// BytesIn counts bytes sent by the destination (destination.bytes).
	BytesIn uint64 `json:"destination.bytes,omitempty"`
	// Value is a numeric measurement the source carries, e.g. a query's
	// duration in milliseconds (vigil.value).
	Value float64 `json:"vigil.value,omitempty"`
	// Message is the raw line as read (event.original).
	Message string `json:"event.original"`
	// ParseError says why no parser understood the line; empty when one did
	// (vigil.parse_error).
	ParseError string `json:"vigil.parse_error,omitempty"`
	// Attrs holds further string attributes (labels).
	Attrs map[string]string `json:"labels,omitempty"`
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid event")

// Validate reports every problem with e, joined, each wrapping ErrInvalid.
func (e *Event) Validate() error { return e.validate(true) }

// validate is Validate, checking that Message is UTF-8 only when
// checkUTF8 is set (a decoded event's strings are UTF-8 by construction).
func (e *Event) validate(checkUTF8 bool) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", ErrInvalid, field, fmt.Sprintf(format, args...)))
	}
	if e.Version < 1 || e.Version > Version {
		bad("vigil.version", "%d is not a supported version (1..%d)", e.Version, Version)
	}
	if !validID(e.ID) {
		bad("event.id", "must be %d lower-case hex characters, got %q", IDLength, e.ID)
	}
	if e.Timestamp.IsZero() {
		bad("@timestamp", "is missing")
	}
	if e.Ingested.IsZero() {
		bad("event.ingested", "is missing")
	}
	if e.Tenant == "" {
		bad("organization.id", "is missing")
	}
	if e.Source == "" {
		bad("event.dataset", "is missing")
	}
	if e.Category == "" {
		bad("event.category", "is missing")
	}
	switch e.Outcome {
	case OutcomeSuccess, OutcomeFailure, OutcomeUnknown:
	default:
		bad("event.outcome", "%q is not one of success, failure, unknown", e.Outcome)
	}
	for _, f := range [...]struct{ field, ip string }{{"source.ip", e.SrcIP}, {"destination.ip", e.DstIP}} {
		if f.ip == "" {
			continue
		}
		if _, err := netip.ParseAddr(f.ip); err != nil {
			bad(f.field, "%q is not an IP address", f.ip)
		}
	}
	if checkUTF8 && !utf8.ValidString(e.Message) {
		bad("event.original", "is not valid UTF-8")
	}
	return errors.Join(errs...)
}

// Encode returns e as one JSON object without a trailing newline.
// See AppendJSON to encode into a buffer of your own.
func Encode(e *Event) ([]byte, error) {
	return AppendJSON(nil, e)
}

// SanitizeUTF8 returns s with every invalid UTF-8 byte written as \xNN, so a
// line is kept whole and safely printable. Valid input is returned as is.
func SanitizeUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for len(s) > 0 {
		r, size := utf8.DecodeRuneInString(s)
		if r == utf8.RuneError && size == 1 {
			fmt.Fprintf(&b, `\x%02X`, s[0])
		} else {
			b.WriteString(s[:size])
		}
		s = s[size:]
	}
	return b.String()
}

func validID(id string) bool {
	if len(id) != IDLength {
		return false
	}
	// A table rather than comparisons: which range a random hex digit
	// falls in cannot be predicted, and mispredicted branches made this
	// loop a tenth of decoding an event.
	all := byte(1)
	for i := 0; i < len(id); i++ {
		all &= lowerHex[id[i]]
	}
	return all == 1
}

const hexDigits = "0123456789abcdef"

// lowerHex is 1 for the bytes of lower-case hex, 0 for the others.
var lowerHex = func() (t [256]byte) {
	for _, c := range hexDigits {
		t[c] = 1
	}
	return t
}()
