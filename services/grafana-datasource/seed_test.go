package grafanads_test

import (
	"encoding/json"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// The seeded history: two tenants, acme and globex, with the same
// attacker (203.0.113.7) in both, so that every query shows it reads one
// tenant only; and rows whose fields are hostile text, stored as data.
var t0 = time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

const (
	attacker = "203.0.113.7"
	office   = "198.51.100.20"
	scanner  = "192.0.2.50"
)

// Hostile values, stored in events of both tenants: a query that filters
// on one of them must find acme's row and nothing else.
var hostile = struct{ user, host, category, outcome, message, source string }{
	user:     `x' OR '1'='1`,
	host:     `h"; DROP TABLE events; --`,
	category: `c/* x */`,
	outcome:  `o' UNION ALL SELECT 1 --`,
	message:  `'); SELECT * FROM system.tables; -- \' ünïcode`,
	source:   `json`,
}

type ev struct {
	id                                                  string
	at                                                  time.Duration
	tenant, source, host, category, action, outcome, ip string
	user, dst, msg                                      string
	dport                                               uint16
	bytesOut                                            uint64
}

func seedEvents() []ev {
	var out []ev
	for i := range 30 {
		user := "root"
		if i%2 == 1 {
			user = "admin"
		}
		out = append(out, ev{id: fmt.Sprintf("acme-bf-%02d", i), at: time.Duration(i) * 20 * time.Second,
			tenant: "acme", source: "sshd", host: "bastion", category: "authentication", action: "ssh_login",
			outcome: "failure", ip: attacker, user: user,
			msg: fmt.Sprintf("Failed password for %s from %s port %d ssh2", user, attacker, 40000+i)})
	}
	out = append(out,
		ev{id: "acme-bf-ok", at: 10*time.Minute + 5*time.Second, tenant: "acme", source: "sshd", host: "bastion",
			category: "authentication", action: "ssh_login", outcome: "success", ip: attacker, user: "admin",
			msg: "Accepted password for admin from " + attacker + " port 40100 ssh2"},
		ev{id: "acme-alice-fail", at: 4 * time.Minute, tenant: "acme", source: "sshd", host: "web1",
			category: "authentication", action: "ssh_login", outcome: "failure", ip: office, user: "alice",
			msg: "Failed password for alice from " + office + " port 50000 ssh2"},
		ev{id: "acme-alice-ok", at: 5 * time.Minute, tenant: "acme", source: "sshd", host: "web1",
			category: "authentication", action: "ssh_login", outcome: "success", ip: office, user: "alice",
			msg: "Accepted publickey for alice from " + office + " port 50001 ssh2"},
		ev{id: "acme-flow", at: 2 * time.Minute, tenant: "acme", source: "zeek", host: "gw", category: "network",
			action: "flow", outcome: "unknown", ip: "10.0.0.5", dst: "10.0.0.9", dport: 443, bytesOut: 5000,
			msg: "conn 10.0.0.5:51000 -> 10.0.0.9:443 tcp"},
		ev{id: "acme-web", at: 6 * time.Minute, tenant: "acme", source: "nginx", host: "web1", category: "web",
			action: "http_request", outcome: "failure", ip: "192.0.2.44", dst: "10.0.0.10", dport: 80,
			msg: `192.0.2.44 - - [01/Mar/2025:10:06:00 +0000] "GET /admin HTTP/1.1" 403 153`},
		ev{id: "acme-hostile", at: 7 * time.Minute, tenant: "acme", source: hostile.source, host: hostile.host,
			category: hostile.category, action: "x", outcome: hostile.outcome, ip: "198.51.100.99", user: hostile.user,
			msg: hostile.message},
	)
	for i := range 5 {
		out = append(out, ev{id: fmt.Sprintf("globex-bf-%d", i), at: time.Duration(i) * time.Minute, tenant: "globex",
			source: "sshd", host: "globex-bastion", category: "authentication", action: "ssh_login", outcome: "failure",
			ip: attacker, user: "root", msg: "Failed password for root from " + attacker + " port 1 ssh2 (globex)"})
	}
	out = append(out, ev{id: "globex-hostile", at: 7 * time.Minute, tenant: "globex", source: hostile.source,
		host: hostile.host, category: hostile.category, action: "x", outcome: hostile.outcome, ip: "198.51.100.99",
		user: hostile.user, msg: hostile.message + " (globex)"})
	return out
}

type sc struct {
	tenant, entity, field, profile, feature string
	minute                                  int
	observed, expected, spread, score       float64
}

func seedScores() []sc {
	var out []sc
	for m := range 10 {
		s := 0.999
		if m == 0 {
			s = 0.95
		}
		out = append(out, sc{"acme", attacker, "source.ip", "brute_force", "failed_logins", m, 3, 0.2, math.Sqrt(0.2), s})
	}
	out = append(out,
		sc{"acme", office, "source.ip", "brute_force", "failed_logins", 4, 1, 0.5, math.Sqrt(0.5), 0.39},
		sc{"acme", scanner, "source.ip", "brute_force", "failed_logins", 3, 4, 0.3, math.Sqrt(0.3), 0.97},
		sc{"acme", "root", "user.name", "user_failures", "failed_logins", 8, 15, 1, 1, 0.9999},
	)
	for m := range 5 {
		out = append(out, sc{"globex", attacker, "source.ip", "brute_force", "failed_logins", m, 1, 0.2, math.Sqrt(0.2), 0.6})
	}
	return out
}

type al struct {
	tenant, entity, field, profile, severity, status string
	first, last                                      time.Duration
	observed, expected, score                        float64
}

func seedAlerts() []al {
	return []al{
		{"acme", attacker, "source.ip", "brute_force", "high", "firing", 0, 3 * time.Minute, 3, 0.2, 0.999},
		{"acme", attacker, "source.ip", "brute_force", "high", "firing", 0, 9 * time.Minute, 3, 0.2, 0.999},
		{"acme", scanner, "source.ip", "brute_force", "medium", "firing", 3 * time.Minute, 4 * time.Minute, 4, 0.3, 0.97},
		{"acme", scanner, "source.ip", "brute_force", "medium", "resolved", 3 * time.Minute, 20 * time.Minute, 0, 0.3, 0},
		{"acme", "root", "user.name", "user_failures", "critical", "firing", 8 * time.Minute, 8 * time.Minute, 15, 1, 0.9999},
		{"globex", attacker, "source.ip", "brute_force", "high", "firing", 0, 2 * time.Minute, 1, 0.2, 0.6},
	}
}

func (a al) alert() alert.Alert {
	key := alert.DedupKey(a.tenant, a.profile, a.entity)
	first := t0.Add(a.first)
	return alert.Alert{Version: 1, ID: alert.ID(key, t0.Add(a.last), a.status), // one id per row seeded
		DedupKey: key, Status: a.status, Severity: a.severity,
		Summary: fmt.Sprintf("%s %s: %g observed, %g expected", a.profile, a.entity, a.observed, a.expected),
		Tenant:  a.tenant, Profile: a.profile, Entity: a.entity, EntityField: a.field,
		FirstSeen: first, LastSeen: t0.Add(a.last), Count: 1, AnomalyScore: a.score,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: a.observed, Expected: a.expected,
			Spread: math.Sqrt(a.expected), Samples: 100, Method: "poisson_population"}}
}

// seed stores the history in a fresh database and returns its configuration.
func seed(t *testing.T) config.ClickHouseConfig {
	t.Helper()
	cfg := testkit.ClickHouse(t)
	evs := seedEvents()
	rows := make([][]any, len(evs))
	for i, e := range evs {
		rows[i] = []any{e.id, t0.Add(e.at), uint32(0), t0.Add(e.at + time.Second), e.tenant, e.source, e.host,
			e.category, e.action, e.outcome, e.ip, uint16(40000), e.dst, e.dport, e.user, "", e.bytesOut, uint64(0),
			0.0, e.msg}
	}
	const cols = "id, timestamp, timestamp_ns, ingested, tenant, source, host, category, action, outcome, " +
		"src_ip, src_port, dst_ip, dst_port, user, protocol, bytes_out, bytes_in, value, message"
	testkit.Insert(t, cfg, "events", cols, rows...)
	testkit.Insert(t, cfg, "events", cols, rows[0], rows[30]) // redelivered: FINAL sees one copy

	var srows [][]any
	for _, s := range seedScores() {
		start := t0.Add(time.Duration(s.minute) * time.Minute)
		srows = append(srows, []any{fmt.Sprintf("%s-%s-%d", s.tenant, s.entity, s.minute), start, start.Add(time.Minute),
			s.tenant, s.profile, s.entity, s.field, s.feature, s.observed, s.expected, s.spread, uint64(100),
			"poisson_population", s.score})
	}
	testkit.Insert(t, cfg, "scores", "id, window_start, window_end, tenant, profile, entity, entity_field, feature, "+
		"observed, expected, spread, samples, method, anomaly_score", srows...)

	var arows [][]any
	for _, x := range seedAlerts() {
		a := x.alert()
		payload, err := json.Marshal(a)
		require.NoError(t, err)
		arows = append(arows, []any{a.ID, a.DedupKey, a.LastSeen, a.Tenant, a.Profile, a.Entity, a.Severity, a.Status,
			a.Summary, a.Explanation.Observed, a.Explanation.Expected, a.AnomalyScore, string(payload)})
	}
	testkit.Insert(t, cfg, "alerts", "id, dedup_key, timestamp, tenant, profile, entity, severity, status, summary, "+
		"observed, expected, anomaly_score, payload", arows...)
	return cfg
}

// firstAlertID is the id of acme's first alert on the attacker.
func firstAlertID() string { return seedAlerts()[0].alert().ID }
