package grafanads

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var env = macroEnv{database: "vigil", tenant: "acme",
	from: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC), to: time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC),
	interval: 5 * time.Minute}

const (
	from = "toDateTime(1740819600, 'UTC')"
	to   = "toDateTime(1740826800, 'UTC')"
)

func TestExpandMacros(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT count() FROM $__events WHERE $__timeFilter(timestamp)",
			"SELECT count() FROM (SELECT * FROM `vigil`.`events` FINAL WHERE tenant = 'acme' AND (timestamp >= " + from +
				" AND timestamp <= " + to + ")) WHERE ((timestamp) >= " + from + " AND (timestamp) <= " + to + ")"},
		{"SELECT $__timeInterval(timestamp) AS t, count() FROM $__events_all GROUP BY t",
			"SELECT toDateTime(intDiv(toUInt32(timestamp), 300) * 300, 'UTC') AS t, count() FROM " +
				"(SELECT * FROM `vigil`.`events` FINAL WHERE tenant = 'acme') GROUP BY t"},
		{"SELECT sum(event_count) FROM $__events_per_minute", "SELECT sum(event_count) FROM (SELECT * FROM " +
			"`vigil`.`events_per_minute` WHERE tenant = 'acme' AND (minute >= " + from + " AND minute <= " + to + "))"},
		{"SELECT $__fromTime, $__toTime, $__interval_s, $__interval_ms, $__tenant",
			"SELECT " + from + ", " + to + ", 300, 300000, 'acme'"},
		{"SELECT max(window_start) FROM $__scores_all", "SELECT max(window_start) FROM (SELECT * FROM `vigil`.`scores` FINAL WHERE tenant = 'acme')"},
		{"SELECT 1 FROM $__alerts WHERE $__timeFilter( toDateTime(intDiv(toUInt32(timestamp), 60) * 60) )",
			"SELECT 1 FROM (SELECT * FROM `vigil`.`alerts` FINAL WHERE tenant = 'acme' AND (timestamp >= " + from +
				" AND timestamp <= " + to + ")) WHERE (( toDateTime(intDiv(toUInt32(timestamp), 60) * 60) ) >= " + from +
				" AND ( toDateTime(intDiv(toUInt32(timestamp), 60) * 60) ) <= " + to + ")"},
		// Macros in strings, quoted names and comments are text.
		{"SELECT '$__events', `$__tenant` -- $__events\n/* $__tenant */",
			"SELECT '$__events', `$__tenant` -- $__events\n/* $__tenant */"},
		// A macro's argument may use macros.
		{"SELECT $__timeInterval($__fromTime)", "SELECT toDateTime(intDiv(toUInt32(" + from + "), 300) * 300, 'UTC')"},
	}
	for _, tt := range tests {
		for _, strict := range []bool{false, true} {
			toks, err := lexSQL(tt.in, strict)
			require.NoError(t, err, tt.in)
			got, err := expandMacros(toks, env)
			require.NoError(t, err, tt.in)
			require.Equal(t, tt.want, got, tt.in)
		}
	}
}

func TestQuoteString(t *testing.T) {
	e := env
	e.tenant = `a'b\c' OR '1'='1`
	toks, err := lexSQL("SELECT $__tenant", true)
	require.NoError(t, err)
	got, err := expandMacros(toks, e)
	require.NoError(t, err)
	require.Equal(t, `SELECT 'a\'b\\c\' OR \'1\'=\'1'`, got)
	// Read back, it is one string: the whole of the tenant.
	back, err := lexSQL(got, true)
	require.NoError(t, err)
	require.Equal(t, tokString, back[len(back)-1].kind)
	require.Equal(t, `'a\'b\\c\' OR \'1\'=\'1'`, back[len(back)-1].text)
}

func TestMacroErrors(t *testing.T) {
	for in, want := range map[string]string{
		"SELECT $__nope":                           "unknown macro $__nope (macros: $__alerts, ",
		"SELECT $__timeFilter":                     "$__timeFilter needs its argument in parentheses",
		"SELECT $__timeFilter(a, b)":               "$__timeFilter takes 1 argument(s), not 2",
		"SELECT $__timeFilter()":                   "$__timeFilter: an empty argument",
		"SELECT $__timeInterval(timestamp":         "$__timeInterval: no closing parenthesis",
		"SELECT 'unterminated":                     "unterminated '",
		"SELECT 1 /* unterminated":                 "unterminated /* comment",
		"SELECT $__timeFilter(f(a, b), c)":         "$__timeFilter takes 1 argument(s), not 2",
		"SELECT $__timeInterval(arrayJoin([1,2]))": "",
	} {
		toks, err := lexSQL(in, false)
		if err == nil {
			_, err = expandMacros(toks, env)
		}
		if want == "" {
			require.NoError(t, err, in)
			continue
		}
		require.ErrorIs(t, err, errSQL, in)
		require.Contains(t, err.Error(), want, in)
	}
}

// testGuard names what a pinned data source's guard reads from a server.
func testGuard() guard {
	g := guard{names: map[string]bool{}, tableFuncs: map[string]bool{}}
	for _, n := range []string{"vigil", "system", "default", "information_schema", "events", "scores", "alerts",
		"events_per_minute", "failed_auth_per_minute", "events_per_minute_mv", "failed_auth_per_minute_mv",
		"schema_migrations"} {
		g.names[n] = true
	}
	for _, n := range knownTableFuncs {
		g.tableFuncs[n] = true
	}
	return g
}

// hostileSQL tries to read other tenants' rows, other tables or the
// server's state from a pinned data source; the guard refuses each.
var hostileSQL = []string{
	"SELECT * FROM events",
	"select * from EVENTS",
	"SELECT * FROM vigil.events",
	"SELECT * FROM vigil . events",
	"SELECT * FROM `events`",
	`SELECT * FROM "vigil"."events"`,
	"SELECT * FROM `ev``ents`",
	"SELECT * FROM `e\\x76ents`",
	"SELECT * FROM system.tables",
	"SELECT query FROM system.query_log",
	"SELECT * FROM system.processes",
	"SELECT * FROM INFORMATION_SCHEMA.TABLES",
	"SELECT * FROM $__events; SELECT * FROM events",
	"SELECT * FROM $__events; DROP TABLE events",
	"SELECT 1; SELECT 2",
	"SELECT * FROM $__events UNION ALL SELECT * FROM events",
	"SELECT * FROM $__events UNION ALL SELECT * FROM remote('127.0.0.1', 'vigil', 'events')",
	"SELECT * FROM $__events AS e, remote('127.0.0.1', vigil, events)",
	"SELECT * FROM $__events AS e, numbers(10)",
	"SELECT * FROM $__events AS e, (SELECT 1) AS f, url('http://x', CSV, 'a String')",
	"SELECT * FROM $__events WHERE src_ip IN (SELECT src_ip FROM events)",
	"SELECT * FROM $__events WHERE src_ip IN events",
	"SELECT * FROM $__events WHERE src_ip GLOBAL IN scores",
	"SELECT in(src_ip, scores) FROM $__events",
	"SELECT dictGetString('d', 'a', toUInt64(1)) FROM $__events",
	"SELECT DICTGET('d', 'a', 1)",
	"SELECT joinGet('j', 'a', 1)",
	"SELECT hasColumnInTable('vigil', 'events', 'tenant')",
	"SELECT file('/etc/passwd')",
	"SELECT * FROM merge(currentDatabase(), '^ev')",
	"SELECT * FROM `merge`(currentDatabase(), '^ev')",
	"SELECT * FROM view(SELECT * FROM $__events)",
	"SELECT * FROM cluster('default', currentDatabase(), 'alerts')",
	"SELECT * FROM input('a String')",
	"SELECT * FROM s3('https://x/y.csv')",
	"SELECT * FROM $__events /* /* */ UNION ALL SELECT * FROM events */",
	"SELECT * FROM $__events # UNION ALL SELECT * FROM events",
	"SELECT * FROM $__events -- a\r UNION ALL SELECT 1",
	"SELECT * FROM $__events SETTINGS max_threads = 1",
	"SELECT * FROM $__events FORMAT JSON",
	"SELECT * FROM $__events INTO OUTFILE 'x'",
	"INSERT INTO events SELECT * FROM $__events",
	"DROP TABLE events",
	"ALTER TABLE alerts DELETE WHERE 1",
	"SHOW TABLES",
	"DESCRIBE TABLE events",
	"WITH (SELECT count() FROM events) AS n SELECT n",
	"WITH t AS (SELECT 1) SELECT * FROM t",
	"SELECT * FROM ( SELECT * FROM events )",
	"SELECT * FROM $__events JOIN events USING id",
	"SELECT * FROM $__events AS a JOIN remote('h', 'vigil', 'events') AS b USING id",
	"SELECT * FROM $__events ARRAY JOIN attr_keys AS k JOIN system.one USING dummy",
	"SELECT * FROM (SELECT 1) AS x, `events`",
	"SELECT * FROM $$events$$",
	"SELECT \u2018a\u2019 FROM $__events",
	"SELECT 'a\u2019' FROM $__events",
	"SELECT 1events FROM $__events",
	"SELECT * FROM $__events WHERE src_ip = {ip:String}",
	"SELECT * FROM $__events WHERE \\ 1",
	"SELECT count() AS events FROM $__events",
	"SELECT * FROM $__events WHERE src_ip IN remote('h', 'vigil', 'events')",
	"SELECT (SELECT count() FROM (SELECT 1) AS x, numbers(5))",
	"SELECT arrayJoin([1]) FROM $__events WHERE joinGetOrNull('j', 'a', 1) = 1",
	"SELECT * FROM currentDatabase()",
	"SELECT * FROM FROM",
	"SELECT * FROM",
	"SELECT ) FROM (",
	"",
	"   ;  ",
	"SELECT * FROM $__events" + strings.Repeat(" UNION ALL SELECT * FROM $__events", 50) + " UNION ALL SELECT * FROM scores",
}

func TestGuardRefuses(t *testing.T) {
	g := testGuard()
	for _, sql := range hostileSQL {
		toks, err := lexSQL(sql, true)
		if err == nil {
			_, err = g.check(toks)
		}
		require.ErrorIs(t, err, errSQL, "%q must be refused", sql)
	}
}

// tenantSQL is SQL a pinned data source runs: only the macros read tables.
var tenantSQL = []string{
	"SELECT * FROM $__events",
	"select count() from $__events where $__timeFilter(timestamp);",
	"SELECT $__timeInterval(timestamp) AS time, outcome, count() AS n FROM $__events GROUP BY time, outcome ORDER BY time",
	"SELECT e.src_ip, a.summary FROM $__events AS e JOIN $__alerts_all AS a ON e.src_ip = a.entity",
	"SELECT e.src_ip FROM $__events AS e, $__alerts AS a WHERE e.src_ip = a.entity",
	"SELECT * FROM $__events WHERE user = 'x\\' OR 1 -- ' AND outcome = 'it''s'",
	"SELECT * FROM $__events WHERE src_ip IN (SELECT entity FROM $__alerts_all)",
	"SELECT * FROM $__events WHERE src_ip IN ('1.2.3.4', '5.6.7.8')",
	"SELECT k, count() FROM $__events ARRAY JOIN attr_keys AS k, attr_values AS v GROUP BY k",
	"SELECT * FROM (SELECT src_ip, count() AS n FROM $__events GROUP BY src_ip) WHERE n > 3 -- noisy ones",
	"WITH 5 AS lim SELECT * FROM $__events LIMIT lim",
	"SELECT tenant FROM $__events WHERE 1 = 1 OR tenant != ''",
	"SELECT sum(failures) FROM $__failed_auth_per_minute_all",
	"SELECT t.1 FROM (SELECT tuple(1) AS t)",
	"SELECT 1.5e3, 0x1F, .5, 1_000",
	"SELECT 'ünïcode in a string', `a name`, \"another\" FROM $__events /* a comment */",
}

func TestGuardAllows(t *testing.T) {
	g := testGuard()
	for _, sql := range tenantSQL {
		toks, err := lexSQL(sql, true)
		require.NoError(t, err, sql)
		_, err = g.check(toks)
		require.NoError(t, err, sql)
	}
}

// FuzzLexSQL: the lexer never panics, its tokens are the text, and
// expansion and the guard never panic on what it accepts.
func FuzzLexSQL(f *testing.F) {
	for _, s := range append(append([]string{}, hostileSQL...), tenantSQL...) {
		f.Add(s)
	}
	g := testGuard()
	f.Fuzz(func(t *testing.T, sql string) {
		for _, strict := range []bool{false, true} {
			toks, err := lexSQL(sql, strict)
			if err != nil {
				continue
			}
			var b strings.Builder
			for _, tk := range toks {
				b.WriteString(tk.text)
			}
			if b.String() != sql {
				t.Fatalf("tokens of %q are %q", sql, b.String())
			}
			_, _ = expandMacros(toks, env)
			if strict {
				_, _ = g.check(toks)
			}
		}
	})
}
