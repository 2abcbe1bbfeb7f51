package detect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
)

// getter reads one field of an event as text; ok is false when the event
// does not have it.
type getter func(e *event.Event) (v string, ok bool)

// numGetter reads one numeric field of an event.
type numGetter func(e *event.Event) float64

func nonEmpty(s string) (string, bool) { return s, s != "" }

// fieldGetter returns the reader of a field named as in config.ProfileFields
// (or labels.NAME), with an optional prefix length for IP fields
// (source.ip/24 reads the /24 network an address is in).
func fieldGetter(spec string) (getter, error) {
	name, bits := config.SplitKeyField(spec)
	g, err := plainGetter(name)
	if err != nil || bits < 0 {
		return g, err
	}
	return func(e *event.Event) (string, bool) {
		s, ok := g(e)
		if !ok {
			return "", false
		}
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return "", false
		}
		b := bits
		if ip.Is4() && b > 32 {
			b = 32
		}
		if ip.Is4In6() {
			ip = ip.Unmap()
		}
		p, err := ip.Prefix(b)
		if err != nil {
			return "", false
		}
		return p.String(), true
	}, nil
}

func plainGetter(name string) (getter, error) {
	if label, ok := strings.CutPrefix(name, "labels."); ok && label != "" {
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Attrs[label]) }, nil
	}
	port := func(p uint16) (string, bool) {
		if p == 0 {
			return "", false
		}
		return strconv.Itoa(int(p)), true
	}
	num := func(n uint64) (string, bool) { return strconv.FormatUint(n, 10), true }
	switch name {
	case "tenant":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Tenant) }, nil
	case "event.dataset":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Source) }, nil
	case "host.name":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Host) }, nil
	case "event.category":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Category) }, nil
	case "event.action":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Action) }, nil
	case "event.outcome":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Outcome) }, nil
	case "source.ip":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.SrcIP) }, nil
	case "destination.ip":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.DstIP) }, nil
	case "source.port":
		return func(e *event.Event) (string, bool) { return port(e.SrcPort) }, nil
	case "destination.port":
		return func(e *event.Event) (string, bool) { return port(e.DstPort) }, nil
	case "user.name":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.User) }, nil
	case "network.protocol":
		return func(e *event.Event) (string, bool) { return nonEmpty(e.Protocol) }, nil
	case "source.bytes":
		return func(e *event.Event) (string, bool) { return num(e.BytesOut) }, nil
	case "destination.bytes":
		return func(e *event.Event) (string, bool) { return num(e.BytesIn) }, nil
	case "vigil.value":
		return func(e *event.Event) (string, bool) {
			return strconv.FormatFloat(e.Value, 'g', -1, 64), true
		}, nil
	}
	return nil, fmt.Errorf("unknown event field %q", name)
}

// numericGetter returns the reader of a numeric field.
func numericGetter(name string) (numGetter, error) {
	switch name {
	case "source.port":
		return func(e *event.Event) float64 { return float64(e.SrcPort) }, nil
	case "destination.port":
		return func(e *event.Event) float64 { return float64(e.DstPort) }, nil
	case "source.bytes":
		return func(e *event.Event) float64 { return float64(e.BytesOut) }, nil
	case "destination.bytes":
		return func(e *event.Event) float64 { return float64(e.BytesIn) }, nil
	case "vigil.value":
		return func(e *event.Event) float64 { return e.Value }, nil
	}
	return nil, fmt.Errorf("%q is not a numeric field", name)
}

// matcher selects the events a profile counts.
type matcher struct {
	category, action, outcome []string
	fields                    []fieldMatch
}

type fieldMatch struct {
	get    getter
	values []string // empty: any non-empty value
}

func newMatcher(c config.MatchConfig) (matcher, error) {
	m := matcher{category: c.Category, action: c.Action, outcome: c.Outcome}
	for name, values := range c.Fields {
		g, err := plainGetter(name)
		if err != nil {
			return m, err
		}
		fm := fieldMatch{get: g}
		for _, v := range values {
			if v == "*" {
				fm.values = nil
				break
			}
			fm.values = append(fm.values, v)
		}
		m.fields = append(m.fields, fm)
	}
	return m, nil
}

func oneOf(v string, allowed []string) bool {
	if len(allowed) == 0 {
		return true
	}
	for _, a := range allowed {
		if a == v {
			return true
		}
	}
	return false
}

func (m *matcher) match(e *event.Event) bool {
	if !oneOf(e.Category, m.category) || !oneOf(e.Outcome, m.outcome) || !oneOf(e.Action, m.action) {
		return false
	}
	for _, f := range m.fields {
		v, ok := f.get(e)
		if !ok || len(f.values) > 0 && !oneOf(v, f.values) {
			return false
		}
	}
	return true
}
