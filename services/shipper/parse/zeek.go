package parse

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Actions of Zeek records (event.action). ssh.log records are ssh_login
// (ActionSSHLogin) and http.log records http_request (ActionHTTPRequest),
// as the sshd and access log parsers name them.
const (
	// ActionNetworkFlow is a connection of conn.log.
	ActionNetworkFlow = "network_flow"
	// ActionDNSQuery is a query of dns.log.
	ActionDNSQuery = "dns_query"
	// ActionZeekPrefix prefixes the action of records of other logs:
	// "zeek_files", "zeek_weird", …
	ActionZeekPrefix = "zeek_"
)

// Attribute keys of Zeek events; the fields not mapped onto the envelope
// are kept as "zeek.<field>".
const (
	// AttrZeekLog is the log a record came from: conn, ssh, dns, http, …
	AttrZeekLog = "zeek.log"
	// AttrTransport is the transport protocol (tcp, udp, icmp).
	AttrTransport = "network.transport"
	AttrDNSQuery  = "dns.question.name"
	AttrDNSType   = "dns.question.type"
	AttrDNSRcode  = "dns.response_code"
	AttrDNSAnswer = "dns.answers"
)

// maxZeekOrigins bounds the files whose header a Zeek parser remembers;
// past it, it starts afresh.
const maxZeekOrigins = 1024

// Zeek parses Zeek logs: TSV with their "#separator", "#fields", … header
// lines, and JSON (one object per line, "ts" as epoch seconds or ISO 8601).
// It knows conn, ssh, dns and http records and keeps the fields of every
// other log as attributes. It returns false for other lines.
//
// TSV data lines need the "#fields" header of their file: a Zeek parser
// remembers the header of each origin (Input.Origin) it read, so it is
// stateful and not safe for concurrent use. Make one with NewZeek (or New)
// per input and feed it each file's lines in order.
type Zeek struct {
	headers map[string]*zeekHeader
}

// NewZeek returns a Zeek parser that has seen no header yet.
func NewZeek() *Zeek { return &Zeek{headers: map[string]*zeekHeader{}} }

// Name returns "zeek".
func (*Zeek) Name() string { return FormatZeek }

// Parse returns the event of a Zeek log line, or false.
func (z *Zeek) Parse(in Input) (*event.Event, bool) {
	ev, _ := z.match(in, string(in.Line))
	return ev, ev != nil
}

// zeekHeader is what a TSV file's header lines said.
type zeekHeader struct {
	sep, setSep, empty, unset string
	path                      string
	fields                    []string
	index                     map[string]int
}

func (z *Zeek) match(in Input, s string) (*event.Event, string) {
	t := trimEOL(strings.TrimPrefix(s, bom))
	switch {
	case t == "":
		return nil, "zeek: empty line"
	case t[0] == '{':
		var top map[string]json.RawMessage
		if err := json.Unmarshal([]byte(t), &top); err != nil {
			return nil, "zeek: " + strings.TrimPrefix(err.Error(), "json: ")
		}
		if _, ok := top["ts"]; !ok {
			return nil, "zeek: JSON record without ts"
		}
		if ev := zeekJSON(in, s, top); ev != nil {
			return ev, ""
		}
		return nil, "zeek: bad ts"
	case t[0] == '#':
		ev := z.header(in, s, t)
		finish(ev, in)
		return ev, ""
	}
	h := z.headers[in.Origin]
	if h == nil || len(h.fields) == 0 {
		return nil, "zeek: no #fields header seen for this file"
	}
	values := strings.Split(t, h.sep)
	if len(values) != len(h.fields) {
		return nil, "zeek: " + strconv.Itoa(len(values)) + " values for " + strconv.Itoa(len(h.fields)) + " #fields"
	}
	rec := zeekRecord{path: h.path, get: func(name string) (string, bool) {
		i, ok := h.index[name]
		if !ok {
			return "", false
		}
		switch v := values[i]; v {
		case h.unset:
			return "", false
		case h.empty:
			return "", true
		default:
			return v, true
		}
	}}
	rec.names = make([]string, 0, len(h.fields))
	for i, f := range h.fields {
		if values[i] != h.unset {
			rec.names = append(rec.names, f)
		}
	}
	ts, _ := rec.get("ts")
	tm, ok := epoch(ts)
	if !ok || !validTime(tm) {
		return nil, "zeek: bad ts"
	}
	ev := rec.event(in, s, tm.UTC())
	finish(ev, in)
	return ev, ""
}

// header reads a "#" line into the origin's header and returns its event.
func (z *Zeek) header(in Input, s, t string) *event.Event {
	h := z.headers[in.Origin]
	if strings.HasPrefix(t, "#separator ") || h == nil {
		if len(z.headers) >= maxZeekOrigins {
			clear(z.headers)
		}
		h = &zeekHeader{sep: "\t", setSep: ",", empty: "(empty)", unset: "-"}
		z.headers[in.Origin] = h
	}
	ev := newEvent(in, s, FormatZeek)
	ev.Action = ActionLogHeader
	ev.Attrs = make(map[string]string, 2)
	if v, ok := strings.CutPrefix(t, "#separator "); ok {
		h.sep = unescapeZeek(v)
		if h.sep == "" {
			h.sep = "\t"
		}
		return ev
	}
	key, value, _ := strings.Cut(t[1:], h.sep)
	switch key {
	case "set_separator":
		h.setSep = value
	case "empty_field":
		h.empty = value
	case "unset_field":
		h.unset = value
	case "path":
		h.path = value
	case "fields":
		h.fields = strings.Split(value, h.sep)
		h.index = make(map[string]int, len(h.fields))
		for i, f := range h.fields {
			h.index[f] = i
		}
	}
	if h.path != "" {
		ev.Attrs[AttrZeekLog] = h.path
	}
	return ev
}

// unescapeZeek reads the "\x09" escapes of a #separator line.
func unescapeZeek(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if n, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isZeekJSON reports whether a JSON object is a Zeek record: it has "uid"
// and "id.orig_h" (as Zeek's JSON writer names them, flat).
func isZeekJSON(top map[string]json.RawMessage) bool {
	_, uid := top["uid"]
	_, orig := top["id.orig_h"]
	_, ts := top["ts"]
	return uid && orig && ts
}

// zeekJSON builds the event of a Zeek JSON record.
func zeekJSON(in Input, s string, top map[string]json.RawMessage) *event.Event {
	names := make([]string, 0, len(top))
	for k, v := range top {
		if string(v) != "null" {
			names = append(names, k)
		}
	}
	rec := zeekRecord{names: names, get: func(name string) (string, bool) {
		r, ok := top[name]
		if !ok {
			return "", false
		}
		switch {
		case string(r) == "true":
			return "T", true
		case string(r) == "false":
			return "F", true
		case len(r) > 0 && r[0] == '[':
			var list []json.RawMessage
			if json.Unmarshal(r, &list) != nil {
				return "", false
			}
			parts := make([]string, 0, len(list))
			for _, e := range list {
				if v, ok := jsonScalar(e); ok {
					parts = append(parts, v)
				}
			}
			return strings.Join(parts, ","), true
		}
		return jsonScalar(r)
	}}
	if p, ok := rec.get("_path"); ok {
		rec.path = p
	} else {
		rec.path = zeekGuessPath(top)
	}
	t, ok := jsonTime(top["ts"], time.UTC)
	if !ok {
		return nil
	}
	ev := rec.event(in, s, t)
	finish(ev, in)
	return ev
}

// zeekGuessPath tells the log of a JSON record that does not name it
// ("_path") by its fields.
func zeekGuessPath(top map[string]json.RawMessage) string {
	has := func(k string) bool { _, ok := top[k]; return ok }
	switch {
	case has("conn_state") || has("history") && has("proto"):
		return "conn"
	case has("auth_success") || has("auth_attempts"):
		return "ssh"
	case has("qtype_name") || has("rcode_name") || has("query") && has("trans_id"):
		return "dns"
	case has("status_code") || has("method") && has("uri"):
		return "http"
	}
	return ""
}

// zeekRecord is one record of a Zeek log, TSV or JSON.
type zeekRecord struct {
	// path is the log: conn, ssh, dns, http, … or empty when unknown.
	path string
	// names are the fields the record sets, for the attributes.
	names []string
	// get returns a field's value as Zeek's TSV writes it (booleans T/F,
	// sets joined with ","), and false when it is unset.
	get func(name string) (string, bool)
}

// zeekMapped are the fields every record maps onto the envelope.
var zeekMapped = map[string]bool{"ts": true, "id.orig_h": true, "id.orig_p": true, "id.resp_h": true, "id.resp_p": true, "_path": true, "_write_ts": true}

// event builds the event of a record.
func (r zeekRecord) event(in Input, s string, ts time.Time) *event.Event {
	ev := newEvent(in, s, FormatZeek)
	ev.Timestamp = ts
	ev.Category = event.CategoryNetwork
	ev.Attrs = make(map[string]string, len(r.names)+2)
	if v, ok := r.get("id.orig_h"); ok {
		if ip, ok := normIP(v); ok {
			ev.SrcIP = ip
		}
	}
	if v, ok := r.get("id.resp_h"); ok {
		if ip, ok := normIP(v); ok {
			ev.DstIP = ip
		}
	}
	port := func(name string) uint16 {
		v, _ := r.get(name)
		p, rest := parsePort(v)
		if rest != "" {
			return 0
		}
		return p
	}
	ev.SrcPort, ev.DstPort = port("id.orig_p"), port("id.resp_p")
	mapped := map[string]bool{}
	take := func(name string) (string, bool) {
		mapped[name] = true
		return r.get(name)
	}
	count := func(name string) uint64 {
		v, _ := take(name)
		if v == "" || len(v) > 19 || !allDigits(v) {
			return 0
		}
		return parseUint(v)
	}
	if r.path != "" {
		ev.Attrs[AttrZeekLog] = r.path
	}
	switch r.path {
	case "conn":
		ev.Action = ActionNetworkFlow
		proto, _ := take("proto")
		if proto != "" {
			ev.Attrs[AttrTransport] = proto
		}
		ev.Protocol = proto
		if svc, ok := take("service"); ok && svc != "" {
			ev.Protocol = svc
		}
		ev.BytesOut, ev.BytesIn = count("orig_bytes"), count("resp_bytes")
		if d, ok := take("duration"); ok {
			ev.Value, _ = parseDecimal(d)
		}
	case "ssh":
		ev.Category, ev.Action, ev.Protocol = event.CategoryAuthentication, ActionSSHLogin, "ssh"
		switch v, _ := take("auth_success"); v {
		case "T":
			ev.Outcome = event.OutcomeSuccess
		case "F":
			ev.Outcome = event.OutcomeFailure
		}
		if n := count("auth_attempts"); n > 0 {
			ev.Value = float64(n)
		}
	case "dns":
		ev.Action, ev.Protocol = ActionDNSQuery, "dns"
		for name, key := range map[string]string{"query": AttrDNSQuery, "qtype_name": AttrDNSType, "rcode_name": AttrDNSRcode, "answers": AttrDNSAnswer} {
			if v, ok := take(name); ok && v != "" {
				ev.Attrs[key] = truncateUTF8(v, MaxAttrValue)
			}
		}
		if v, ok := take("proto"); ok && v != "" {
			ev.Attrs[AttrTransport] = v
		}
		switch rc := ev.Attrs[AttrDNSRcode]; {
		case rc == "NOERROR":
			ev.Outcome = event.OutcomeSuccess
		case rc != "":
			ev.Outcome = event.OutcomeFailure
		}
	case "http":
		ev.Category, ev.Action, ev.Protocol = event.CategoryWeb, ActionHTTPRequest, "http"
		for name, key := range map[string]string{"method": AttrHTTPMethod, "uri": AttrURL, "host": AttrURLDomain, "user_agent": AttrUserAgent, "referrer": AttrHTTPReferrer, "version": AttrHTTPVersion} {
			if v, ok := take(name); ok && v != "" {
				ev.Attrs[key] = truncateUTF8(v, MaxAttrValue)
			}
		}
		if u, ok := take("username"); ok {
			ev.User = u
		}
		if st, ok := take("status_code"); ok && len(st) == 3 && allDigits(st) {
			setStatus(ev, st)
		}
		ev.BytesOut, ev.BytesIn = count("request_body_len"), count("response_body_len")
	case "":
		ev.Action = ActionZeekPrefix + "record"
	default:
		ev.Action = ActionZeekPrefix + r.path
	}
	// The other fields, as zeek.<field>, within the attribute bounds.
	slices.Sort(r.names)
	dropped := 0
	for _, name := range r.names {
		if zeekMapped[name] || mapped[name] {
			continue
		}
		v, ok := r.get(name)
		if !ok {
			continue
		}
		if len(ev.Attrs) >= MaxAttrs || len(name) > MaxAttrKey {
			dropped++
			continue
		}
		ev.Attrs["zeek."+name] = truncateUTF8(v, MaxAttrValue)
	}
	if dropped > 0 {
		ev.Attrs[AttrAttrsDropped] = strconv.Itoa(dropped)
	}
	return ev
}
