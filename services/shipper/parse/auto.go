package parse

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Auto recognises every format that a single line tells: JSON objects
// (Zeek JSON records among them), syslog lines (sshd, sudo, su, PAM and any
// other program), access and error logs of nginx and Apache, PostgreSQL
// and MySQL logs. It keeps every other line, Zeek TSV among them, as a raw
// event with ParseError "no parser matched". It always returns true.
//
// The order, by the line's first byte (README.md, "auto"):
//
//	{         Zeek JSON (has "uid" and "id.orig_h"), else json
//	<, Mmm    syslog
//	[         Apache error log
//	YYYY-MM-DDThh  MySQL, then syslog (RFC 3339)
//	YYYY-MM-DD hh  PostgreSQL, then MySQL (5.6, MariaDB)
//	YYYY/MM/DD     nginx error log
//	other     access log, then MySQL's general log header
type Auto struct {
	// JSON parses JSON object lines that are not Zeek records.
	JSON JSON
	// Location is the time zone of timestamps that carry no offset. nil
	// means UTC.
	Location *time.Location
	// Database sessions remembered by the auto parsers New returns.
	pg, my *sessions
}

// Name returns "auto".
func (Auto) Name() string { return FormatAuto }

// Parse returns the line's event; it never returns false.
func (a Auto) Parse(in Input) (*event.Event, bool) {
	s := string(in.Line)
	ev, reason := a.match(in, s)
	if ev == nil {
		ev = rawEvent(in, s, reason)
	}
	return ev, true
}

func (a Auto) match(in Input, s string) (*event.Event, string) {
	if looksJSON(in.Line) {
		b := bytes.TrimPrefix(in.Line, []byte(bom))
		var top map[string]json.RawMessage
		if err := json.Unmarshal(b, &top); err != nil {
			return nil, "json: " + strings.TrimPrefix(err.Error(), "json: ")
		}
		if isZeekJSON(top) {
			if ev := zeekJSON(in, s, top); ev != nil {
				return ev, ""
			}
		}
		return a.JSON.object(in, s, b, top)
	}
	t := trimEOL(strings.TrimPrefix(s, bom))
	if t == "" {
		return nil, ReasonNoMatch
	}
	loc := orUTC(a.Location)
	try := func(m matcher) *event.Event {
		ev, _ := m.match(in, s)
		return ev
	}
	var ev *event.Event
	switch c := t[0]; {
	case c == '<' || len(t) > 3 && parseMonth(t[:3]) != 0:
		ev = try(Syslog{Location: loc})
	case c == '[':
		ev = try(Web{Location: loc})
	case len(t) > 11 && isDigit(c) && t[4] == '-' && t[7] == '-':
		switch t[10] {
		case 'T':
			if ev = try(MySQL{Location: loc, sess: a.my}); ev == nil {
				ev = try(Syslog{Location: loc})
			}
		case ' ':
			if ev = try(Postgres{Location: loc, sess: a.pg}); ev == nil {
				ev = try(MySQL{Location: loc, sess: a.my})
			}
		}
	case len(t) > 11 && isDigit(c) && t[4] == '/':
		ev = try(Web{Location: loc})
	default:
		if ev = try(Web{Location: loc}); ev == nil && isMySQLHeader(t) {
			ev = try(MySQL{Location: loc})
		}
	}
	if ev == nil {
		return nil, ReasonNoMatch
	}
	return ev, ""
}
