// Package alert defines the message the processor publishes on vigil.alerts
// (schemas/alerts/alert.v1.json): one alert per incident, keyed by a dedup
// key that is stable per tenant, profile and entity.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/vigil-soc/vigil/pkg/score"
)

// Status values.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Links point an analyst at the evidence.
type Links struct {
	// Dashboard is the Grafana entity dashboard.
	Dashboard string `json:"dashboard,omitempty"`
	// Query is the forensic SQL for the events behind the alert.
	Query string `json:"query,omitempty"`
}

// Alert is one message on vigil.alerts.
type Alert struct {
	Version      int               `json:"vigil.version"`
	ID           string            `json:"id"`
	DedupKey     string            `json:"dedup_key"`
	Status       string            `json:"status"`
	Severity     string            `json:"severity"`
	Summary      string            `json:"summary"`
	Tenant       string            `json:"tenant"`
	Profile      string            `json:"profile"`
	Entity       string            `json:"entity"`
	EntityField  string            `json:"entity_field"`
	FirstSeen    time.Time         `json:"first_seen"`
	LastSeen     time.Time         `json:"last_seen"`
	Count        int               `json:"count"`
	AnomalyScore float64           `json:"anomaly_score"`
	Explanation  score.Explanation `json:"explanation"`
	Links        Links             `json:"links"`
}

// DedupKey is stable per (tenant, profile, entity).
func DedupKey(tenant, profile, entity string) string {
	return fmt.Sprintf("vigil/%s/%s/%s", tenant, profile, entity)
}

// ID is the deterministic id of the alert raised for dedupKey by the
// incident that started at firstSeen, with the given status.
func ID(dedupKey string, firstSeen time.Time, status string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%d:%s|%d|%s", len(dedupKey), dedupKey, firstSeen.UnixNano(), status))
	return hex.EncodeToString(sum[:16])
}
