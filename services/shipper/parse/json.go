package parse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
)

// Bounds on what a JSON line can put into an event.
const (
	// MaxAttrs is the most attributes a JSON line adds to its event.
	MaxAttrs = 64
	// MaxAttrValue is the most bytes of an attribute value, or of a mapped
	// string field, taken from a JSON line; longer values are cut.
	MaxAttrValue = 1024
	// MaxAttrKey is the longest attribute key kept; longer keys are dropped.
	MaxAttrKey = 256
	// maxDepth is how deep nested objects are flattened into dotted keys.
	maxDepth = 4
)

// AttrAttrsDropped counts the attributes of a JSON line left out by the
// bounds (too many, key too long, reserved "vigil." prefix).
const AttrAttrsDropped = "vigil.attrs_dropped"

// JSON parses lines holding one JSON object. A Vigil envelope (it has
// "vigil.version") is taken as it is; any other object has its common fields
// mapped (see README.md) and its other scalar fields kept as attributes.
// Nested objects are read as dotted keys ({"host":{"name":"a"}} is
// "host.name"). It returns false for lines that are not one JSON object.
type JSON struct {
	// Location is the time zone of timestamps that carry no offset
	// ("2006-01-02 15:04:05"). nil means UTC.
	Location *time.Location
	// fields, when set, replaces the keys of the mapped envelope fields
	// (WithFields).
	fields *fieldMap
}

// Name returns "json".
func (JSON) Name() string { return FormatJSON }

// Parse returns the event of a JSON object line, or false.
func (p JSON) Parse(in Input) (*event.Event, bool) {
	ev, _ := p.match(in, string(in.Line))
	return ev, ev != nil
}

func (p JSON) match(in Input, s string) (*event.Event, string) {
	if !looksJSON(in.Line) {
		if trimEOL(strings.TrimLeft(s, " \t")) == "" {
			return nil, "json: empty line"
		}
		return nil, "json: not a JSON object"
	}
	b := bytes.TrimPrefix(in.Line, []byte(bom))
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, "json: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	return p.object(in, s, b, top)
}

// object builds the event of a JSON object line; b is the line without its
// byte order mark, top its decoded members.
func (p JSON) object(in Input, s string, b []byte, top map[string]json.RawMessage) (*event.Event, string) {
	if _, ok := top["vigil.version"]; ok {
		return envelope(in, b, s)
	}
	loc := p.Location
	if loc == nil {
		loc = time.UTC
	}
	ev := newEvent(in, s, FormatJSON)
	f := fields{m: make(map[string]json.RawMessage, len(top))}
	f.flatten("", top, 0)
	k := &defaultKeys
	if p.fields != nil {
		k = &p.fields.keys
	}

	if t, ok := take(&f, func(r json.RawMessage) (time.Time, bool) { return jsonTime(r, loc) }, k.timestamp...); ok {
		ev.Timestamp = t
	}
	ev.Host = orDefault(f.takeString(k.host...), ev.Host)
	ev.User = f.takeString(k.user...)
	if a, ok := take(&f, jsonAddr, k.srcIP...); ok {
		ev.SrcIP, ev.SrcPort = a.ip, a.port
	}
	if a, ok := take(&f, jsonAddr, k.dstIP...); ok {
		ev.DstIP, ev.DstPort = a.ip, a.port
	}
	if port, ok := take(&f, jsonPort, k.srcPort...); ok {
		ev.SrcPort = port
	}
	if port, ok := take(&f, jsonPort, k.dstPort...); ok {
		ev.DstPort = port
	}
	if c, ok := take(&f, jsonCategory, k.category...); ok {
		ev.Category = c
	}
	ev.Action = f.takeString(k.action...)
	if o, ok := take(&f, jsonOutcome, k.outcome...); ok {
		ev.Outcome = o
	}
	ev.Protocol = f.takeString(k.protocol...)
	if n, ok := take(&f, jsonUint, k.srcBytes...); ok {
		ev.BytesOut = n
	}
	if n, ok := take(&f, jsonUint, k.dstBytes...); ok {
		ev.BytesIn = n
	}
	if v, ok := take(&f, jsonFloat, k.value...); ok {
		ev.Value = v
	}
	// The log message has no envelope field of its own (event.original is
	// the whole line): it is the first attribute, never dropped.
	if m := f.takeString(k.message...); m != "" {
		setAttr(ev, "message", m)
	}
	f.attrs(ev)
	finish(ev, in)
	return ev, ""
}

// fields is a JSON object flattened into dotted keys.
type fields struct {
	m       map[string]json.RawMessage
	dropped int
}

// flatten adds obj's members under prefix: first the ones that are not
// objects, then the nested objects, each in key order. So a key written both
// ways ("user.name" and {"user":{"name"}}) resolves the same way every time,
// and the flat key wins.
func (f *fields) flatten(prefix string, obj map[string]json.RawMessage, depth int) {
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var nested []string
	for _, k := range keys {
		v := obj[k]
		if len(v) > 0 && v[0] == '{' && depth < maxDepth {
			nested = append(nested, k)
			continue
		}
		f.add(prefix, k, v)
	}
	for _, k := range nested {
		var sub map[string]json.RawMessage
		if err := json.Unmarshal(obj[k], &sub); err != nil {
			f.add(prefix, k, obj[k])
			continue
		}
		if prefix != "" {
			k = prefix + "." + k
		}
		f.flatten(k, sub, depth+1)
	}
}

func (f *fields) add(prefix, k string, v json.RawMessage) {
	if prefix != "" {
		k = prefix + "." + k
	}
	if _, dup := f.m[k]; !dup {
		f.m[k] = v
	}
}

// take returns the first of keys whose value conv accepts, and removes it
// so that it does not become an attribute too.
func take[T any](f *fields, conv func(json.RawMessage) (T, bool), keys ...string) (T, bool) {
	for _, k := range keys {
		if r, ok := f.m[k]; ok {
			if v, ok := conv(r); ok {
				delete(f.m, k)
				return v, true
			}
		}
	}
	var zero T
	return zero, false
}

// takeString takes the first of keys that holds a non-empty scalar.
func (f *fields) takeString(keys ...string) string {
	v, _ := take(f, func(r json.RawMessage) (string, bool) {
		s, ok := jsonScalar(r)
		s = strings.TrimSpace(s)
		return truncateUTF8(s, MaxAttrValue), ok && s != ""
	}, keys...)
	return v
}

// attrs adds the fields not taken as attributes, within the bounds.
func (f *fields) attrs(ev *event.Event) {
	keys := make([]string, 0, len(f.m))
	for k := range f.m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dropped := 0
	for _, k := range keys {
		v, ok := jsonScalar(f.m[k])
		if !ok {
			continue // null, arrays, objects nested too deep
		}
		if len(k) > MaxAttrKey || strings.HasPrefix(k, "vigil.") || len(ev.Attrs) >= MaxAttrs {
			dropped++
			continue
		}
		setAttr(ev, k, truncateUTF8(v, MaxAttrValue))
	}
	if dropped > 0 {
		setAttr(ev, AttrAttrsDropped, strconv.Itoa(dropped))
	}
}

// jsonScalar returns a string, number or boolean as text.
func jsonScalar(r json.RawMessage) (string, bool) {
	if len(r) == 0 {
		return "", false
	}
	switch c := r[0]; {
	case c == '"':
		var s string
		if json.Unmarshal(r, &s) != nil {
			return "", false
		}
		return s, true
	case c == 't' || c == 'f' || c == '-' || isDigit(c):
		return string(r), true
	}
	return "", false
}

// jsonTime reads an RFC 3339 string, "2006-01-02 15:04:05" (in loc), or a
// Unix time in seconds, milliseconds, microseconds or nanoseconds (number
// or numeric string; told apart by magnitude).
func jsonTime(r json.RawMessage, loc *time.Location) (time.Time, bool) {
	s, ok := jsonScalar(r)
	if !ok || s == "" || s == "true" || s == "false" {
		return time.Time{}, false
	}
	var t time.Time
	if c := s[0]; (isDigit(c) || c == '-') && !strings.ContainsAny(s, ":T ") {
		t, ok = epoch(s)
	} else {
		t, ok = timeString(s, loc)
	}
	if !ok || !validTime(t) {
		return time.Time{}, false
	}
	return t.UTC(), true
}

var timeLayouts = []string{
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05",
}

func timeString(s string, loc *time.Location) (time.Time, bool) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, true
	}
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// epoch reads a Unix time whose unit is told by its magnitude: below 1e11
// seconds (until year 5138), below 1e14 milliseconds, below 1e17
// microseconds, else nanoseconds.
func epoch(s string) (time.Time, bool) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		a := n
		if a < 0 {
			a = -a
		}
		switch {
		case a < 1e11:
			return time.Unix(n, 0), true
		case a < 1e14:
			return time.UnixMilli(n), true
		case a < 1e17:
			return time.UnixMicro(n), true
		default:
			return time.Unix(0, n), true
		}
	}
	if sec, frac, ok := strings.Cut(s, "."); ok && len(sec) > 0 && len(sec) <= 10 && allDigits(sec) && len(frac) > 0 && allDigits(frac) {
		// Seconds with a fraction ("1767344400.120001", as Zeek writes):
		// read exactly, not through a float.
		n, _ := strconv.ParseInt(sec, 10, 64)
		ns, _, _ := parseFraction(frac, 0)
		return time.Unix(n, int64(ns)), true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return time.Time{}, false
	}
	switch a := math.Abs(f); {
	case a < 1e11:
	case a < 1e14:
		f /= 1e3
	case a < 1e17:
		f /= 1e6
	case a < 9e18:
		f /= 1e9
	default:
		return time.Time{}, false
	}
	sec := math.Floor(f)
	ns := math.Round((f - sec) * 1e9)
	if ns >= 1e9 {
		sec, ns = sec+1, 0
	}
	return time.Unix(int64(sec), int64(ns)), true
}

type addr struct {
	ip   string
	port uint16
}

// jsonAddr reads "IP" or "IP:PORT" / "[IPv6]:PORT" (as Go's and some web
// servers' remote_addr).
func jsonAddr(r json.RawMessage) (addr, bool) {
	s, ok := jsonScalar(r)
	if !ok {
		return addr{}, false
	}
	s = strings.TrimSpace(s)
	if ip, ok := normIP(s); ok {
		return addr{ip: ip}, true
	}
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return addr{}, false
	}
	ip, ok := normIP(ap.Addr().String())
	if !ok {
		return addr{}, false
	}
	return addr{ip: ip, port: ap.Port()}, true
}

// jsonPort reads a port 1..65535, number or numeric string.
func jsonPort(r json.RawMessage) (uint16, bool) {
	s, ok := jsonScalar(r)
	if !ok || s == "" || len(s) > 5 || !allDigits(s) {
		return 0, false
	}
	n, _ := atoiFixed(s)
	if n < 1 || n > 65535 {
		return 0, false
	}
	return uint16(n), true
}

// jsonUint reads a byte count, number or numeric string.
func jsonUint(r json.RawMessage) (uint64, bool) {
	s, ok := jsonScalar(r)
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}

// jsonCategory reads a category string, or the first string of an array
// (ECS allows event.category to be one).
func jsonCategory(r json.RawMessage) (string, bool) {
	if len(r) > 0 && r[0] == '[' {
		var list []json.RawMessage
		if json.Unmarshal(r, &list) != nil || len(list) == 0 {
			return "", false
		}
		r = list[0]
	}
	if len(r) == 0 || r[0] != '"' {
		return "", false
	}
	s, _ := jsonScalar(r)
	s = strings.TrimSpace(s)
	return truncateUTF8(s, MaxAttrValue), s != ""
}

// jsonOutcome maps common outcome words onto success, failure and unknown;
// other values are not taken (they stay as an attribute).
func jsonOutcome(r json.RawMessage) (string, bool) {
	s, ok := jsonScalar(r)
	if !ok {
		return "", false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "success", "succeeded", "successful", "ok", "allow", "allowed", "accept", "accepted", "pass", "passed", "true":
		return event.OutcomeSuccess, true
	case "failure", "failed", "fail", "error", "deny", "denied", "reject", "rejected", "block", "blocked", "drop", "dropped", "false":
		return event.OutcomeFailure, true
	case "unknown":
		return event.OutcomeUnknown, true
	}
	return "", false
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// envelope takes a line that is already a Vigil event. The tenant is always
// the reader's: a line cannot move itself into another tenant.
func envelope(in Input, b []byte, s string) (*event.Event, string) {
	var ev event.Event
	if err := json.Unmarshal(b, &ev); err != nil {
		return nil, "json: vigil envelope: " + strings.TrimPrefix(err.Error(), "json: ")
	}
	if ev.ID == "" {
		ev.ID = event.NewID(in.Tenant, in.Origin, in.Offset, in.Line)
	}
	ev.Tenant = in.Tenant
	if ev.Ingested.IsZero() {
		ev.Ingested = in.Now
	}
	ev.Timestamp, ev.Ingested = ev.Timestamp.UTC(), ev.Ingested.UTC()
	if ev.Host == "" {
		ev.Host = in.Host
	}
	if ev.Message == "" {
		ev.Message = event.SanitizeUTF8(s)
	}
	if err := ev.Validate(); err != nil {
		reason, _, _ := strings.Cut(err.Error(), "\n")
		return nil, "json: vigil envelope: " + reason
	}
	if !validTime(ev.Timestamp) || !validTime(ev.Ingested) {
		return nil, "json: vigil envelope: timestamp out of range"
	}
	ev.Version = event.Version
	if len(ev.Attrs) > 0 {
		keys := make([]string, 0, len(ev.Attrs))
		for k := range ev.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		attrs := make(map[string]string, min(len(keys), MaxAttrs))
		dropped := 0
		for _, k := range keys {
			if len(k) > MaxAttrKey || len(attrs) >= MaxAttrs {
				dropped++
				continue
			}
			attrs[k] = truncateUTF8(ev.Attrs[k], MaxAttrValue)
		}
		ev.Attrs = attrs
		if dropped > 0 {
			ev.Attrs[AttrAttrsDropped] = strconv.Itoa(dropped)
		}
	}
	finish(&ev, in)
	return &ev, ""
}

// jsonFloat reads a number, or a numeric string.
func jsonFloat(r json.RawMessage) (float64, bool) {
	s, ok := jsonScalar(r)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// jsonKeys are the (flattened, dotted) keys each envelope field is read
// from, the first usable one winning.
type jsonKeys struct {
	timestamp, host, user, srcIP, srcPort, dstIP, dstPort   []string
	category, action, outcome, protocol, srcBytes, dstBytes []string
	value, message                                          []string
}

// defaultKeys are the keys read without a mapping; see README.md.
var defaultKeys = jsonKeys{
	timestamp: []string{"@timestamp", "timestamp", "time", "ts"},
	host:      []string{"host.name", "hostname", "host"},
	user:      []string{"user.name", "user", "username"},
	srcIP:     []string{"source.ip", "src_ip", "client_ip", "remote_addr"},
	srcPort:   []string{"source.port", "src_port"},
	dstIP:     []string{"destination.ip", "dst_ip"},
	dstPort:   []string{"destination.port", "dst_port"},
	category:  []string{"event.category", "category"},
	action:    []string{"event.action", "action"},
	outcome:   []string{"event.outcome", "outcome"},
	protocol:  []string{"network.protocol", "protocol"},
	srcBytes:  []string{"source.bytes", "bytes_out"},
	dstBytes:  []string{"destination.bytes", "bytes_in"},
	value:     nil,
	message:   []string{"message", "msg"},
}

// fieldMap is a checked field mapping.
type fieldMap struct {
	keys jsonKeys
}

// newFieldMap checks a mapping from envelope keys to JSON paths and returns
// the keys to read: the mapped path for a mapped field, the usual names
// for the others.
func newFieldMap(m map[string]string) (*fieldMap, error) {
	fm := &fieldMap{keys: defaultKeys}
	k := &fm.keys
	slots := map[string]*[]string{
		"@timestamp": &k.timestamp, "timestamp": &k.timestamp, "host.name": &k.host,
		"user.name": &k.user, "source.ip": &k.srcIP, "source.port": &k.srcPort,
		"destination.ip": &k.dstIP, "destination.port": &k.dstPort,
		"event.category": &k.category, "event.action": &k.action,
		"event.outcome": &k.outcome, "network.protocol": &k.protocol,
		"source.bytes": &k.srcBytes, "destination.bytes": &k.dstBytes,
		"vigil.value": &k.value, "message": &k.message,
	}
	if _, both := m["timestamp"]; both {
		if _, ok := m["@timestamp"]; ok {
			return nil, fmt.Errorf("parse: %w: fields: timestamp and @timestamp name the same field", ErrBadOption)
		}
	}
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	slices.Sort(keys)
	var errs []error
	for _, key := range keys {
		slot, ok := slots[key]
		path := strings.TrimSpace(m[key])
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("parse: %w: fields: unknown envelope key %q (want one of %s)", ErrBadOption, key, strings.Join(config.JSONFieldKeys, ", ")))
		case path == "":
			errs = append(errs, fmt.Errorf("parse: %w: fields.%s: empty JSON path", ErrBadOption, key))
		default:
			*slot = []string{path}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return fm, nil
}
