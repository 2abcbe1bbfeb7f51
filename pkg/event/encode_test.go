package event_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// TestAppendJSONMatchesEncodingJSON: the hand-written encoder writes exactly
// the bytes encoding/json writes, for the awkward cases too.
func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	tests := []struct {
		name string
		edit func(e *event.Event)
	}{
		{"full", func(*event.Event) {}},
		{"minimal", func(e *event.Event) {
			*e = event.Event{Version: 1, ID: e.ID, Timestamp: e.Timestamp, Ingested: e.Ingested, Tenant: "t", Source: "raw", Category: "unknown", Outcome: "unknown"}
		}},
		{"html and controls", func(e *event.Event) { e.Message = "<a href=\"x\">&amp;</a>\x00\x01\x1f\t\n\r\b\f\\ \x7f" }},
		{"invalid utf-8", func(e *event.Event) { e.Message = "ok \xff\xfe bad \xc3 end"; e.User = "\xe2\x82" }},
		{"line separators", func(e *event.Event) { e.Message = "a\u2028b\u2029c é 日本 🙂" }},
		{"zone offset", func(e *event.Event) {
			e.Timestamp = time.Date(2026, 3, 1, 2, 3, 4, 500, time.FixedZone("x", -7*3600-1800))
		}},
		{"whole seconds", func(e *event.Event) { e.Timestamp = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC) }},
		{"small value", func(e *event.Event) { e.Value = 1.5e-7 }},
		{"large value", func(e *event.Event) { e.Value = -3e21 }},
		{"plain value", func(e *event.Event) { e.Value = 123456.789 }},
		{"exponent three digits", func(e *event.Event) { e.Value = 1e-300 }},
		{"max uint", func(e *event.Event) { e.BytesIn = math.MaxUint64; e.SrcPort = 65535 }},
		{"labels sorted", func(e *event.Event) {
			e.Attrs = map[string]string{"z": "1", "a": "<2>", "m\x00": "\xff", "": ""}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := full(t)
			tt.edit(e)
			want, err := json.Marshal(e)
			require.NoError(t, err)
			got, err := event.AppendJSON([]byte("prefix"), e)
			require.NoError(t, err)
			require.Equal(t, "prefix"+string(want), string(got))
		})
	}
}

func TestAppendJSONRejectsWhatEncodingJSONRejects(t *testing.T) {
	for name, edit := range map[string]func(e *event.Event){
		"nan":        func(e *event.Event) { e.Value = math.NaN() },
		"inf":        func(e *event.Event) { e.Value = math.Inf(-1) },
		"year 10000": func(e *event.Event) { e.Timestamp = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) },
		"year -1":    func(e *event.Event) { e.Ingested = time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC) },
		"zone +24h":  func(e *event.Event) { e.Ingested = e.Ingested.In(time.FixedZone("", 24*3600)) },
	} {
		t.Run(name, func(t *testing.T) {
			e := full(t)
			edit(e)
			_, jerr := json.Marshal(e)
			require.Error(t, jerr)
			got, err := event.AppendJSON([]byte("keep"), e)
			require.Error(t, err)
			require.Equal(t, "keep", string(got))
		})
	}
}

func FuzzAppendJSON(f *testing.F) {
	f.Add("Failed password for root from 192.0.2.1 port 22 ssh2", "root", "k", "v", 1.25, uint64(7))
	f.Add("\xff<>&\u2028", "\x00", "", "\xfe", 1e-9, uint64(0))
	f.Fuzz(func(t *testing.T, msg, user, k, v string, value float64, n uint64) {
		if math.IsNaN(value) || math.IsInf(value, 0) {
			return
		}
		e := full(t)
		e.Message, e.User, e.Value, e.BytesOut = msg, user, value, n
		e.Attrs = map[string]string{k: v, "fixed": msg}
		want, err := json.Marshal(e)
		require.NoError(t, err)
		got, err := event.AppendJSON(nil, e)
		require.NoError(t, err)
		require.Equal(t, string(want), string(got))
	})
}

// BenchmarkEncode encodes a realistic envelope with AppendJSON and with
// encoding/json, and prints both figures.
func BenchmarkEncode(b *testing.B) {
	e := full(b)
	e.Attrs = map[string]string{"pid": "812"}
	var buf []byte
	for range b.N {
		fast := nsPerOp(b, func() error {
			var err error
			buf, err = event.AppendJSON(buf[:0], e)
			return err
		})
		std := nsPerOp(b, func() error { _, err := json.Marshal(e); return err })
		fmt.Printf("BENCH name=event_encode value=%.0f unit=ns/op vs=encoding/json ratio=%.2f\n", fast, fast/std)
	}
}
