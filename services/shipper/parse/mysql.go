package parse

import (
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Attribute keys of MySQL events.
const (
	// AttrMySQLCommand is the command of a general query log line
	// ("Query", "Init DB", "Connect").
	AttrMySQLCommand = "mysql.command"
	// AttrMySQLCode is the error log's message code ("MY-010926").
	AttrMySQLCode = "error.code"
	// AttrMySQLSubsystem is MySQL 8's error log subsystem ("Server").
	AttrMySQLSubsystem = "mysql.subsystem"
	// AttrUsingPassword is "YES" or "NO" of "Access denied … (using
	// password: YES)".
	AttrUsingPassword = "mysql.using_password"
	// AttrReasonText is the reason a server gave ("Got an error reading
	// communication packets").
	AttrReasonText = "error.message"
)

// MySQL parses MySQL's (≥ 5.7) and MariaDB's general query log
// ("2026-01-02T10:00:00.123456Z\t   12 Query\tSELECT 1") and error log
// ("2026-01-02T10:00:00.123456Z 12 [Note] [MY-010926] [Server] Access
// denied for user 'x'@'192.0.2.5' (using password: YES)", also the
// 5.7 form without code and subsystem, and "2026-01-02 10:00:00 12
// [Warning] …" of 5.6 and MariaDB). It returns false for other lines.
//
// A parser New returns remembers the user and client of each thread from
// its Connect line and gives them to the thread's later lines, up to 8192
// open threads; the zero MySQL does not.
type MySQL struct {
	// Location is the zone of "2006-01-02 15:04:05" timestamps, which
	// carry none. nil means UTC.
	Location *time.Location
	sess     *sessions
}

// Name returns "mysql".
func (MySQL) Name() string { return FormatMySQL }

// Parse returns the event of a MySQL log line, or false.
func (p MySQL) Parse(in Input) (*event.Event, bool) {
	ev, _ := p.match(in, string(in.Line))
	return ev, ev != nil
}

func (p MySQL) match(in Input, s string) (*event.Event, string) {
	t := trimEOL(strings.TrimPrefix(s, bom))
	if isMySQLHeader(t) {
		ev := newEvent(in, s, FormatMySQL)
		ev.Category, ev.Action = event.CategoryDatabase, ActionLogHeader
		ev.Attrs = map[string]string{AttrDBSystem: "mysql"}
		finish(ev, in)
		return ev, ""
	}
	ts, rest, ok := mysqlTime(t, orUTC(p.Location))
	if !ok {
		return nil, "mysql: no timestamp"
	}
	r := strings.TrimLeft(rest, " \t")
	thread, r := leadingDigits(r)
	if thread == "" || len(thread) > 20 || len(r) < 2 || (r[0] != ' ' && r[0] != '\t') {
		return nil, "mysql: no thread id"
	}
	ev := newEvent(in, s, FormatMySQL)
	ev.Timestamp = ts
	ev.Category, ev.Action, ev.Protocol = event.CategoryDatabase, ActionDBOther, "mysql"
	ev.Attrs = make(map[string]string, 8)
	ev.Attrs[AttrDBSystem] = "mysql"
	r = r[1:]
	if strings.HasPrefix(r, "[") {
		mysqlError(ev, r)
	} else {
		ev.Attrs[AttrSessionID] = thread
		p.general(ev, in.Origin, thread, r)
	}
	finish(ev, in)
	return ev, ""
}

// isMySQLHeader reports whether t is one of the lines the general query
// log starts with.
func isMySQLHeader(t string) bool {
	switch {
	case strings.HasPrefix(t, "Tcp port: "):
		return true
	case strings.HasPrefix(t, "Time ") && strings.HasSuffix(t, "Command    Argument"):
		return true
	case strings.Contains(t, ", Version: ") && strings.HasSuffix(t, "started with:"):
		return true
	}
	return false
}

// mysqlTime reads "2006-01-02T15:04:05.000000Z" (or with an offset, as
// log_timestamps=SYSTEM writes) or "2006-01-02 15:04:05" (in loc).
func mysqlTime(s string, loc *time.Location) (time.Time, string, bool) {
	if len(s) >= 19 && s[10] == ' ' {
		c, i, ok := parseCivil(s, '-')
		if !ok || i < len(s) && s[i] != ' ' && s[i] != '\t' {
			return time.Time{}, s, false
		}
		t := c.in(loc)
		return t.UTC(), s[i:], validTime(t)
	}
	return parseRFC3339Prefix(s, loc)
}

// general reads a general query log entry: "COMMAND\tARGUMENT".
func (p MySQL) general(ev *event.Event, origin, thread, r string) {
	cmd, arg, _ := strings.Cut(r, "\t")
	cmd = strings.TrimSpace(cmd)
	if cmd == "" {
		return
	}
	ev.Attrs[AttrMySQLCommand] = cmd
	c, known := p.sess.get(origin, thread)
	switch cmd {
	case "Connect":
		if r, ok := strings.CutPrefix(arg, "Access denied for user "); ok {
			accessDenied(ev, r)
			return
		}
		// "app@192.0.2.5 on shop using TCP/IP"
		who, rest := cutWord(arg)
		i := strings.LastIndexByte(who, '@')
		if i < 0 {
			return
		}
		ev.User = who[:i]
		setHostOrIP(ev, who[i+1:])
		if _, r, ok := strings.Cut(rest, "on "); ok {
			if db, _ := cutWord(r); db != "" && db != "using" {
				ev.Attrs[AttrDBName] = db
			}
		}
		ev.Category, ev.Action, ev.Outcome = event.CategoryAuthentication, ActionDBLogin, event.OutcomeSuccess
		p.sess.put(origin, thread, client{ip: ev.SrcIP, user: ev.User})
		return
	case "Query", "Execute", "Prepare":
		ev.Action = ActionDBQuery
		ev.Attrs[AttrDBStatement] = truncateUTF8(arg, MaxAttrValue)
	case "Quit":
		ev.Action = ActionDBDisconnect
		p.sess.drop(origin, thread)
	case "Init DB":
		ev.Action = ActionDBCommand
		ev.Attrs[AttrDBName] = arg
	default:
		ev.Action = ActionDBCommand
		if arg != "" {
			ev.Attrs[AttrDBStatement] = truncateUTF8(arg, MaxAttrValue)
		}
	}
	if known {
		ev.User, ev.SrcIP = c.user, c.ip
	}
}

// accessDenied reads "'x'@'192.0.2.5' (using password: YES)".
func accessDenied(ev *event.Event, r string) {
	ev.Category, ev.Action, ev.Outcome = event.CategoryAuthentication, ActionDBLogin, event.OutcomeFailure
	user, r := sqlQuoted(r)
	ev.User = user
	if h, ok := strings.CutPrefix(r, "@"); ok {
		host, rest := sqlQuoted(h)
		setHostOrIP(ev, host)
		if _, p, ok := strings.Cut(rest, "(using password: "); ok {
			ev.Attrs[AttrUsingPassword] = strings.TrimSuffix(p, ")")
		}
	}
}

// sqlQuoted reads a single-quoted name at the start of s.
func sqlQuoted(s string) (v, rest string) {
	if len(s) < 2 || s[0] != '\'' {
		w, rest := cutWord(s)
		return w, rest
	}
	i := strings.IndexByte(s[1:], '\'')
	if i < 0 {
		return s[1:], ""
	}
	return s[1 : i+1], s[i+2:]
}

// mysqlError reads an error log entry after the thread id: "[Level]
// [MY-NNNNNN] [Subsystem] MESSAGE" or "[Level] MESSAGE".
func mysqlError(ev *event.Event, r string) {
	for i := 0; strings.HasPrefix(r, "[") && i < 3; i++ {
		end := strings.IndexByte(r, ']')
		if end < 0 {
			break
		}
		part := r[1:end]
		switch {
		case i == 0:
			ev.Attrs[AttrLogLevel] = strings.ToLower(part)
		case strings.HasPrefix(part, "MY-"):
			ev.Attrs[AttrMySQLCode] = part
		default:
			ev.Attrs[AttrMySQLSubsystem] = part
		}
		r = strings.TrimPrefix(r[end+1:], " ")
	}
	msg := r
	switch {
	case strings.HasPrefix(msg, "Access denied for user "):
		accessDenied(ev, msg[len("Access denied for user "):])
	case strings.HasPrefix(msg, "Aborted connection "):
		// "Aborted connection 9 to db: 'shop' user: 'app' host: '192.0.2.5' (Got an error reading communication packets)."
		ev.Action, ev.Outcome = ActionDBAborted, event.OutcomeFailure
		r := msg[len("Aborted connection "):]
		id, r := cutWord(r)
		ev.Attrs[AttrSessionID] = id
		for _, k := range []string{"db: ", "user: ", "host: "} {
			i := strings.Index(r, k)
			if i < 0 {
				continue
			}
			v, rest := sqlQuoted(r[i+len(k):])
			switch k {
			case "db: ":
				if v != "unconnected" && v != "" {
					ev.Attrs[AttrDBName] = v
				}
			case "user: ":
				ev.User = v
			case "host: ":
				setHostOrIP(ev, v)
			}
			r = rest
		}
		if i := strings.IndexByte(r, '('); i >= 0 {
			ev.Attrs[AttrReasonText] = strings.TrimRight(r[i+1:], ").")
		}
	case strings.HasPrefix(msg, "Host '") && strings.Contains(msg, "is blocked because of many connection errors"):
		ev.Category, ev.Action, ev.Outcome = event.CategoryAuthentication, ActionDBLogin, event.OutcomeFailure
		host, _ := sqlQuoted(msg[len("Host "):])
		setHostOrIP(ev, host)
	}
	if lvl := ev.Attrs[AttrLogLevel]; ev.Action == ActionDBOther && (lvl == "error" || lvl == "err") {
		ev.Action, ev.Outcome = ActionDBError, event.OutcomeFailure
	}
}
