package receiver

import (
	"context"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/vigil-soc/vigil/pkg/alert"
)

// Opsgenie sends to the Opsgenie Alert API: a firing alert creates an
// alert whose alias is the dedup key (Opsgenie adds to the open alert of
// the same alias), a resolved one closes it.
type Opsgenie struct {
	sender
	apiKey     string
	grafanaURL string
}

// Opsgenie's limits on the fields Vigil fills.
const (
	ogMessageMax     = 130
	ogAliasMax       = 512
	ogDescriptionMax = 15000
	ogDetailMax      = 8000
	ogTagsMax        = 20
	ogTagMax         = 50
)

// OpsgeniePriority maps a Vigil severity onto Opsgenie's P1 (critical)
// to P5 (informational).
func OpsgeniePriority(s string) string { return severities(s).opsgenie }

type ogCreate struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias"`
	Description string            `json:"description"`
	Tags        []string          `json:"tags"`
	Details     map[string]string `json:"details"`
	Entity      string            `json:"entity"`
	Source      string            `json:"source"`
	Priority    string            `json:"priority"`
}

type ogClose struct {
	Source string `json:"source"`
	Note   string `json:"note"`
}

// OpsgenieRequest returns the path (below the API's base URL) and the body
// of the request for a: create for firing, close by alias for resolved.
func OpsgenieRequest(a alert.Alert, grafanaURL string) (path string, body []byte, err error) {
	alias := shortKey(a.DedupKey, ogAliasMax)
	if a.Status == alert.StatusResolved {
		body, err = marshal(ogClose{Source: "vigil", Note: truncate(a.Summary, ogDescriptionMax)})
		return "/v2/alerts/" + url.PathEscape(alias) + "/close?identifierType=alias", body, err
	}
	dashboard := link(grafanaURL, a.Links.Dashboard)
	desc := a.Summary + "\n\n" + explanation(a) + "."
	if dashboard != "" {
		desc += "\nDashboard: " + dashboard
	}
	if a.Links.Query != "" {
		desc += "\nEvents: " + a.Links.Query
	}
	d := map[string]string{
		"alert_id":      a.ID,
		"dedup_key":     a.DedupKey,
		"tenant":        a.Tenant,
		"profile":       a.Profile,
		"entity_field":  a.EntityField,
		"severity":      a.Severity,
		"first_seen":    rfc3339(a.FirstSeen),
		"last_seen":     rfc3339(a.LastSeen),
		"count":         strconv.Itoa(a.Count),
		"anomaly_score": anomalyScore(a),
		"feature":       a.Explanation.Feature,
		"observed":      num(a.Explanation.Observed),
		"expected":      num(a.Explanation.Expected),
		"spread":        num(a.Explanation.Spread),
		"samples":       strconv.FormatUint(a.Explanation.Samples, 10),
		"method":        a.Explanation.Method,
	}
	if a.Explanation.Season != "" {
		d["season"] = a.Explanation.Season
	}
	if a.EventCount != 0 {
		d["event_count"] = strconv.FormatInt(a.EventCount, 10)
	}
	if dashboard != "" {
		d["dashboard"] = truncate(dashboard, ogDetailMax)
	}
	if a.Links.Query != "" {
		d["query"] = truncate(a.Links.Query, ogDetailMax)
	}
	tags := []string{"vigil", "tenant:" + a.Tenant, "profile:" + a.Profile, "severity:" + a.Severity}
	for k, v := range a.Labels {
		if _, builtin := d[k]; !builtin {
			d[k] = v
		}
		tags = append(tags, k+":"+v)
	}
	sort.Strings(tags[4:])
	if len(tags) > ogTagsMax {
		tags = tags[:ogTagsMax]
	}
	for i := range tags {
		tags[i] = truncate(tags[i], ogTagMax)
	}
	body, err = marshal(ogCreate{
		Message:     truncate(a.Summary, ogMessageMax),
		Alias:       alias,
		Description: truncate(desc, ogDescriptionMax),
		Tags:        tags,
		Details:     d,
		Entity:      a.Entity,
		Source:      "vigil",
		Priority:    OpsgeniePriority(a.Severity),
	})
	return "/v2/alerts", body, err
}

// Notify sends a.
func (o *Opsgenie) Notify(ctx context.Context, a alert.Alert) error {
	path, body, err := OpsgenieRequest(a, o.grafanaURL)
	if err != nil {
		return fmt.Errorf("opsgenie request: %w", err)
	}
	return o.post(ctx, strings.TrimSuffix(o.url.Reveal(), "/")+path, map[string]string{"Authorization": "GenieKey " + o.apiKey}, body)
}
