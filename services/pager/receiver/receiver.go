package receiver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
)

// Receiver delivers alerts to one destination.
type Receiver interface {
	// Notify sends a in one request. A nil error means the destination
	// accepted it.
	Notify(ctx context.Context, a alert.Alert) error
}

// Options are what every receiver shares.
type Options struct {
	// GrafanaURL makes alert links that are paths absolute; empty leaves
	// them as they are.
	GrafanaURL string
	// Client sends the requests. Default: a client with no timeout of its
	// own (each request is bounded by its context).
	Client *http.Client
}

// New returns the receiver cfg describes.
func New(cfg config.ReceiverConfig, o Options) (Receiver, error) {
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	h := sender{client: o.Client, url: cfg.URL, secrets: []string{cfg.RoutingKey.Reveal(), cfg.APIKey.Reveal(), cfg.BearerToken.Reveal()}}
	if u, err := url.Parse(cfg.URL.Reveal()); err == nil {
		h.secrets = append(h.secrets, u.RawQuery, u.Fragment)
		if u.Path != "/" {
			h.secrets = append(h.secrets, u.Path)
		}
		if u.User != nil {
			h.secrets = append(h.secrets, u.User.String())
		}
	}
	switch cfg.Type {
	case "pagerduty":
		return &PagerDuty{sender: h, routingKey: cfg.RoutingKey.Reveal(), grafanaURL: o.GrafanaURL}, nil
	case "opsgenie":
		return &Opsgenie{sender: h, apiKey: cfg.APIKey.Reveal(), grafanaURL: o.GrafanaURL}, nil
	case "slack":
		return &Slack{sender: h, grafanaURL: o.GrafanaURL}, nil
	case "webhook":
		return &Webhook{sender: h, receiver: cfg.Name, bearer: cfg.BearerToken.Reveal(), grafanaURL: o.GrafanaURL}, nil
	}
	return nil, fmt.Errorf("receiver %s: unknown type %q", cfg.Name, cfg.Type)
}

// Error is a failed request.
type Error struct {
	// Status is the HTTP status; 0 when no response came.
	Status int
	// RetryAfter is what a Retry-After header asked for; 0 when none.
	RetryAfter time.Duration
	// Temporary says whether the same request may succeed later: network
	// errors, 5xx and 429.
	Temporary bool
	msg       string
}

func (e *Error) Error() string { return e.msg }

// Retryable reports whether err is worth retrying, and after how long the
// destination asked to wait (0: as the caller's backoff says).
func Retryable(err error) (bool, time.Duration) {
	var e *Error
	if errors.As(err, &e) {
		return e.Temporary, e.RetryAfter
	}
	return false, 0
}

// sender posts JSON and turns what comes back into an *Error.
type sender struct {
	client  *http.Client
	url     config.SecretURL
	secrets []string // removed from every error message
}

// post sends body to target (the receiver's URL, or one built from it)
// with headers. It returns nil on 2xx.
func (s sender) post(ctx context.Context, target string, headers map[string]string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return &Error{msg: s.redact("build request to " + s.url.String() + ": " + err.Error())}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "vigil-pager")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := s.client.Do(req)
	if err != nil {
		// A *url.Error names the whole URL: keep only what it wraps.
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return &Error{Temporary: true, msg: s.redact("POST " + s.url.String() + ": " + err.Error())}
	}
	defer res.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(res.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(res.Body, 1<<20)) // let the connection be reused
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return nil
	}
	e := &Error{Status: res.StatusCode}
	e.Temporary = res.StatusCode == http.StatusTooManyRequests || res.StatusCode >= 500
	if e.Temporary {
		e.RetryAfter = parseRetryAfter(res.Header.Get("Retry-After"), time.Now())
	}
	e.msg = s.redact(fmt.Sprintf("POST %s: %s: %s", s.url, res.Status, strings.TrimSpace(string(snippet))))
	return e
}

// redact removes the receiver's secrets and URL from msg.
func (s sender) redact(msg string) string {
	secrets := s.secrets
	if s.url.String() != s.url.Reveal() {
		secrets = append(secrets, s.url.Reveal())
	}
	for _, sec := range secrets {
		if len(sec) >= 4 {
			msg = strings.ReplaceAll(msg, sec, "<redacted>")
		}
	}
	return msg
}

// severity is a Vigil severity in each API's terms.
type severity struct{ pagerDuty, opsgenie string }

// severities maps a Vigil severity (anything unknown counts as info).
func severities(s string) severity {
	switch s {
	case alert.SeverityCritical:
		return severity{"critical", "P1"}
	case alert.SeverityHigh:
		return severity{"error", "P2"}
	case alert.SeverityMedium:
		return severity{"warning", "P3"}
	case alert.SeverityLow:
		return severity{"warning", "P4"}
	}
	return severity{"info", "P5"}
}

// marshal encodes v as JSON without escaping <, > and & (the APIs take
// them as they are, and people read these payloads).
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil {
		return max(time.Duration(n)*time.Second, 0)
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// link makes an alert link absolute with base when it is a path.
func link(base, l string) string {
	if l == "" || base == "" || !strings.HasPrefix(l, "/") {
		return l
	}
	return strings.TrimSuffix(base, "/") + l
}

// isAbsolute reports whether l is an http(s) URL.
func isAbsolute(l string) bool {
	return strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")
}

// shortKey returns key, or when it is longer than limit, "vigil/" and
// the hex SHA-256 of key: a stable key that fits.
func shortKey(key string, limit int) string {
	if len(key) <= limit {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "vigil/" + hex.EncodeToString(sum[:])
}

// truncate cuts s to at most n bytes on a rune boundary, ending with "…".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && (s[cut]&0xC0) == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}

// explanation is the alert's explanation as one sentence.
func explanation(a alert.Alert) string {
	x := a.Explanation
	s := fmt.Sprintf("%s observed %s, expected %s ± %s (baseline of %d windows, %s",
		x.Feature, num(x.Observed), num(x.Expected), num(x.Spread), x.Samples, x.Method)
	if x.Season != "" {
		s += ", season " + x.Season
	}
	return s + fmt.Sprintf("); anomaly score %s", anomalyScore(a))
}

func num(f float64) string { return strconv.FormatFloat(f, 'g', 6, 64) }

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// score writes the anomaly score in full: 0.9999995 must not read as 1.
func anomalyScore(a alert.Alert) string { return strconv.FormatFloat(a.AnomalyScore, 'f', -1, 64) }
