// Package score defines the message the processor publishes on vigil.scores:
// one calibrated anomaly score per profile, entity and window, with the
// explanation an analyst reads (observed, expected, spread, samples, method).
package score

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/vigil-soc/vigil/pkg/jsonw"
)

// Explanation says why a score is what it is.
type Explanation struct {
	// Feature scored, e.g. failed_logins.
	Feature string `json:"feature"`
	// Observed value of the feature in the window.
	Observed float64 `json:"observed"`
	// Expected value under the baseline.
	Expected float64 `json:"expected"`
	// Spread (standard deviation) of the baseline.
	Spread float64 `json:"spread"`
	// Samples is how many windows the baseline learned from.
	Samples uint64 `json:"samples"`
	// Season names the seasonal bucket used, empty when none.
	Season string `json:"season,omitempty"`
	// Method names the baseline and the scoring, e.g. poisson_ewma.
	Method string `json:"method"`
}

// Score is one message on vigil.scores.
type Score struct {
	Version     int       `json:"vigil.version"`
	ID          string    `json:"id"`
	Tenant      string    `json:"tenant"`
	Profile     string    `json:"profile"`
	Entity      string    `json:"entity"`
	EntityField string    `json:"entity_field"`
	WindowStart time.Time `json:"window_start"`
	WindowEnd   time.Time `json:"window_end"`
	// AnomalyScore is in [0,1]: 1 minus the probability, under the
	// baseline, of a value at least as extreme as the observed one.
	AnomalyScore float64     `json:"anomaly_score"`
	Explanation  Explanation `json:"explanation"`
}

// ID returns the deterministic id of a score for (tenant, profile, entity,
// window start), so a re-scored window replaces its earlier copy.
func ID(tenant, profile, entity string, windowStart time.Time) string {
	var buf [256]byte
	b := buf[:0]
	var num [20]byte
	for _, s := range [...]string{tenant, profile, entity} {
		b = strconv.AppendInt(b, int64(len(s)), 10)
		b = append(b, ':')
		b = append(b, s...)
	}
	ts := strconv.AppendInt(num[:0], windowStart.UnixNano(), 10)
	b = strconv.AppendInt(b, int64(len(ts)), 10)
	b = append(b, ':')
	b = append(b, ts...)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16])
}

// AppendJSON appends s's JSON encoding to dst: exactly the bytes
// encoding/json writes for s, without its reflection (the processor
// publishes a score per entity and window). It fails, like encoding/json,
// for a NaN or infinite number and for a time outside the years 0..9999;
// dst is then returned unchanged.
func AppendJSON(dst []byte, s *Score) ([]byte, error) {
	x := &s.Explanation
	for _, f := range [...]struct {
		name string
		v    float64
	}{{"anomaly_score", s.AnomalyScore}, {"observed", x.Observed}, {"expected", x.Expected}, {"spread", x.Spread}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return dst, fmt.Errorf("encode score %s: %s: unsupported value %v", s.ID, f.name, f.v)
		}
	}
	for _, t := range [...]time.Time{s.WindowStart, s.WindowEnd} {
		if err := jsonw.CheckTime(t); err != nil {
			return dst, fmt.Errorf("encode score %s: %w", s.ID, err)
		}
	}
	b := append(dst, `{"vigil.version":`...)
	b = strconv.AppendInt(b, int64(s.Version), 10)
	b = append(b, `,"id":`...)
	b = jsonw.AppendString(b, s.ID)
	b = append(b, `,"tenant":`...)
	b = jsonw.AppendString(b, s.Tenant)
	b = append(b, `,"profile":`...)
	b = jsonw.AppendString(b, s.Profile)
	b = append(b, `,"entity":`...)
	b = jsonw.AppendString(b, s.Entity)
	b = append(b, `,"entity_field":`...)
	b = jsonw.AppendString(b, s.EntityField)
	b = append(b, `,"window_start":`...)
	b = jsonw.AppendTime(b, s.WindowStart)
	b = append(b, `,"window_end":`...)
	b = jsonw.AppendTime(b, s.WindowEnd)
	b = append(b, `,"anomaly_score":`...)
	b = jsonw.AppendFloat(b, s.AnomalyScore)
	b = append(b, `,"explanation":{"feature":`...)
	b = jsonw.AppendString(b, x.Feature)
	b = append(b, `,"observed":`...)
	b = jsonw.AppendFloat(b, x.Observed)
	b = append(b, `,"expected":`...)
	b = jsonw.AppendFloat(b, x.Expected)
	b = append(b, `,"spread":`...)
	b = jsonw.AppendFloat(b, x.Spread)
	b = append(b, `,"samples":`...)
	b = strconv.AppendUint(b, x.Samples, 10)
	if x.Season != "" {
		b = append(b, `,"season":`...)
		b = jsonw.AppendString(b, x.Season)
	}
	b = append(b, `,"method":`...)
	b = jsonw.AppendString(b, x.Method)
	return append(b, '}', '}'), nil
}
