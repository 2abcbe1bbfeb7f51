// Package alert defines the message the processor publishes on vigil.alerts
// (schemas/alerts/alert.v1.json): one alert per incident and status, keyed
// by a dedup key that is stable per tenant, profile and entity, with the
// labels that routes and silences match on.
package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/vigil-soc/vigil/pkg/score"
)

// Status values.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Severity values, from the least to the most urgent.
const (
	SeverityInfo     = "info"
	SeverityLow      = "low"
	SeverityMedium   = "medium"
	SeverityHigh     = "high"
	SeverityCritical = "critical"
)

// Severities lists the severity values, from the least to the most urgent.
var Severities = []string{SeverityInfo, SeverityLow, SeverityMedium, SeverityHigh, SeverityCritical}

// Names of the labels every alert has (see Alert.LabelSet). Alert.Labels
// cannot override them.
const (
	LabelTenant      = "tenant"
	LabelProfile     = "profile"
	LabelEntity      = "entity"
	LabelEntityField = "entity_field"
	LabelSeverity    = "severity"
	LabelDedupKey    = "dedup_key"
	LabelFeature     = "feature"
)

// BuiltinLabels are the labels LabelSet fills from the alert's fields.
var BuiltinLabels = []string{LabelTenant, LabelProfile, LabelEntity, LabelEntityField, LabelSeverity, LabelDedupKey, LabelFeature}

// Links point an analyst at the evidence.
type Links struct {
	// Dashboard is the Grafana entity dashboard: a URL, or a path that the
	// pager prefixes with pager.grafana_url.
	Dashboard string `json:"dashboard,omitempty"`
	// Query is the forensic SQL for the events behind the alert.
	Query string `json:"query,omitempty"`
}

// Alert is one message on vigil.alerts. The README of services/pager maps
// every field onto PagerDuty Events v2 and Alertmanager's webhook format.
type Alert struct {
	// Version of the message format: 1.
	Version int `json:"vigil.version"`
	// ID is deterministic per (dedup key, first seen, status): see ID.
	ID string `json:"id"`
	// DedupKey is stable per (tenant, profile, entity): see DedupKey.
	DedupKey string `json:"dedup_key"`
	// Status is StatusFiring or StatusResolved.
	Status string `json:"status"`
	// Severity is one of Severities.
	Severity string `json:"severity"`
	// Summary is one human line.
	Summary string `json:"summary"`
	// Tenant owns the entity.
	Tenant string `json:"tenant"`
	// Profile is the detection profile, e.g. brute_force.
	Profile string `json:"profile"`
	// Entity is what behaved abnormally, e.g. a source IP.
	Entity string `json:"entity"`
	// EntityField is the envelope field the entity comes from, e.g. source.ip.
	EntityField string `json:"entity_field"`
	// FirstSeen is the start of the incident's first anomalous window.
	FirstSeen time.Time `json:"first_seen"`
	// LastSeen is the end of the latest window counted in the incident.
	LastSeen time.Time `json:"last_seen"`
	// ResolvedAt is when a resolved incident ended; zero (absent) while firing.
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Count is how many windows of the incident were anomalous so far.
	Count int `json:"count"`
	// EventCount is how many events the incident's anomalous windows hold
	// (e.g. failed logins); 0 (absent) when the profile does not count events.
	EventCount int64 `json:"event_count,omitempty"`
	// AnomalyScore of the window that raised the alert, in [0,1].
	AnomalyScore float64 `json:"anomaly_score"`
	// Explanation says why: the feature, observed against expected.
	Explanation score.Explanation `json:"explanation"`
	// Labels are extra labels for routing and silences, e.g. team: db.
	// They cannot override the built-in labels (BuiltinLabels).
	Labels map[string]string `json:"labels,omitempty"`
	// Links point at the evidence.
	Links Links `json:"links"`
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

// LabelSet returns the labels routes and silences match on: the built-in
// ones (tenant, profile, entity, entity_field, severity, dedup_key and the
// explanation's feature) and a.Labels, which cannot override them.
func (a Alert) LabelSet() map[string]string {
	ls := make(map[string]string, len(BuiltinLabels)+len(a.Labels))
	maps.Copy(ls, a.Labels)
	ls[LabelTenant] = a.Tenant
	ls[LabelProfile] = a.Profile
	ls[LabelEntity] = a.Entity
	ls[LabelEntityField] = a.EntityField
	ls[LabelSeverity] = a.Severity
	ls[LabelDedupKey] = a.DedupKey
	ls[LabelFeature] = a.Explanation.Feature
	return ls
}

// ErrInvalid is wrapped by Validate's errors.
var ErrInvalid = errors.New("invalid alert")

// Validate reports what makes a unusable for delivery: no id or dedup key,
// an unknown status or severity, no first or last seen time. Labels that
// name a built-in label are not an error: LabelSet ignores them.
func (a Alert) Validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: "+format, append([]any{ErrInvalid}, args...)...))
	}
	if a.ID == "" {
		bad("id is empty")
	}
	if a.DedupKey == "" {
		bad("dedup_key is empty")
	}
	if a.Status != StatusFiring && a.Status != StatusResolved {
		bad("status %q is not firing or resolved", a.Status)
	}
	if !slices.Contains(Severities, a.Severity) {
		bad("severity %q is not one of %q", a.Severity, Severities)
	}
	if a.FirstSeen.IsZero() {
		bad("first_seen is missing")
	}
	if a.LastSeen.IsZero() {
		bad("last_seen is missing")
	}
	return errors.Join(errs...)
}
