package evalset

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// BenchmarkGenerate generates the Default set, events built but not encoded.
func BenchmarkGenerate(b *testing.B) {
	var events int64
	start := time.Now()
	for b.Loop() {
		l, err := Generate(Default(), func(*event.Event) error { return nil })
		if err != nil {
			b.Fatal(err)
		}
		events += l.Events
	}
	rate := float64(events) / time.Since(start).Seconds()
	b.ReportMetric(rate, "events/s")
	fmt.Printf("BENCH name=evalset_generate value=%.0f unit=events/s\n", rate)
	fmt.Printf("BENCH name=evalset_default_events value=%d unit=events\n", events/int64(b.N))
}

// BenchmarkWriteNDJSON generates the Default set and encodes it as NDJSON.
func BenchmarkWriteNDJSON(b *testing.B) {
	var events int64
	start := time.Now()
	for b.Loop() {
		l, err := WriteNDJSON(Default(), io.Discard)
		if err != nil {
			b.Fatal(err)
		}
		events += l.Events
	}
	rate := float64(events) / time.Since(start).Seconds()
	b.ReportMetric(rate, "events/s")
	fmt.Printf("BENCH name=evalset_write_ndjson value=%.0f unit=events/s\n", rate)
}
