package receiver

import (
	"context"
	"fmt"

	"github.com/vigil-soc/vigil/pkg/alert"
)

// PagerDuty sends to the PagerDuty Events API v2: a firing alert triggers
// (or adds to) the incident of its dedup key, a resolved one resolves it.
type PagerDuty struct {
	sender
	routingKey string
	grafanaURL string
}

// PagerDuty's limits on the fields Vigil fills.
const (
	pdDedupKeyMax = 255
	pdSummaryMax  = 1024
)

// PagerDutySeverity maps a Vigil severity onto PagerDuty's four.
func PagerDutySeverity(s string) string { return severities(s).pagerDuty }

type pdEvent struct {
	RoutingKey  string     `json:"routing_key"`
	EventAction string     `json:"event_action"`
	DedupKey    string     `json:"dedup_key"`
	Client      string     `json:"client,omitempty"`
	ClientURL   string     `json:"client_url,omitempty"`
	Payload     *pdPayload `json:"payload,omitempty"`
	Links       []pdLink   `json:"links,omitempty"`
}

type pdPayload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details"`
}

type pdLink struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

// PagerDutyEvent returns the Events API v2 body for a.
func PagerDutyEvent(a alert.Alert, routingKey, grafanaURL string) ([]byte, error) {
	ev := pdEvent{RoutingKey: routingKey, DedupKey: shortKey(a.DedupKey, pdDedupKeyMax)}
	if a.Status == alert.StatusResolved {
		ev.EventAction = "resolve"
		return marshal(ev)
	}
	ev.EventAction = "trigger"
	ev.Client = "Vigil"
	if isAbsolute(grafanaURL) {
		ev.ClientURL = grafanaURL
	}
	source := a.Entity
	if source == "" {
		source = a.DedupKey
	}
	dashboard := link(grafanaURL, a.Links.Dashboard)
	ev.Payload = &pdPayload{
		Summary:       truncate(a.Summary, pdSummaryMax),
		Source:        source,
		Severity:      PagerDutySeverity(a.Severity),
		Timestamp:     rfc3339(a.LastSeen),
		Component:     a.Profile,
		Group:         a.Tenant,
		Class:         a.Explanation.Feature,
		CustomDetails: details(a, dashboard),
	}
	if isAbsolute(dashboard) {
		ev.Links = []pdLink{{Href: dashboard, Text: "Entity dashboard"}}
	}
	return marshal(ev)
}

// details is what PagerDuty's custom_details carry: every alert field no
// other field of the event holds.
func details(a alert.Alert, dashboard string) map[string]any {
	d := map[string]any{
		"alert_id":      a.ID,
		"dedup_key":     a.DedupKey,
		"severity":      a.Severity,
		"entity_field":  a.EntityField,
		"first_seen":    rfc3339(a.FirstSeen),
		"last_seen":     rfc3339(a.LastSeen),
		"count":         a.Count,
		"anomaly_score": a.AnomalyScore,
		"explanation":   a.Explanation,
	}
	if a.EventCount != 0 {
		d["event_count"] = a.EventCount
	}
	if len(a.Labels) > 0 {
		d["labels"] = a.Labels
	}
	if dashboard != "" {
		d["dashboard"] = dashboard
	}
	if a.Links.Query != "" {
		d["query"] = a.Links.Query
	}
	return d
}

// Notify sends a.
func (p *PagerDuty) Notify(ctx context.Context, a alert.Alert) error {
	body, err := PagerDutyEvent(a, p.routingKey, p.grafanaURL)
	if err != nil {
		return fmt.Errorf("pagerduty event: %w", err)
	}
	return p.post(ctx, p.url.Reveal(), nil, body)
}
