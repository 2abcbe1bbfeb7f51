package archiver

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.GoleakOptions()...)
}

var t0 = time.Date(2024, 3, 5, 10, 0, 0, 0, time.UTC)

// testConfig returns a configuration on a fresh broker and a fresh database,
// with short flush and retry intervals.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.ClickHouse = testkit.ClickHouse(t) // first: skips before starting a broker
	cfg.Kafka = testkit.Broker(t)
	cfg.Telemetry.Listen = ""
	cfg.Archiver.FlushInterval = 100 * time.Millisecond
	cfg.Archiver.RetryBackoff = 50 * time.Millisecond
	cfg.Archiver.RetryBackoffMax = 200 * time.Millisecond
	return cfg
}

// running is a started archiver whose stop shuts it down once.
type running struct {
	*Archiver
	reg  *prometheus.Registry
	once sync.Once
	t    testing.TB
}

// start starts an archiver on cfg with its own registry; it is shut down at
// the end of the test unless stop was called first.
func start(t testing.TB, cfg config.Config) *running {
	t.Helper()
	reg := prometheus.NewRegistry()
	a, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t), Registry: reg})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, a.Start(ctx))
	r := &running{Archiver: a, reg: reg, t: t}
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() { r.stopWithin(30 * time.Second) }

// stopWithin shuts the archiver down with d to insert what it holds.
func (r *running) stopWithin(d time.Duration) {
	r.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		defer cancel()
		require.NoError(r.t, r.Shutdown(ctx))
	})
}

// metric returns the value of the counter or gauge name whose labels include
// labels, summed over matching series; 0 when there is none.
func (r *running) metric(name string, labels map[string]string) float64 {
	r.t.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(r.t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue series
				}
			}
			switch {
			case m.GetCounter() != nil:
				sum += m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// clickhouse opens the test database, closed at the end of the test.
func clickhouse(t *testing.T, cfg config.Config) driver.Conn {
	t.Helper()
	conn, err := store.Open(cfg.ClickHouse)
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// count returns the single UInt64 a query such as SELECT count() returns.
func count(t testing.TB, conn driver.Conn, query string, args ...any) uint64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var n uint64
	require.NoError(t, conn.QueryRow(ctx, query, args...).Scan(&n), query)
	return n
}

// newEvent returns a valid event, distinct for every i.
func newEvent(i int) *event.Event {
	ts := t0.Add(time.Duration(i) * time.Second)
	line := fmt.Sprintf("Failed password for root from 198.51.100.%d", i%250+1)
	return &event.Event{
		Version: event.Version, ID: event.NewID("default", "test", int64(i), []byte(line)),
		Timestamp: ts, Ingested: ts, Tenant: "default", Source: "sshd",
		Category: event.CategoryAuthentication, Action: "ssh_login", Outcome: event.OutcomeFailure,
		SrcIP: fmt.Sprintf("198.51.100.%d", i%250+1), Message: line,
	}
}

// fullEvent has every envelope field set.
func fullEvent() *event.Event {
	line := "Mar  5 10:11:12 bastion sshd[812]: Accepted publickey for root from 203.0.113.7 port 52113 ssh2: «ключ»"
	return &event.Event{
		Version:    event.Version,
		ID:         event.NewID("acme", "file:dev=2049,ino=131", 1024, []byte(line)),
		Timestamp:  time.Date(2024, 3, 5, 10, 11, 12, 345678900, time.UTC),
		Ingested:   time.Date(2024, 3, 5, 12, 11, 13, 987000000, time.FixedZone("", 2*3600)),
		Tenant:     "acme",
		Source:     "sshd",
		Host:       "bastion",
		Category:   event.CategoryAuthentication,
		Action:     "ssh_login",
		Outcome:    event.OutcomeSuccess,
		SrcIP:      "203.0.113.7",
		SrcPort:    52113,
		DstIP:      "2001:db8::22",
		DstPort:    22,
		User:       "root",
		Protocol:   "ssh",
		BytesOut:   1 << 40,
		BytesIn:    5678,
		Value:      12.625,
		Message:    line,
		ParseError: "partial: key type unknown",
		Attrs:      map[string]string{"zone": "eu-1", "app": "sshd", "method": "publickey", "": "empty key"},
	}
}

func encode(t *testing.T, evs ...*event.Event) [][]byte {
	t.Helper()
	out := make([][]byte, len(evs))
	for i, e := range evs {
		b, err := event.Encode(e)
		require.NoError(t, err)
		out[i] = b
	}
	return out
}

func newScore(i int) score.Score {
	entity := fmt.Sprintf("198.51.100.%d", i+1)
	start := t0.Add(time.Duration(i) * time.Minute)
	return score.Score{
		Version: 1, ID: score.ID("default", "brute_force", entity, start), Tenant: "default",
		Profile: "brute_force", Entity: entity, EntityField: "source.ip",
		WindowStart: start, WindowEnd: start.Add(time.Minute), AnomalyScore: 0.5 + float64(i)/100,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: float64(10 + i), Expected: 1.5, Spread: 1.25, Samples: uint64(30 + i), Method: "poisson_ewma"},
	}
}

func newAlert(i int) alert.Alert {
	entity := fmt.Sprintf("203.0.113.%d", i+1)
	key := alert.DedupKey("default", "brute_force", entity)
	first := t0.Add(time.Duration(i) * time.Minute)
	return alert.Alert{
		Version: 1, ID: alert.ID(key, first, alert.StatusFiring), DedupKey: key, Status: alert.StatusFiring,
		Severity: "high", Summary: fmt.Sprintf("%d failed logins from %s", 40+i, entity), Tenant: "default",
		Profile: "brute_force", Entity: entity, EntityField: "source.ip", FirstSeen: first, LastSeen: first.Add(time.Minute),
		Count: 1, AnomalyScore: 0.999999,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: float64(40 + i), Expected: 1.5, Spread: 1.2, Samples: 30, Method: "poisson_ewma"},
		Links:       alert.Links{Dashboard: "http://grafana/d/entity?var-entity=" + entity},
	}
}

func marshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

func TestShutdownWithoutStart(t *testing.T) {
	a, err := New(service.Deps{Config: config.Default(), Logger: testkit.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, a.Shutdown(context.Background()))
}

func TestStartThenShutdown(t *testing.T) {
	cfg := testConfig(t)
	ready := map[string]telemetry.ReadyFunc{}
	a, err := New(service.Deps{
		Config: cfg, Logger: testkit.Logger(t), Registry: prometheus.NewRegistry(),
		Ready: func(name string, f telemetry.ReadyFunc) { ready[name] = f },
	})
	require.NoError(t, err)
	require.Error(t, ready["archiver"](), "not ready before Start")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, a.Start(ctx))
	require.NoError(t, ready["archiver"](), "ready after Start")
	require.NoError(t, a.Shutdown(ctx))
	require.Error(t, ready["archiver"](), "not ready after Shutdown")
}

// Every envelope field lands in its column; scores and alerts land in
// theirs; each exactly once.
func TestArchivesEventsScoresAndAlerts(t *testing.T) {
	cfg := testConfig(t)
	k := cfg.Kafka
	conn := clickhouse(t, cfg)

	full := fullEvent()
	evs := []*event.Event{full}
	for i := range 40 {
		evs = append(evs, newEvent(i))
	}
	var scores [][]byte
	for i := range 5 {
		scores = append(scores, marshal(t, newScore(i)))
	}
	alerts := []alert.Alert{newAlert(0), newAlert(1), newAlert(2)}
	var alertValues [][]byte
	for _, a := range alerts {
		alertValues = append(alertValues, marshal(t, a))
	}

	start(t, cfg)
	testkit.Produce(t, k, k.Topics.Events, nil, encode(t, evs...))
	testkit.Produce(t, k, k.Topics.Scores, nil, scores)
	testkit.Produce(t, k, k.Topics.Alerts, nil, alertValues)

	require.Eventually(t, func() bool {
		return count(t, conn, "SELECT count() FROM events FINAL") == uint64(len(evs)) &&
			count(t, conn, "SELECT count() FROM scores FINAL") == uint64(len(scores)) &&
			count(t, conn, "SELECT count() FROM alerts FINAL") == uint64(len(alerts))
	}, 30*time.Second, 50*time.Millisecond)
	// Everything is committed once inserted.
	require.Eventually(t, func() bool {
		return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) == int64(len(evs)) &&
			testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Scores) == int64(len(scores)) &&
			testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Alerts) == int64(len(alerts))
	}, 30*time.Second, 50*time.Millisecond)

	for _, tc := range []struct{ table, query string }{
		{"events", "SELECT uniqExact(id) FROM events"},
		{"scores", "SELECT uniqExact(id) FROM scores"},
		{"alerts", "SELECT uniqExact(id) FROM alerts"},
	} {
		n := count(t, conn, "SELECT count() FROM "+tc.table+" FINAL")
		require.Equal(t, n, count(t, conn, tc.query), "%s: one row per id", tc.table)
	}

	t.Run("event columns", func(t *testing.T) {
		var (
			id, tenant, source, host, category, action, outcome string
			srcIP, dstIP, user, protocol, message, parseError   string
			ts, ingested                                        time.Time
			tsNS                                                uint32
			srcPort, dstPort                                    uint16
			bytesOut, bytesIn                                   uint64
			value                                               float64
			keys, vals                                          []string
		)
		require.NoError(t, conn.QueryRow(context.Background(), `SELECT id, timestamp, timestamp_ns, ingested, tenant, source, host,
			category, action, outcome, src_ip, src_port, dst_ip, dst_port, user, protocol, bytes_out, bytes_in, value,
			message, parse_error, attr_keys, attr_values FROM events FINAL WHERE id = ?`, full.ID).Scan(
			&id, &ts, &tsNS, &ingested, &tenant, &source, &host, &category, &action, &outcome, &srcIP, &srcPort, &dstIP, &dstPort,
			&user, &protocol, &bytesOut, &bytesIn, &value, &message, &parseError, &keys, &vals))
		require.Equal(t, full.ID, id)
		require.True(t, ts.Equal(full.Timestamp.Truncate(time.Second)), "timestamp %s", ts)
		require.Equal(t, uint32(345678900), tsNS)
		require.True(t, ts.Add(time.Duration(tsNS)).Equal(full.Timestamp), "timestamp + timestamp_ns is the event time")
		require.True(t, ingested.Equal(full.Ingested.Truncate(time.Second)), "ingested %s", ingested)
		require.Equal(t, full.Tenant, tenant)
		require.Equal(t, full.Source, source)
		require.Equal(t, full.Host, host)
		require.Equal(t, full.Category, category)
		require.Equal(t, full.Action, action)
		require.Equal(t, full.Outcome, outcome)
		require.Equal(t, full.SrcIP, srcIP)
		require.Equal(t, full.SrcPort, srcPort)
		require.Equal(t, full.DstIP, dstIP)
		require.Equal(t, full.DstPort, dstPort)
		require.Equal(t, full.User, user)
		require.Equal(t, full.Protocol, protocol)
		require.Equal(t, full.BytesOut, bytesOut)
		require.Equal(t, full.BytesIn, bytesIn)
		require.Equal(t, full.Value, value)
		require.Equal(t, full.Message, message)
		require.Equal(t, full.ParseError, parseError)
		require.Equal(t, []string{"", "app", "method", "zone"}, keys, "attr_keys sorted by key")
		require.Equal(t, []string{"empty key", "sshd", "publickey", "eu-1"}, vals, "attr_values parallel to attr_keys")
	})

	t.Run("event without optional fields", func(t *testing.T) {
		e := evs[1]
		var host, dstIP string
		var dstPort uint16
		var keys, vals []string
		var tsNS uint32
		require.NoError(t, conn.QueryRow(context.Background(),
			"SELECT host, dst_ip, dst_port, timestamp_ns, attr_keys, attr_values FROM events FINAL WHERE id = ?", e.ID).
			Scan(&host, &dstIP, &dstPort, &tsNS, &keys, &vals))
		require.Empty(t, host)
		require.Empty(t, dstIP)
		require.Zero(t, dstPort)
		require.Zero(t, tsNS)
		require.Empty(t, keys)
		require.Empty(t, vals)
	})

	t.Run("score columns", func(t *testing.T) {
		for i := range scores {
			s := newScore(i)
			var profile, entity, feature, method string
			var start, end time.Time
			var observed, anomaly float64
			var samples uint64
			require.NoError(t, conn.QueryRow(context.Background(),
				"SELECT profile, entity, feature, method, window_start, window_end, observed, anomaly_score, samples FROM scores FINAL WHERE id = ?", s.ID).
				Scan(&profile, &entity, &feature, &method, &start, &end, &observed, &anomaly, &samples))
			require.Equal(t, s.Profile, profile)
			require.Equal(t, s.Entity, entity)
			require.Equal(t, s.Explanation.Feature, feature)
			require.Equal(t, s.Explanation.Method, method)
			require.True(t, s.WindowStart.Equal(start), "window_start %s", start)
			require.True(t, s.WindowEnd.Equal(end), "window_end %s", end)
			require.Equal(t, s.Explanation.Observed, observed)
			require.Equal(t, s.AnomalyScore, anomaly)
			require.Equal(t, s.Explanation.Samples, samples)
		}
	})

	t.Run("alert columns", func(t *testing.T) {
		for i, a := range alerts {
			var key, severity, status, summary, entity, payload string
			var ts time.Time
			var observed float64
			require.NoError(t, conn.QueryRow(context.Background(),
				"SELECT dedup_key, severity, status, summary, entity, timestamp, observed, payload FROM alerts FINAL WHERE id = ?", a.ID).
				Scan(&key, &severity, &status, &summary, &entity, &ts, &observed, &payload))
			require.Equal(t, a.DedupKey, key)
			require.Equal(t, a.Severity, severity)
			require.Equal(t, a.Status, status)
			require.Equal(t, a.Summary, summary)
			require.Equal(t, a.Entity, entity)
			require.True(t, a.LastSeen.Equal(ts), "timestamp is last_seen, got %s", ts)
			require.Equal(t, a.Explanation.Observed, observed)
			require.Equal(t, string(alertValues[i]), payload, "payload is the message as published")
		}
	})
}

// Messages that are not what their topic holds go to the dead-letter topic
// with the original value and where they came from; the valid messages
// around them are all inserted.
func TestPoisonMessagesGoToDLQ(t *testing.T) {
	cfg := testConfig(t)
	k := cfg.Kafka
	conn := clickhouse(t, cfg)
	start(t, cfg)

	valid := []*event.Event{newEvent(1), newEvent(2), newEvent(3), newEvent(4)}
	vv := encode(t, valid...)
	noID := *newEvent(5)
	noID.ID = ""
	poison := []struct {
		name, topic string
		value       []byte
		reason      string // a part of the reason header
	}{
		{"not JSON", k.Topics.Events, []byte("this is not json {"), "invalid"},
		{"JSON but not an envelope", k.Topics.Events, []byte(`{"not":"an event"}`), "invalid event"},
		{"envelope without id", k.Topics.Events, marshal(t, &noID), "event.id"},
		{"JSON array", k.Topics.Events, []byte(`[1,2,3]`), "invalid"},
		{"malformed score", k.Topics.Scores, []byte(`{"id":"x","profile":""}`), "decode score"},
		{"score that is not JSON", k.Topics.Scores, []byte(`score?`), "decode score"},
		{"alert without dedup key", k.Topics.Alerts, []byte(`{"id":"a"}`), "decode alert"},
	}
	// Interleave: valid, poison, valid, poison, valid on the events topic.
	events := [][]byte{vv[0], poison[0].value, vv[1], poison[1].value, vv[2], poison[2].value, poison[3].value, vv[3]}
	keys := func(n int) [][]byte {
		ks := make([][]byte, n)
		for i := range ks {
			ks[i] = fmt.Appendf(nil, "key-%d", i)
		}
		return ks
	}
	testkit.Produce(t, k, k.Topics.Events, keys(len(events)), events)
	goodScore := marshal(t, newScore(7))
	testkit.Produce(t, k, k.Topics.Scores, keys(3), [][]byte{poison[4].value, goodScore, poison[5].value})
	testkit.Produce(t, k, k.Topics.Alerts, keys(2), [][]byte{poison[6].value, marshal(t, newAlert(3))})

	require.Eventually(t, func() bool {
		return len(testkit.ReadAll(t, k, k.Topics.EventsDLQ)) >= len(poison)
	}, 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return count(t, conn, "SELECT count() FROM events FINAL") == uint64(len(valid)) &&
			count(t, conn, "SELECT count() FROM scores FINAL") == 1 &&
			count(t, conn, "SELECT count() FROM alerts FINAL") == 1
	}, 30*time.Second, 50*time.Millisecond)
	for _, e := range valid {
		require.Equal(t, uint64(1), count(t, conn, "SELECT count() FROM events FINAL WHERE id = ?", e.ID))
	}
	// Dead-lettered messages are committed with the batch: nothing is left to read again.
	require.Eventually(t, func() bool {
		return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) == int64(len(events)) &&
			testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Scores) == 3 &&
			testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Alerts) == 2
	}, 30*time.Second, 50*time.Millisecond)

	dlq := testkit.ReadAll(t, k, k.Topics.EventsDLQ)
	require.Len(t, dlq, len(poison), "each poison message dead-lettered once")
	byValue := map[string]kafka.Message{}
	for _, m := range dlq {
		byValue[string(m.Value)] = m
	}
	originals := map[string]kafka.Message{}
	for _, topic := range []string{k.Topics.Events, k.Topics.Scores, k.Topics.Alerts} {
		for _, m := range testkit.ReadAll(t, k, topic) {
			originals[string(m.Value)] = m
		}
	}
	for _, p := range poison {
		t.Run(p.name, func(t *testing.T) {
			m, ok := byValue[string(p.value)]
			require.True(t, ok, "%q not on the DLQ", p.value)
			h := map[string]string{}
			for _, x := range m.Headers {
				h[x.Key] = string(x.Value)
			}
			orig := originals[string(p.value)]
			require.NotEmpty(t, orig.Key)
			require.Equal(t, orig.Key, m.Key, "the dead letter keeps its key")
			require.Equal(t, "archiver", h[stream.HeaderDLQStage])
			require.Equal(t, p.topic, h[stream.HeaderDLQTopic])
			require.Contains(t, h[stream.HeaderDLQReason], p.reason)
			require.Equal(t, strconv.FormatInt(orig.Offset, 10), h[stream.HeaderDLQOffset])
			require.Equal(t, strconv.Itoa(orig.Partition), h[stream.HeaderDLQPartition])
		})
	}
}

// The archiver commits a message's offset only after the insert holding it
// succeeded: while inserts fail it retries and commits nothing.
func TestCommitsOnlyAfterInsert(t *testing.T) {
	cfg := testConfig(t)
	k := cfg.Kafka
	conn := clickhouse(t, cfg)
	ctx := context.Background()
	require.NoError(t, conn.Exec(ctx, "RENAME TABLE events TO events_hidden"))

	const n = 25
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent(i)
	}
	a := start(t, cfg)
	testkit.Produce(t, k, k.Topics.Events, nil, encode(t, evs...))

	retries := func() float64 {
		return a.metric("vigil_archiver_retries_total", map[string]string{"operation": "insert into events"})
	}
	require.Eventually(t, func() bool { return retries() >= 2 }, 30*time.Second, 20*time.Millisecond,
		"the archiver retries the failing insert")
	for p, off := range testkit.Committed(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) {
		require.Equal(t, int64(-1), off, "partition %d committed before its insert", p)
	}
	require.Zero(t, count(t, conn, "SELECT count() FROM events_hidden"))
	require.Zero(t, a.metric("vigil_archiver_rows_inserted_total", map[string]string{"table": "events"}))

	require.NoError(t, conn.Exec(ctx, "RENAME TABLE events_hidden TO events"))
	require.Eventually(t, func() bool {
		return count(t, conn, "SELECT count() FROM events FINAL") == n
	}, 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) == n
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, uint64(n), count(t, conn, "SELECT uniqExact(id) FROM events"))
	require.Equal(t, uint64(n), count(t, conn, "SELECT count() FROM events"), "a failed insert inserted nothing")
}

// A redelivered event (same id) is removed: FINAL sees one row.
func TestRedeliveryIsRemoved(t *testing.T) {
	tests := []struct {
		name string
		// apart: the copy arrives after the first is inserted and committed,
		// so the two are in different inserts.
		apart bool
	}{
		{"same batch", false},
		{"separate batches", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			k := cfg.Kafka
			conn := clickhouse(t, cfg)
			start(t, cfg)
			e := fullEvent()
			v := encode(t, e)[0]
			if tt.apart {
				testkit.Produce(t, k, k.Topics.Events, nil, [][]byte{v})
				require.Eventually(t, func() bool {
					return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) == 1
				}, 30*time.Second, 50*time.Millisecond)
				testkit.Produce(t, k, k.Topics.Events, nil, [][]byte{v})
			} else {
				testkit.Produce(t, k, k.Topics.Events, nil, [][]byte{v, v})
			}
			// Both copies are read and inserted once both are committed.
			require.Eventually(t, func() bool {
				return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) == 2
			}, 30*time.Second, 50*time.Millisecond)
			require.Equal(t, uint64(1), count(t, conn, "SELECT count() FROM events FINAL"))
			require.Equal(t, uint64(1), count(t, conn, "SELECT uniqExact(id) FROM events"))
			// Without FINAL, both copies may remain until a merge.
			all := count(t, conn, "SELECT count() FROM events")
			require.GreaterOrEqual(t, all, uint64(1))
			require.LessOrEqual(t, all, uint64(2))
		})
	}
}

// A new archiver in the same group resumes where the last one committed.
func TestRestartResumes(t *testing.T) {
	cfg := testConfig(t)
	k := cfg.Kafka
	conn := clickhouse(t, cfg)
	const n, m = 30, 20
	evs := make([]*event.Event, n+m)
	for i := range evs {
		evs[i] = newEvent(i)
	}

	first := start(t, cfg)
	testkit.Produce(t, k, k.Topics.Events, nil, encode(t, evs[:n]...))
	require.Eventually(t, func() bool {
		return count(t, conn, "SELECT count() FROM events FINAL") == n
	}, 30*time.Second, 50*time.Millisecond)
	first.stop()
	require.Equal(t, int64(n), testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events), "a clean shutdown commits what it inserted")

	testkit.Produce(t, k, k.Topics.Events, nil, encode(t, evs[n:]...))
	second := start(t, cfg)
	require.Eventually(t, func() bool {
		return count(t, conn, "SELECT count() FROM events FINAL") == n+m
	}, 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) == n+m
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, uint64(n+m), count(t, conn, "SELECT uniqExact(id) FROM events"))
	require.Equal(t, float64(m), second.metric("vigil_archiver_rows_inserted_total", map[string]string{"table": "events"}),
		"the second archiver inserts only what the first had not committed")
}

// Two archivers in one group split the partitions, and when one leaves
// the other takes its partitions over from their committed offsets:
// together they insert every event once (as queries see it) and commit
// every offset.
func TestTwoArchiversShareTheGroup(t *testing.T) {
	cfg := testConfig(t)
	k := cfg.Kafka
	conn := clickhouse(t, cfg)
	evs := make([]*event.Event, 300)
	keys := make([][]byte, len(evs))
	for i := range evs {
		evs[i] = newEvent(i)
		keys[i] = []byte(evs[i].SrcIP)
	}
	produce := func(from, to int) {
		testkit.Produce(t, k, k.Topics.Events, keys[from:to], encode(t, evs[from:to]...))
	}
	stored := func(n int) func() bool {
		return func() bool { return count(t, conn, "SELECT count() FROM events FINAL") == uint64(n) }
	}
	assigned := func(r *running) float64 { return r.metric("vigil_archiver_partitions_assigned", nil) }
	total := float64(3 * k.Partitions) // events, scores, alerts

	first := start(t, cfg)
	produce(0, 100)
	require.Eventually(t, stored(100), 30*time.Second, 50*time.Millisecond)
	require.Equal(t, total, assigned(first))

	second := start(t, cfg)
	require.Eventually(t, func() bool {
		a, b := assigned(first), assigned(second)
		return a > 0 && b > 0 && a+b == total
	}, 60*time.Second, 50*time.Millisecond, "the partitions are split")
	produce(100, 200)
	require.Eventually(t, stored(200), 30*time.Second, 50*time.Millisecond)

	first.stop()
	require.Eventually(t, func() bool { return assigned(second) == total }, 60*time.Second, 50*time.Millisecond,
		"the second archiver takes every partition")
	produce(200, 300)
	require.Eventually(t, stored(300), 30*time.Second, 50*time.Millisecond)
	require.Eventually(t, func() bool {
		return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) == 300
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, uint64(300), count(t, conn, "SELECT uniqExact(id) FROM events"))
	inserted := map[string]string{"table": "events"}
	a, b := first.metric("vigil_archiver_rows_inserted_total", inserted), second.metric("vigil_archiver_rows_inserted_total", inserted)
	require.Positive(t, a)
	require.Greater(t, b, float64(100), "the second archiver inserted from its own partitions and then from all")
	require.GreaterOrEqual(t, a+b, float64(300))
}

// Shutdown inserts and commits what the archiver holds.
func TestShutdownFlushesPending(t *testing.T) {
	cfg := testConfig(t)
	k := cfg.Kafka
	cfg.Archiver.FlushInterval = time.Hour // only Shutdown flushes
	conn := clickhouse(t, cfg)
	const n = 12
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent(i)
	}
	a := start(t, cfg)
	testkit.Produce(t, k, k.Topics.Events, nil, encode(t, evs...))
	require.Eventually(t, func() bool {
		return a.metric("vigil_archiver_pending_rows", nil) == n
	}, 30*time.Second, 20*time.Millisecond)
	require.Zero(t, count(t, conn, "SELECT count() FROM events"), "nothing inserted before the flush interval")
	a.stop()
	require.Equal(t, uint64(n), count(t, conn, "SELECT count() FROM events FINAL"))
	require.Equal(t, int64(n), testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events))
}

// A poison message is committed only once it is on the dead-letter topic:
// when the dead-letter write cannot succeed before Shutdown, the message
// must be read again by the next archiver, not committed and lost.
func TestShutdownDuringDeadLetterLosesNothing(t *testing.T) {
	cfg := testConfig(t)
	k := cfg.Kafka
	a := start(t, cfg)

	// Make dead-letter writes fail: delete the DLQ topic (writers do not
	// create topics).
	tr := &kafka.Transport{}
	defer tr.CloseIdleConnections()
	cl := kafka.Client{Addr: kafka.TCP(k.Brokers...), Timeout: 10 * time.Second, Transport: tr}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := cl.DeleteTopics(ctx, &kafka.DeleteTopicsRequest{Topics: []string{k.Topics.EventsDLQ}})
	require.NoError(t, err)
	require.NoError(t, res.Errors[k.Topics.EventsDLQ])

	poison := []byte(`{"not":"an event"}`)
	testkit.Produce(t, k, k.Topics.Events, nil, [][]byte{poison})
	require.Eventually(t, func() bool {
		return a.metric("vigil_archiver_retries_total", map[string]string{"operation": "dead-letter"}) >= 1
	}, 60*time.Second, 20*time.Millisecond, "the dead-letter write fails and is retried")
	a.stopWithin(time.Second)
	require.Empty(t, testkit.ReadAll(t, k, k.Topics.EventsDLQ), "the DLQ topic is still missing")

	// Nothing reached the DLQ, so nothing may be committed.
	require.Zero(t, testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events),
		"a poison message that never reached the DLQ was committed")

	// With the DLQ back, the next archiver dead-letters it.
	testkit.Topics(t, k, k.Topics.EventsDLQ)
	start(t, cfg)
	require.Eventually(t, func() bool {
		for _, m := range testkit.ReadAll(t, k, k.Topics.EventsDLQ) {
			if string(m.Value) == string(poison) {
				return true
			}
		}
		return false
	}, 30*time.Second, 50*time.Millisecond)
}

// Dead-lettered messages are committed within the flush interval even while
// poison keeps arriving: the batch of dead letters has the same deadline as
// a batch of rows, or it grows without bound and is never committed.
func TestDeadLettersCommittedWhilePoisonKeepsComing(t *testing.T) {
	cfg := testConfig(t)
	cfg.Archiver.FlushInterval = 500 * time.Millisecond
	k := cfg.Kafka
	start(t, cfg)

	// Publish a poison message every 50ms, well within the flush interval,
	// until the test ends.
	stopPublishing := keepProducing(t, k, k.Topics.Events, 50*time.Millisecond, func(i int) ([]kafka.Message, error) {
		return []kafka.Message{{Value: fmt.Appendf(nil, "poison %d", i)}}, nil
	})

	require.Eventually(t, func() bool { return len(testkit.ReadAll(t, k, k.Topics.EventsDLQ)) > 0 },
		30*time.Second, 20*time.Millisecond, "the archiver dead-letters the poison")
	require.Eventually(t, func() bool { return testkit.CommittedSum(t, cfg.Kafka, cfg.Archiver.GroupID, k.Topics.Events) > 0 },
		5*time.Second, 50*time.Millisecond, "dead letters are committed within the flush interval while poison keeps coming")
	stopPublishing()
}

// keepProducing publishes the messages next(i) returns on topic, for i = 0,
// 1, …, one call every interval, until the returned stop is called (at the
// latest when the test ends), which fails the test if a publish failed.
func keepProducing(t *testing.T, k config.KafkaConfig, topic string, interval time.Duration, next func(i int) ([]kafka.Message, error)) (stop func()) {
	t.Helper()
	tr := &kafka.Transport{}
	w := &kafka.Writer{Addr: kafka.TCP(k.Brokers...), Topic: topic, Balancer: kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll, BatchSize: 10_000, BatchTimeout: time.Millisecond, Transport: tr}
	quit, errc := make(chan struct{}), make(chan error, 1)
	go func() {
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-quit:
				errc <- nil
				return
			case <-tick.C:
			}
			msgs, err := next(i)
			if err == nil {
				err = w.WriteMessages(context.Background(), msgs...)
			}
			if err != nil {
				errc <- err
				return
			}
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(quit)
			require.NoError(t, <-errc)
			require.NoError(t, w.Close())
			tr.CloseIdleConnections()
		})
	}
	t.Cleanup(stop)
	return stop
}
