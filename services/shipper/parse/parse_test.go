package parse

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

var update = flag.Bool("update", false, "rewrite testdata/*/*.golden from the parsers' output")

// The fixed context of the golden files.
var (
	fixtureNow = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
)

const (
	fixtureTenant = "acme"
	fixtureHost   = "shipper-host"
	// fixtureMaxLine is the reader's line limit the golden test plays:
	// longer lines are cut and flagged Truncated.
	fixtureMaxLine = 4096
)

// fixtureLine is one line of a fixture file as a reader would hand it over.
type fixtureLine struct {
	offset    int64
	line      []byte
	truncated bool
}

// readFixture splits a file into lines at '\n' (a last line without one
// counts), cutting lines longer than fixtureMaxLine.
func readFixture(tb testing.TB, path string) []fixtureLine {
	tb.Helper()
	data, err := os.ReadFile(path)
	require.NoError(tb, err)
	var lines []fixtureLine
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		next := off + end + 1
		if end < 0 {
			end = len(data) - off
			next = len(data)
		}
		l := fixtureLine{offset: int64(off), line: data[off : off+end]}
		if len(l.line) > fixtureMaxLine {
			l.line, l.truncated = l.line[:fixtureMaxLine], true
		}
		lines = append(lines, l)
		off = next
	}
	return lines
}

func fixtureInput(origin string, l fixtureLine) Input {
	return Input{
		Tenant:    fixtureTenant,
		Host:      fixtureHost,
		Origin:    origin,
		Offset:    l.offset,
		Line:      l.line,
		Truncated: l.truncated,
		Now:       fixtureNow,
	}
}

// TestGolden runs every testdata/<format>/*.log through New(format) and
// compares one encoded event per line with the .golden file next to it.
// go test -run TestGolden -update rewrites the golden files.
func TestGolden(t *testing.T) {
	for _, format := range Formats {
		files, err := filepath.Glob(filepath.Join("testdata", format, "*.log"))
		require.NoError(t, err)
		require.NotEmpty(t, files, "no fixtures for %s", format)
		for _, file := range files {
			t.Run(format+"/"+filepath.Base(file), func(t *testing.T) {
				p, err := New(format)
				require.NoError(t, err)
				require.Equal(t, format, p.Name())
				origin := "fixture:" + format + "/" + filepath.Base(file)
				var out bytes.Buffer
				for _, l := range readFixture(t, file) {
					in := fixtureInput(origin, l)
					ev, ok := p.Parse(in)
					require.True(t, ok, "New's parsers keep every line")
					checkEvent(t, in, ev)
					b, err := event.Encode(ev)
					require.NoError(t, err)
					out.Write(b)
					out.WriteByte('\n')
				}
				golden := strings.TrimSuffix(file, ".log") + ".golden"
				if *update {
					require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
					return
				}
				want, err := os.ReadFile(golden)
				require.NoError(t, err, "run go test -run TestGolden -update to create it")
				wantLines := strings.Split(string(want), "\n")
				gotLines := strings.Split(out.String(), "\n")
				for i := range min(len(wantLines), len(gotLines)) {
					require.Equal(t, wantLines[i], gotLines[i], "%s line %d", golden, i+1)
				}
				require.Len(t, gotLines, len(wantLines), "%s: number of lines", golden)
			})
		}
	}
}

// checkEvent asserts what every event of every parser must hold.
func checkEvent(tb testing.TB, in Input, ev *event.Event) {
	tb.Helper()
	require.NotNil(tb, ev)
	require.NoError(tb, ev.Validate())
	require.Equal(tb, event.Version, ev.Version)
	require.Equal(tb, in.Tenant, ev.Tenant)
	require.True(tb, ev.Timestamp.Location() == time.UTC && ev.Ingested.Location() == time.UTC, "times are UTC")
	// A Vigil envelope keeps its own id, times and message.
	var top map[string]json.RawMessage
	envelope := json.Unmarshal(bytes.TrimPrefix(in.Line, []byte(bom)), &top) == nil && top["vigil.version"] != nil
	if envelope {
		jev, _ := JSON{}.Parse(in)
		envelope = jev != nil
	}
	if !envelope {
		require.Equal(tb, event.NewID(in.Tenant, in.Origin, in.Offset, in.Line), ev.ID)
		require.True(tb, in.Now.Equal(ev.Ingested))
		require.Equal(tb, event.SanitizeUTF8(string(in.Line)), ev.Message)
		if ev.Source == FormatRaw {
			require.True(tb, in.Now.Equal(ev.Timestamp))
			require.Equal(tb, event.CategoryUnknown, ev.Category)
			require.Equal(tb, event.OutcomeUnknown, ev.Outcome)
		} else {
			require.Empty(tb, ev.ParseError)
		}
	}
	if in.Truncated {
		require.Equal(tb, "true", ev.Attrs[AttrTruncated])
	}
	// Every text field is valid UTF-8: nothing gets silently replaced on
	// encoding.
	for name, s := range map[string]string{
		"id": ev.ID, "tenant": ev.Tenant, "source": ev.Source, "host": ev.Host,
		"category": ev.Category, "action": ev.Action, "src_ip": ev.SrcIP,
		"dst_ip": ev.DstIP, "user": ev.User, "protocol": ev.Protocol,
		"message": ev.Message, "parse_error": ev.ParseError,
	} {
		require.True(tb, utf8.ValidString(s), "%s %q is not valid UTF-8", name, s)
	}
	require.LessOrEqual(tb, len(ev.ParseError), maxReason)
	for k, v := range ev.Attrs {
		require.True(tb, utf8.ValidString(k) && utf8.ValidString(v), "attr %q=%q is not valid UTF-8", k, v)
	}
	if ev.Source == FormatJSON {
		require.LessOrEqual(tb, len(ev.Attrs), MaxAttrs+2) // + vigil.attrs_dropped, vigil.truncated
	}
	// The encoding round-trips: Decode(Encode(ev)) encodes the same.
	b, err := event.Encode(ev)
	require.NoError(tb, err)
	back, err := event.Decode(b)
	require.NoError(tb, err)
	require.Equal(tb, ev.Message, back.Message)
	b2, err := event.Encode(back)
	require.NoError(tb, err)
	require.Equal(tb, string(b), string(b2))
}

func TestNew(t *testing.T) {
	for _, format := range Formats {
		p, err := New(format)
		require.NoError(t, err)
		require.Equal(t, format, p.Name())
	}
	for _, format := range []string{"", "SSHD", "syslog ", "json ", "access", "zeek-json"} {
		_, err := New(format)
		require.ErrorIs(t, err, ErrUnknownFormat)
		require.ErrorContains(t, err, fmt.Sprintf("%q", format))
	}
}

// TestFormatParsersReject checks that the format parsers themselves say
// false for lines that are not theirs, and New's parsers keep those lines
// as raw events with the reason.
func TestFormatParsersReject(t *testing.T) {
	in := func(line string) Input {
		return Input{Tenant: "t", Origin: "o", Line: []byte(line), Now: fixtureNow}
	}
	for _, tc := range []struct {
		p      Parser
		line   string
		reason string
	}{
		{SSHD{}, "", "sshd: no syslog timestamp"},
		{SSHD{}, "hello", "sshd: no syslog timestamp"},
		{SSHD{}, "Dec 10 06:55:46 host cron[1]: job", "sshd: not an sshd line"},
		{SSHD{}, "Dec 10 06:55:46 host", "sshd: no syslog tag"},
		{SSHD{}, `{"a":1}`, "sshd: no syslog timestamp"},
		{JSON{}, "", "json: empty line"},
		{JSON{}, "hello", "json: not a JSON object"},
		{JSON{}, "[1]", "json: not a JSON object"},
		{JSON{}, "{", "json: unexpected end of JSON input"},
		{JSON{}, `{"a":1}x`, "json: invalid character 'x' after top-level value"},
	} {
		ev, ok := tc.p.Parse(in(tc.line))
		require.False(t, ok, "%s %q", tc.p.Name(), tc.line)
		require.Nil(t, ev)

		p, err := New(tc.p.Name())
		require.NoError(t, err)
		ev, ok = p.Parse(in(tc.line))
		require.True(t, ok)
		require.Equal(t, FormatRaw, ev.Source)
		require.Equal(t, tc.reason, ev.ParseError, "%s %q", tc.p.Name(), tc.line)
	}

	for _, line := range []string{"hello world", "Dec 10 06:55:46", "2026-01-02 10:00:00 nothing", "# comment", "\t   "} {
		ev, ok := Auto{}.Parse(in(line))
		require.True(t, ok)
		require.Equal(t, ReasonNoMatch, ev.ParseError, "%q", line)
	}
	ev, ok := Raw{}.Parse(in("anything"))
	require.True(t, ok)
	require.Empty(t, ev.ParseError)
}

// TestSSHDFields spells out the fields of the main sshd lines, so that a
// wrong golden file cannot hide a wrong mapping.
func TestSSHDFields(t *testing.T) {
	parse := func(line string) *event.Event {
		t.Helper()
		in := Input{Tenant: "t", Host: "default", Origin: "o", Line: []byte(line), Now: fixtureNow}
		ev, ok := SSHD{}.Parse(in)
		require.True(t, ok, line)
		checkEvent(t, in, ev)
		return ev
	}
	ts := time.Date(2025, 12, 10, 6, 55, 46, 0, time.UTC)

	ev := parse("Dec 10 06:55:46 gw sshd[24200]: Failed password for invalid user webadmin from 198.51.100.7 port 38926 ssh2")
	require.Equal(t, ts, ev.Timestamp)
	require.Equal(t, "gw", ev.Host)
	require.Equal(t, "sshd", ev.Source)
	require.Equal(t, "ssh", ev.Protocol)
	require.Equal(t, event.CategoryAuthentication, ev.Category)
	require.Equal(t, ActionSSHLogin, ev.Action)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, "webadmin", ev.User)
	require.Equal(t, "198.51.100.7", ev.SrcIP)
	require.Equal(t, uint16(38926), ev.SrcPort)
	require.Equal(t, map[string]string{AttrPID: "24200", AttrAuthMethod: "password", AttrUserInvalid: "true"}, ev.Attrs)

	ev = parse("Dec 10 09:32:20 gw sshd[24680]: Accepted publickey for deploy from 2001:db8::5 port 49116 ssh2: ED25519 SHA256:abc")
	require.Equal(t, event.OutcomeSuccess, ev.Outcome)
	require.Equal(t, "deploy", ev.User)
	require.Equal(t, "2001:db8::5", ev.SrcIP)
	require.Equal(t, map[string]string{AttrPID: "24680", AttrAuthMethod: "publickey", AttrKeyType: "ED25519", AttrKeyFingerprint: "SHA256:abc"}, ev.Attrs)

	ev = parse("Dec 10 07:13:56 gw sshd[1]: message repeated 5 times: [ Failed password for root from 198.51.100.8 port 42393 ssh2]")
	require.Equal(t, ActionSSHLogin, ev.Action)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, "root", ev.User)
	require.Equal(t, 5.0, ev.Value)
	require.Equal(t, "5", ev.Attrs[AttrRepeat])

	ev = parse("Dec 10 07:13:57 gw sshd[2]: Invalid user x y from 198.51.100.9 port 1")
	require.Equal(t, ActionSSHInvalidUser, ev.Action)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, "x y", ev.User)
	require.Equal(t, "true", ev.Attrs[AttrUserInvalid])

	ev = parse("Dec 10 07:13:58 gw sshd[3]: pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=198.51.100.10  user=root")
	require.Equal(t, ActionSSHLogin, ev.Action)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, "root", ev.User)
	require.Equal(t, "198.51.100.10", ev.SrcIP)

	ev = parse("Dec 10 07:13:59 gw sshd[4]: Received disconnect from 198.51.100.11 port 5:11: Bye Bye [preauth]")
	require.Equal(t, event.CategorySession, ev.Category)
	require.Equal(t, ActionSSHDisconnect, ev.Action)
	require.Equal(t, event.OutcomeUnknown, ev.Outcome)
	require.Equal(t, uint16(5), ev.SrcPort)
	require.Equal(t, map[string]string{AttrPID: "4", AttrPreauth: "true", AttrDisconnectCode: "11", AttrDisconnectReason: "Bye Bye"}, ev.Attrs)

	ev = parse("Dec 10 07:14:00 gw sshd[5]: reverse mapping checking getaddrinfo for a.example [198.51.100.12] failed - POSSIBLE BREAK-IN ATTEMPT!")
	require.Equal(t, ActionSSHReverseMappingFailed, ev.Action)
	require.Equal(t, event.OutcomeUnknown, ev.Outcome)
	require.Equal(t, "198.51.100.12", ev.SrcIP)
	require.Equal(t, "a.example", ev.Attrs[AttrSourceDomain])

	ev = parse("Dec 10 07:14:01 sshd[6]: Server listening on 0.0.0.0 port 2222.")
	require.Equal(t, "default", ev.Host)
	require.Equal(t, "0.0.0.0", ev.DstIP)
	require.Equal(t, uint16(2222), ev.DstPort)
	require.Empty(t, ev.SrcIP)

	ev = parse("Dec 10 07:14:02 gw sshd[7]: Some new message about 198.51.100.13 port 77")
	require.Equal(t, ActionSSHOther, ev.Action)
	require.Equal(t, event.OutcomeUnknown, ev.Outcome)
	require.Equal(t, event.CategoryAuthentication, ev.Category)
	require.Equal(t, "198.51.100.13", ev.SrcIP)
	require.Equal(t, uint16(77), ev.SrcPort)
}

// TestInferYear covers the year of "Mmm dd hh:mm:ss" timestamps: the
// latest year that puts them no more than a day after Now.
func TestInferYear(t *testing.T) {
	utc := time.UTC
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		ny = time.FixedZone("EST", -5*3600) // no tzdata: a fixed zone still tests Location
	}
	date := func(y int, m time.Month, d, hh, mm, ss int, loc *time.Location) time.Time {
		return time.Date(y, m, d, hh, mm, ss, 0, loc).UTC()
	}
	for _, tc := range []struct {
		name  string
		now   time.Time
		stamp string
		loc   *time.Location
		want  time.Time // zero: no timestamp
	}{
		{"same day", date(2026, 6, 15, 12, 0, 0, utc), "Jun 15 11:00:00", utc, date(2026, 6, 15, 11, 0, 0, utc)},
		{"earlier this year", date(2026, 6, 15, 12, 0, 0, utc), "Jan  1 00:00:00", utc, date(2026, 1, 1, 0, 0, 0, utc)},
		{"December read in January", date(2026, 1, 2, 0, 0, 0, utc), "Dec 31 23:00:00", utc, date(2025, 12, 31, 23, 0, 0, utc)},
		{"just ahead of now", date(2026, 6, 15, 12, 0, 0, utc), "Jun 15 12:30:00", utc, date(2026, 6, 15, 12, 30, 0, utc)},
		{"a day ahead at most", date(2026, 6, 15, 12, 0, 0, utc), "Jun 16 12:00:00", utc, date(2026, 6, 16, 12, 0, 0, utc)},
		{"more than a day ahead is last year", date(2026, 6, 15, 12, 0, 0, utc), "Jun 16 12:00:01", utc, date(2025, 6, 16, 12, 0, 1, utc)},
		{"next year's first hour, read on New Year's Eve", date(2025, 12, 31, 23, 30, 0, utc), "Jan  1 00:10:00", utc, date(2026, 1, 1, 0, 10, 0, utc)},
		{"last second of the year, read just after midnight", date(2026, 1, 1, 0, 0, 5, utc), "Dec 31 23:59:59", utc, date(2025, 12, 31, 23, 59, 59, utc)},
		{"first second of the year, read by a clock just behind", date(2025, 12, 31, 23, 59, 58, utc), "Jan  1 00:00:01", utc, date(2026, 1, 1, 0, 0, 1, utc)},
		{"December read in mid January", date(2026, 1, 15, 0, 0, 0, utc), "Dec 20 12:00:00", utc, date(2025, 12, 20, 12, 0, 0, utc)},
		{"January read two days before the new year", date(2025, 12, 30, 0, 0, 0, utc), "Jan  1 00:10:00", utc, date(2025, 1, 1, 0, 10, 0, utc)},
		{"Feb 29 in a leap year", date(2028, 3, 1, 0, 0, 0, utc), "Feb 29 10:00:00", utc, date(2028, 2, 29, 10, 0, 0, utc)},
		{"Feb 29 goes back to the last leap year", date(2027, 3, 1, 0, 0, 0, utc), "Feb 29 10:00:00", utc, date(2024, 2, 29, 10, 0, 0, utc)},
		{"Feb 29 skips 2100", date(2101, 1, 1, 0, 0, 0, utc), "Feb 29 10:00:00", utc, date(2096, 2, 29, 10, 0, 0, utc)},
		{"Feb 30 never exists", date(2026, 6, 1, 0, 0, 0, utc), "Feb 30 10:00:00", utc, time.Time{}},
		{"Apr 31 never exists", date(2026, 6, 1, 0, 0, 0, utc), "Apr 31 10:00:00", utc, time.Time{}},
		{"day zero", date(2026, 6, 1, 0, 0, 0, utc), "Apr  0 10:00:00", utc, time.Time{}},
		{"unpadded day", date(2026, 6, 1, 0, 0, 0, utc), "May 9 10:00:00", utc, date(2026, 5, 9, 10, 0, 0, utc)},
		{"zero-padded day", date(2026, 6, 1, 0, 0, 0, utc), "May 09 10:00:00", utc, date(2026, 5, 9, 10, 0, 0, utc)},
		{"fraction", date(2026, 6, 1, 0, 0, 0, utc), "May  9 10:00:00.5", utc, date(2026, 5, 9, 10, 0, 0, utc).Add(500 * time.Millisecond)},
		{"leap second", date(2026, 6, 1, 0, 0, 0, utc), "Dec 31 23:59:60", utc, date(2026, 1, 1, 0, 0, 0, utc)},
		{"hour 24", date(2026, 6, 1, 0, 0, 0, utc), "May  9 24:00:00", utc, time.Time{}},
		{"local zone", date(2026, 1, 2, 12, 0, 0, utc), "Jan  2 06:00:00", ny, date(2026, 1, 2, 6, 0, 0, ny)},
		{"local zone, year from local now", date(2026, 1, 1, 3, 0, 0, utc), "Dec 31 21:00:00", ny, date(2025, 12, 31, 21, 0, 0, ny)},
		{"lower-case month", date(2026, 6, 1, 0, 0, 0, utc), "may  9 10:00:00", utc, time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, rest, ok := parseBSDPrefix(tc.stamp+" host", tc.now, tc.loc)
			if tc.want.IsZero() {
				require.False(t, ok, "got %s", got)
				return
			}
			require.True(t, ok)
			require.Equal(t, tc.want, got)
			require.Equal(t, " host", rest)

			// The same through the parser, with the zone as its field.
			line := tc.stamp + " h sshd[1]: Accepted password for a from 192.0.2.1 port 1 ssh2"
			ev, ok := SSHD{Location: tc.loc}.Parse(Input{Tenant: "t", Line: []byte(line), Now: tc.now})
			require.True(t, ok)
			require.Equal(t, tc.want, ev.Timestamp)
		})
	}
}

func TestRFC3339(t *testing.T) {
	for _, tc := range []struct {
		stamp string
		want  time.Time
	}{
		{"2026-11-24T10:00:00Z", time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)},
		{"2026-11-24T10:00:00.123456+00:00", time.Date(2026, 11, 24, 10, 0, 0, 123456000, time.UTC)},
		{"2026-11-24T10:00:00.123456789123+01:30", time.Date(2026, 11, 24, 8, 30, 0, 123456789, time.UTC)},
		{"2026-11-24T10:00:00-0800", time.Date(2026, 11, 24, 18, 0, 0, 0, time.UTC)},
		{"2026-11-24T10:00:00", time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)},
		{"2026-11-24T10:00:00+24:00", time.Time{}},
		{"2026-11-24T10:00:00+01", time.Time{}},
		{"2026-11-24T10:00:00.", time.Time{}},
		{"2026-02-29T10:00:00Z", time.Time{}},
		{"2026-11-24 10:00:00Z", time.Time{}},
		{"2026-11-24T10:00:00Zjunk", time.Time{}},
		{"0000-01-01T00:00:00Z", time.Time{}},
		{"0001-01-01T00:00:00Z", time.Time{}},
		{"9999-12-31T23:59:59-01:00", time.Time{}},
	} {
		got, rest, ok := parseRFC3339Prefix(tc.stamp+" host", time.UTC)
		if tc.want.IsZero() {
			require.False(t, ok, "%s: got %s", tc.stamp, got)
			continue
		}
		require.True(t, ok, tc.stamp)
		require.Equal(t, tc.want, got, tc.stamp)
		require.Equal(t, " host", rest)
	}
}

// TestHugeLines feeds 1 MiB lines of every shape to every parser.
func TestHugeLines(t *testing.T) {
	const n = 1 << 20
	lines := map[string][]byte{
		"sshd user":  []byte("Dec 10 06:55:46 h sshd[1]: Failed password for " + strings.Repeat("a port ", n/7) + " from 192.0.2.1 port 1 ssh2"),
		"sshd tail":  []byte("Dec 10 06:55:46 h sshd[1]: Disconnected from invalid user " + strings.Repeat("x port ", n/7)),
		"sshd other": []byte("Dec 10 06:55:46 h sshd[1]: " + strings.Repeat("1.2.3 ", n/6)),
		"json":       []byte(`{"a":"` + strings.Repeat("b", n) + `"}`),
		"json keys":  []byte(`{` + strings.Repeat(`"k":1,`, n/6) + `"z":2}`),
		"junk":       bytes.Repeat([]byte{0xff}, n),
	}
	for name, line := range lines {
		for _, format := range []string{FormatAuto, FormatSSHD, FormatJSON, FormatRaw} {
			p, err := New(format)
			require.NoError(t, err)
			in := Input{Tenant: "t", Origin: "o", Line: line, Truncated: true, Now: fixtureNow}
			ev, ok := p.Parse(in)
			require.True(t, ok, "%s/%s", format, name)
			checkEvent(t, in, ev)
		}
	}
}

// TestZones checks that events are written in UTC whatever the zone of
// Now, and that Location reads zone-less timestamps.
func TestZones(t *testing.T) {
	paris := time.FixedZone("CET", 3600)
	now := time.Date(2026, 1, 2, 11, 0, 0, 0, paris) // 10:00 UTC
	in := func(line string) Input {
		return Input{Tenant: "t", Origin: "o", Line: []byte(line), Now: now}
	}
	for _, p := range []Parser{Raw{}, Auto{}, JSON{}, SSHD{}} {
		line := "Jan  2 10:30:00 h sshd[1]: Accepted password for a from 192.0.2.1 port 1 ssh2"
		if p.Name() == FormatJSON {
			line = `{"time":"2026-01-02 10:30:00"}`
		}
		ev, ok := p.Parse(in(line))
		require.True(t, ok, p.Name())
		checkEvent(t, in(line), ev)
		require.Equal(t, time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC), ev.Ingested, p.Name())
		if p.Name() != FormatRaw {
			require.Equal(t, time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC), ev.Timestamp, p.Name())
		}
	}
	ev, ok := SSHD{Location: paris}.Parse(in("Jan  2 10:30:00 h sshd[1]: Accepted password for a from 192.0.2.1 port 1 ssh2"))
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC), ev.Timestamp)
	ev, ok = JSON{Location: paris}.Parse(in(`{"time":"2026-01-02 10:30:00"}`))
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 1, 2, 9, 30, 0, 0, time.UTC), ev.Timestamp)
	ev, ok = JSON{Location: paris}.Parse(in(`{"time":"2026-01-02T10:30:00Z"}`))
	require.True(t, ok)
	require.Equal(t, time.Date(2026, 1, 2, 10, 30, 0, 0, time.UTC), ev.Timestamp)
}
