package parse

import (
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// futureSlack is how far after Now a year-less timestamp may lie and still be
// read in that year: host clocks disagree a little, and a line written just
// after midnight on New Year's Eve can be read by a clock that is behind.
const futureSlack = 24 * time.Hour

// syslogHeader is what precedes the message of a syslog line as files hold
// it: "<PRI>" (optional), a timestamp, the hostname (optional) and the tag.
type syslogHeader struct {
	ts   time.Time // UTC
	host string
	prog string
	pid  string
	msg  string
}

// Reasons parseSyslog gives; parsers prefix them with their name.
const (
	reasonBadPRI   = "bad syslog priority"
	reasonNoStamp  = "no syslog timestamp"
	reasonNoTag    = "no syslog tag"
	reasonNotSSHD  = "not an sshd line"
	reasonNotSudo  = "not a sudo or su line"
	reasonNotMatch = "not a known line"
)

// parseSyslog splits a syslog line into its header and message. It accepts
// BSD timestamps ("Dec 10 06:55:46", year inferred from now, read in loc)
// and RFC 3339 ones ("2026-11-24T10:00:00.123456+00:00", as rsyslog's
// high-precision format writes; read in loc when they carry no offset). On
// failure it returns a short reason. When the timestamp and host are there
// but no "prog[pid]:" tag follows, it returns reasonNoTag with msg set to
// what follows the host.
func parseSyslog(s string, now time.Time, loc *time.Location) (syslogHeader, string) {
	var h syslogHeader
	if len(s) > 0 && s[0] == '<' {
		i := 1
		for i < len(s) && i < 5 && isDigit(s[i]) {
			i++
		}
		if i == 1 || i >= len(s) || s[i] != '>' {
			return h, reasonBadPRI
		}
		s = s[i+1:]
	}
	var ok bool
	if len(s) > 0 && isDigit(s[0]) {
		h.ts, s, ok = parseRFC3339Prefix(s, loc)
	} else {
		h.ts, s, ok = parseBSDPrefix(s, now, loc)
	}
	if !ok || (s != "" && s[0] != ' ') {
		return h, reasonNoStamp
	}
	word, rest := cutWord(skipSpaces(s))
	if prog, pid, ok := parseTag(word); ok {
		// No hostname: "Dec 10 06:55:46 sshd[1]: ..." as some local
		// loggers write. A host name never ends with a colon.
		h.prog, h.pid, h.msg = prog, pid, rest
		return h, ""
	}
	h.host = word
	rest = skipSpaces(rest)
	word, after := cutWord(rest)
	prog, pid, ok := parseTag(word)
	if !ok {
		h.msg = rest
		return h, reasonNoTag
	}
	h.prog, h.pid, h.msg = prog, pid, after
	return h, ""
}

// parseTag splits a syslog tag "prog[pid]:" or "prog:".
func parseTag(w string) (prog, pid string, ok bool) {
	if len(w) < 2 || w[len(w)-1] != ':' {
		return "", "", false
	}
	w = w[:len(w)-1]
	if strings.IndexByte(w, ':') >= 0 {
		return "", "", false // "fe80::" is an address, not a tag
	}
	if w[len(w)-1] == ']' {
		i := strings.LastIndexByte(w, '[')
		if i <= 0 {
			return "", "", false
		}
		pid = w[i+1 : len(w)-1]
		if pid == "" || len(pid) > 10 || !allDigits(pid) {
			return "", "", false
		}
		w = w[:i]
	}
	return w, pid, true
}

// isSSHDProg reports whether a syslog program name is OpenSSH's server:
// sshd, OpenSSH 9.8's sshd-session and sshd-auth, the old Red Hat PAM tag
// "sshd(pam_unix)", with or without a path.
func isSSHDProg(prog string) bool {
	if i := strings.LastIndexByte(prog, '/'); i >= 0 {
		prog = prog[i+1:]
	}
	switch prog {
	case "sshd", "sshd-session", "sshd-auth", "sshd(pam_unix)":
		return true
	}
	return false
}

// parseBSDPrefix reads "Jan _2 15:04:05" (optionally with a fraction of a
// second) at the start of s, and returns the time and what follows it.
func parseBSDPrefix(s string, now time.Time, loc *time.Location) (time.Time, string, bool) {
	if len(s) < 14 || s[3] != ' ' { // "Jan 2 15:04:05" is the shortest
		return time.Time{}, s, false
	}
	m := parseMonth(s[:3])
	if m == 0 {
		return time.Time{}, s, false
	}
	i := 4
	if s[i] == ' ' { // space-padded day: "Jun  9"
		i++
	}
	d, n := 0, 0
	for i < len(s) && n < 2 && isDigit(s[i]) {
		d = d*10 + int(s[i]-'0')
		i++
		n++
	}
	if n == 0 || d < 1 || d > 31 || i >= len(s) || s[i] != ' ' {
		return time.Time{}, s, false
	}
	i++
	hh, mm, ss, ok := parseClock(s[i:])
	if !ok {
		return time.Time{}, s, false
	}
	i += 8
	ns := 0
	if i < len(s) && s[i] == '.' {
		ns, i, ok = parseFraction(s, i+1)
		if !ok {
			return time.Time{}, s, false
		}
	}
	if i < len(s) && s[i] != ' ' {
		return time.Time{}, s, false
	}
	t, ok := inferYear(m, d, hh, mm, ss, ns, now, loc)
	return t, s[i:], ok
}

// inferYear returns the time of a year-less timestamp: the latest year in
// which it is at most futureSlack after now. Feb 29 goes back to the latest
// leap year that fits; a day the month never has fails.
func inferYear(m time.Month, d, hh, mm, ss, ns int, now time.Time, loc *time.Location) (time.Time, bool) {
	limit := now.Add(futureSlack)
	ny := now.In(loc).Year()
	for y := ny + 1; y >= ny-8; y-- {
		if d > daysIn(m, y) {
			continue
		}
		t := time.Date(y, m, d, hh, mm, ss, ns, loc)
		if !t.After(limit) {
			return t.UTC(), validTime(t)
		}
	}
	return time.Time{}, false
}

// parseRFC3339Prefix reads "2006-01-02T15:04:05[.frac][Z|±hh:mm|±hhmm]" at
// the start of s and returns the time (UTC) and what follows it (from the
// space or tab after it). Without an offset the time is read in loc.
func parseRFC3339Prefix(s string, loc *time.Location) (time.Time, string, bool) {
	c, i, ok := parseCivil(s, '-')
	if !ok || (s[10] != 'T' && s[10] != 't') {
		return time.Time{}, s, false
	}
	var t time.Time
	switch {
	case i < len(s) && (s[i] == 'Z' || s[i] == 'z'):
		t = c.in(time.UTC)
		i++
	case i < len(s) && (s[i] == '+' || s[i] == '-'):
		sign := 1
		if s[i] == '-' {
			sign = -1
		}
		i++
		oh, ok := atoiFixed(s[i:min(i+2, len(s))])
		if !ok || len(s) < i+2 || oh > 23 {
			return time.Time{}, s, false
		}
		i += 2
		if i < len(s) && s[i] == ':' {
			i++
		}
		om, ok := atoiFixed(s[i:min(i+2, len(s))])
		if !ok || len(s) < i+2 || om > 59 {
			return time.Time{}, s, false
		}
		i += 2
		off := time.Duration(sign) * (time.Duration(oh)*time.Hour + time.Duration(om)*time.Minute)
		t = c.in(time.UTC).Add(-off)
	default:
		t = c.in(loc)
	}
	if i < len(s) && s[i] != ' ' && s[i] != '\t' {
		return time.Time{}, s, false
	}
	if !validTime(t) {
		return time.Time{}, s, false
	}
	return t.UTC(), s[i:], true
}

// civil is a date and a time of day without a zone.
type civil struct {
	y, d, hh, mm, ss, ns int
	m                    time.Month
}

// in returns the time c names in loc.
func (c civil) in(loc *time.Location) time.Time {
	return time.Date(c.y, c.m, c.d, c.hh, c.mm, c.ss, c.ns, loc)
}

// parseCivil reads "2006-01-02?15:04:05[.frac]" at the start of s, with
// dateSep between the date's parts and any byte between date and time, and
// returns it with the index after it.
func parseCivil(s string, dateSep byte) (civil, int, bool) {
	var c civil
	if len(s) < 19 || s[4] != dateSep || s[7] != dateSep {
		return c, 0, false
	}
	y, ok1 := atoiFixed(s[0:4])
	mo, ok2 := atoiFixed(s[5:7])
	d, ok3 := atoiFixed(s[8:10])
	hh, mm, ss, ok4 := parseClock(s[11:])
	if !ok1 || !ok2 || !ok3 || !ok4 || mo < 1 || mo > 12 || d < 1 || d > daysIn(time.Month(mo), y) {
		return c, 0, false
	}
	c = civil{y: y, m: time.Month(mo), d: d, hh: hh, mm: mm, ss: ss}
	i := 19
	if i < len(s) && s[i] == '.' {
		var ok bool
		if c.ns, i, ok = parseFraction(s, i+1); !ok {
			return c, 0, false
		}
	}
	return c, i, true
}

// parseClock reads "15:04:05" at the start of s. A leap second (:60) is
// accepted and rolls into the next minute.
func parseClock(s string) (hh, mm, ss int, ok bool) {
	if len(s) < 8 || s[2] != ':' || s[5] != ':' {
		return 0, 0, 0, false
	}
	hh, ok1 := atoiFixed(s[0:2])
	mm, ok2 := atoiFixed(s[3:5])
	ss, ok3 := atoiFixed(s[6:8])
	if !ok1 || !ok2 || !ok3 || hh > 23 || mm > 59 || ss > 60 {
		return 0, 0, 0, false
	}
	return hh, mm, ss, true
}

// parseFraction reads the digits of a fraction of a second starting at i
// (after the dot) and returns nanoseconds and the index after the digits.
// Digits beyond nanoseconds are ignored.
func parseFraction(s string, i int) (ns, next int, ok bool) {
	start := i
	scale := 100_000_000
	for i < len(s) && isDigit(s[i]) {
		ns += int(s[i]-'0') * scale
		scale /= 10
		i++
	}
	return ns, i, i > start
}

func parseMonth(s string) time.Month {
	switch s {
	case "Jan":
		return time.January
	case "Feb":
		return time.February
	case "Mar":
		return time.March
	case "Apr":
		return time.April
	case "May":
		return time.May
	case "Jun":
		return time.June
	case "Jul":
		return time.July
	case "Aug":
		return time.August
	case "Sep":
		return time.September
	case "Oct":
		return time.October
	case "Nov":
		return time.November
	case "Dec":
		return time.December
	}
	return 0
}

func daysIn(m time.Month, y int) int {
	switch m {
	case time.February:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// atoiFixed parses s, which must be all decimal digits (at most 9).
func atoiFixed(s string) (int, bool) {
	if s == "" || len(s) > 9 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// cutWord returns s up to its first space, and what follows that space.
func cutWord(s string) (word, rest string) {
	if i := strings.IndexByte(s, ' '); i >= 0 {
		return s[:i], s[i+1:]
	}
	return s, ""
}

func skipSpaces(s string) string {
	for len(s) > 0 && s[0] == ' ' {
		s = s[1:]
	}
	return s
}

// Attribute keys of syslog events besides the sshd ones.
const (
	// AttrProcessName is the program of the syslog tag ("cron",
	// "/usr/sbin/cron").
	AttrProcessName = "process.name"
)

// Datasets (event.dataset) of the syslog parser besides sshd.
const (
	// DatasetSudo is sudo's own lines and its PAM lines.
	DatasetSudo = "sudo"
	// DatasetSu is su's own lines and its PAM lines.
	DatasetSu = "su"
	// DatasetPAM is the PAM lines of other programs (login, cron, gdm, …).
	DatasetPAM = "pam"
	// DatasetSyslog is any other syslog line: time, host, program and pid
	// read, the message kept.
	DatasetSyslog = "syslog"
)

// Syslog parses syslog lines of every program. sshd lines are read as the
// SSHD parser reads them; sudo and su lines, and PAM lines of any program,
// get actions of their own; other programs' lines become "syslog" events
// with their time, host, program and pid. It returns false for lines
// without a syslog timestamp.
type Syslog struct {
	// Location is the time zone of timestamps that carry no offset. nil
	// means UTC.
	Location *time.Location
}

// Name returns "syslog".
func (Syslog) Name() string { return FormatSyslog }

// Parse returns the event of a syslog line, or false.
func (p Syslog) Parse(in Input) (*event.Event, bool) {
	ev, _ := p.match(in, string(in.Line))
	return ev, ev != nil
}

func (p Syslog) match(in Input, s string) (*event.Event, string) {
	h, reason := parseSyslog(trimEOL(strings.TrimPrefix(s, bom)), in.Now, orUTC(p.Location))
	if reason != "" && (reason != reasonNoTag || h.host == "") {
		return nil, "syslog: " + reason
	}
	return syslogDispatch(in, s, h), ""
}

// syslogDispatch builds the event of a syslog line by its program.
func syslogDispatch(in Input, s string, h syslogHeader) *event.Event {
	prog := h.prog
	if i := strings.LastIndexByte(prog, '/'); i >= 0 {
		prog = prog[i+1:]
	}
	if isSSHDProg(prog) {
		return sshdEvent(in, s, h)
	}
	var ev *event.Event
	switch prog {
	case "sudo":
		ev = syslogEvent(in, s, h, DatasetSudo)
		sudoMessage(ev, h.msg)
	case "su", "su(pam_unix)":
		ev = syslogEvent(in, s, h, DatasetSu)
		suMessage(ev, prog, h.msg)
	default:
		ev = syslogEvent(in, s, h, DatasetPAM)
		if svc, mod, ok := oldPAMTag(prog); ok {
			// "login(pam_unix)[42]: session opened for user root by LOGIN(uid=0)"
			pamMessage(ev, svc, mod, h.msg)
		} else if !pamLine(ev, h.msg) {
			ev.Source = DatasetSyslog
		}
	}
	finish(ev, in)
	return ev
}

// syslogEvent starts the event of a syslog line: time, host, program and
// pid from the header.
func syslogEvent(in Input, s string, h syslogHeader, dataset string) *event.Event {
	ev := newEvent(in, s, dataset)
	ev.Timestamp = h.ts
	if h.host != "" {
		ev.Host = h.host
	}
	ev.Attrs = make(map[string]string, 6)
	if h.pid != "" {
		ev.Attrs[AttrPID] = h.pid
	}
	if h.prog != "" && dataset != FormatSSHD {
		ev.Attrs[AttrProcessName] = h.prog
	}
	return ev
}

func orUTC(loc *time.Location) *time.Location {
	if loc == nil {
		return time.UTC
	}
	return loc
}
