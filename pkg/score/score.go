// Package score defines the message the processor publishes on vigil.scores:
// one calibrated anomaly score per profile, entity and window, with the
// explanation an analyst reads (observed, expected, spread, samples, method).
package score

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
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
