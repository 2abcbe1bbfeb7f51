package syslog

import (
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/receiver/receivertest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// The fixed context of the golden file.
var (
	testNow    = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	testSender = sender{transport: "tcp", addr: "192.0.2.10:51514", host: "192.0.2.10", origin: "syslog/tcp/192.0.2.10:51514/test"}
)

// readMessages reads a file of Go string literals, one a line, skipping
// blank lines and # comments.
func readMessages(tb testing.TB, path string) [][]byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	require.NoError(tb, err)
	var out [][]byte
	for i, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l == "" || l[0] == '#' {
			continue
		}
		s, err := strconv.Unquote(l)
		require.NoError(tb, err, "%s:%d", path, i+1)
		out = append(out, []byte(s))
	}
	return out
}

// go test -run TestGolden -update rewrites testdata/messages.golden.
func TestGolden(t *testing.T) {
	d := newDecoder("acme", time.UTC)
	var evs []*event.Event
	for i, m := range readMessages(t, filepath.Join("testdata", "messages.txt")) {
		ev := d.decode(m, false, "", &testSender, int64(i), testNow)
		require.NoError(t, ev.Validate(), "%q", m)
		evs = append(evs, ev)
	}
	receivertest.Golden(t, filepath.Join("testdata", "messages.golden"), evs, *update)
}

func TestHeader(t *testing.T) {
	tests := []struct {
		name       string
		msg        string
		source     string
		ts         string
		host       string
		attrs      map[string]string
		parseError string
	}{
		{
			name: "rfc3164 sshd", msg: "<38>Dec 10 06:55:46 LabSZ sshd[24200]: Failed password for root from 203.0.113.7 port 22 ssh2",
			source: "sshd", ts: "2025-12-10T06:55:46Z", host: "LabSZ",
			attrs: map[string]string{AttrPriority: "38", AttrFacilityName: "auth", AttrFacilityCode: "4", AttrSeverityName: "info", AttrSeverityCode: "6", AttrAppName: "sshd", AttrProcID: "24200"},
		},
		{
			name: "rfc3164 without a hostname", msg: "<86>Jan  2 09:00:00 sshd[1]: Accepted password for bob from 198.51.100.4 port 2 ssh2",
			source: "sshd", ts: "2026-01-02T09:00:00Z", host: "192.0.2.10",
			attrs: map[string]string{AttrFacilityName: "authpriv", AttrSeverityName: "info"},
		},
		{
			name: "rfc5424 with structured data", msg: `<165>1 2026-01-02T09:14:15.003Z host.example evntslog 42 ID47 [ex@32473 iut="3" src="a\"b"] hello`,
			source: "syslog", ts: "2026-01-02T09:14:15.003Z", host: "host.example",
			attrs: map[string]string{AttrVersion: "1", AttrMsgID: "ID47", AttrProcID: "42", AttrSDPrefix + "ex@32473.iut": "3", AttrSDPrefix + "ex@32473.src": `a"b`, AttrFacilityName: "local4", AttrSeverityName: "notice"},
		},
		{
			name: "rfc5424 sshd", msg: "<38>1 2026-01-02T09:30:00.5+02:00 bastion sshd 77 - - Invalid user admin from 203.0.113.8 port 4022",
			source: "sshd", ts: "2026-01-02T07:30:00.5Z", host: "bastion",
		},
		{
			name: "no PRI", msg: "Jan  2 09:00:00 web-1 sshd[3]: Did not receive identification string from 192.0.2.77 port 6000",
			source: "sshd", ts: "2026-01-02T09:00:00Z", host: "web-1",
		},
		{
			name: "unreadable", msg: "<999>hello", source: "raw", ts: "2026-01-02T10:00:00Z", host: "192.0.2.10",
			parseError: "syslog: expecting a priority value in the range 1-191 or equal to 0 [col 3]",
		},
	}
	d := newDecoder("acme", time.UTC)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := d.decode([]byte(tt.msg), false, "", &testSender, 1, testNow)
			require.NoError(t, ev.Validate())
			require.Equal(t, tt.source, ev.Source)
			require.Equal(t, tt.ts, ev.Timestamp.Format(time.RFC3339Nano))
			require.Equal(t, tt.host, ev.Host)
			require.Equal(t, tt.msg, ev.Message, "event.original is the message as received")
			require.Equal(t, tt.parseError, ev.ParseError)
			for k, v := range tt.attrs {
				require.Equal(t, v, ev.Attrs[k], k)
			}
			require.Equal(t, "syslog/tcp", ev.Attrs[AttrInput])
			require.Equal(t, "192.0.2.10:51514", ev.Attrs[AttrSourceAddress])
		})
	}
}

func TestYearlessTimestamps(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	require.NoError(t, err)
	tests := []struct {
		name  string
		stamp string
		now   time.Time
		loc   *time.Location
		want  string
	}{
		{"earlier this year", "Jan  2 09:00:00", testNow, time.UTC, "2026-01-02T09:00:00Z"},
		{"later this year is last year", "Dec 31 23:59:00", testNow, time.UTC, "2025-12-31T23:59:00Z"},
		{"a sender a little ahead", "Jan  2 12:00:00", testNow, time.UTC, "2026-01-02T12:00:00Z"},
		{"just after New Year for a receiver behind", "Jan  1 00:00:30", time.Date(2025, 12, 31, 23, 59, 0, 0, time.UTC), time.UTC, "2026-01-01T00:00:30Z"},
		{"Feb 29 goes back to a leap year", "Feb 29 12:00:00", testNow, time.UTC, "2024-02-29T12:00:00Z"},
		{"in the configured zone", "Jan  2 10:30:00", testNow, berlin, "2026-01-02T09:30:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder("acme", tt.loc)
			ev := d.decode([]byte("<13>"+tt.stamp+" host app: x"), false, "", &testSender, 0, tt.now)
			require.Equal(t, tt.want, ev.Timestamp.Format(time.RFC3339Nano))
		})
	}
}

func TestBadFramesAndTruncation(t *testing.T) {
	d := newDecoder("acme", time.UTC)
	ev := d.decode([]byte("12x junk"), false, "octet-counting frame: bad", &testSender, 3, testNow)
	require.Equal(t, "raw", ev.Source)
	require.Equal(t, "syslog: octet-counting frame: bad", ev.ParseError)
	require.Equal(t, "12x junk", ev.Message)

	ev = d.decode([]byte("<38>Jan  2 09:00:00 host sshd[1]: Failed password for root from 203.0.113.7 po"), true, "", &testSender, 4, testNow)
	require.Equal(t, "true", ev.Attrs[parse.AttrTruncated])
}

func TestStructuredDataBounds(t *testing.T) {
	var sd strings.Builder
	sd.WriteString("[many@1")
	for i := range maxSDParams + 5 {
		sd.WriteString(" p" + strconv.Itoa(i+100) + `="` + strings.Repeat("v", parse.MaxAttrValue+10) + `"`)
	}
	sd.WriteString("][flag@1]")
	d := newDecoder("acme", time.UTC)
	ev := d.decode([]byte("<13>1 2026-01-02T09:00:00Z h a - - "+sd.String()+" m"), false, "", &testSender, 0, testNow)
	require.False(t, strings.HasPrefix(ev.ParseError, "syslog:"), "the header was read: %s", ev.ParseError)
	n := 0
	for k, v := range ev.Attrs {
		if strings.HasPrefix(k, AttrSDPrefix) {
			n++
			require.LessOrEqual(t, len(v), parse.MaxAttrValue)
		}
	}
	require.Equal(t, maxSDParams, n)
	require.Equal(t, "6", ev.Attrs[parse.AttrAttrsDropped])
}

// FuzzMessage checks that any message becomes a valid event that keeps
// the message, whatever its header.
func FuzzMessage(f *testing.F) {
	for _, m := range readMessages(f, filepath.Join("testdata", "messages.txt")) {
		f.Add(m, false)
	}
	d := newDecoder("fuzz", time.UTC)
	f.Fuzz(func(t *testing.T, msg []byte, truncated bool) {
		ev := d.decode(msg, truncated, "", &testSender, 9, testNow)
		require.NoError(t, ev.Validate())
		require.Equal(t, event.SanitizeUTF8(string(msg)), ev.Message)
		require.Equal(t, "fuzz", ev.Tenant)
		require.True(t, utf8.ValidString(ev.Host))
		for k, v := range ev.Attrs {
			require.True(t, utf8.ValidString(k) && utf8.ValidString(v), "%q=%q", k, v)
		}
		b, err := event.Encode(ev)
		require.NoError(t, err)
		back, err := event.Decode(b)
		require.NoError(t, err)
		require.Equal(t, ev.ID, back.ID)
		if truncated {
			require.Equal(t, "true", ev.Attrs[parse.AttrTruncated])
		}
	})
}
