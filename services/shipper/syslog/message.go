package syslog

import (
	"bytes"
	"errors"
	"sort"
	"strconv"
	"strings"
	"time"

	gosyslog "github.com/leodido/go-syslog/v4"
	"github.com/leodido/go-syslog/v4/auto"
	"github.com/leodido/go-syslog/v4/rfc3164"
	"github.com/leodido/go-syslog/v4/rfc5424"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/parse"
)

// Attribute keys set on every syslog event (ECS names where ECS has one).
const (
	AttrPriority      = "log.syslog.priority"
	AttrFacilityCode  = "log.syslog.facility.code"
	AttrFacilityName  = "log.syslog.facility.name"
	AttrSeverityCode  = "log.syslog.severity.code"
	AttrSeverityName  = "log.syslog.severity.name"
	AttrAppName       = "log.syslog.appname"
	AttrProcID        = "log.syslog.procid"
	AttrMsgID         = "log.syslog.msgid"
	AttrVersion       = "log.syslog.version"
	AttrSDPrefix      = "log.syslog.structured_data."
	AttrSourceAddress = "log.source.address"
	AttrInput         = "vigil.input"
	AttrClientSubject = "tls.client.subject"
)

// Bounds on what a message adds to its event.
const (
	// maxSDParams is the most RFC 5424 structured-data parameters kept as
	// attributes; the others stay in event.original and are counted in
	// vigil.attrs_dropped.
	maxSDParams = 32
	// maxReason bounds a ParseError.
	maxReason = 200
	// futureSlack is how far after now a year-less RFC 3164 timestamp may
	// lie and still be read in that year: senders' clocks run a little
	// ahead, and a message stamped just after midnight on New Year's Eve
	// belongs to the new year.
	futureSlack = 24 * time.Hour
)

// sender describes where messages come from.
type sender struct {
	// transport is udp, tcp or tls.
	transport string
	// addr is the sender's ip:port; host its IP, the host.name of messages
	// that name no host.
	addr, host string
	// origin goes into event ids: transport, address and the receiver's
	// run, so that ids stay distinct across restarts.
	origin string
	// subject is the TLS client certificate's subject, when one was given.
	subject string
}

// header is what the syslog header of a message says.
type header struct {
	priority *uint8
	ts       time.Time // zero when the message has none
	host     string
	app      string
	procID   string
	msgID    string
	version  uint16 // 0 for RFC 3164
	sd       map[string]map[string]string
	body     []byte // the message after the header, as received
}

// decoder turns received messages into events. It is not safe for
// concurrent use (the syslog parser keeps state): every reading goroutine
// has its own.
type decoder struct {
	tenant  string
	loc     *time.Location
	machine gosyslog.Machine
	app     parse.Parser
	raw     parse.Parser
	clean   []byte
}

func newDecoder(tenant string, loc *time.Location) *decoder {
	app, _ := parse.New(parse.FormatAuto)
	raw, _ := parse.New(parse.FormatRaw)
	return &decoder{
		tenant: tenant,
		loc:    loc,
		machine: auto.NewMachine(
			auto.WithRFC3164Options(
				rfc3164.WithOptionalPriority(),
				rfc3164.WithRFC3339(),
				rfc3164.WithSecondFractions(),
				rfc3164.WithLenientDay(),
				rfc3164.WithEmbeddedNewlines(),
			),
			auto.WithRFC5424Options(rfc5424.WithOptionalPriority()),
		),
		app: app,
		raw: raw,
	}
}

// decode returns the event of one message. A message whose header cannot
// be read, or bytes that were not a valid frame (bad), become a raw event
// whose ParseError says why; one whose header can be read is handed, as a
// syslog file line, to the auto parser, and keeps the header's time, host
// and fields. event.original is always the message as received. seq
// numbers the messages of one origin.
func (d *decoder) decode(raw []byte, truncated bool, bad string, s *sender, seq int64, now time.Time) *event.Event {
	in := parse.Input{
		Tenant:    d.tenant,
		Host:      s.host,
		Origin:    s.origin,
		Offset:    seq,
		Truncated: truncated,
		Now:       now,
	}
	var ev *event.Event
	var h header
	var err error
	if bad == "" {
		h, err = d.header(raw, now)
	}
	switch {
	case bad != "":
		ev = d.rawEvent(in, raw, bad)
	case err != nil:
		ev = d.rawEvent(in, raw, err.Error())
	default:
		if h.host != "" {
			in.Host = h.host
		}
		in.Line = d.line(h, in.Host, now)
		ev, _ = d.app.Parse(in)
		if !h.ts.IsZero() && ev.Timestamp.Equal(now) {
			// The parser found no time of its own (a raw line, a JSON
			// object without one): the header's is the best there is.
			ev.Timestamp = h.ts.UTC()
		}
		ev.Message = event.SanitizeUTF8(string(raw))
		h.attrs(ev)
	}
	setAttr(ev, AttrInput, "syslog/"+s.transport)
	setAttr(ev, AttrSourceAddress, s.addr)
	if s.subject != "" {
		setAttr(ev, AttrClientSubject, bound(s.subject, parse.MaxAttrValue))
	}
	return ev
}

// rawEvent keeps a message that could not be read as syslog.
func (d *decoder) rawEvent(in parse.Input, raw []byte, reason string) *event.Event {
	in.Line = raw
	ev, _ := d.raw.Parse(in)
	ev.ParseError = bound("syslog: "+reason, maxReason)
	return ev
}

// header parses the syslog header of raw.
func (d *decoder) header(raw []byte, now time.Time) (header, error) {
	// The RFC 3164 grammar stops at control characters and drops the rest
	// of the message; they stand in as spaces for parsing, and the message
	// is then taken from raw itself.
	in := raw
	if bytes.ContainsFunc(raw, isControl) {
		d.clean = append(d.clean[:0], raw...)
		for i, c := range d.clean {
			if isControl(rune(c)) {
				d.clean[i] = ' '
			}
		}
		in = d.clean
	}
	m, err := d.machine.Parse(in)
	if err != nil {
		var pe *auto.ParseError
		if errors.As(err, &pe) && pe.Err != nil {
			err = pe.Err
		}
		return header{}, err
	}
	var h header
	var b *gosyslog.Base
	switch m := m.(type) {
	case *rfc5424.SyslogMessage:
		b = &m.Base
		h.version = m.Version
		if m.StructuredData != nil {
			h.sd = *m.StructuredData
		}
	case *rfc3164.SyslogMessage:
		b = &m.Base
	default:
		return header{}, errors.New("not a syslog message")
	}
	h.priority = b.Priority
	h.host, h.app, h.procID, h.msgID = deref(b.Hostname), deref(b.Appname), deref(b.ProcID), deref(b.MsgID)
	if b.Timestamp != nil {
		h.ts = d.time(*b.Timestamp, now)
	}
	if b.Message != nil {
		msg := *b.Message
		if bytes.HasSuffix(in, []byte(msg)) {
			h.body = raw[len(raw)-len(msg):]
		} else {
			h.body = []byte(msg)
		}
	}
	if h.version == 0 && h.app != "" && isBareTag(string(h.body), h.app, h.procID) {
		// "app[1]: " with nothing after it: the RFC 3164 grammar reads the
		// tag again as the message.
		h.body = nil
	}
	h.body = bytes.TrimPrefix(h.body, []byte("\ufeff"))
	return h, nil
}

// time returns a header's timestamp in UTC. An RFC 3164 timestamp has no
// year (the parser leaves it 0) and no zone: it is read in d.loc, in the
// year that puts it nearest before now (see futureSlack). A time outside
// the years an event can carry counts as none.
func (d *decoder) time(t, now time.Time) time.Time {
	if t.Year() == 0 {
		limit := now.Add(futureSlack)
		y := now.In(d.loc).Year() + 1
		for ; y > 0; y-- {
			c := time.Date(y, t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), d.loc)
			if c.Day() == t.Day() && !c.After(limit) { // Feb 29 waits for a leap year
				t = c
				break
			}
		}
	}
	if y := t.UTC().Year(); y < 1 || y > 9999 {
		return time.Time{}
	}
	return t.UTC()
}

// line writes the message as a syslog file holds it, "TIME HOST TAG: MSG",
// with an RFC 3339 time, for the auto parser. A message that is a JSON
// object (also as "@cee: {...}") is handed over alone.
func (d *decoder) line(h header, host string, now time.Time) []byte {
	body := bytes.TrimLeft(h.body, " ")
	if b, ok := bytes.CutPrefix(body, []byte("@cee:")); ok {
		body = bytes.TrimLeft(b, " ")
	}
	if len(body) > 0 && body[0] == '{' {
		return body
	}
	ts := h.ts
	if ts.IsZero() {
		ts = now
	}
	b := make([]byte, 0, 48+len(host)+len(h.app)+len(h.procID)+len(h.body))
	b = ts.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, ' ')
	b = append(b, host...)
	b = append(b, ' ')
	if h.app == "" {
		b = append(b, '-')
	} else {
		b = append(b, h.app...)
	}
	if h.procID != "" && len(h.procID) <= 10 && allDigits(h.procID) {
		b = append(b, '[')
		b = append(b, h.procID...)
		b = append(b, ']')
	}
	b = append(b, ": "...)
	return append(b, h.body...)
}

// attrs sets the header's fields on ev.
func (h *header) attrs(ev *event.Event) {
	if h.priority != nil {
		p := *h.priority
		setAttr(ev, AttrPriority, strconv.Itoa(int(p)))
		setAttr(ev, AttrFacilityCode, strconv.Itoa(int(p/8)))
		setAttr(ev, AttrFacilityName, facilities[p/8])
		setAttr(ev, AttrSeverityCode, strconv.Itoa(int(p%8)))
		setAttr(ev, AttrSeverityName, severities[p%8])
	}
	for k, v := range map[string]string{AttrAppName: h.app, AttrProcID: h.procID, AttrMsgID: h.msgID} {
		if v != "" {
			setAttr(ev, k, bound(v, parse.MaxAttrValue))
		}
	}
	if h.version > 0 {
		setAttr(ev, AttrVersion, strconv.Itoa(int(h.version)))
	}
	if len(h.sd) == 0 {
		return
	}
	ids := make([]string, 0, len(h.sd))
	for id := range h.sd {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	kept, dropped := 0, 0
	for _, id := range ids {
		params := make([]string, 0, len(h.sd[id]))
		for p := range h.sd[id] {
			params = append(params, p)
		}
		sort.Strings(params)
		if len(params) == 0 {
			params = append(params, "") // an element without parameters still says something
		}
		for _, p := range params {
			k := AttrSDPrefix + id
			if p != "" {
				k += "." + p
			}
			if kept == maxSDParams || len(k) > parse.MaxAttrKey {
				dropped++
				continue
			}
			setAttr(ev, bound(k, parse.MaxAttrKey), bound(h.sd[id][p], parse.MaxAttrValue))
			kept++
		}
	}
	if dropped > 0 {
		setAttr(ev, parse.AttrAttrsDropped, strconv.Itoa(dropped))
	}
}

// Facility and severity keywords (RFC 5424 section 6.2.1, syslog(3)).
var (
	facilities = [24]string{"kern", "user", "mail", "daemon", "auth", "syslog", "lpr", "news", "uucp", "cron",
		"authpriv", "ftp", "ntp", "security", "console", "solaris-cron",
		"local0", "local1", "local2", "local3", "local4", "local5", "local6", "local7"}
	severities = [8]string{"emerg", "alert", "crit", "err", "warning", "notice", "info", "debug"}
)

// isBareTag reports whether s is only the tag "app[pid]:" or "app:",
// with trailing spaces.
func isBareTag(s, app, pid string) bool {
	s, ok := strings.CutPrefix(s, app)
	if !ok {
		return false
	}
	if pid != "" {
		s = strings.TrimPrefix(s, "["+pid+"]")
	}
	s, ok = strings.CutPrefix(s, ":")
	return ok && strings.TrimLeft(s, " ") == ""
}

// isControl reports the C0 controls (but tab, LF and CR) and DEL.
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || r == 0x7f
}

func setAttr(ev *event.Event, k, v string) {
	if ev.Attrs == nil {
		ev.Attrs = make(map[string]string, 12)
	}
	ev.Attrs[k] = v
}

// bound makes s valid UTF-8 of at most n bytes, cut at a character.
func bound(s string, n int) string {
	s = event.SanitizeUTF8(s)
	if len(s) > n {
		s = strings.ToValidUTF8(s[:n], "")
	}
	return s
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}
