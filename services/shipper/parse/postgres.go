package parse

import (
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Actions of database lines, PostgreSQL's and MySQL's (event.action).
const (
	// ActionDBConnection is a client connecting, before authentication.
	ActionDBConnection = "db_connection"
	// ActionDBLogin is an authentication: success ("connection
	// authorized", MySQL's Connect) or failure ("password authentication
	// failed", "no pg_hba.conf entry", "Access denied").
	ActionDBLogin = "db_login"
	// ActionDBAuthenticated is PostgreSQL's "connection authenticated"
	// (≥ 14), logged before "connection authorized".
	ActionDBAuthenticated = "db_authenticated"
	// ActionDBDisconnect is a session ending; Value is its length in
	// seconds when the server says it.
	ActionDBDisconnect = "db_disconnect"
	// ActionDBQuery is a statement (log_statement, the general query log);
	// Value is its duration in milliseconds when the server says it.
	ActionDBQuery = "db_query"
	// ActionDBDuration is PostgreSQL's duration line without its statement.
	ActionDBDuration = "db_duration"
	// ActionDBCommand is any other command of MySQL's general query log
	// (Init DB, Field List, Ping, …).
	ActionDBCommand = "db_command"
	// ActionDBError is an error the server reports (ERROR, FATAL, PANIC).
	ActionDBError = "db_error"
	// ActionDBAborted is MySQL's "Aborted connection".
	ActionDBAborted = "db_aborted_connection"
	// ActionDBOther is any other line.
	ActionDBOther = "db_other"
	// ActionLogHeader is a header line a server writes when it opens a log
	// (MySQL's general log, Zeek's #fields); it describes the file.
	ActionLogHeader = "log_header"
)

// Attribute keys of database events.
const (
	// AttrDBName is the database.
	AttrDBName = "db.name"
	// AttrDBStatement is the statement or query text.
	AttrDBStatement = "db.statement"
	// AttrDBSystem is "postgresql" or "mysql".
	AttrDBSystem = "db.system"
	// AttrApplication is PostgreSQL's application_name.
	AttrApplication = "db.application"
	// AttrSessionID is MySQL's thread (connection) id.
	AttrSessionID = "db.session_id"
)

// pgSeverities are the severities a PostgreSQL line can carry, before
// ":  MESSAGE".
var pgSeverities = map[string]bool{
	"LOG": true, "FATAL": true, "ERROR": true, "WARNING": true, "NOTICE": true,
	"INFO": true, "PANIC": true, "DETAIL": true, "HINT": true, "STATEMENT": true,
	"CONTEXT": true, "QUERY": true, "LOCATION": true, "DEBUG": true, "DEBUG1": true,
	"DEBUG2": true, "DEBUG3": true, "DEBUG4": true, "DEBUG5": true,
}

// Postgres parses PostgreSQL's stderr log: log_line_prefix '%m [%p] '
// (the default), '%m [%p] %q%u@%d ' (Debian's), '%t [%p]: [%l-1]
// user=%u,db=%d,app=%a,client=%h ' and the like: a timestamp first, then
// anything up to "SEVERITY:  MESSAGE". It returns false for other lines.
//
// A parser New returns remembers the client address of each session from
// its "connection received" line and gives it to the session's later lines
// (by origin and process id), up to 8192 open sessions; the zero Postgres
// does not.
type Postgres struct {
	// Location is the zone of timestamps whose zone is a name other than
	// UTC or GMT (log_timezone). nil means UTC.
	Location *time.Location
	sess     *sessions
}

// Name returns "postgres".
func (Postgres) Name() string { return FormatPostgres }

// Parse returns the event of a PostgreSQL log line, or false.
func (p Postgres) Parse(in Input) (*event.Event, bool) {
	ev, _ := p.match(in, string(in.Line))
	return ev, ev != nil
}

func (p Postgres) match(in Input, s string) (*event.Event, string) {
	t := trimEOL(strings.TrimPrefix(s, bom))
	ts, rest, ok := pgTime(t, orUTC(p.Location))
	if !ok {
		return nil, "postgres: no timestamp"
	}
	prefix, severity, msg, ok := pgSplit(rest)
	if !ok {
		return nil, "postgres: no severity"
	}
	ev := newEvent(in, s, FormatPostgres)
	ev.Timestamp = ts
	ev.Category, ev.Action, ev.Protocol = event.CategoryDatabase, ActionDBOther, "postgresql"
	ev.Attrs = make(map[string]string, 8)
	ev.Attrs[AttrDBSystem] = "postgresql"
	ev.Attrs[AttrLogLevel] = strings.ToLower(severity)
	pgPrefix(ev, prefix)
	pid := ev.Attrs[AttrPID]
	switch severity {
	case "LOG":
		p.pgLog(ev, in.Origin, pid, msg)
	case "FATAL", "ERROR", "PANIC":
		pgError(ev, msg)
	}
	if c, ok := p.sess.get(in.Origin, pid); ok {
		if ev.SrcIP == "" {
			ev.SrcIP, ev.SrcPort = c.ip, c.port
		}
		if ev.User == "" {
			ev.User = c.user
		}
	}
	finish(ev, in)
	return ev, ""
}

// pgTime reads "2006-01-02 15:04:05[.000] ZONE " at the start of s.
func pgTime(s string, loc *time.Location) (time.Time, string, bool) {
	c, i, ok := parseCivil(s, '-')
	if !ok || s[10] != ' ' || i >= len(s) || s[i] != ' ' {
		return time.Time{}, s, false
	}
	zone, rest := cutWord(s[i+1:])
	t := c.in(time.UTC)
	switch {
	case zone == "UTC" || zone == "GMT" || zone == "Z":
	case zone != "" && (zone[0] == '+' || zone[0] == '-'):
		z := zone
		if len(z) == 3 {
			z += "00" // "+03"
		}
		off, ok := parseOffset(z)
		if !ok {
			return time.Time{}, s, false
		}
		t = t.Add(-off)
	case isZoneName(zone):
		t = c.in(loc)
	default:
		return time.Time{}, s, false
	}
	if !validTime(t) {
		return time.Time{}, s, false
	}
	return t.UTC(), rest, true
}

// isZoneName reports whether s looks like a zone abbreviation: 2 to 6
// letters.
func isZoneName(s string) bool {
	if len(s) < 2 || len(s) > 6 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 'A' || c > 'Z' {
			return false
		}
	}
	return true
}

// pgSplit finds "SEVERITY:  " in s and returns what precedes it (the rest
// of the prefix), the severity and the message.
func pgSplit(s string) (prefix, severity, msg string, ok bool) {
	for off := 0; off < len(s); {
		i := strings.Index(s[off:], ":  ")
		if i < 0 {
			return "", "", "", false
		}
		i += off
		j := strings.LastIndexByte(s[:i], ' ') + 1
		if w := s[j:i]; pgSeverities[w] {
			return s[:j], w, s[i+3:], true
		}
		off = i + 1
	}
	return "", "", "", false
}

// pgPrefix reads what the log_line_prefix put before the severity: "[pid]"
// or "[pid-n]", "user@db", "key=value" pairs (user, db, app, client, host,
// remote), a bare address.
func pgPrefix(ev *event.Event, prefix string) {
	for prefix != "" {
		var w string
		w, prefix = cutWord(skipSpaces(prefix))
		w = strings.TrimSuffix(w, ":")
		if w == "" {
			continue
		}
		if w[0] == '[' && w[len(w)-1] == ']' {
			inner := w[1 : len(w)-1]
			if n, _ := leadingDigits(inner); n != "" && ev.Attrs[AttrPID] == "" {
				ev.Attrs[AttrPID] = n
			}
			continue
		}
		if strings.IndexByte(w, '=') >= 0 {
			for _, kv := range strings.Split(w, ",") {
				k, v, _ := strings.Cut(kv, "=")
				if v == "" || v == "[unknown]" {
					continue
				}
				switch k {
				case "user", "usr":
					ev.User = v
				case "db", "database":
					ev.Attrs[AttrDBName] = v
				case "app", "application":
					ev.Attrs[AttrApplication] = v
				case "client", "host", "remote", "rhost":
					setPgClient(ev, v)
				}
			}
			continue
		}
		if user, db, ok := strings.Cut(w, "@"); ok {
			if user != "" && user != "[unknown]" {
				ev.User = user
			}
			if db != "" && db != "[unknown]" {
				ev.Attrs[AttrDBName] = db
			}
			continue
		}
		setPgClient(ev, w)
	}
}

// setPgClient reads "IP" or "IP(port)" (%h, %r).
func setPgClient(ev *event.Event, v string) {
	a, port, _ := strings.Cut(v, "(")
	if ip, ok := normIP(a); ok {
		ev.SrcIP = ip
		ev.SrcPort, _ = parsePort(port)
	}
}

// pgLog classifies a LOG message.
func (p Postgres) pgLog(ev *event.Event, origin, pid, msg string) {
	switch {
	case strings.HasPrefix(msg, "connection received: "):
		// "connection received: host=192.0.2.5 port=51234"
		ev.Action = ActionDBConnection
		if h := field(msg, " host="); h != "" {
			setPgClient(ev, h)
			ev.SrcPort, _ = parsePort(field(msg, " port="))
			if ev.SrcIP != "" {
				p.sess.put(origin, pid, client{ip: ev.SrcIP, port: ev.SrcPort})
			}
		}
	case strings.HasPrefix(msg, "connection authorized: "), strings.HasPrefix(msg, "replication connection authorized: "):
		// "connection authorized: user=app database=shop application_name=psql SSL enabled (…)"
		ev.Category, ev.Action, ev.Outcome = event.CategoryAuthentication, ActionDBLogin, event.OutcomeSuccess
		pgUserDB(ev, msg)
		if c, ok := p.sess.get(origin, pid); ok {
			c.user = ev.User
			p.sess.put(origin, pid, c)
		}
	case strings.HasPrefix(msg, "connection authenticated: "):
		// PostgreSQL ≥ 14: "connection authenticated: identity="app" method=scram-sha-256 (…)"
		ev.Category, ev.Action, ev.Outcome = event.CategoryAuthentication, ActionDBAuthenticated, event.OutcomeSuccess
		if m := field(msg, " method="); m != "" {
			ev.Attrs[AttrAuthMethod] = m
		}
	case strings.HasPrefix(msg, "disconnection: session time: "):
		// "disconnection: session time: 0:00:05.123 user=app database=shop host=192.0.2.5 port=51234"
		ev.Action = ActionDBDisconnect
		d, _ := cutWord(msg[len("disconnection: session time: "):])
		if secs, ok := pgInterval(d); ok {
			ev.Value = secs
		}
		pgUserDB(ev, msg)
		if h := field(msg, " host="); h != "" {
			setPgClient(ev, h)
			ev.SrcPort, _ = parsePort(field(msg, " port="))
		}
		p.sess.drop(origin, pid)
	case strings.HasPrefix(msg, "duration: "):
		// "duration: 0.412 ms  statement: SELECT 1"
		ev.Action = ActionDBDuration
		v, rest := cutWord(msg[len("duration: "):])
		if ms, ok := parseDecimal(v); ok && strings.HasPrefix(rest, "ms") {
			ev.Value = ms
		}
		if _, stmt, ok := strings.Cut(rest, "  "); ok {
			if pgStatement(ev, stmt) {
				ev.Action = ActionDBQuery
			}
		}
	default:
		if pgStatement(ev, msg) {
			ev.Action = ActionDBQuery
		}
	}
}

// pgStatement reads "statement: SQL" or "execute NAME: SQL".
func pgStatement(ev *event.Event, msg string) bool {
	if sql, ok := strings.CutPrefix(msg, "statement: "); ok {
		ev.Attrs[AttrDBStatement] = truncateUTF8(sql, MaxAttrValue)
		return true
	}
	if r, ok := strings.CutPrefix(msg, "execute "); ok {
		if _, sql, ok := strings.Cut(r, ": "); ok {
			ev.Attrs[AttrDBStatement] = truncateUTF8(sql, MaxAttrValue)
			return true
		}
	}
	return false
}

// pgUserDB reads " user=U database=D application_name=A".
func pgUserDB(ev *event.Event, msg string) {
	if u := field(msg, " user="); u != "" {
		ev.User = u
	}
	if d := field(msg, " database="); d != "" {
		ev.Attrs[AttrDBName] = d
	}
	if a := field(msg, " application_name="); a != "" {
		ev.Attrs[AttrApplication] = a
	}
}

// pgError classifies a FATAL, ERROR or PANIC message: failed logins, or
// errors.
func pgError(ev *event.Event, msg string) {
	ev.Action, ev.Outcome = ActionDBError, event.OutcomeFailure
	switch {
	case strings.Contains(msg, " authentication failed for user "):
		// `password authentication failed for user "bob"` (also ident,
		// peer, md5, scram, LDAP, PAM, RADIUS, cert)
		method, _, _ := strings.Cut(msg, " authentication failed")
		_, u, _ := strings.Cut(msg, " for user ")
		ev.User = unquote(u)
		ev.Attrs[AttrAuthMethod] = method
	case strings.HasPrefix(msg, "no pg_hba.conf entry for "), strings.HasPrefix(msg, "pg_hba.conf rejects connection for "):
		// `no pg_hba.conf entry for host "192.0.2.9", user "x", database "y", SSL off`
		_, r, _ := strings.Cut(msg, " for ")
		for _, part := range strings.Split(r, ", ") {
			k, v, _ := strings.Cut(part, " ")
			switch k {
			case "host":
				setPgClient(ev, unquote(v))
			case "user":
				ev.User = unquote(v)
			case "database":
				ev.Attrs[AttrDBName] = unquote(v)
			}
		}
	case strings.HasPrefix(msg, `role "`) && strings.HasSuffix(msg, `" does not exist`):
		ev.User = msg[len(`role "`) : len(msg)-len(`" does not exist`)]
		ev.Attrs[AttrUserInvalid] = "true"
	case strings.HasPrefix(msg, `database "`) && strings.HasSuffix(msg, `" does not exist`):
		ev.Attrs[AttrDBName] = msg[len(`database "`) : len(msg)-len(`" does not exist`)]
	default:
		return
	}
	ev.Category, ev.Action = event.CategoryAuthentication, ActionDBLogin
}

// unquote drops the double quotes around a PostgreSQL name.
func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' {
		if i := strings.IndexByte(s[1:], '"'); i >= 0 {
			return s[1 : i+1]
		}
	}
	return s
}

// pgInterval reads "H:MM:SS.fff" into seconds.
func pgInterval(s string) (float64, bool) {
	h, r, ok1 := strings.Cut(s, ":")
	m, sec, ok2 := strings.Cut(r, ":")
	hv, ok3 := atoiFixed(h)
	mv, ok4 := atoiFixed(m)
	sv, ok5 := parseDecimal(sec)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 {
		return 0, false
	}
	return float64(hv)*3600 + float64(mv)*60 + sv, true
}

// parseDecimal reads "123" or "123.456".
func parseDecimal(s string) (float64, bool) {
	ip, fp, _ := strings.Cut(s, ".")
	if ip == "" || len(ip) > 9 || !allDigits(ip) || len(fp) > 9 || !allDigits(fp) {
		return 0, false
	}
	v, _ := atoiFixed(ip)
	f := float64(v)
	if fp != "" {
		n, _ := atoiFixed(fp)
		scale := 1.0
		for range len(fp) {
			scale *= 10
		}
		f += float64(n) / scale
	}
	return f, true
}
