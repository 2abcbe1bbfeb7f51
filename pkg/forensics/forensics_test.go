package forensics_test

import (
	"context"
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/forensics"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

var t0 = time.Date(2025, 3, 5, 10, 0, 0, 0, time.UTC)

const (
	attacker = "203.0.113.7"
	office   = "198.51.100.20"
	cafe     = "192.0.2.30"
	v6       = "2001:db8::1"
)

// row is one seeded event.
type row struct {
	id                string
	at                time.Duration // after t0
	ns                uint32
	tenant, host      string
	category, action  string
	outcome, srcIP    string
	srcPort           uint16
	dstIP             string
	dstPort           uint16
	user              string
	bytesOut, bytesIn uint64
	message           string
}

func login(id string, at time.Duration, outcome, ip, user, host string) row {
	msg := "Failed password for " + user
	if outcome == "success" {
		msg = "Accepted password for " + user
	}
	return row{id: id, at: at, tenant: "default", host: host, category: "authentication", action: "ssh_login",
		outcome: outcome, srcIP: ip, srcPort: 40000, user: user, message: msg}
}

// seeded is the history every query test runs on.
var seeded = func() []row {
	var rs []row
	for i := range 6 { // six failures from the attacker, ten seconds apart
		rs = append(rs, login("a"+string(rune('1'+i)), time.Duration(i)*10*time.Second, "failure", attacker, "root", "gw"))
	}
	after := login("a9", time.Minute, "failure", attacker, "root", "gw")
	after.ns = 500_000_000 // in the same second as the success, but after it
	flow := row{id: "a8", at: 2 * time.Minute, tenant: "default", host: "gw", category: "network", action: "flow",
		outcome: "unknown", srcIP: attacker, dstIP: "198.51.100.1", dstPort: 443, bytesOut: 1000, bytesIn: 50000, message: "flow"}
	bobIn := login("c2", 7*time.Minute, "success", cafe, "bob", "db1")
	bobIn.bytesOut, bobIn.bytesIn = 10, 20
	other := login("x1", 30*time.Second, "failure", attacker, "root", "gw")
	other.tenant = "acme"
	return append(rs,
		login("a7", time.Minute, "success", attacker, "root", "gw"), after, flow,
		login("b2", -48*time.Hour, "success", office, "alice", "web1"),
		login("b3", 4*time.Minute, "failure", office, "alice", "web1"),
		login("b1", 5*time.Minute, "success", office, "alice", "web1"),
		login("c1", 6*time.Minute, "success", cafe, "alice", "web1"),
		bobIn,
		login("c3", 8*time.Minute, "failure", cafe, "bob", "db1"),
		login("d1", 9*time.Minute, "success", v6, "carol", "web1"),
		other,
	)
}()

func insertRows(t *testing.T, cfg config.ClickHouseConfig, rs ...row) {
	t.Helper()
	vals := make([][]any, len(rs))
	for i, r := range rs {
		vals[i] = []any{r.id, t0.Add(r.at), r.ns, r.tenant, "sshd", r.host, r.category, r.action, r.outcome,
			r.srcIP, r.srcPort, r.dstIP, r.dstPort, r.user, "ssh", r.bytesOut, r.bytesIn, r.message}
	}
	testkit.Insert(t, cfg, "events", "id, timestamp, timestamp_ns, tenant, source, host, category, action, outcome, "+
		"src_ip, src_port, dst_ip, dst_port, user, protocol, bytes_out, bytes_in, message", vals...)
}

func insertAlert(t *testing.T, cfg config.ClickHouseConfig, id, field, entity string, first, last time.Duration) {
	t.Helper()
	a := alert.Alert{Version: 1, ID: id, DedupKey: alert.DedupKey("default", "brute_force", entity), Status: alert.StatusFiring,
		Tenant: "default", Profile: "brute_force", Entity: entity, EntityField: field,
		FirstSeen: t0.Add(first), LastSeen: t0.Add(last)}
	payload, err := json.Marshal(a)
	require.NoError(t, err)
	testkit.Insert(t, cfg, "alerts", "id, dedup_key, timestamp, tenant, profile, entity, status, payload",
		[]any{a.ID, a.DedupKey, a.LastSeen, a.Tenant, a.Profile, a.Entity, a.Status, string(payload)})
}

// seed stores the history, then copies of some of it, as a redelivered
// batch would, in parts of their own.
func seed(t *testing.T) config.ClickHouseConfig {
	t.Helper()
	cfg := testkit.ClickHouse(t)
	insertRows(t, cfg, seeded...)
	var again []row
	for _, r := range seeded {
		if slices.Contains([]string{"a1", "a7", "a8", "b1", "c2"}, r.id) {
			again = append(again, r)
		}
	}
	insertRows(t, cfg, again...)
	insertAlert(t, cfg, "alert-1", "source.ip", attacker, 0, time.Minute)
	insertAlert(t, cfg, "alert-1", "source.ip", attacker, 0, time.Minute) // redelivered
	insertAlert(t, cfg, "alert-2", "source.ip", attacker, 2*time.Minute, 3*time.Minute)
	insertAlert(t, cfg, "alert-3", "user.name", "bob", 7*time.Minute, 9*time.Minute)
	return cfg
}

func at(d time.Duration) string { return t0.Add(d).Format(time.DateTime) }

// Every query on the seeded history, with its exact answer.
func TestQueries(t *testing.T) {
	cfg := seed(t)
	conn, err := store.Open(cfg)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	hour := map[string]string{"from": at(-time.Hour), "to": at(time.Hour)}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name   string
		query  string
		params map[string]string
		cols   []string // compared columns, in this order
		want   [][]string
	}{
		{
			"everything one IP did, copies once, other tenants not", "ip-activity", with(hour, "ip", attacker),
			[]string{"timestamp", "category", "outcome", "user", "dst_port"},
			[][]string{
				{at(0), "authentication", "failure", "root", "0"},
				{at(10 * time.Second), "authentication", "failure", "root", "0"},
				{at(20 * time.Second), "authentication", "failure", "root", "0"},
				{at(30 * time.Second), "authentication", "failure", "root", "0"},
				{at(40 * time.Second), "authentication", "failure", "root", "0"},
				{at(50 * time.Second), "authentication", "failure", "root", "0"},
				{at(time.Minute), "authentication", "success", "root", "0"},
				{at(time.Minute), "authentication", "failure", "root", "0"},
				{at(2 * time.Minute), "network", "unknown", "", "443"},
			},
		},
		{
			"the range bounds: from inclusive, to exclusive", "ip-activity",
			map[string]string{"ip": attacker, "from": at(10 * time.Second), "to": at(30 * time.Second)},
			[]string{"timestamp"}, [][]string{{at(10 * time.Second)}, {at(20 * time.Second)}},
		},
		{
			"another tenant", "ip-activity", with(hour, "ip", attacker, "tenant", "acme"),
			[]string{"timestamp", "outcome"}, [][]string{{at(30 * time.Second), "failure"}},
		},
		{
			"an IPv6 source written another way", "ip-activity", with(hour, "ip", "2001:DB8:0:0::1"),
			[]string{"user", "host"}, [][]string{{"carol", "web1"}},
		},
		{
			"limit", "ip-activity", with(hour, "ip", attacker, "limit", "2"),
			[]string{"timestamp"}, [][]string{{at(0)}, {at(10 * time.Second)}},
		},
		{
			"every login of a user and from where", "user-logins",
			map[string]string{"user": "alice", "from": at(-7 * 24 * time.Hour), "to": at(time.Hour)},
			[]string{"timestamp", "outcome", "src_ip", "host"},
			[][]string{
				{at(-48 * time.Hour), "success", office, "web1"},
				{at(4 * time.Minute), "failure", office, "web1"},
				{at(5 * time.Minute), "success", office, "web1"},
				{at(6 * time.Minute), "success", cafe, "web1"},
			},
		},
		{
			"logins of a user nobody is", "user-logins", with(hour, "user", "mallory"), []string{"timestamp"}, nil,
		},
		{
			"first-seen pairs against 90 days before", "first-seen", map[string]string{"from": at(0), "to": at(time.Hour)},
			[]string{"user", "src_ip", "first_seen", "logins", "hosts"},
			[][]string{
				{"root", attacker, at(time.Minute), "1", "gw"},
				{"alice", cafe, at(6 * time.Minute), "1", "web1"},
				{"bob", cafe, at(7 * time.Minute), "1", "db1"},
				{"carol", v6, at(9 * time.Minute), "1", "web1"},
			},
		},
		{
			"first-seen pairs against one day before", "first-seen",
			map[string]string{"from": at(0), "to": at(time.Hour), "lookback": "1d"},
			[]string{"user", "src_ip", "first_seen", "logins"},
			[][]string{
				{"root", attacker, at(time.Minute), "1"},
				{"alice", office, at(5 * time.Minute), "1"}, // seen two days before: outside the lookback
				{"alice", cafe, at(6 * time.Minute), "1"},
				{"bob", cafe, at(7 * time.Minute), "1"},
				{"carol", v6, at(9 * time.Minute), "1"},
			},
		},
		{
			"top talkers by events", "top-talkers", hour,
			[]string{"src_ip", "event_count", "bytes_sent", "bytes_received", "users", "hosts"},
			[][]string{
				{attacker, "9", "1000", "50000", "1", "1"},
				{cafe, "3", "10", "20", "2", "2"},
				{office, "2", "0", "0", "1", "1"},
				{v6, "1", "0", "0", "1", "1"},
			},
		},
		{
			"top talkers by bytes", "top-talkers", with(hour, "by", "bytes", "limit", "3"),
			[]string{"src_ip", "event_count"},
			[][]string{{attacker, "9"}, {cafe, "3"}, {office, "2"}},
		},
		{
			"failed then successful: five failures in ten minutes", "failed-then-success", hour,
			[]string{"src_ip", "user", "host", "success_at", "failures", "first_failure"},
			[][]string{{attacker, "root", "gw", at(time.Minute), "6", at(0)}},
		},
		{
			"failed then successful: one failure is enough", "failed-then-success", with(hour, "failures", "1"),
			[]string{"src_ip", "user", "success_at", "failures", "first_failure"},
			[][]string{
				{attacker, "root", at(time.Minute), "6", at(0)},
				{office, "alice", at(5 * time.Minute), "1", at(4 * time.Minute)},
			},
		},
		{
			"failed then successful: one source", "failed-then-success", with(hour, "failures", "1", "ip", office),
			[]string{"src_ip", "user"}, [][]string{{office, "alice"}},
		},
		{
			"failed then successful: a short window", "failed-then-success", with(hour, "failures", "1", "window", "30s"),
			[]string{"src_ip", "failures", "first_failure"}, [][]string{{attacker, "3", at(30 * time.Second)}},
		},
		{
			"failed then successful: the success must be in the range", "failed-then-success",
			map[string]string{"from": at(90 * time.Second), "to": at(time.Hour), "failures": "1"},
			[]string{"src_ip"}, [][]string{{office}},
		},
		{
			"events behind an alert, by id", "alert-events", map[string]string{"alert": "alert-1"},
			[]string{"timestamp", "src_ip", "outcome"},
			[][]string{
				{at(0), attacker, "failure"},
				{at(10 * time.Second), attacker, "failure"},
				{at(20 * time.Second), attacker, "failure"},
				{at(30 * time.Second), attacker, "failure"},
				{at(40 * time.Second), attacker, "failure"},
				{at(50 * time.Second), attacker, "failure"},
			},
		},
		{
			"events behind every alert of a dedup key", "alert-events",
			map[string]string{"alert": "vigil/default/brute_force/" + attacker, "limit": "100"},
			[]string{"timestamp", "action"},
			[][]string{
				{at(0), "ssh_login"}, {at(10 * time.Second), "ssh_login"}, {at(20 * time.Second), "ssh_login"},
				{at(30 * time.Second), "ssh_login"}, {at(40 * time.Second), "ssh_login"}, {at(50 * time.Second), "ssh_login"},
				{at(2 * time.Minute), "flow"},
			},
		},
		{
			"events behind an alert on a user", "alert-events", map[string]string{"alert": "alert-3"},
			[]string{"timestamp", "user", "src_ip", "outcome"},
			[][]string{{at(7 * time.Minute), "bob", cafe, "success"}, {at(8 * time.Minute), "bob", cafe, "failure"}},
		},
		{
			"no such alert", "alert-events", map[string]string{"alert": "nope"}, []string{"timestamp"}, nil,
		},
		{
			"another tenant's alert", "alert-events", map[string]string{"alert": "alert-1", "tenant": "acme"},
			[]string{"timestamp"}, nil,
		},
	}
	env := forensics.Env{Now: t0.Add(2 * time.Hour), Tenant: "default"}
	covered := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := forensics.Lookup(tt.query)
			require.NoError(t, err)
			covered[q.Name] = true
			res, err := q.Run(ctx, conn, tt.params, env)
			require.NoError(t, err)
			require.Equal(t, tt.want, project(t, res, tt.cols))
		})
	}
	for _, q := range forensics.Queries() {
		require.True(t, covered[q.Name], "query %s has a test", q.Name)
	}
}

// project returns the named columns of res, as text.
func project(t *testing.T, res *forensics.Result, cols []string) [][]string {
	t.Helper()
	idx := make([]int, len(cols))
	for i, c := range cols {
		idx[i] = slices.Index(res.Columns, c)
		require.GreaterOrEqual(t, idx[i], 0, "column %s in %v", c, res.Columns)
	}
	var out [][]string
	for _, r := range res.Strings() {
		p := make([]string, len(idx))
		for i, j := range idx {
			p[i] = r[j]
		}
		out = append(out, p)
	}
	return out
}
