package pager

import (
	"bytes"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/pager/internal/hooktest"
)

// script answers the n-th request with statuses[n] (the last one after
// that); "429:3" is a 429 with Retry-After: 3, "-1" hangs up.
func script(statuses ...string) hooktest.Responder {
	var answers []hooktest.Answer
	for _, s := range statuses {
		code, after, _ := strings.Cut(s, ":")
		a := hooktest.Answer{}
		a.Status, _ = strconv.Atoi(code)
		if after != "" {
			a.Header = map[string]string{"Retry-After": after}
		}
		answers = append(answers, a)
	}
	return hooktest.Script(answers...)
}

// Network errors, 5xx and 429 are retried (a 429's Retry-After is
// honoured); other 4xx are not; a notification that cannot be delivered
// goes to the dead-letter topic with its receiver, reason and attempts.
func TestRetriesAndDeadLetters(t *testing.T) {
	tests := []struct {
		name        string
		statuses    []string
		maxElapsed  time.Duration
		wantReqs    int
		wantResult  string // delivered or dead_lettered
		wantReason  string
		minGap      time.Duration // between the first two requests
		wantRetries float64
	}{
		{name: "503 then 202", statuses: []string{"503", "202"}, wantReqs: 2, wantResult: resultDelivered, wantRetries: 1},
		{name: "500, 502, then 200", statuses: []string{"500", "502", "200"}, wantReqs: 3, wantResult: resultDelivered, wantRetries: 2},
		{name: "hang-up then 202", statuses: []string{"-1", "202"}, wantReqs: 2, wantResult: resultDelivered, wantRetries: 1},
		{name: "429 with Retry-After, then 202", statuses: []string{"429:1", "202"}, wantReqs: 2, wantResult: resultDelivered, minGap: time.Second, wantRetries: 1},
		{name: "400 is not retried", statuses: []string{"400"}, wantReqs: 1, wantResult: resultDeadLettered, wantReason: reasonRejected},
		{name: "404 is not retried", statuses: []string{"404"}, wantReqs: 1, wantResult: resultDeadLettered, wantReason: reasonRejected},
		{name: "500 until max_attempts", statuses: []string{"500"}, wantReqs: 4, wantResult: resultDeadLettered, wantReason: reasonAttempts, wantRetries: 3},
		{name: "Retry-After beyond max_elapsed", statuses: []string{"429:30"}, maxElapsed: 5 * time.Second, wantReqs: 1, wantResult: resultDeadLettered, wantReason: reasonElapsed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := hooktest.New(t, script(tt.statuses...))
			cfg := testConfig(t, config.ReceiverConfig{Name: "soar", Type: "webhook", URL: config.SecretURL(h.URL + "/hook")})
			if tt.maxElapsed > 0 {
				cfg.Pager.Retry.MaxElapsed = tt.maxElapsed
			}
			k := cfg.Kafka
			r := startPager(t, cfg, nil)
			a := testAlert(1)
			produceAlerts(t, k, k.Topics.Alerts, a)
			require.Eventually(t, func() bool {
				return metric(t, r.reg, "vigil_pager_notifications_total", "receiver", "soar", "result", tt.wantResult) == 1
			}, 30*time.Second, 10*time.Millisecond)
			r.stop()

			reqs := h.Requests("/hook")
			require.Len(t, reqs, tt.wantReqs)
			for _, rq := range reqs[1:] {
				require.Equal(t, string(reqs[0].Body), string(rq.Body), "a retry sends the same payload")
			}
			if tt.minGap > 0 {
				require.GreaterOrEqual(t, reqs[1].At.Sub(reqs[0].At), tt.minGap, "Retry-After honoured")
			}
			require.Equal(t, tt.wantRetries, metric(t, r.reg, "vigil_pager_retries_total", "receiver", "soar"))

			dl := testkit.ReadAll(t, k, k.Topics.AlertsDLQ)
			if tt.wantResult == resultDelivered {
				require.Empty(t, dl)
				return
			}
			require.Len(t, dl, 1)
			m := dl[0]
			require.Equal(t, a.DedupKey, string(m.Key))
			require.JSONEq(t, mustJSON(t, a), string(m.Value), "the dead letter is the alert as read")
			require.Equal(t, "soar", header(m, HeaderDLQReceiver))
			require.Equal(t, strconv.Itoa(tt.wantReqs), header(m, HeaderDLQAttempts))
			require.Contains(t, header(m, stream.HeaderDLQReason), tt.wantReason+": ")
			require.Equal(t, "pager", header(m, stream.HeaderDLQStage))
			require.Equal(t, 1.0, metric(t, r.reg, "vigil_pager_dead_letters_total", "receiver", "soar", "reason", tt.wantReason))
			require.Equal(t, int64(1), testkit.CommittedSum(t, k, cfg.Pager.GroupID, k.Topics.Alerts), "a dead-lettered alert is finished")
		})
	}
}

// A receiver gets at most rate_limit requests a second (after its burst);
// the waits are counted.
func TestRateLimit(t *testing.T) {
	h := hooktest.New(t, nil)
	cfg := testConfig(t, config.ReceiverConfig{Name: "chat", Type: "slack", URL: config.SecretURL(h.URL + slackPath), RateLimit: 20, Burst: 1})
	k := cfg.Kafka
	r := startPager(t, cfg, nil)
	const n = 10
	var alerts []alert.Alert
	for i := range n {
		alerts = append(alerts, testAlert(i))
	}
	produceAlerts(t, k, k.Topics.Alerts, alerts...)
	require.Eventually(t, func() bool { return len(h.Requests("/slack")) == n }, 30*time.Second, 10*time.Millisecond)
	r.stop()
	reqs := h.Requests("/slack")
	span := reqs[n-1].At.Sub(reqs[0].At)
	// 20 a second with a burst of 1: n requests take at least (n-1)/20 s.
	require.GreaterOrEqual(t, span, time.Duration(n-1)*50*time.Millisecond*9/10)
	require.GreaterOrEqual(t, metric(t, r.reg, "vigil_pager_rate_limited_waits_total", "receiver", "chat"), float64(n-2))
	require.Greater(t, metric(t, r.reg, "vigil_pager_rate_limited_wait_seconds_total", "receiver", "chat"), 0.2)
}

// Keys, tokens and webhook URL paths never reach the log or the
// dead-letter topic, whatever the receivers answer (here they echo them).
func TestSecretsNeverLogged(t *testing.T) {
	// Every answer echoes every secret and the request's own path.
	echo := func(rq hooktest.Request, n int) hooktest.Answer {
		body := "echo " + routingKey + " " + genieKey + " " + bearer + " " + rq.Path + " " + rq.Header.Get("Authorization")
		if n%2 == 0 {
			return hooktest.Answer{Status: http.StatusServiceUnavailable, Body: body}
		}
		return hooktest.Answer{Status: http.StatusBadRequest, Body: body}
	}
	h := hooktest.New(t, echo)
	cfg := testConfig(t, allReceivers(h)...)
	cfg.Pager.Retry.MaxAttempts = 2
	k := cfg.Kafka
	var logs safeBuffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	r := startPager(t, cfg, logger)
	produceAlerts(t, k, k.Topics.Alerts, testAlert(1), testAlert(2), testAlert(3))
	require.Eventually(t, func() bool {
		return metric(t, r.reg, "vigil_pager_notifications_total", "result", "dead_lettered") == 12
	}, 30*time.Second, 10*time.Millisecond)
	r.stop()

	dump := logs.String()
	require.Contains(t, dump, "dead-lettering notifications", "the test saw the log lines it checks")
	for _, m := range testkit.ReadAll(t, k, k.Topics.AlertsDLQ) {
		dump += string(m.Value)
		for _, hd := range m.Headers {
			dump += hd.Key + "=" + string(hd.Value) + "\n"
		}
	}
	require.Contains(t, dump, "vigil.dlq.reason")
	for _, secret := range []string{routingKey, genieKey, "SLACKTOKENxyz", "/services/T000", bearer} {
		require.NotContains(t, dump, secret)
	}
	require.Contains(t, dump, h.URL+"/<redacted>", "the host is named, the path is not")
}

type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A dead letter produced back onto the alert topic goes to the receiver
// that could not take it, and not again to the one that did.
func TestDeadLettersCanBeSentAgain(t *testing.T) {
	var firstDown atomic.Bool
	h := hooktest.New(t, func(r hooktest.Request, _ int) hooktest.Answer {
		if strings.HasPrefix(r.Path, "/down") && len(r.Body) > 0 && firstDown.CompareAndSwap(false, true) {
			return hooktest.Answer{Status: http.StatusNotFound} // misconfigured, then fixed
		}
		return hooktest.Answer{Status: http.StatusOK}
	})
	cfg := testConfig(t,
		config.ReceiverConfig{Name: "up", Type: "webhook", URL: config.SecretURL(h.URL + "/up")},
		config.ReceiverConfig{Name: "down", Type: "webhook", URL: config.SecretURL(h.URL + "/down")},
	)
	k := cfg.Kafka
	r := startPager(t, cfg, nil)
	a := testAlert(4)
	produceAlerts(t, k, k.Topics.Alerts, a)
	require.Eventually(t, func() bool {
		return metric(t, r.reg, "vigil_pager_notifications_total", "receiver", "down", "result", resultDeadLettered) == 1
	}, 30*time.Second, 10*time.Millisecond)

	dl := testkit.ReadAll(t, k, k.Topics.AlertsDLQ)
	require.Len(t, dl, 1)
	testkit.Produce(t, k, k.Topics.Alerts, [][]byte{dl[0].Key}, [][]byte{dl[0].Value})
	require.Eventually(t, func() bool {
		return metric(t, r.reg, "vigil_pager_notifications_total", "receiver", "down", "result", resultDelivered) == 1
	}, 30*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		return metric(t, r.reg, "vigil_pager_notifications_total", "receiver", "up", "result", resultDuplicate) == 1
	}, 30*time.Second, 10*time.Millisecond)
	r.stop()
	require.Len(t, h.Requests("/up"), 1, "the receiver that had it does not get it again")
	require.Len(t, h.Requests("/down"), 2)
}
