package parse

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Input is what the reader knows about a line.
type Input struct {
	// Tenant is stamped on the event (organization.id). Required.
	Tenant string
	// Host is the default host.name when the line names none.
	Host string
	// Origin is where the line was read, e.g. a file identity
	// "dev:ino:fingerprint" or a path; it goes into the event id.
	Origin string
	// Offset is the byte offset of the line in its origin; it goes into the
	// event id.
	Offset int64
	// Line is the line without its trailing newline. Parsers do not keep it:
	// the reader may reuse it once Parse returns.
	Line []byte
	// Truncated says the reader cut the line at its size limit.
	Truncated bool
	// Now is the ingest time, and the reference for year-less timestamps.
	// Required.
	Now time.Time
}

// Parser turns a line into an event, or reports that it does not recognise
// it.
//
// The format parsers (JSON, SSHD, Syslog, …) return false for a line that is
// not their format. The parsers New returns never do: they keep such a line
// as a raw event whose ParseError says why, so that no line is lost.
type Parser interface {
	// Name is the format's name, as given to New.
	Name() string
	// Parse returns the line's event, or false when the line is not this
	// format. Parsers of stateless formats are safe for concurrent use; a
	// Zeek parser is not (see New).
	Parse(in Input) (*event.Event, bool)
}

// Format names accepted by New.
const (
	FormatAuto     = "auto"
	FormatSyslog   = "syslog"
	FormatSSHD     = "sshd"
	FormatNginx    = "nginx"
	FormatApache   = "apache"
	FormatPostgres = "postgres"
	FormatMySQL    = "mysql"
	FormatZeek     = "zeek"
	FormatJSON     = "json"
	FormatRaw      = "raw"
)

// Formats lists the names New accepts, in the order the README documents
// them.
var Formats = []string{
	FormatAuto, FormatSyslog, FormatSSHD, FormatNginx, FormatApache,
	FormatPostgres, FormatMySQL, FormatZeek, FormatJSON, FormatRaw,
}

// Attribute keys the parsers set on every format.
const (
	// AttrTruncated is "true" when the reader cut the line at its size limit.
	AttrTruncated = "vigil.truncated"
	// AttrRepeat is the count of a syslog "message repeated N times" line;
	// the event's Value carries the same number.
	AttrRepeat = "vigil.repeat"
)

// ReasonNoMatch is the ParseError of a line that no parser of auto matched.
const ReasonNoMatch = "no parser matched"

// maxReason bounds the length of a ParseError.
const maxReason = 200

// ErrUnknownFormat is wrapped by New's error for a format it does not know.
var ErrUnknownFormat = errors.New("unknown format")

// ErrBadOption is wrapped by New's error for an option that does not fit.
var ErrBadOption = errors.New("bad option")

// Option configures the parser New returns.
type Option func(*options)

type options struct {
	loc    *time.Location
	fields map[string]string
}

// WithLocation sets the time zone of timestamps that carry no offset
// (year-less syslog, access logs never lack one, PostgreSQL zone names
// other than UTC/GMT, MySQL's old local times, JSON "2006-01-02 15:04:05").
// Default UTC.
func WithLocation(loc *time.Location) Option {
	return func(o *options) { o.loc = loc }
}

// WithFields maps envelope keys (config.JSONFieldKeys) to dotted JSON paths for
// the json format and the JSON lines of auto, e.g. {"user.name": "actor.login"}.
// A mapped key is read only from its path; the others keep their usual
// names. Default: no mapping. New fails, naming the key, for a key that is
// not one of them or an empty path.
func WithFields(m map[string]string) Option {
	return func(o *options) { o.fields = m }
}

// New returns a fresh parser for a format: one of Formats. Every call
// returns a new parser: the shipper calls it once per configured input.
//
// The zeek parser is stateful: it remembers the #fields header of every
// origin (Input.Origin) it read, so it must see a file's header lines
// before its data lines, and it is not safe for concurrent use. The other
// parsers are stateless and safe for concurrent use.
//
// The returned parser always returns an event and true: a line its format
// does not recognise becomes a raw event with ParseError set.
func New(format string, opts ...Option) (Parser, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if o.loc == nil {
		o.loc = time.UTC
	}
	var mapping *fieldMap
	if len(o.fields) > 0 {
		if format != FormatJSON && format != FormatAuto {
			return nil, fmt.Errorf("parse: %w: a field mapping applies to the json and auto formats, not %q", ErrBadOption, format)
		}
		m, err := newFieldMap(o.fields)
		if err != nil {
			return nil, err
		}
		mapping = m
	}
	js := JSON{Location: o.loc, fields: mapping}
	switch format {
	case FormatAuto:
		return Auto{JSON: js, Location: o.loc, pg: &sessions{}, my: &sessions{}}, nil
	case FormatSyslog:
		return fallback{m: Syslog{Location: o.loc}}, nil
	case FormatSSHD:
		return fallback{m: SSHD{Location: o.loc}}, nil
	case FormatNginx, FormatApache:
		return fallback{m: Web{Server: format, Location: o.loc}}, nil
	case FormatPostgres:
		return fallback{m: Postgres{Location: o.loc, sess: &sessions{}}}, nil
	case FormatMySQL:
		return fallback{m: MySQL{Location: o.loc, sess: &sessions{}}}, nil
	case FormatZeek:
		return fallback{m: NewZeek()}, nil
	case FormatJSON:
		return fallback{m: js}, nil
	case FormatRaw:
		return Raw{}, nil
	}
	return nil, fmt.Errorf("parse: %w %q: want one of %s", ErrUnknownFormat, format, strings.Join(Formats, ", "))
}

// Ordered reports whether the parser New returns for format remembers what
// earlier lines said (Zeek headers, database sessions), so that the lines
// of one origin must be parsed one after another, in order. The parsers of
// the other formats may parse lines in any order, concurrently.
func Ordered(format string) bool {
	switch format {
	case FormatAuto, FormatPostgres, FormatMySQL, FormatZeek:
		return true
	}
	return false
}

// matcher is a format parser that can say why a line is not its format.
type matcher interface {
	Parser
	// match returns the line's event, or nil and a short reason. s is
	// string(in.Line), made once by the caller.
	match(in Input, s string) (*event.Event, string)
}

// fallback makes a format parser total: lines the format does not
// recognise become raw events carrying the reason.
type fallback struct {
	m matcher
}

func (f fallback) Name() string { return f.m.Name() }

func (f fallback) Parse(in Input) (*event.Event, bool) {
	s := string(in.Line)
	ev, reason := f.m.match(in, s)
	if ev == nil {
		ev = rawEvent(in, s, reason)
	}
	return ev, true
}

// bom is the UTF-8 byte order mark some editors and Windows tools write at
// the start of a file; parsers skip it.
const bom = "\ufeff"

// looksJSON reports whether the first non-blank byte of b (after a byte
// order mark) is '{'.
func looksJSON(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte(bom))
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return true
		default:
			return false
		}
	}
	return false
}

// Raw keeps a line as it is: Source "raw", category and outcome unknown,
// Timestamp the ingest time. It always returns true.
type Raw struct{}

// Name returns "raw".
func (Raw) Name() string { return FormatRaw }

// Parse returns the line as a raw event with no ParseError.
func (Raw) Parse(in Input) (*event.Event, bool) {
	return rawEvent(in, string(in.Line), ""), true
}

// rawEvent builds the raw event of a line; reason, when not empty, becomes
// its ParseError.
func rawEvent(in Input, s, reason string) *event.Event {
	ev := newEvent(in, s, FormatRaw)
	if reason != "" {
		ev.ParseError = boundReason(reason)
	}
	finish(ev, in)
	return ev
}

// newEvent fills what every event carries. s is string(in.Line). Times are
// written in UTC.
func newEvent(in Input, s, source string) *event.Event {
	now := in.Now.UTC()
	return &event.Event{
		Version:   event.Version,
		ID:        event.NewID(in.Tenant, in.Origin, in.Offset, in.Line),
		Timestamp: now,
		Ingested:  now,
		Tenant:    in.Tenant,
		Source:    source,
		Host:      in.Host,
		Category:  event.CategoryUnknown,
		Outcome:   event.OutcomeUnknown,
		Message:   event.SanitizeUTF8(s),
	}
}

// finish sets what the reader told about the line.
// When the line is not valid UTF-8 (SanitizeUTF8 made Message longer than
// the line), the fields cut from it may not be either: they are sanitised
// the same way.
func finish(ev *event.Event, in Input) {
	if len(ev.Message) != len(in.Line) {
		ev.Host = event.SanitizeUTF8(ev.Host)
		ev.User = event.SanitizeUTF8(ev.User)
		ev.Action = event.SanitizeUTF8(ev.Action)
		ev.Category = event.SanitizeUTF8(ev.Category)
		ev.Protocol = event.SanitizeUTF8(ev.Protocol)
		for k, v := range ev.Attrs {
			if !utf8.ValidString(k) {
				delete(ev.Attrs, k)
				k = event.SanitizeUTF8(k)
			}
			ev.Attrs[k] = event.SanitizeUTF8(v)
		}
	}
	if in.Truncated {
		setAttr(ev, AttrTruncated, "true")
	}
}

func setAttr(ev *event.Event, k, v string) {
	if ev.Attrs == nil {
		ev.Attrs = make(map[string]string, 4)
	}
	ev.Attrs[k] = v
}

// boundReason makes a ParseError short and valid UTF-8.
func boundReason(s string) string {
	return event.SanitizeUTF8(truncateUTF8(s, maxReason))
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	i := n
	for i > 0 && i > n-utf8.UTFMax && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// validTime reports whether t can be an event's timestamp: set, and within
// the years the envelope's RFC 3339 encoding can write.
func validTime(t time.Time) bool {
	if t.IsZero() {
		return false
	}
	y := t.UTC().Year()
	return y >= 1 && y <= 9999
}
