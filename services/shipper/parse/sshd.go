package parse

import (
	"net/netip"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Actions of sshd events (event.action).
const (
	// ActionSSHLogin is a password, public-key or PAM login attempt; its
	// outcome says how it went.
	ActionSSHLogin = "ssh_login"
	// ActionSSHInvalidUser is a login attempt for an account that does not
	// exist ("Invalid user X from IP").
	ActionSSHInvalidUser = "ssh_invalid_user"
	// ActionSSHMaxAuthAttempts is sshd giving up on a client after too many
	// failed attempts.
	ActionSSHMaxAuthAttempts = "ssh_max_auth_attempts"
	// ActionSSHUserNotAllowed is a login refused by AllowUsers, DenyUsers,
	// AllowGroups, DenyGroups or PermitRootLogin.
	ActionSSHUserNotAllowed = "ssh_user_not_allowed"
	// ActionSSHReverseMappingFailed is a client whose address and DNS name
	// do not map to each other ("POSSIBLE BREAK-IN ATTEMPT!").
	ActionSSHReverseMappingFailed = "ssh_reverse_mapping_failed"
	// ActionSSHNoIdentification is a connection that never sent an SSH
	// banner (port scanners, health checks).
	ActionSSHNoIdentification = "ssh_no_identification"
	// ActionSSHConnection is a new TCP connection (LogLevel VERBOSE).
	ActionSSHConnection = "ssh_connection"
	// ActionSSHDisconnect is a disconnect, by the client or by sshd.
	ActionSSHDisconnect = "ssh_disconnect"
	// ActionSSHConnectionClosed is a connection the client closed.
	ActionSSHConnectionClosed = "ssh_connection_closed"
	// ActionSSHConnectionReset is a connection reset by the client.
	ActionSSHConnectionReset = "ssh_connection_reset"
	// ActionSSHSessionOpened is a PAM session opened after a login.
	ActionSSHSessionOpened = "ssh_session_opened"
	// ActionSSHSessionClosed is a PAM session closed.
	ActionSSHSessionClosed = "ssh_session_closed"
	// ActionSSHListen is sshd starting to listen on an address.
	ActionSSHListen = "ssh_listen"
	// ActionSSHOther is any other sshd line.
	ActionSSHOther = "ssh_other"
)

// Attribute keys sshd events may carry.
const (
	// AttrPID is the sshd process id of the syslog tag.
	AttrPID = "process.pid"
	// AttrAuthMethod is the SSH authentication method: password,
	// publickey, keyboard-interactive/pam, none, …
	AttrAuthMethod = "auth.method"
	// AttrUserInvalid is "true" when sshd said the account does not exist.
	AttrUserInvalid = "user.invalid"
	// AttrSourceDomain is the client's host name when sshd gave a name
	// rather than an address.
	AttrSourceDomain = "source.domain"
	// AttrPreauth is "true" for lines of sshd's pre-authentication child
	// ("[preauth]").
	AttrPreauth = "ssh.preauth"
	// AttrKeyType and AttrKeyFingerprint describe the public key of a
	// publickey login ("ssh2: RSA SHA256:…").
	AttrKeyType        = "ssh.key_type"
	AttrKeyFingerprint = "ssh.key_fingerprint"
	// AttrDisconnectCode and AttrDisconnectReason are the SSH disconnect
	// reason code and text of "Received disconnect".
	AttrDisconnectCode   = "ssh.disconnect_code"
	AttrDisconnectReason = "ssh.disconnect_reason"
	// AttrReason is why sshd refused a user (ssh_user_not_allowed).
	AttrReason = "ssh.reason"
	// AttrPAMModule is the PAM module that logged the line, e.g. pam_unix.
	AttrPAMModule = "pam.module"
	// AttrPAMMoreFailures is N of "PAM N more authentication failures".
	AttrPAMMoreFailures = "pam.more_failures"
	// AttrLogLevel is "error" or "fatal" when sshd marked the line so.
	AttrLogLevel = "log.level"
)

// SSHD parses OpenSSH server lines in syslog files: an optional "<PRI>", a
// BSD ("Dec 10 06:55:46") or RFC 3339 timestamp, the hostname, and the tag
// sshd[pid] (also sshd-session, sshd-auth and sshd(pam_unix)). It returns
// false for any other line.
type SSHD struct {
	// Location is the time zone of timestamps that carry no offset. nil
	// means UTC.
	Location *time.Location
}

// Name returns "sshd".
func (SSHD) Name() string { return FormatSSHD }

// Parse returns the event of an sshd line, or false.
func (p SSHD) Parse(in Input) (*event.Event, bool) {
	ev, _ := p.match(in, string(in.Line))
	return ev, ev != nil
}

func (p SSHD) match(in Input, s string) (*event.Event, string) {
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	h, reason := parseSyslog(trimEOL(strings.TrimPrefix(s, bom)), in.Now, loc)
	if reason != "" {
		return nil, "sshd: " + reason
	}
	if !isSSHDProg(h.prog) {
		return nil, "sshd: " + reasonNotSSHD
	}
	return sshdEvent(in, s, h), ""
}

// sshdEvent builds the event of an sshd syslog line.
func sshdEvent(in Input, s string, h syslogHeader) *event.Event {
	ev := syslogEvent(in, s, h, FormatSSHD)
	ev.Category = event.CategoryAuthentication
	ev.Protocol = "ssh"
	if strings.HasSuffix(h.prog, "(pam_unix)") {
		// Old Red Hat PAM lines: "sshd(pam_unix)[42]: authentication failure; …"
		ev.Attrs[AttrPAMModule] = "pam_unix"
		if !pamBody(ev, h.msg) {
			other(ev, h.msg)
		}
	} else {
		classify(ev, h.msg, 0)
	}
	finish(ev, in)
	return ev
}

// classify fills the event from an sshd message. depth counts the
// "message repeated" wrappers already removed.
func classify(ev *event.Event, msg string, depth int) {
	msg = strings.TrimRight(msg, " ")
	if m, ok := strings.CutSuffix(msg, "[preauth]"); ok {
		msg = strings.TrimRight(m, " ")
		ev.Attrs[AttrPreauth] = "true"
	}
	if m, ok := strings.CutPrefix(msg, "error: "); ok {
		msg = m
		ev.Attrs[AttrLogLevel] = "error"
	} else if m, ok := strings.CutPrefix(msg, "fatal: "); ok {
		msg = m
		ev.Attrs[AttrLogLevel] = "fatal"
	}
	if !known(ev, msg, depth) {
		other(ev, msg)
	}
}

// known recognises the messages Vigil gives an action of their own. It
// returns false, perhaps having set the user, for the rest.
func known(ev *event.Event, msg string, depth int) bool {
	if msg == "" {
		return false
	}
	switch msg[0] {
	case 'A':
		if r, ok := strings.CutPrefix(msg, "Accepted "); ok {
			return login(ev, r, event.OutcomeSuccess)
		}
		if r, ok := strings.CutPrefix(msg, "Address "); ok && strings.HasSuffix(msg, "POSSIBLE BREAK-IN ATTEMPT!") {
			return addressMaps(ev, r)
		}
	case 'C':
		if r, ok := strings.CutPrefix(msg, "Connection closed by "); ok {
			return connectionEnd(ev, r, ActionSSHConnectionClosed)
		}
		if r, ok := strings.CutPrefix(msg, "Connection reset by "); ok {
			return connectionEnd(ev, r, ActionSSHConnectionReset)
		}
		if r, ok := strings.CutPrefix(msg, "Connection from "); ok {
			return connectionFrom(ev, r)
		}
	case 'D':
		if r, ok := strings.CutPrefix(msg, "Disconnected from "); ok {
			return connectionEnd(ev, r, ActionSSHDisconnect)
		}
		if r, ok := strings.CutPrefix(msg, "Did not receive identification string from "); ok {
			setSrc(ev, r)
			ev.Category = event.CategorySession
			ev.Action = ActionSSHNoIdentification
			return true
		}
		if r, ok := strings.CutPrefix(msg, "Disconnecting: Too many authentication failures"); ok {
			// OpenSSH < 7.5: "… failures for root"; the address is in the
			// lines before.
			if u, ok := strings.CutPrefix(r, " for "); ok {
				ev.User = userPrefix(ev, u)
			}
			ev.Action, ev.Outcome = ActionSSHMaxAuthAttempts, event.OutcomeFailure
			return true
		}
		if r, ok := strings.CutPrefix(msg, "Disconnecting "); ok {
			// OpenSSH ≥ 7.5: "Disconnecting invalid user X IP port N: reason"
			tail := setSrc(ev, userAt(ev, r))
			if strings.Contains(tail, "Too many authentication failures") {
				ev.Action, ev.Outcome = ActionSSHMaxAuthAttempts, event.OutcomeFailure
			} else {
				ev.Category, ev.Action = event.CategorySession, ActionSSHDisconnect
			}
			return true
		}
	case 'F':
		if r, ok := strings.CutPrefix(msg, "Failed "); ok {
			return login(ev, r, event.OutcomeFailure)
		}
	case 'I':
		r, ok := strings.CutPrefix(msg, "Invalid user ")
		if !ok {
			r, ok = strings.CutPrefix(msg, "Illegal user ")
		}
		if ok {
			i := strings.LastIndex(r, " from ")
			if i < 0 {
				return false
			}
			ev.User = r[:i]
			ev.Attrs[AttrUserInvalid] = "true"
			setSrc(ev, r[i+len(" from "):])
			ev.Action, ev.Outcome = ActionSSHInvalidUser, event.OutcomeFailure
			return true
		}
	case 'P':
		if r, ok := strings.CutPrefix(msg, "PAM: Authentication failure for "); ok {
			// "error: PAM: Authentication failure for [illegal user ]X from HOST"
			i := strings.LastIndex(r, " from ")
			if i < 0 {
				return false
			}
			ev.User = userPrefix(ev, r[:i])
			setSrc(ev, r[i+len(" from "):])
			ev.Action, ev.Outcome = ActionSSHLogin, event.OutcomeFailure
			return true
		}
		if r, ok := strings.CutPrefix(msg, "PAM "); ok {
			// "PAM 2 more authentication failures; logname= … rhost=IP  user=X"
			n, r := leadingDigits(r)
			if n == "" || !strings.HasPrefix(r, " more authentication failure") {
				return false
			}
			ev.Attrs[AttrPAMMoreFailures] = n
			pamAuthFailure(ev, r)
			return true
		}
	case 'R':
		if r, ok := strings.CutPrefix(msg, "Received disconnect from "); ok {
			return receivedDisconnect(ev, r)
		}
		if r, ok := strings.CutPrefix(msg, "ROOT LOGIN REFUSED FROM "); ok {
			setSrc(ev, r)
			ev.User = "root"
			ev.Attrs[AttrReason] = "root login refused"
			ev.Action, ev.Outcome = ActionSSHUserNotAllowed, event.OutcomeFailure
			return true
		}
	case 'S':
		if r, ok := strings.CutPrefix(msg, "Server listening on "); ok {
			ip, _, port, _ := addrPort(r)
			if ip == "" {
				return false
			}
			ev.DstIP, ev.DstPort = ip, port
			ev.Category, ev.Action = event.CategoryProcess, ActionSSHListen
			return true
		}
	case 'U':
		if r, ok := strings.CutPrefix(msg, "User "); ok {
			// "User X from IP not allowed because not listed in AllowUsers"
			j := strings.LastIndex(r, " not allowed because ")
			if j < 0 {
				return false
			}
			who := r[:j]
			i := strings.LastIndex(who, " from ")
			if i < 0 {
				return false
			}
			ev.User = who[:i]
			setSrc(ev, who[i+len(" from "):])
			ev.Attrs[AttrReason] = r[j+len(" not allowed because "):]
			ev.Action, ev.Outcome = ActionSSHUserNotAllowed, event.OutcomeFailure
			return true
		}
	case 'i':
		if r, ok := strings.CutPrefix(msg, "input_userauth_request: invalid user "); ok {
			// Logged next to "Invalid user": no action of its own.
			ev.User = r
			ev.Attrs[AttrUserInvalid] = "true"
			return false
		}
	case 'm':
		if r, ok := strings.CutPrefix(msg, "message repeated "); ok && depth == 0 {
			return repeated(ev, r, depth)
		}
		if r, ok := strings.CutPrefix(msg, "maximum authentication attempts exceeded for "); ok {
			if i := strings.LastIndex(r, " from "); i >= 0 {
				ev.User = userPrefix(ev, r[:i])
				setSrc(ev, r[i+len(" from "):])
			} else {
				ev.User = userPrefix(ev, r)
			}
			ev.Action, ev.Outcome = ActionSSHMaxAuthAttempts, event.OutcomeFailure
			return true
		}
	case 'p':
		if strings.HasPrefix(msg, "pam_") {
			// "pam_unix(sshd:auth): authentication failure; …"
			mod, rest, ok := strings.Cut(msg, "(")
			if !ok || strings.IndexByte(mod, ' ') >= 0 {
				return false
			}
			_, body, ok := strings.Cut(rest, "): ")
			if !ok {
				return false
			}
			ev.Attrs[AttrPAMModule] = mod
			return pamBody(ev, body)
		}
	case 'r':
		if r, ok := strings.CutPrefix(msg, "reverse mapping checking getaddrinfo for "); ok {
			// "… for HOST [IP] failed - POSSIBLE BREAK-IN ATTEMPT!"
			host, rest := cutWord(r)
			if isHostname(host) {
				ev.Attrs[AttrSourceDomain] = host
			}
			if a, ok := strings.CutPrefix(rest, "["); ok {
				if j := strings.IndexByte(a, ']'); j >= 0 {
					if ip, ok := normIP(a[:j]); ok {
						ev.SrcIP = ip
					}
				}
			}
			ev.Action = ActionSSHReverseMappingFailed
			return true
		}
	}
	return false
}

// login reads what follows "Failed " or "Accepted ":
// "METHOD for [invalid user ]USER from ADDR port N ssh2[: KEYTYPE FP]".
func login(ev *event.Event, r, outcome string) bool {
	method, rest, ok := strings.Cut(r, " for ")
	if !ok || method == "" || strings.IndexByte(method, ' ') >= 0 {
		return false
	}
	// The user name is the client's to choose and may hold " from ": the
	// address is after the last one.
	i := strings.LastIndex(rest, " from ")
	if i < 0 {
		return false
	}
	ev.User = userPrefix(ev, rest[:i])
	tail := setSrc(ev, rest[i+len(" from "):])
	ev.Action, ev.Outcome = ActionSSHLogin, outcome
	ev.Attrs[AttrAuthMethod] = method
	if _, key, ok := strings.Cut(tail, ": "); ok {
		typ, fp := cutWord(key)
		fp, _ = cutWord(fp)
		if typ != "" && fp != "" {
			ev.Attrs[AttrKeyType] = typ
			ev.Attrs[AttrKeyFingerprint] = fp
		}
	}
	return true
}

// userPrefix strips "invalid user " (or the older "illegal user ") from a
// user name and flags the event.
func userPrefix(ev *event.Event, who string) string {
	u, ok := strings.CutPrefix(who, "invalid user ")
	if !ok {
		u, ok = strings.CutPrefix(who, "illegal user ")
	}
	if ok {
		ev.Attrs[AttrUserInvalid] = "true"
		return u
	}
	return who
}

// userAt reads an optional "authenticating user X ", "invalid user X " or
// "user X " before an address (OpenSSH ≥ 7.5 disconnect lines), sets the
// user, and returns the text from the address on.
func userAt(ev *event.Event, s string) string {
	var body string
	switch {
	case strings.HasPrefix(s, "authenticating user "):
		body = s[len("authenticating user "):]
	case strings.HasPrefix(s, "invalid user "):
		body = s[len("invalid user "):]
		ev.Attrs[AttrUserInvalid] = "true"
	case strings.HasPrefix(s, "user "):
		body = s[len("user "):]
	default:
		return s
	}
	// The user name may hold spaces: the address is the word before the
	// first " port " that is an IP address.
	for off := 0; off < len(body); {
		j := strings.Index(body[off:], " port ")
		if j < 0 {
			break
		}
		j += off
		k := strings.LastIndexByte(body[:j], ' ') // -1: no user name before the address
		if _, ok := normIP(body[k+1 : j]); ok {
			ev.User = body[:max(k, 0)]
			return body[k+1:]
		}
		off = j + 1
	}
	// Older lines have no port: the user is one word.
	u, rest := cutWord(body)
	ev.User = u
	return rest
}

// connectionEnd reads "[authenticating user X ]ADDR[ port N]" after
// "Connection closed by", "Connection reset by" or "Disconnected from".
func connectionEnd(ev *event.Event, r, action string) bool {
	setSrc(ev, userAt(ev, r))
	ev.Category, ev.Action = event.CategorySession, action
	return true
}

// connectionFrom reads "IP port N on IP port N[ rdomain …]".
func connectionFrom(ev *event.Event, r string) bool {
	rest := setSrc(ev, r)
	if d, ok := strings.CutPrefix(rest, " on "); ok {
		ip, _, port, _ := addrPort(d)
		ev.DstIP, ev.DstPort = ip, port
	}
	ev.Category, ev.Action = event.CategorySession, ActionSSHConnection
	return true
}

// receivedDisconnect reads "[user X ]ADDR port N:CODE: REASON" (OpenSSH ≥
// 7.3) or "ADDR: CODE: REASON" (older).
func receivedDisconnect(ev *event.Event, r string) bool {
	rest := strings.TrimLeft(setSrc(ev, userAt(ev, r)), ": ")
	if code, reason, ok := strings.Cut(rest, ":"); ok && code != "" && len(code) <= 5 && allDigits(code) {
		ev.Attrs[AttrDisconnectCode] = code
		if reason = strings.TrimSpace(reason); reason != "" {
			ev.Attrs[AttrDisconnectReason] = reason
		}
	}
	ev.Category, ev.Action = event.CategorySession, ActionSSHDisconnect
	return true
}

// repeated reads what follows "message repeated ": "N times: [ MESSAGE]",
// as rsyslog writes for repeated lines.
func repeated(ev *event.Event, r string, depth int) bool {
	n, rest := leadingDigits(r)
	if n == "" || len(n) > 9 {
		return false
	}
	inner, ok := strings.CutPrefix(rest, " times: [")
	if !ok {
		return false
	}
	inner = strings.TrimSpace(inner)
	inner = strings.TrimSuffix(inner, "]")
	classify(ev, strings.TrimSpace(inner), depth+1)
	count, _ := atoiFixed(n)
	ev.Value = float64(count)
	ev.Attrs[AttrRepeat] = n
	return true
}

// pamBody reads a PAM message after "pam_MODULE(sshd:TYPE): ".
func pamBody(ev *event.Event, body string) bool {
	if strings.HasPrefix(body, "authentication failure;") {
		pamAuthFailure(ev, body)
		return true
	}
	if r, ok := strings.CutPrefix(body, "session opened for user "); ok {
		ev.User = pamUser(r)
		ev.Category, ev.Action, ev.Outcome = event.CategorySession, ActionSSHSessionOpened, event.OutcomeSuccess
		return true
	}
	if r, ok := strings.CutPrefix(body, "session closed for user "); ok {
		ev.User = pamUser(r)
		ev.Category, ev.Action = event.CategorySession, ActionSSHSessionClosed
		return true
	}
	return false
}

// pamUser reads the user of "alice by (uid=0)" or "alice(uid=1000) by …".
func pamUser(r string) string {
	for i := 0; i < len(r); i++ {
		if r[i] == ' ' || r[i] == '(' {
			return r[:i]
		}
	}
	return r
}

// pamAuthFailure reads "…; logname= uid=0 euid=0 tty=ssh ruser= rhost=HOST  user=X".
func pamAuthFailure(ev *event.Event, body string) {
	if h := field(body, " rhost="); h != "" {
		if ip, ok := normIP(h); ok {
			ev.SrcIP = ip
		} else if isHostname(h) {
			ev.Attrs[AttrSourceDomain] = h
		}
	}
	if u := field(body, " user="); u != "" {
		ev.User = u
	}
	ev.Action, ev.Outcome = ActionSSHLogin, event.OutcomeFailure
}

// addressMaps reads "IP maps to HOST, but this does not map back to the
// address - POSSIBLE BREAK-IN ATTEMPT!".
func addressMaps(ev *event.Event, r string) bool {
	a, rest := cutWord(r)
	ip, ok := normIP(a)
	if !ok {
		return false
	}
	ev.SrcIP = ip
	if h, ok := strings.CutPrefix(rest, "maps to "); ok {
		if i := strings.IndexByte(h, ','); i >= 0 && isHostname(h[:i]) {
			ev.Attrs[AttrSourceDomain] = h[:i]
		}
	}
	ev.Action = ActionSSHReverseMappingFailed
	return true
}

// other keeps an sshd line without an action of its own, with the first IP
// address it names.
func other(ev *event.Event, msg string) {
	ev.Action = ActionSSHOther
	if ev.SrcIP != "" {
		return
	}
	for s := msg; s != ""; {
		var w string
		w, s = cutWord(s)
		w = trimPunct(w)
		if i := strings.IndexByte(w, '='); i >= 0 {
			w = w[i+1:]
		}
		ip, ok := normIP(w)
		if !ok {
			w = strings.TrimRight(w, ":.")
			if ip, ok = normIP(w); !ok {
				continue
			}
		}
		ev.SrcIP = ip
		if r, ok := strings.CutPrefix(s, "port "); ok {
			ev.SrcPort, _ = parsePort(r)
		}
		return
	}
}

// trimPunct drops the brackets, quotes and separators around a word.
func trimPunct(w string) string {
	isPunct := func(c byte) bool {
		switch c {
		case '[', ']', '(', ')', '<', '>', ',', ';', '\'', '"':
			return true
		}
		return false
	}
	for len(w) > 0 && isPunct(w[0]) {
		w = w[1:]
	}
	for len(w) > 0 && isPunct(w[len(w)-1]) {
		w = w[:len(w)-1]
	}
	return w
}

// setSrc reads "ADDR[ port N]" into the event's source and returns what
// follows.
func setSrc(ev *event.Event, s string) string {
	ip, host, port, rest := addrPort(s)
	if ip != "" {
		ev.SrcIP = ip
	} else if host != "" {
		ev.Attrs[AttrSourceDomain] = host
	}
	ev.SrcPort = port
	return rest
}

// addrPort reads "ADDR[ port N]" at the start of s and returns what follows
// (with its leading space). ADDR is an IP address or a host name; a colon
// right after it (older "from 1.2.3.4: 11: Bye") is dropped. A port that is
// not a number up to 65535 reads as 0.
func addrPort(s string) (ip, host string, port uint16, rest string) {
	tok, _ := cutWord(s)
	rest = s[len(tok):]
	if len(tok) > 2 && tok[0] == '[' && tok[len(tok)-1] == ']' {
		tok = tok[1 : len(tok)-1] // "[2001:db8::1]"
	}
	if a, ok := normIP(tok); ok {
		ip = a
	} else if t, cut := strings.CutSuffix(tok, ":"); cut {
		if a, ok := normIP(t); ok {
			ip = a
		} else if isHostname(t) {
			host = t
		}
	} else if isHostname(tok) {
		host = tok
	}
	if r, ok := strings.CutPrefix(rest, " port "); ok {
		port, rest = parsePort(r)
	}
	return ip, host, port, rest
}

// parsePort reads the decimal digits at the start of s: the port, or 0 if
// they are more than 65535, and what follows them.
func parsePort(s string) (uint16, string) {
	n, rest := leadingDigits(s)
	if n == "" || len(n) > 5 {
		return 0, rest
	}
	v, _ := atoiFixed(n)
	if v > 65535 {
		return 0, rest
	}
	return uint16(v), rest
}

// leadingDigits splits s after its leading decimal digits.
func leadingDigits(s string) (digits, rest string) {
	i := 0
	for i < len(s) && isDigit(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

// field returns the value of key (" name=") in a PAM key=value list: up to
// the next space.
func field(s, key string) string {
	i := strings.Index(s, key)
	if i < 0 {
		return ""
	}
	v, _ := cutWord(s[i+len(key):])
	return v
}

// normIP parses an IP address and returns it in its canonical text, IPv4 in
// IPv6 unmapped (::ffff:1.2.3.4 is 1.2.3.4), so that one client is one
// entity.
func normIP(s string) (string, bool) {
	if len(s) < 2 || len(s) > 64 {
		return "", false
	}
	if c := s[0]; !isHex(c) && c != ':' {
		return "", false
	}
	if strings.IndexByte(s, '.') < 0 && strings.IndexByte(s, ':') < 0 {
		return "", false // a word such as "cafe": spare ParseAddr's error
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	if a.Is4() {
		return s, true // ParseAddr takes only the canonical dotted quad
	}
	for i := 0; i < len(a.Zone()); i++ {
		if c := a.Zone()[i]; c <= ' ' || c >= 0x7f {
			return "", false
		}
	}
	return a.Unmap().String(), true
}

func isHex(c byte) bool {
	return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

// isHostname reports whether s looks like a DNS name sshd would print: DNS
// characters, and a letter somewhere (so that a malformed address such as
// 999.1.1.1 is not taken for a name).
func isHostname(s string) bool {
	if s == "" || len(s) > 253 || s == "UNKNOWN" {
		return false
	}
	letter := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z'):
			letter = true
		case isDigit(c) || c == '.' || c == '-' || c == '_':
		default:
			return false
		}
	}
	return letter
}

// trimEOL drops trailing line-end and blank bytes (CRLF files).
func trimEOL(s string) string {
	for len(s) > 0 {
		switch s[len(s)-1] {
		case '\r', '\n', ' ', '\t':
			s = s[:len(s)-1]
		default:
			return s
		}
	}
	return s
}
