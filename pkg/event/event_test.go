package event_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/schemas"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current output")

// valid returns a minimal event that passes Validate.
func valid(tb testing.TB) *event.Event {
	tb.Helper()
	return &event.Event{
		Version:   event.Version,
		ID:        event.NewID("acme", "file:/var/log/auth.log", 42, []byte("line")),
		Timestamp: time.Date(2024, 3, 5, 10, 11, 12, 0, time.UTC),
		Ingested:  time.Date(2024, 3, 5, 10, 11, 13, 0, time.UTC),
		Tenant:    "acme",
		Source:    "sshd",
		Category:  event.CategoryAuthentication,
		Outcome:   event.OutcomeFailure,
		Message:   "line",
	}
}

// full returns an event with every field set, for the golden file and the
// schema test.
func full(tb testing.TB) *event.Event {
	tb.Helper()
	line := "Mar  5 10:11:12 bastion sshd[812]: Failed password for root from 203.0.113.7 port 52113 ssh2"
	return &event.Event{
		Version:    event.Version,
		ID:         event.NewID("acme", "file:dev=2049,ino=131", 1024, []byte(line)),
		Timestamp:  time.Date(2024, 3, 5, 10, 11, 12, 345678900, time.UTC),
		Ingested:   time.Date(2024, 3, 5, 10, 11, 13, 0, time.FixedZone("", 2*3600)),
		Tenant:     "acme",
		Source:     "sshd",
		Host:       "bastion",
		Category:   event.CategoryAuthentication,
		Action:     "ssh_login",
		Outcome:    event.OutcomeFailure,
		SrcIP:      "203.0.113.7",
		SrcPort:    52113,
		DstIP:      "2001:db8::22",
		DstPort:    22,
		User:       "root",
		Protocol:   "ssh",
		BytesOut:   1500,
		BytesIn:    3000,
		Value:      12.5,
		Message:    line,
		ParseError: "partial: no session id",
		Attrs:      map[string]string{"auth.method": "password", "pid": "812"},
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(e *event.Event)
		// field is the JSON name the error must name; empty means valid.
		field string
	}{
		{"minimal valid", func(*event.Event) {}, ""},
		{"fully populated", func(e *event.Event) { *e = *full(t) }, ""},
		{"IPv4 addresses", func(e *event.Event) { e.SrcIP, e.DstIP = "192.0.2.1", "198.51.100.2" }, ""},
		{"IPv6 addresses", func(e *event.Event) { e.SrcIP, e.DstIP = "2001:db8::1", "::1" }, ""},
		{"IPv4-mapped IPv6", func(e *event.Event) { e.SrcIP = "::ffff:192.0.2.1" }, ""},
		{"outcome success", func(e *event.Event) { e.Outcome = event.OutcomeSuccess }, ""},
		{"outcome unknown", func(e *event.Event) { e.Outcome = event.OutcomeUnknown }, ""},
		{"empty message", func(e *event.Event) { e.Message = "" }, ""},

		{"version 0", func(e *event.Event) { e.Version = 0 }, "vigil.version"},
		{"version 2", func(e *event.Event) { e.Version = event.Version + 1 }, "vigil.version"},
		{"negative version", func(e *event.Event) { e.Version = -1 }, "vigil.version"},
		{"missing id", func(e *event.Event) { e.ID = "" }, "event.id"},
		{"short id", func(e *event.Event) { e.ID = e.ID[:event.IDLength-1] }, "event.id"},
		{"long id", func(e *event.Event) { e.ID += "0" }, "event.id"},
		// The error text and the schema (pattern ^[0-9a-f]{32}$) say hex.
		{"id of the right length but not hex", func(e *event.Event) { e.ID = strings.Repeat("z", event.IDLength) }, "event.id"},
		{"id in upper-case hex", func(e *event.Event) { e.ID = strings.ToUpper(e.ID) }, "event.id"},
		{"id with one byte not hex, last", func(e *event.Event) { e.ID = e.ID[:event.IDLength-1] + "g" }, "event.id"},
		{"missing timestamp", func(e *event.Event) { e.Timestamp = time.Time{} }, "@timestamp"},
		{"missing ingested", func(e *event.Event) { e.Ingested = time.Time{} }, "event.ingested"},
		{"missing tenant", func(e *event.Event) { e.Tenant = "" }, "organization.id"},
		{"missing source", func(e *event.Event) { e.Source = "" }, "event.dataset"},
		{"missing category", func(e *event.Event) { e.Category = "" }, "event.category"},
		{"missing outcome", func(e *event.Event) { e.Outcome = "" }, "event.outcome"},
		{"bad outcome", func(e *event.Event) { e.Outcome = "failed" }, "event.outcome"},
		{"outcome in upper case", func(e *event.Event) { e.Outcome = "SUCCESS" }, "event.outcome"},
		{"bad source ip", func(e *event.Event) { e.SrcIP = "203.0.113.999" }, "source.ip"},
		{"hostname as source ip", func(e *event.Event) { e.SrcIP = "bastion.example.com" }, "source.ip"},
		{"ip with port", func(e *event.Event) { e.SrcIP = "203.0.113.7:22" }, "source.ip"},
		{"bad destination ip", func(e *event.Event) { e.DstIP = "2001:db8:::1" }, "destination.ip"},
		{"invalid UTF-8 message", func(e *event.Event) { e.Message = "bad \xff byte" }, "event.original"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := valid(t)
			tt.mutate(e)
			err := e.Validate()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			require.ErrorIs(t, err, event.ErrInvalid)
			require.Contains(t, err.Error(), tt.field+":", "the error names the field")
		})
	}
}

// Every problem is reported, each wrapping ErrInvalid and naming its field.
func TestValidateReportsEveryProblem(t *testing.T) {
	err := (&event.Event{SrcIP: "nope", DstIP: "nope", Message: "\xc3"}).Validate()
	require.ErrorIs(t, err, event.ErrInvalid)
	fields := []string{
		"vigil.version", "event.id", "@timestamp", "event.ingested", "organization.id",
		"event.dataset", "event.category", "event.outcome", "source.ip", "destination.ip", "event.original",
	}
	joined, ok := err.(interface{ Unwrap() []error })
	require.True(t, ok, "Validate joins its errors")
	require.Len(t, joined.Unwrap(), len(fields))
	for _, e := range joined.Unwrap() {
		require.ErrorIs(t, e, event.ErrInvalid)
	}
	for _, f := range fields {
		require.Contains(t, err.Error(), f+":")
	}
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    *event.Event
	}{
		{"minimal", valid(t)},
		{"full", full(t)},
		{"max ports and IPv6", func() *event.Event {
			e := valid(t)
			e.SrcIP, e.SrcPort, e.DstIP, e.DstPort = "fe80::1", 65535, "::", 1
			return e
		}()},
		{"attrs with awkward keys", func() *event.Event {
			e := valid(t)
			e.Attrs = map[string]string{"": "empty key", "a.b": "dotted", "uni": "é ✓", "quote\"": "\n\t"}
			return e
		}()},
		{"message needing escapes", func() *event.Event {
			e := valid(t)
			e.Message = "<script>\"x\" & \\ \u2028 \x00"
			return e
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := event.Encode(tt.e)
			require.NoError(t, err)
			require.False(t, bytes.HasSuffix(b, []byte("\n")), "no trailing newline")
			got, err := event.Decode(b)
			require.NoError(t, err)
			requireSameEvent(t, tt.e, got)
		})
	}
}

// Optional fields left at their zero value are not written at all.
func TestEncodeOmitsZeroOptionalFields(t *testing.T) {
	b, err := event.Encode(valid(t))
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &m))
	require.ElementsMatch(t, []string{
		"vigil.version", "event.id", "@timestamp", "event.ingested", "organization.id",
		"event.dataset", "event.category", "event.outcome", "event.original",
	}, keys(m))

	// An empty, non-nil Attrs map is not written either.
	e := valid(t)
	e.Attrs = map[string]string{}
	b, err = event.Encode(e)
	require.NoError(t, err)
	require.NotContains(t, string(b), `"labels"`)
}

func TestEncodeTimes(t *testing.T) {
	e := valid(t)
	e.Timestamp = time.Date(2024, 3, 5, 10, 11, 12, 500, time.FixedZone("", -5*3600))
	b, err := event.Encode(e)
	require.NoError(t, err)
	require.Contains(t, string(b), `"@timestamp":"2024-03-05T10:11:12.0000005-05:00"`, "RFC 3339 with nanoseconds and offset")
	got, err := event.Decode(b)
	require.NoError(t, err)
	require.True(t, e.Timestamp.Equal(got.Timestamp))
}

func TestDecodeRejects(t *testing.T) {
	good, err := event.Encode(valid(t))
	require.NoError(t, err)
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"empty", "", "decode"},
		{"garbage", "\x00\xffnot json", "decode"},
		{"truncated", string(good[:len(good)/2]), "decode"},
		{"array", `[1,2]`, "decode"},
		{"string", `"event"`, "decode"},
		{"empty object", `{}`, "vigil.version"},
		{"null", `null`, "vigil.version"},
		{"port out of range", strings.Replace(string(good), `{`, `{"source.port":70000,`, 1), "decode"},
		{"negative bytes", strings.Replace(string(good), `{`, `{"source.bytes":-1,`, 1), "decode"},
		{"number as tenant", strings.Replace(string(good), `"organization.id":"acme"`, `"organization.id":7`, 1), "decode"},
		{"label not a string", strings.Replace(string(good), `{`, `{"labels":{"a":1},`, 1), "decode"},
		{"bad timestamp", strings.Replace(string(good), `"@timestamp":"2024-03-05T10:11:12Z"`, `"@timestamp":"yesterday"`, 1), "decode"},
		{"version 2", strings.Replace(string(good), `"vigil.version":1`, `"vigil.version":2`, 1), "vigil.version"},
		{"bad outcome", strings.Replace(string(good), `"event.outcome":"failure"`, `"event.outcome":"meh"`, 1), "event.outcome"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NotEqual(t, string(good), tt.in, "the test input must differ from the valid encoding")
			e, err := event.Decode([]byte(tt.in))
			require.Error(t, err)
			require.Nil(t, e)
			require.ErrorIs(t, err, event.ErrInvalid)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

// The wire format is a contract: testdata/envelope.golden pins the encoding
// of a fully populated event. Run with -update to accept a deliberate change.
func TestEnvelopeGolden(t *testing.T) {
	b, err := event.Encode(full(t))
	require.NoError(t, err)
	b = append(b, '\n')
	golden := filepath.Join("testdata", "envelope.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, b, 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run go test -update to create it")
	require.Equal(t, string(want), string(b))

	// The golden document decodes back to the event.
	got, err := event.Decode(bytes.TrimSpace(want))
	require.NoError(t, err)
	requireSameEvent(t, full(t), got)
}

type schema struct {
	Required             []string                   `json:"required"`
	AdditionalProperties *bool                      `json:"additionalProperties"`
	Properties           map[string]json.RawMessage `json:"properties"`
}

// The Go type and schemas/events/envelope.v1.json describe the same keys, and
// the schema requires exactly the keys the type always writes.
func TestSchemaMatchesType(t *testing.T) {
	raw, err := schemas.FS.ReadFile("events/envelope.v1.json")
	require.NoError(t, err)
	var s schema
	require.NoError(t, json.Unmarshal(raw, &s))
	require.NotEmpty(t, s.Properties)
	require.NotNil(t, s.AdditionalProperties)
	require.False(t, *s.AdditionalProperties, "the envelope schema is closed")

	// Keys from the struct tags.
	var all, always []string
	typ := reflect.TypeFor[event.Event]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		require.NotEmpty(t, name, "field %s has no JSON name", f.Name)
		require.NotEqual(t, "-", name, "field %s is not written", f.Name)
		all = append(all, name)
		if !slices.Contains(strings.Split(opts, ","), "omitempty") {
			always = append(always, name)
		}
	}

	// Keys a fully populated event actually writes agree with the tags.
	b, err := event.Encode(full(t))
	require.NoError(t, err)
	var written map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(b, &written))
	require.ElementsMatch(t, all, keys(written), "a fully populated event writes every key")

	for _, k := range all {
		require.Contains(t, s.Properties, k, "JSON key %q of event.Event is not in the schema", k)
	}
	for k := range s.Properties {
		require.Contains(t, all, k, "schema property %q is not a JSON key of event.Event", k)
	}
	require.ElementsMatch(t, always, s.Required, "the schema requires exactly the keys always written")
}

func TestSanitizeUTF8(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", ""},
		{"ascii", "Failed password for root", "Failed password for root"},
		{"multibyte valid", "héllo ✓ 🔒", "héllo ✓ 🔒"},
		{"replacement char is valid", "a\uFFFDb", "a\uFFFDb"},
		{"single bad byte", "a\xffb", `a\xFFb`},
		{"only bad bytes", "\x80\x81", `\x80\x81`},
		{"latin-1 e acute", "caf\xe9", `caf\xE9`},
		{"truncated two-byte rune", "x\xc3", `x\xC3`},
		{"truncated three-byte rune", "\xe2\x9c", `\xE2\x9C`},
		{"overlong slash", "\xc0\xaf", `\xC0\xAF`},
		{"surrogate half", "\xed\xa0\x80", `\xED\xA0\x80`},
		{"bad byte between valid runes", "é\xfe✓", `é\xFE✓`},
		{"nul is valid", "a\x00b", "a\x00b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := event.SanitizeUTF8(tt.in)
			require.Equal(t, tt.want, got)
			require.True(t, utf8.ValidString(got))
			// Sanitizing twice changes nothing more.
			require.Equal(t, got, event.SanitizeUTF8(got))
			// A sanitized message passes validation.
			e := valid(t)
			e.Message = got
			require.NoError(t, e.Validate())
		})
	}
}

func TestNewIDDeterministic(t *testing.T) {
	line := []byte("Failed password for root from 203.0.113.7")
	a := event.NewID("acme", "file:1:2", 100, line)
	require.Len(t, a, event.IDLength)
	require.Regexp(t, `^[0-9a-f]{32}$`, a, "the schema's pattern")
	require.Equal(t, a, event.NewID("acme", "file:1:2", 100, slices.Clone(line)), "same inputs, same id")

	// Pinned: ids are stored and deduplicated across versions, so the
	// function must not change silently. The value was checked against an
	// independent SHA-256 of the documented layout (big-endian length-prefixed
	// tenant and origin, big-endian offset, line).
	require.Equal(t, "85c108b514e80b06f071a1958c5bb6a4", event.NewID("acme", "file:1:2", 100, line))

	// Lines of every length, short and longer than any buffer, hash the
	// documented layout.
	for _, n := range []int{0, 1, 400, 511, 512, 513, 5000, 70000} {
		long := bytes.Repeat([]byte{'x'}, n)
		h := sha256.New()
		for _, s := range []string{"acme", "file:1:2"} {
			_ = binary.Write(h, binary.BigEndian, uint64(len(s)))
			h.Write([]byte(s))
		}
		_ = binary.Write(h, binary.BigEndian, uint64(7))
		h.Write(long)
		require.Equal(t, hex.EncodeToString(h.Sum(nil)[:16]), event.NewID("acme", "file:1:2", 7, long), "line of %d bytes", n)
	}
}

func TestNewIDSensitivity(t *testing.T) {
	type in struct {
		tenant, origin string
		offset         int64
		line           string
	}
	base := in{"acme", "file:1:2", 100, "line"}
	tests := []struct {
		name string
		a, b in
	}{
		{"tenant", base, in{"acme2", "file:1:2", 100, "line"}},
		{"origin", base, in{"acme", "file:1:3", 100, "line"}},
		{"offset", base, in{"acme", "file:1:2", 101, "line"}},
		{"negative offset", base, in{"acme", "file:1:2", -100, "line"}},
		{"line", base, in{"acme", "file:1:2", 100, "line."}},
		{"empty line", base, in{"acme", "file:1:2", 100, ""}},
		{"tenant/origin boundary", in{"ab", "c", 0, "x"}, in{"a", "bc", 0, "x"}},
		{"tenant/origin swapped", in{"a", "b", 0, "x"}, in{"b", "a", 0, "x"}},
		{"origin/line boundary", in{"a", "bc", 0, "d"}, in{"a", "b", 0, "cd"}},
		{"empty tenant vs empty origin", in{"", "ab", 0, "x"}, in{"ab", "", 0, "x"}},
		{"offset bytes vs line", in{"a", "b", 0, "\x00\x00\x00\x00\x00\x00\x00\x01"}, in{"a", "b", 1, ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := event.NewID(tt.a.tenant, tt.a.origin, tt.a.offset, []byte(tt.a.line))
			b := event.NewID(tt.b.tenant, tt.b.origin, tt.b.offset, []byte(tt.b.line))
			require.NotEqual(t, a, b)
		})
	}
}

func FuzzDecode(f *testing.F) {
	addEnvelopes(f)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Add([]byte(`{"labels":{}}`))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.Decode(b)
		if err != nil {
			require.Nil(t, e)
			require.ErrorIs(t, err, event.ErrInvalid)
			return
		}
		require.NotNil(t, e)
		require.NoError(t, e.Validate())
		enc, err := event.Encode(e)
		require.NoError(t, err, "a decoded event encodes")
		again, err := event.Decode(enc)
		require.NoError(t, err, "a re-encoded event decodes: %s", enc)
		requireSameEvent(t, e, again)
		enc2, err := event.Encode(again)
		require.NoError(t, err)
		require.Equal(t, string(enc), string(enc2), "the encoding is a fixed point")
	})
}

// addEnvelopes seeds f with the encodings of valid(f) and full(f) and
// with the golden envelope.
func addEnvelopes(f *testing.F) {
	for _, e := range []*event.Event{valid(f), full(f)} {
		b, err := event.Encode(e)
		require.NoError(f, err)
		f.Add(b)
	}
	golden, err := os.ReadFile(filepath.Join("testdata", "envelope.golden"))
	require.NoError(f, err)
	f.Add(golden)
}

// requireSameEvent compares two events as values: times by instant (the
// location a time was decoded into is not part of the value) and a nil Attrs
// equal to an empty one (neither is written).
func requireSameEvent(tb testing.TB, want, got *event.Event) {
	tb.Helper()
	require.True(tb, want.Timestamp.Equal(got.Timestamp), "@timestamp: want %v, got %v", want.Timestamp, got.Timestamp)
	require.True(tb, want.Ingested.Equal(got.Ingested), "event.ingested: want %v, got %v", want.Ingested, got.Ingested)
	norm := func(e *event.Event) event.Event {
		c := *e
		c.Timestamp, c.Ingested = time.Time{}, time.Time{}
		if len(c.Attrs) == 0 {
			c.Attrs = nil
		}
		return c
	}
	require.Equal(tb, norm(want), norm(got))
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func FuzzSanitizeUTF8(f *testing.F) {
	for _, s := range []string{"", "ascii", "héllo", "a\xffb", "\xed\xa0\x80", `\xFF`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := event.SanitizeUTF8(s)
		require.True(t, utf8.ValidString(got))
		if utf8.ValidString(s) {
			require.Equal(t, s, got, "valid input is returned as is")
		}
		require.Equal(t, got, event.SanitizeUTF8(got))
		// Each invalid byte becomes the four bytes \xNN; the rest is kept.
		invalid := 0
		for rest := s; rest != ""; {
			r, size := utf8.DecodeRuneInString(rest)
			if r == utf8.RuneError && size == 1 {
				invalid++
			}
			rest = rest[size:]
		}
		require.Len(t, got, len(s)+3*invalid)
	})
}

// nsPerOp runs f 200,000 times and returns the nanoseconds one run took on
// average; it fails b when f does.
func nsPerOp(b *testing.B, f func() error) float64 {
	const n = 200_000
	start := time.Now()
	for range n {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	return float64(time.Since(start).Nanoseconds()) / n
}
