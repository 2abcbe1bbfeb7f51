package parse

import (
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
)

// The configuration validates the same format names and field keys the
// parsers accept.
func TestConfigAgrees(t *testing.T) {
	require.Equal(t, config.FileFormats, Formats)
	all := map[string]string{}
	for _, k := range config.JSONFieldKeys {
		if k != "timestamp" {
			all[k] = "x." + k
		}
	}
	_, err := newFieldMap(all)
	require.NoError(t, err, "every key config accepts is mapped")
	_, err = newFieldMap(map[string]string{"timestamp": "t"})
	require.NoError(t, err)
}

func TestNewOptions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		format string
		fields map[string]string
		want   string // empty: no error
	}{
		{"mapping for json", FormatJSON, map[string]string{"user.name": "actor.login"}, ""},
		{"mapping for auto", FormatAuto, map[string]string{"timestamp": "time"}, ""},
		{"empty mapping for sshd", FormatSSHD, map[string]string{}, ""},
		{"mapping for sshd", FormatSSHD, map[string]string{"user.name": "x"}, `not "sshd"`},
		{"unknown key", FormatJSON, map[string]string{"source.address": "a"}, `unknown envelope key "source.address"`},
		{"empty path", FormatJSON, map[string]string{"user.name": " "}, "fields.user.name: empty JSON path"},
		{"timestamp twice", FormatJSON, map[string]string{"timestamp": "a", "@timestamp": "b"}, "name the same field"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := New(tc.format, WithFields(tc.fields), WithLocation(time.UTC))
			if tc.want == "" {
				require.NoError(t, err)
				require.Equal(t, tc.format, p.Name())
				return
			}
			require.ErrorIs(t, err, ErrBadOption)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func parseWith(t *testing.T, p Parser, origin, line string) *event.Event {
	t.Helper()
	in := Input{Tenant: "t", Host: "h", Origin: origin, Line: []byte(line), Now: fixtureNow}
	ev, ok := p.Parse(in)
	require.True(t, ok, line)
	checkEvent(t, in, ev)
	return ev
}

func TestJSONFields(t *testing.T) {
	p, err := New(FormatJSON, WithFields(map[string]string{
		"timestamp": "when", "source.ip": "client.addr", "user.name": "actor.login",
		"event.outcome": "result", "vigil.value": "latency_ms", "event.category": "kind",
	}))
	require.NoError(t, err)
	ev := parseWith(t, p, "o", `{"when":"2026-01-02T09:00:00Z","time":"2020-01-01T00:00:00Z","client":{"addr":"192.0.2.5:4000"},"actor":{"login":"alice"},"user":"ignored","result":"denied","latency_ms":12.5,"kind":"web","action":"get"}`)
	require.Equal(t, time.Date(2026, 1, 2, 9, 0, 0, 0, time.UTC), ev.Timestamp)
	require.Equal(t, "192.0.2.5", ev.SrcIP)
	require.Equal(t, uint16(4000), ev.SrcPort)
	require.Equal(t, "alice", ev.User)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, 12.5, ev.Value)
	require.Equal(t, "web", ev.Category)
	require.Equal(t, "get", ev.Action, "unmapped keys keep their usual names")
	require.Equal(t, "ignored", ev.Attrs["user"], "a mapped field is read only from its path")
	require.Equal(t, "2020-01-01T00:00:00Z", ev.Attrs["time"])

	// A path whose value does not convert leaves the field unset and the
	// value an attribute.
	ev = parseWith(t, p, "o", `{"client":{"addr":"not-an-ip"},"latency_ms":"fast"}`)
	require.Empty(t, ev.SrcIP)
	require.Equal(t, "not-an-ip", ev.Attrs["client.addr"])
	require.Equal(t, "fast", ev.Attrs["latency_ms"])
	require.Equal(t, fixtureNow, ev.Timestamp)

	// Without a mapping the usual names apply.
	ev = parseWith(t, JSON{}, "o", `{"time":"2026-01-02T09:00:00Z","user":"bob","actor":{"login":"alice"}}`)
	require.Equal(t, "bob", ev.User)
}

// TestZeekOrigins checks that a Zeek parser keeps one header per origin.
func TestZeekOrigins(t *testing.T) {
	z := NewZeek()
	hdr := func(origin, path, fields string) {
		parseWith(t, z, origin, "#separator \\x09")
		parseWith(t, z, origin, "#path\t"+path)
		ev := parseWith(t, z, origin, "#fields\t"+fields)
		require.Equal(t, ActionLogHeader, ev.Action)
	}
	hdr("a", "ssh", "ts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tauth_success\tauth_attempts")
	hdr("b", "conn", "ts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\tresp_bytes\tconn_state")

	ev := parseWith(t, z, "a", "1767344410.5\tC1\t203.0.113.1\t5000\t192.0.2.1\t22\tF\t4")
	require.Equal(t, ActionSSHLogin, ev.Action)
	require.Equal(t, event.CategoryAuthentication, ev.Category)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, 4.0, ev.Value)
	require.Equal(t, time.Date(2026, 1, 2, 9, 0, 10, 500_000_000, time.UTC), ev.Timestamp)

	ev = parseWith(t, z, "b", "1767344411\t192.0.2.2\t5001\t198.51.100.1\t443\ttcp\t100\t2000\tSF")
	require.Equal(t, ActionNetworkFlow, ev.Action)
	require.Equal(t, event.CategoryNetwork, ev.Category)
	require.Equal(t, uint64(100), ev.BytesOut)
	require.Equal(t, uint64(2000), ev.BytesIn)
	require.Equal(t, "tcp", ev.Protocol)
	require.Equal(t, "SF", ev.Attrs["zeek.conn_state"])

	// An origin without a header, and a line of the wrong width.
	ev = parseWith(t, fallback{m: z}, "c", "1767344411\t192.0.2.2\t5001")
	require.Equal(t, "zeek: no #fields header seen for this file", ev.ParseError)
	_, ok := z.Parse(Input{Tenant: "t", Origin: "b", Line: []byte("1\t2"), Now: fixtureNow})
	require.False(t, ok)

	// A new header block replaces the old one.
	hdr("a", "dns", "ts\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tquery\trcode_name")
	ev = parseWith(t, z, "a", "1767344412\t192.0.2.3\t5002\t192.0.2.53\t53\texample.org\tNXDOMAIN")
	require.Equal(t, ActionDNSQuery, ev.Action)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, "example.org", ev.Attrs[AttrDNSQuery])

	// New returns a parser that has seen nothing.
	fresh, err := New(FormatZeek)
	require.NoError(t, err)
	ev = parseWith(t, fresh, "b", "1767344411\t192.0.2.2\t5001\t198.51.100.1\t443\ttcp\t100\t2000\tSF")
	require.Equal(t, FormatRaw, ev.Source)

	// The bound on remembered origins.
	for i := range maxZeekOrigins + 1 {
		z.Parse(Input{Tenant: "t", Origin: string(rune('A' + i)), Line: []byte("#separator \\x09"), Now: fixtureNow})
	}
	require.LessOrEqual(t, len(z.headers), maxZeekOrigins)
}

// TestDBSessions checks that the client of a PostgreSQL or MySQL session
// reaches the session's later lines, per origin, and is forgotten at its
// end.
func TestDBSessions(t *testing.T) {
	pg, err := New(FormatPostgres)
	require.NoError(t, err)
	parseWith(t, pg, "a", "2026-01-02 09:00:00.000 UTC [7] LOG:  connection received: host=203.0.113.5 port=4000")
	ev := parseWith(t, pg, "a", `2026-01-02 09:00:00.010 UTC [7] FATAL:  password authentication failed for user "root"`)
	require.Equal(t, event.CategoryAuthentication, ev.Category)
	require.Equal(t, ActionDBLogin, ev.Action)
	require.Equal(t, event.OutcomeFailure, ev.Outcome)
	require.Equal(t, "root", ev.User)
	require.Equal(t, "203.0.113.5", ev.SrcIP)
	require.Equal(t, uint16(4000), ev.SrcPort)
	ev = parseWith(t, pg, "b", `2026-01-02 09:00:00.010 UTC [7] FATAL:  password authentication failed for user "root"`)
	require.Empty(t, ev.SrcIP, "another file's process 7 is another session")
	parseWith(t, pg, "a", "2026-01-02 09:00:01.000 UTC [7] LOG:  disconnection: session time: 0:00:01.000 user=root database=x host=203.0.113.5 port=4000")
	ev = parseWith(t, pg, "a", "2026-01-02 09:00:02.000 UTC [7] LOG:  statement: SELECT 1")
	require.Empty(t, ev.SrcIP, "the session ended")
	ev = parseWith(t, Postgres{}, "a", "2026-01-02 09:00:00.000 UTC [7] LOG:  connection received: host=203.0.113.5 port=4000")
	require.Equal(t, "203.0.113.5", ev.SrcIP, "the zero Postgres parses, without memory")

	my, err := New(FormatMySQL)
	require.NoError(t, err)
	parseWith(t, my, "a", "2026-01-02T09:00:00.000000Z\t    9 Connect\tapp@192.0.2.9 on shop using TCP/IP")
	ev = parseWith(t, my, "a", "2026-01-02T09:00:00.100000Z\t    9 Query\tDROP TABLE users")
	require.Equal(t, ActionDBQuery, ev.Action)
	require.Equal(t, "app", ev.User)
	require.Equal(t, "192.0.2.9", ev.SrcIP)
	require.Equal(t, "DROP TABLE users", ev.Attrs[AttrDBStatement])
	parseWith(t, my, "a", "2026-01-02T09:00:00.200000Z\t    9 Quit\t")
	ev = parseWith(t, my, "a", "2026-01-02T09:00:00.300000Z\t    9 Query\tSELECT 1")
	require.Empty(t, ev.User)
}

func TestWebFields(t *testing.T) {
	for _, tc := range []struct {
		line    string
		outcome string
		status  string
		user    string
		bytes   uint64
	}{
		{`192.0.2.1 - - [02/Jan/2026:09:00:00 +0000] "GET / HTTP/1.1" 200 10`, event.OutcomeSuccess, "200", "", 10},
		{`192.0.2.1 - - [02/Jan/2026:09:00:00 +0000] "GET / HTTP/1.1" 301 0 "-" "-"`, event.OutcomeSuccess, "301", "", 0},
		{`192.0.2.1 - bob [02/Jan/2026:09:00:00 +0000] "GET /a HTTP/1.1" 401 5 "-" "x"`, event.OutcomeFailure, "401", "bob", 5},
		{`192.0.2.1 - - [02/Jan/2026:09:00:00 +0000] "GET /b HTTP/1.1" 403 - "-" "x"`, event.OutcomeFailure, "403", "", 0},
		{`192.0.2.1 - - [02/Jan/2026:09:00:00 +0000] "GET /c HTTP/1.1" 503 7 "-" "x" "-"`, event.OutcomeFailure, "503", "", 7},
	} {
		ev := parseWith(t, Web{Server: FormatNginx}, "o", tc.line)
		require.Equal(t, event.CategoryWeb, ev.Category, tc.line)
		require.Equal(t, ActionHTTPRequest, ev.Action, tc.line)
		require.Equal(t, tc.outcome, ev.Outcome, tc.line)
		require.Equal(t, tc.status, ev.Attrs[AttrHTTPStatus], tc.line)
		require.Equal(t, tc.user, ev.User, tc.line)
		require.Equal(t, tc.bytes, ev.BytesIn, tc.line)
		require.Equal(t, "192.0.2.1", ev.SrcIP)
		require.Equal(t, FormatNginx, ev.Source)
	}
	for _, line := range []string{
		`192.0.2.1 - - [02/Jan/2026:09:00:00 +0000] "GET / HTTP/1.1" 20 10`,
		`192.0.2.1 - - [02/Jan/2026:09:00:00] "GET / HTTP/1.1" 200 10`,
		`192.0.2.1 - - [02/Jan/2026:09:00:00 +0000] "GET / HTTP/1.1 200 10`,
		`192.0.2.1 - - [02/Jan/2026:09:00:00 +0000] "GET /" 200 ten`,
		`192.0.2.1 [02/Jan/2026:09:00:00 +0000] "GET /" 200 1`,
		`[Fri Jan 02 10:15:07 2026] no level`,
		`2026/01/02 09:00:10 [error`,
	} {
		_, ok := Web{}.Parse(Input{Tenant: "t", Line: []byte(line), Now: fixtureNow})
		require.False(t, ok, line)
	}
}

func TestSudoSuFields(t *testing.T) {
	for _, tc := range []struct {
		line                     string
		category, action, result string
		user, target, command    string
	}{
		{"Jan  2 09:10:00 h sudo:    alice : TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/ls -la ; echo", event.CategoryProcess, ActionSudoCommand, event.OutcomeSuccess, "alice", "root", "/bin/ls -la ; echo"},
		{"Jan  2 09:10:00 h sudo: eve : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh", event.CategoryAuthentication, ActionSudoAuth, event.OutcomeFailure, "eve", "root", "/bin/sh"},
		{"Jan  2 09:10:00 h sudo: eve : user NOT in sudoers ; TTY=pts/0 ; PWD=/ ; USER=root ; COMMAND=/bin/sh", event.CategoryProcess, ActionSudoCommand, event.OutcomeFailure, "eve", "root", "/bin/sh"},
		{"Jan  2 09:10:00 h sudo: pam_unix(sudo:auth): authentication failure; logname=eve uid=1000 euid=0 tty=/dev/pts/0 ruser=eve rhost=  user=eve", event.CategoryAuthentication, ActionPAMAuth, event.OutcomeFailure, "eve", "", ""},
		{"Jan  2 09:10:00 h su[1]: (to root) alice on pts/0", event.CategoryAuthentication, ActionSu, event.OutcomeSuccess, "alice", "root", ""},
		{"Jan  2 09:10:00 h su[1]: FAILED SU (to root) eve on pts/1", event.CategoryAuthentication, ActionSu, event.OutcomeFailure, "eve", "root", ""},
		{"Jan  2 09:10:00 h su[1]: pam_unix(su:auth): authentication failure; logname=eve uid=1000 euid=0 tty=pts/1 ruser=eve rhost=  user=root", event.CategoryAuthentication, ActionPAMAuth, event.OutcomeFailure, "eve", "root", ""},
		{"Jan  2 09:10:00 h su[1]: pam_unix(su-l:session): session opened for user root(uid=0) by alice(uid=1000)", event.CategorySession, ActionPAMSessionOpened, event.OutcomeSuccess, "alice", "root", ""},
		{"Jan  2 09:10:00 h sshd[1]: pam_unix(sshd:session): session opened for user bob(uid=1001) by (uid=0)", event.CategorySession, ActionSSHSessionOpened, event.OutcomeSuccess, "bob", "", ""},
		{"Jan  2 09:10:00 h login[1]: pam_unix(login:auth): authentication failure; logname=LOGIN uid=0 euid=0 tty=tty1 ruser= rhost=  user=root", event.CategoryAuthentication, ActionPAMAuth, event.OutcomeFailure, "root", "", ""},
	} {
		ev := parseWith(t, Syslog{}, "o", tc.line)
		require.Equal(t, tc.category, ev.Category, tc.line)
		require.Equal(t, tc.action, ev.Action, tc.line)
		require.Equal(t, tc.result, ev.Outcome, tc.line)
		require.Equal(t, tc.user, ev.User, tc.line)
		require.Equal(t, tc.target, ev.Attrs[AttrTargetUser], tc.line)
		require.Equal(t, tc.command, ev.Attrs[AttrCommand], tc.line)
	}
}

// Every parser keeps invalid UTF-8 safely in every field it cuts from the
// line.
func TestInvalidUTF8Fields(t *testing.T) {
	for _, tc := range []struct {
		p    Parser
		line string
	}{
		{Syslog{}, "Jan  2 09:10:00 h\xff sudo: al\xffice : TTY=pts/0 ; PWD=/\xfe ; USER=ro\xffot ; COMMAND=/bin/\xff"},
		{Web{}, "192.0.2.1 - b\xffob [02/Jan/2026:09:00:00 +0000] \"GET /\xff HTTP/1.1\" 200 1 \"-\" \"ua\xfe\""},
		{Postgres{}, "2026-01-02 09:00:00 UTC [1] b\xffob@d\xffb LOG:  statement: SELECT '\xff'"},
		{MySQL{}, "2026-01-02T09:00:00Z\t 1 Connect\ta\xff@192.0.2.1 on d\xffb using TCP/IP"},
		{NewZeek(), "{\"ts\":1,\"uid\":\"C\xff\",\"id.orig_h\":\"192.0.2.1\",\"query\":\"a\xff\"}"},
	} {
		ev := parseWith(t, tc.p, "o", tc.line)
		require.Empty(t, ev.ParseError, "%s: %q", tc.p.Name(), tc.line)
		require.True(t, slices.ContainsFunc([]string{ev.User, ev.Host, ev.Attrs[AttrDBName], ev.Attrs[AttrURL], ev.Attrs[AttrCommand], ev.Attrs["zeek.uid"]}, func(s string) bool { return s != "" }))
	}
}
