package parse

import (
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Actions of web server lines (event.action).
const (
	// ActionHTTPRequest is one request of an access log (also Zeek's
	// http.log); the outcome is failure for a status of 400 or more.
	ActionHTTPRequest = "http_request"
	// ActionHTTPAuth is a failed HTTP basic authentication in an error log
	// (wrong password, unknown user).
	ActionHTTPAuth = "http_auth"
	// ActionHTTPAccessDenied is a request the server's rules refused
	// ("client denied by server configuration", "access forbidden by rule",
	// "Directory index forbidden by rule").
	ActionHTTPAccessDenied = "http_access_denied"
	// ActionHTTPError is any other error log line.
	ActionHTTPError = "http_error"
)

// DatasetAccess is the event.dataset of access log lines read by auto,
// which cannot tell nginx from Apache.
const DatasetAccess = "access"

// Attribute keys of web events (ECS names where ECS has one).
const (
	AttrHTTPMethod   = "http.request.method"
	AttrURL          = "url.original"
	AttrHTTPVersion  = "http.version"
	AttrHTTPStatus   = "http.response.status_code"
	AttrHTTPReferrer = "http.request.referrer"
	AttrUserAgent    = "user_agent.original"
	// AttrHTTPRequestLine is the request line when it is not "METHOD
	// TARGET PROTOCOL" (scanners send anything).
	AttrHTTPRequestLine = "http.request.line"
	// AttrForwardedFor is the X-Forwarded-For header nginx's "main" format
	// appends.
	AttrForwardedFor = "http.request.x_forwarded_for"
	// AttrURLDomain is the virtual host (Apache vhost_combined, nginx
	// "server:"/"host:").
	AttrURLDomain = "url.domain"
	// AttrAccessExtra is whatever an access line carries after the
	// combined format's fields.
	AttrAccessExtra = "access.extra"
	// AttrErrorCode is Apache's message code ("AH01630").
	AttrErrorCode = "error.code"
	// AttrModule is the Apache module of an error line ("core", "authz_core").
	AttrModule = "apache.module"
)

// Web parses the lines of nginx and Apache httpd: access logs in the common
// and combined formats (also Apache's vhost_combined, nginx's "main" with
// X-Forwarded-For, and anything appended), Apache error logs (2.2 and 2.4)
// and nginx error logs. It returns false for other lines.
type Web struct {
	// Server is "nginx" or "apache": the event.dataset of the lines. Empty
	// (auto) names access lines "access" and error lines by their server.
	Server string
	// Location is the time zone of nginx error log times, which carry no
	// offset. nil means UTC.
	Location *time.Location
}

// Name returns the server's name, or "access".
func (w Web) Name() string {
	if w.Server == "" {
		return DatasetAccess
	}
	return w.Server
}

// Parse returns the event of an access or error log line, or false.
func (w Web) Parse(in Input) (*event.Event, bool) {
	ev, _ := w.match(in, string(in.Line))
	return ev, ev != nil
}

func (w Web) match(in Input, s string) (*event.Event, string) {
	t := trimEOL(strings.TrimPrefix(s, bom))
	var ev *event.Event
	switch {
	case strings.HasPrefix(t, "["):
		ev = apacheError(in, s, t, orDefault(w.Server, FormatApache))
	case len(t) > 10 && t[4] == '/' && t[7] == '/':
		ev = nginxError(in, s, t, orDefault(w.Server, FormatNginx), orUTC(w.Location))
	default:
		ev = accessLine(in, s, t, w.Name())
	}
	if ev == nil {
		return nil, w.Name() + ": not an access or error log line"
	}
	finish(ev, in)
	return ev, ""
}

// accessLine reads "HOST IDENT USER [DATE] "REQUEST" STATUS BYTES[ "REFERER"
// "USER-AGENT"[ …]]", with an optional "VHOST:PORT " first.
func accessLine(in Input, s, t, dataset string) *event.Event {
	open := strings.Index(t, " [")
	if open < 0 {
		return nil
	}
	head := t[:open]
	host, r, ok := strings.Cut(head, " ")
	if !ok {
		return nil
	}
	var vhost string
	if _, isIP := normIP(host); !isIP && strings.Count(head, " ") == 3 {
		// Apache vhost_combined: "www.example.com:443 192.0.2.1 - - [...]"
		if h, rest, _ := strings.Cut(r, " "); h != "" {
			if _, ok := normIP(h); ok {
				vhost, host, r = host, h, rest
			}
		}
	}
	_, user, ok := strings.Cut(r, " ") // ident, then the user
	if !ok || host == "" {
		return nil
	}
	t = t[open+2:]
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return nil
	}
	ts, ok := accessTime(t[:end])
	if !ok {
		return nil
	}
	t = t[end+1:]
	request, t, ok := quoted(strings.TrimPrefix(t, " "))
	if !ok {
		return nil
	}
	statusText, t := cutWord(strings.TrimPrefix(t, " "))
	if len(statusText) != 3 || !allDigits(statusText) {
		return nil
	}
	bytesText, t := cutWord(t)
	if bytesText != "-" && (bytesText == "" || len(bytesText) > 19 || !allDigits(bytesText)) {
		return nil
	}

	ev := newEvent(in, s, dataset)
	ev.Timestamp = ts
	ev.Category, ev.Action, ev.Protocol = event.CategoryWeb, ActionHTTPRequest, "http"
	ev.Attrs = make(map[string]string, 8)
	setHostOrIP(ev, host)
	if user != "-" && user != "" {
		ev.User = user
	}
	if vhost != "" {
		name, port, _ := strings.Cut(vhost, ":")
		ev.Attrs[AttrURLDomain] = name
		ev.DstPort, _ = parsePort(port)
	}
	setRequest(ev, request)
	setStatus(ev, statusText)
	if bytesText != "-" {
		ev.BytesIn = parseUint(bytesText)
	}
	// Combined: "REFERER" "USER-AGENT"; nginx main: "X-FORWARDED-FOR".
	for _, key := range []string{AttrHTTPReferrer, AttrUserAgent, AttrForwardedFor} {
		v, rest, ok := quoted(t)
		if !ok {
			break
		}
		t = rest
		if v != "-" && v != "" {
			ev.Attrs[key] = v
		}
		t = strings.TrimPrefix(t, " ")
	}
	if t = strings.TrimSpace(t); t != "" {
		ev.Attrs[AttrAccessExtra] = truncateUTF8(t, MaxAttrValue)
	}
	return ev
}

// setHostOrIP sets the source address, or source.domain for a name
// (HostnameLookups On).
func setHostOrIP(ev *event.Event, host string) {
	if ip, ok := normIP(host); ok {
		ev.SrcIP = ip
	} else if isHostname(host) {
		ev.Attrs[AttrSourceDomain] = host
	}
}

// setRequest reads "METHOD TARGET HTTP/x.y" into its attributes, or keeps
// an odd request line whole.
func setRequest(ev *event.Event, request string) {
	if request == "-" || request == "" {
		return
	}
	method, rest, ok := strings.Cut(request, " ")
	if ok && isMethod(method) {
		target, proto, _ := strings.Cut(rest, " ")
		ev.Attrs[AttrHTTPMethod] = method
		ev.Attrs[AttrURL] = target
		if v, ok := strings.CutPrefix(proto, "HTTP/"); ok {
			ev.Attrs[AttrHTTPVersion] = v
		}
		return
	}
	ev.Attrs[AttrHTTPRequestLine] = request
}

// setStatus sets the status attribute and the outcome: failure for 4xx and
// 5xx, success below.
func setStatus(ev *event.Event, status string) {
	ev.Attrs[AttrHTTPStatus] = status
	if status >= "400" {
		ev.Outcome = event.OutcomeFailure
	} else if status >= "100" {
		ev.Outcome = event.OutcomeSuccess
	}
}

// isMethod reports whether s looks like an HTTP method: upper-case letters
// (and '-', as in VERSION-CONTROL), at most 20.
func isMethod(s string) bool {
	if s == "" || len(s) > 20 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'A' || c > 'Z') && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// quoted reads a double-quoted string at the start of s, as Apache and nginx
// write them (a backslash escapes the next byte), and returns it without
// its quotes, still escaped, and what follows.
func quoted(s string) (v, rest string, ok bool) {
	if len(s) == 0 || s[0] != '"' {
		return "", s, false
	}
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case '"':
			return s[1:i], s[i+1:], true
		}
	}
	return "", s, false
}

// accessTime reads "10/Oct/2000:13:55:36 -0700" (Apache's %t, nginx's
// $time_local) or an RFC 3339 time (nginx's $time_iso8601).
func accessTime(s string) (time.Time, bool) {
	if len(s) > 0 && isDigit(s[0]) && len(s) >= 19 && s[4] == '-' {
		t, rest, ok := parseRFC3339Prefix(s, time.UTC)
		return t, ok && rest == ""
	}
	// 02/Jan/2006:15:04:05 -0700
	if len(s) < 26 || s[2] != '/' || s[6] != '/' || s[11] != ':' || s[20] != ' ' {
		return time.Time{}, false
	}
	d, ok1 := atoiFixed(s[0:2])
	m := parseMonth(s[3:6])
	y, ok2 := atoiFixed(s[7:11])
	hh, mm, ss, ok3 := parseClock(s[12:20])
	if !ok1 || !ok2 || !ok3 || m == 0 || d < 1 || d > daysIn(m, y) {
		return time.Time{}, false
	}
	off, ok := parseOffset(s[21:])
	if !ok {
		return time.Time{}, false
	}
	t := time.Date(y, m, d, hh, mm, ss, 0, time.UTC).Add(-off)
	return t, validTime(t)
}

// parseOffset reads "+hhmm", "-hhmm" or "+hh:mm".
func parseOffset(s string) (time.Duration, bool) {
	if len(s) < 5 || (s[0] != '+' && s[0] != '-') {
		return 0, false
	}
	digits := s[1:]
	if len(digits) == 5 && digits[2] == ':' {
		digits = digits[:2] + digits[3:]
	}
	if len(digits) != 4 {
		return 0, false
	}
	hh, ok1 := atoiFixed(digits[:2])
	mm, ok2 := atoiFixed(digits[2:])
	if !ok1 || !ok2 || hh > 23 || mm > 59 {
		return 0, false
	}
	off := time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute
	if s[0] == '-' {
		off = -off
	}
	return off, true
}

// parseUint reads decimal digits (at most 19, checked by the caller).
func parseUint(s string) uint64 {
	var n uint64
	for i := 0; i < len(s); i++ {
		n = n*10 + uint64(s[i]-'0')
	}
	return n
}

// apacheError reads an Apache error log line:
// "[Sun Dec 04 04:47:44 2005] [error] [client 192.0.2.1] MESSAGE" (2.2) or
// "[Wed Oct 11 14:32:52.123456 2000] [core:error] [pid 35708:tid 4328636416]
// [client 192.0.2.1:6093] AH00126: MESSAGE" (2.4).
func apacheError(in Input, s, t, dataset string) *event.Event {
	end := strings.IndexByte(t, ']')
	if end < 0 {
		return nil
	}
	ts, ok := apacheTime(t[1:end])
	if !ok {
		return nil
	}
	ev := newEvent(in, s, dataset)
	ev.Timestamp = ts
	ev.Category, ev.Action, ev.Protocol = event.CategoryWeb, ActionHTTPError, "http"
	ev.Attrs = make(map[string]string, 6)
	t = t[end+1:]
	first := true
	for {
		t = strings.TrimPrefix(t, " ")
		if !strings.HasPrefix(t, "[") {
			break
		}
		end := strings.IndexByte(t, ']')
		if end < 0 {
			break
		}
		part := t[1:end]
		switch {
		case first:
			// "error" or "core:error"
			if mod, level, ok := strings.Cut(part, ":"); ok {
				ev.Attrs[AttrModule] = mod
				part = level
			}
			ev.Attrs[AttrLogLevel] = part
		case strings.HasPrefix(part, "pid "):
			pid, _, _ := strings.Cut(part[len("pid "):], ":")
			ev.Attrs[AttrPID] = pid
		case strings.HasPrefix(part, "client "), strings.HasPrefix(part, "remote "):
			_, a, _ := strings.Cut(part, " ")
			setHostPort(ev, a)
		default:
			return finishWebError(ev, t)
		}
		first = false
		t = t[end+1:]
	}
	if first {
		return nil // no level: not an error log line
	}
	return finishWebError(ev, t)
}

// finishWebError classifies the message of an error log line.
func finishWebError(ev *event.Event, msg string) *event.Event {
	if code, rest, ok := strings.Cut(msg, ": "); ok && len(code) == 7 && strings.HasPrefix(code, "AH") && allDigits(code[2:]) {
		ev.Attrs[AttrErrorCode] = code
		msg = rest
	}
	switch {
	case strings.HasPrefix(msg, "user "):
		// Apache: `user alice: authentication failure for "/x": Password Mismatch`,
		// `user bob not found: /x`; nginx: `user "alice": password mismatch`,
		// `user "bob" was not found in "/etc/nginx/.htpasswd"`.
		r := msg[len("user "):]
		var user string
		if v, rest, ok := quoted(r); ok {
			user, r = v, rest
		} else if i := strings.IndexAny(r, ": "); i > 0 {
			user, r = r[:i], r[i:]
		}
		switch {
		case strings.Contains(r, "authentication failure") || strings.Contains(r, "password mismatch"):
		case strings.Contains(r, "not found"):
			ev.Attrs[AttrUserInvalid] = "true"
		default:
			return ev
		}
		ev.User = user
		ev.Category, ev.Action, ev.Outcome = event.CategoryAuthentication, ActionHTTPAuth, event.OutcomeFailure
	case strings.Contains(msg, "denied by server configuration"), strings.Contains(msg, "forbidden by rule"):
		ev.Action, ev.Outcome = ActionHTTPAccessDenied, event.OutcomeFailure
	}
	return ev
}

// setHostPort reads "IP", "IP:PORT" or "[IPv6]:PORT" into the source.
func setHostPort(ev *event.Event, a string) {
	if ip, ok := normIP(a); ok {
		ev.SrcIP = ip
		return
	}
	if i := strings.LastIndexByte(a, ':'); i > 0 {
		host := strings.TrimSuffix(strings.TrimPrefix(a[:i], "["), "]")
		if ip, ok := normIP(host); ok {
			ev.SrcIP = ip
			ev.SrcPort, _ = parsePort(a[i+1:])
		}
	}
}

// apacheTime reads "Sun Dec 04 04:47:44 2005", optionally with a fraction
// of a second. Apache writes local time without an offset; it is read as
// UTC.
func apacheTime(s string) (time.Time, bool) {
	if len(s) < 24 || s[3] != ' ' || s[7] != ' ' || s[10] != ' ' {
		return time.Time{}, false
	}
	m := parseMonth(s[4:7])
	d, ok1 := atoiFixed(strings.TrimLeft(s[8:10], " "))
	hh, mm, ss, ok2 := parseClock(s[11:19])
	if m == 0 || !ok1 || !ok2 {
		return time.Time{}, false
	}
	i := 19
	ns := 0
	if s[i] == '.' {
		var ok bool
		if ns, i, ok = parseFraction(s, i+1); !ok {
			return time.Time{}, false
		}
	}
	if i+5 != len(s) || s[i] != ' ' {
		return time.Time{}, false
	}
	y, ok := atoiFixed(s[i+1:])
	if !ok || d < 1 || d > daysIn(m, y) {
		return time.Time{}, false
	}
	t := time.Date(y, m, d, hh, mm, ss, ns, time.UTC)
	return t, validTime(t)
}

// nginxError reads an nginx error log line: "2026/01/02 10:00:00 [error]
// 1234#0: *5 MESSAGE, client: IP, server: NAME, request: "GET / HTTP/1.1",
// host: "NAME"".
func nginxError(in Input, s, t, dataset string, loc *time.Location) *event.Event {
	c, i, ok := parseCivil(t, '/')
	if !ok || t[10] != ' ' || i != 19 || len(t) < 21 || t[19] != ' ' || t[20] != '[' {
		return nil
	}
	ts := c.in(loc)
	if !validTime(ts) {
		return nil
	}
	level, r, ok := strings.Cut(t[21:], "] ")
	if !ok || level == "" || strings.IndexByte(level, ' ') >= 0 {
		return nil
	}
	ev := newEvent(in, s, dataset)
	ev.Timestamp = ts.UTC()
	ev.Category, ev.Action, ev.Protocol = event.CategoryWeb, ActionHTTPError, "http"
	ev.Attrs = make(map[string]string, 8)
	ev.Attrs[AttrLogLevel] = level
	if pid, rest, ok := strings.Cut(r, "#"); ok && allDigits(pid) && pid != "" {
		ev.Attrs[AttrPID] = pid
		if _, rest, ok = strings.Cut(rest, ": "); ok {
			r = rest
		}
	}
	if c, rest, ok := strings.Cut(r, " "); ok && len(c) > 1 && c[0] == '*' && allDigits(c[1:]) {
		ev.Attrs["nginx.connection_id"] = c[1:]
		r = rest
	}
	// The context nginx appends: ", client: IP, server: NAME, request: "…", host: "…""
	msg := r
	if i := strings.Index(r, ", client: "); i >= 0 {
		msg = r[:i]
		ctx := r[i+len(", client: "):]
		a, ctx, _ := strings.Cut(ctx, ",")
		setHostPort(ev, a)
		if v, ok := strings.CutPrefix(ctx, " server: "); ok {
			var name string
			name, ctx, _ = strings.Cut(v, ",")
			if name != "" {
				ev.Attrs[AttrURLDomain] = name
			}
		}
		if v, ok := strings.CutPrefix(ctx, " request: "); ok {
			if req, _, ok := quoted(v); ok {
				setRequest(ev, req)
			}
		}
	}
	return finishWebError(ev, msg)
}
