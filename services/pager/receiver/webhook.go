package receiver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
)

// Webhook posts Alertmanager's webhook JSON (version 4) with one alert per
// request, so that whatever reads Alertmanager's webhooks reads Vigil's.
type Webhook struct {
	sender
	receiver   string
	bearer     string
	grafanaURL string
}

// AlertmanagerMessage is Alertmanager's webhook body, version 4.
type AlertmanagerMessage struct {
	Version           string              `json:"version"`
	GroupKey          string              `json:"groupKey"`
	TruncatedAlerts   int                 `json:"truncatedAlerts"`
	Status            string              `json:"status"`
	Receiver          string              `json:"receiver"`
	GroupLabels       map[string]string   `json:"groupLabels"`
	CommonLabels      map[string]string   `json:"commonLabels"`
	CommonAnnotations map[string]string   `json:"commonAnnotations"`
	ExternalURL       string              `json:"externalURL"`
	Alerts            []AlertmanagerAlert `json:"alerts"`
}

// AlertmanagerAlert is one alert of an AlertmanagerMessage.
type AlertmanagerAlert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
}

// Fingerprint is the alert's Alertmanager fingerprint: 16 hex digits of
// the SHA-256 of its dedup key, stable for the incident.
func Fingerprint(dedupKey string) string {
	sum := sha256.Sum256([]byte(dedupKey))
	return hex.EncodeToString(sum[:8])
}

// AlertmanagerPayload returns the webhook message for a, sent to the
// receiver named receiver.
func AlertmanagerPayload(a alert.Alert, receiver, grafanaURL string) AlertmanagerMessage {
	ls := a.LabelSet()
	ls["alertname"] = a.Profile
	dashboard := link(grafanaURL, a.Links.Dashboard)
	x := a.Explanation
	ann := map[string]string{
		"summary":       a.Summary,
		"description":   explanation(a),
		"alert_id":      a.ID,
		"first_seen":    rfc3339(a.FirstSeen),
		"last_seen":     rfc3339(a.LastSeen),
		"count":         strconv.Itoa(a.Count),
		"anomaly_score": anomalyScore(a),
		"observed":      num(x.Observed),
		"expected":      num(x.Expected),
		"spread":        num(x.Spread),
		"samples":       strconv.FormatUint(x.Samples, 10),
		"method":        x.Method,
	}
	if x.Season != "" {
		ann["season"] = x.Season
	}
	if a.EventCount != 0 {
		ann["event_count"] = strconv.FormatInt(a.EventCount, 10)
	}
	if dashboard != "" {
		ann["dashboard"] = dashboard
	}
	if a.Links.Query != "" {
		ann["query"] = a.Links.Query
	}
	var ends time.Time // Alertmanager sends the zero time for a firing alert
	if a.Status == alert.StatusResolved {
		ends = a.ResolvedAt
		if ends.IsZero() {
			ends = a.LastSeen
		}
		ends = ends.UTC()
	}
	return AlertmanagerMessage{
		Version:           "4",
		GroupKey:          "{}:{dedup_key=" + strconv.Quote(a.DedupKey) + "}",
		Status:            a.Status,
		Receiver:          receiver,
		GroupLabels:       map[string]string{alert.LabelDedupKey: a.DedupKey},
		CommonLabels:      ls,
		CommonAnnotations: ann,
		ExternalURL:       grafanaURL,
		Alerts: []AlertmanagerAlert{{
			Status:       a.Status,
			Labels:       ls,
			Annotations:  ann,
			StartsAt:     a.FirstSeen.UTC(),
			EndsAt:       ends,
			GeneratorURL: dashboard,
			Fingerprint:  Fingerprint(a.DedupKey),
		}},
	}
}

// WebhookBody returns the JSON the webhook receiver named receiver posts
// for a.
func WebhookBody(a alert.Alert, receiver, grafanaURL string) ([]byte, error) {
	return marshal(AlertmanagerPayload(a, receiver, grafanaURL))
}

// Notify sends a.
func (w *Webhook) Notify(ctx context.Context, a alert.Alert) error {
	body, err := WebhookBody(a, w.receiver, w.grafanaURL)
	if err != nil {
		return fmt.Errorf("webhook message: %w", err)
	}
	var headers map[string]string
	if w.bearer != "" {
		headers = map[string]string{"Authorization": "Bearer " + w.bearer}
	}
	return w.post(ctx, w.url.Reveal(), headers, body)
}
