package series_test

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/vigil-soc/vigil/pkg/series"
)

// benchSeries is two weeks of minute samples: a daily cycle, noise, and
// a few spikes.
func benchSeries() ([]time.Time, []float64) {
	b := base{n: 14 * 24 * 60, step: time.Minute, offset: 100, sigma: 5, daily: 30, noise: gaussian}
	l := generate("bench", "bench", 42, b, []anomaly{{kind: "spike", at: 9000, size: 10}, {kind: "shift", at: 15000, size: 6, dur: 100}})
	return l.ts, l.vs
}

// BenchmarkSeriesScore prints the time to score one row and the
// detector's memory.
func BenchmarkSeriesScore(b *testing.B) {
	ts, vs := benchSeries()
	var d *series.Detector
	b.ResetTimer()
	for range b.N {
		d = series.New(series.DefaultConfig())
		for i := range vs {
			d.Score(ts[i], vs[i])
		}
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*len(vs))
	fmt.Printf("BENCH name=series_score value=%.0f unit=ns/op\n", ns)
	fmt.Printf("BENCH name=series_state value=%d unit=bytes\n", d.StateBytes())
}

// BenchmarkSeriesCSV prints how many rows a second ScoreCSV reads, scores
// and writes.
func BenchmarkSeriesCSV(b *testing.B) {
	ts, vs := benchSeries()
	var in bytes.Buffer
	in.WriteString("timestamp,value\n")
	for i := range vs {
		in.WriteString(ts[i].Format("2006-01-02 15:04:05"))
		in.WriteByte(',')
		in.WriteString(strconv.FormatFloat(math.Round(vs[i]*1000)/1000, 'f', -1, 64))
		in.WriteByte('\n')
	}
	b.ResetTimer()
	for range b.N {
		if _, err := series.ScoreCSV(bytes.NewReader(in.Bytes()), io.Discard, series.New(series.DefaultConfig()), nil); err != nil {
			b.Fatal(err)
		}
	}
	fmt.Printf("BENCH name=series_csv value=%.0f unit=rows/s\n", float64(b.N*len(vs))/b.Elapsed().Seconds())
}
