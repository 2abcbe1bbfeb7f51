package event

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// What decodePlain takes, decodeJSON takes too, into the same event; and
// decodePlain takes the encoder's output.
func FuzzDecodePlainMatchesDecodeJSON(f *testing.F) {
	for _, e := range []*Event{
		{Version: 1, ID: "1770cb503882470981a4b803ea670a04", Tenant: "acme", Source: "sshd", Category: "web",
			Outcome: "unknown", Message: "line \"quoted\" \\ and\ttab", Attrs: map[string]string{"a": "1", "b": ""}},
		{Version: 1, SrcIP: "10.0.0.1", SrcPort: 22, BytesOut: 1 << 40, Value: -1.5e-3, Message: "é ✓"},
	} {
		b, err := Encode(e)
		require.NoError(f, err)
		f.Add(b)
	}
	for _, s := range []string{
		` { "vigil.version" : 1 , "labels" : { "a" : null , "b" : "c" } , "labels" : null } `,
		`{"@timestamp":"2024-03-05T10:11:12.5+01:00","event.ingested":"2024-03-05T10:11:12Z","source.port":0}`,
		`{"vigil.value":-0.0e+5,"destination.bytes":18446744073709551615,"event.id":"\xff\xfe"}`,
		`{"source.port":65536}`, `{"source.port":01}`, `{"vigil.value":1.}`, `{"x":1}`, `{"event.id":"a\u0062"}`,
		`{"event.id":nul}`, `{"labels":{"a":1}}`, `{}x`, `{"host.name":"a"`,
		"{\"event.original\":\"0123456789\xffabcdef\\\"x\u00e9\",\"user.name\":\"abcdefgh\x01\"}",
		`{"event.original":"a \u003cb\u003e \u0026 \u2028 \u00E9 \ud83d\ude00 \/ \b\f\n\r\t \"q\" \\"}`,
		`{"event.original":"` + strings.Repeat(`0123456789\"`, 40) + `","user.name":"\u00"}`,
		"{\"event.original\":\"\\n\xff\xfe\\u0041\",\"host.name\":\"a\\x\"}",
		`{"@timestamp":"2024-02-29T23:59:59.123456789Z","event.ingested":"2023-02-29T00:00:00Z"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var plain Event
		if !decodePlain(&plain, b, b) {
			return
		}
		var general Event
		require.NoError(t, decodeJSON(&general, slices.Clone(b), nil), "decodePlain took it")
		if len(plain.Attrs) == 0 && len(general.Attrs) == 0 {
			plain.Attrs, general.Attrs = nil, nil
		}
		require.True(t, plain.Timestamp.Equal(general.Timestamp))
		require.True(t, plain.Ingested.Equal(general.Ingested))
		plain.Timestamp, plain.Ingested = general.Timestamp, general.Ingested
		require.Equal(t, general, plain)
	})
}

func TestDecodePlainTakesTheEncoderOutput(t *testing.T) {
	e := &Event{Version: 1, ID: "1770cb503882470981a4b803ea670a04", Tenant: "acme", Source: "sshd", Host: "h",
		Category: "authentication", Action: "ssh_login", Outcome: "failure", SrcIP: "203.0.113.7", SrcPort: 52113,
		DstIP: "2001:db8::22", DstPort: 22, User: "root", Protocol: "ssh", BytesOut: 1500, BytesIn: 3000, Value: 12.5,
		Message: `a "quoted" line`, ParseError: "partial", Attrs: map[string]string{"pid": "812"}}
	b, err := Encode(e)
	require.NoError(t, err)
	var got Event
	require.True(t, decodePlain(&got, b, b))
	require.Equal(t, *e, got)
}

// str finds the end of a string, and what stops it, wherever they fall in
// the eight-byte words it reads.
func TestScannerStr(t *testing.T) {
	for n := range 20 {
		body := strings.Repeat("a", n)
		tests := []struct {
			in          string
			want        string
			ascii, ok   bool
			description string
		}{
			{`"` + body + `"x`, body, true, true, "plain"},
			{`"` + body + "\xc3\xa9" + `"`, body + "\xc3\xa9", false, true, "multi-byte"},
			{`"` + body + "\xff" + `"`, body + "\xff", false, true, "invalid UTF-8"},
			{`"` + body + `\n"`, "", false, false, "escape"},
			{`"` + body + "\x1f" + `"`, "", false, false, "control"},
			{`"` + body, "", false, false, "unterminated"},
			{`"` + body + `"` + "\xff", body, true, true, "high byte after the end"},
			{`"` + body + `"\`, body, true, true, "backslash after the end"},
		}
		for _, tt := range tests {
			s := scanner{b: []byte(tt.in)}
			got, ascii, ok := s.raw()
			require.Equal(t, tt.ok, ok, "%s %d", tt.description, n)
			if ok {
				require.Equal(t, tt.want, string(got), "%s %d", tt.description, n)
				require.Equal(t, tt.ascii, ascii, "%s %d", tt.description, n)
				require.Equal(t, len(tt.want)+2, s.i, "%s %d", tt.description, n)
			}
		}
	}
}

// parseUTC gives what time.Time's UnmarshalJSON gives, field for field,
// for every day from year 0 to 9999 it is tried on, and leaves everything
// else to it.
func TestParseUTCMatchesUnmarshalJSON(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var texts []string
	for day := time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC); day.Year() < 10000; day = day.AddDate(0, 0, 1+rng.IntN(200)) {
		at := day.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
		texts = append(texts, at.Format(time.RFC3339Nano), at.Truncate(time.Second).Format(time.RFC3339Nano))
	}
	for _, d := range []string{"1970-01-01", "1969-12-31", "2000-02-29", "2024-02-29", "2100-02-28", "9999-12-31", "0000-03-01"} {
		texts = append(texts, d+"T00:00:00Z", d+"T23:59:59.999999999Z", d+"T12:00:00.1Z")
	}
	for _, s := range texts {
		var want, got time.Time
		require.NoError(t, want.UnmarshalJSON([]byte(`"`+s+`"`)), s)
		require.True(t, parseUTC([]byte(s), &got), s)
		require.Equal(t, want, got, s) // the same fields, not only the same instant
	}
	for _, s := range []string{
		"2100-02-29T00:00:00Z", "2023-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-00-10T00:00:00Z", "2024-13-10T00:00:00Z",
		"2024-01-00T00:00:00Z", "2024-01-01T24:00:00Z", "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z",
		"2024-01-01T00:00:00.Z", "2024-01-01T00:00:00.1234567890Z", "2024-01-01T00:00:00,5Z", "2024-01-01t00:00:00Z",
		"2024-01-01T00:00:00z", "2024-01-01T00:00:00+00:00", "2024-01-01T00:00:00", "+024-01-01T00:00:00Z", "2024-1-01T00:00:00Z",
	} {
		var got time.Time
		require.False(t, parseUTC([]byte(s), &got), s)
	}
}
