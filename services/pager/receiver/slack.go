package receiver

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/vigil-soc/vigil/pkg/alert"
)

// Slack posts a message to a Slack incoming webhook: the summary as text
// (what notifications show) and blocks with the explanation and links.
type Slack struct {
	sender
	grafanaURL string
}

// Slack's limits on what Vigil fills.
const (
	slackTextMax  = 3000
	slackFieldMax = 2000
)

type slackMessage struct {
	Text   string       `json:"text"`
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Fields   []slackText `json:"fields,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

func mrkdwn(s string) slackText { return slackText{Type: "mrkdwn", Text: s} }

// slackEscape escapes what Slack's mrkdwn treats as markup.
var slackEscape = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

// SlackMessage returns the incoming-webhook body for a.
func SlackMessage(a alert.Alert, grafanaURL string) ([]byte, error) {
	state := "FIRING"
	if a.Status == alert.StatusResolved {
		state = "RESOLVED"
	}
	head := fmt.Sprintf("[%s] %s: %s", state, a.Severity, a.Summary)
	title := slackEscape.Replace(a.Summary)
	dashboard := link(grafanaURL, a.Links.Dashboard)
	if isAbsolute(dashboard) {
		title = "<" + slackEscape.Replace(dashboard) + "|" + title + ">"
	}
	x := a.Explanation
	fields := []slackText{
		mrkdwn("*Entity*\n" + slackEscape.Replace(a.Entity) + " (" + slackEscape.Replace(a.EntityField) + ")"),
		mrkdwn("*Profile*\n" + slackEscape.Replace(a.Profile) + " · tenant " + slackEscape.Replace(a.Tenant)),
		mrkdwn("*Observed*\n" + num(x.Observed) + " " + slackEscape.Replace(x.Feature)),
		mrkdwn("*Expected*\n" + num(x.Expected) + " ± " + num(x.Spread)),
		mrkdwn("*Anomaly score*\n" + anomalyScore(a)),
		mrkdwn("*Windows*\n" + strconv.Itoa(a.Count) + " since " + rfc3339(a.FirstSeen)),
	}
	for i := range fields {
		fields[i].Text = truncate(fields[i].Text, slackFieldMax)
	}
	ctx := "dedup key `" + slackEscape.Replace(a.DedupKey) + "` · " + slackEscape.Replace(explanation(a))
	msg := slackMessage{
		Text: truncate(head, slackTextMax),
		Blocks: []slackBlock{
			{Type: "section", Text: &slackText{Type: "mrkdwn", Text: truncate("*"+state+" · "+strings.ToUpper(a.Severity)+"* "+title, slackTextMax)}},
			{Type: "section", Fields: fields},
			{Type: "context", Elements: []slackText{mrkdwn(truncate(ctx, slackTextMax))}},
		},
	}
	return marshal(msg)
}

// Notify sends a.
func (s *Slack) Notify(ctx context.Context, a alert.Alert) error {
	body, err := SlackMessage(a, s.grafanaURL)
	if err != nil {
		return fmt.Errorf("slack message: %w", err)
	}
	return s.post(ctx, s.url.Reveal(), nil, body)
}
