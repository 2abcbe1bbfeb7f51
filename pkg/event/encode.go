package event

import (
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/vigil-soc/vigil/pkg/jsonw"
)

// AppendJSON appends e's JSON encoding to dst and returns the extended
// buffer. The bytes are exactly those encoding/json writes for e (the same
// key order, escaping and number formats; labels sorted by key), so readers
// cannot tell the two apart; it exists because the shipper encodes hundreds
// of thousands of events a second and reflection dominated that cost.
//
// It fails, like encoding/json, for a time outside the years 0..9999 and
// for a NaN or infinite Value; dst is then returned unchanged.
func AppendJSON(dst []byte, e *Event) ([]byte, error) {
	if math.IsNaN(e.Value) || math.IsInf(e.Value, 0) {
		return dst, fmt.Errorf("encode event %s: vigil.value: unsupported value %v", e.ID, e.Value)
	}
	if err := jsonw.CheckTime(e.Timestamp); err != nil {
		return dst, fmt.Errorf("encode event %s: @timestamp: %w", e.ID, err)
	}
	if err := jsonw.CheckTime(e.Ingested); err != nil {
		return dst, fmt.Errorf("encode event %s: event.ingested: %w", e.ID, err)
	}
	b := append(dst, `{"vigil.version":`...)
	b = strconv.AppendInt(b, int64(e.Version), 10)
	b = appendKey(b, "event.id")
	b = jsonw.AppendString(b, e.ID)
	b = appendKey(b, "@timestamp")
	b = jsonw.AppendTime(b, e.Timestamp)
	b = appendKey(b, "event.ingested")
	b = jsonw.AppendTime(b, e.Ingested)
	b = appendKey(b, "organization.id")
	b = jsonw.AppendString(b, e.Tenant)
	b = appendKey(b, "event.dataset")
	b = jsonw.AppendString(b, e.Source)
	b = appendOptString(b, "host.name", e.Host)
	b = appendKey(b, "event.category")
	b = jsonw.AppendString(b, e.Category)
	b = appendOptString(b, "event.action", e.Action)
	b = appendKey(b, "event.outcome")
	b = jsonw.AppendString(b, e.Outcome)
	b = appendOptString(b, "source.ip", e.SrcIP)
	b = appendOptUint(b, "source.port", uint64(e.SrcPort))
	b = appendOptString(b, "destination.ip", e.DstIP)
	b = appendOptUint(b, "destination.port", uint64(e.DstPort))
	b = appendOptString(b, "user.name", e.User)
	b = appendOptString(b, "network.protocol", e.Protocol)
	b = appendOptUint(b, "source.bytes", e.BytesOut)
	b = appendOptUint(b, "destination.bytes", e.BytesIn)
	if e.Value != 0 {
		b = appendKey(b, "vigil.value")
		b = jsonw.AppendFloat(b, e.Value)
	}
	b = appendKey(b, "event.original")
	b = jsonw.AppendString(b, e.Message)
	b = appendOptString(b, "vigil.parse_error", e.ParseError)
	if len(e.Attrs) > 0 {
		b = appendKey(b, "labels")
		b = append(b, '{')
		var few [8]string // most events have a few labels: no allocation
		keys := few[:0]
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonw.AppendString(b, k)
			b = append(b, ':')
			b = jsonw.AppendString(b, e.Attrs[k])
		}
		b = append(b, '}')
	}
	return append(b, '}'), nil
}

func appendKey(b []byte, k string) []byte {
	b = append(b, ',', '"')
	b = append(b, k...)
	return append(b, '"', ':')
}

func appendOptString(b []byte, k, v string) []byte {
	if v == "" {
		return b
	}
	return jsonw.AppendString(appendKey(b, k), v)
}

func appendOptUint(b []byte, k string, v uint64) []byte {
	if v == 0 {
		return b
	}
	return strconv.AppendUint(appendKey(b, k), v, 10)
}
