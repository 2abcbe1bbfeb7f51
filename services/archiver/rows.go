package archiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
)

// table describes how one topic's messages become rows of one table.
type table struct {
	name    string
	columns string
	// tsCol is the index of the column the table is partitioned by.
	tsCol int
	// row decodes one message into the values of one row, in column order.
	row func(value []byte) ([]any, error)
}

// byName finds a table by its name.
var byName = map[string]table{
	eventsTable.name: eventsTable,
	scoresTable.name: scoresTable,
	alertsTable.name: alertsTable,
}

// DateTime holds seconds from 1970 in 32 unsigned bits; times outside are
// refused rather than stored wrapped.
var (
	minTime = time.Unix(0, 0).UTC()
	maxTime = time.Unix(1<<32-1, 0).UTC()
)

func storable(field string, t time.Time) error {
	if t.Before(minTime) || t.After(maxTime) {
		return fmt.Errorf("%s %s is outside what ClickHouse DateTime stores (1970 to 2106)", field, t.UTC().Format(time.RFC3339))
	}
	return nil
}

var eventsTable = table{
	name:  "events",
	tsCol: 1,
	columns: "id, timestamp, timestamp_ns, ingested, tenant, source, host, category, action, outcome, " +
		"src_ip, src_port, dst_ip, dst_port, user, protocol, bytes_out, bytes_in, value, message, parse_error, attr_keys, attr_values",
	row: func(b []byte) ([]any, error) {
		e, err := event.Decode(b)
		if err != nil {
			return nil, err
		}
		if err := errors.Join(storable("@timestamp", e.Timestamp), storable("event.ingested", e.Ingested)); err != nil {
			return nil, err
		}
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		vals := make([]string, len(keys))
		for i, k := range keys {
			vals[i] = e.Attrs[k]
		}
		ts := e.Timestamp.UTC()
		return []any{
			e.ID, ts, uint32(ts.Nanosecond()), e.Ingested.UTC(), e.Tenant, e.Source, e.Host, e.Category, e.Action, e.Outcome,
			e.SrcIP, e.SrcPort, e.DstIP, e.DstPort, e.User, e.Protocol, e.BytesOut, e.BytesIn, e.Value, e.Message, e.ParseError, keys, vals,
		}, nil
	},
}

var scoresTable = table{
	name:  "scores",
	tsCol: 1,
	columns: "id, window_start, window_end, tenant, profile, entity, entity_field, feature, " +
		"observed, expected, spread, samples, method, anomaly_score",
	row: func(b []byte) ([]any, error) {
		var s score.Score
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("decode score: %w", err)
		}
		if s.ID == "" || s.Profile == "" || s.WindowStart.IsZero() {
			return nil, fmt.Errorf("decode score: id, profile and window_start are required")
		}
		if err := errors.Join(storable("window_start", s.WindowStart), storable("window_end", s.WindowEnd)); err != nil {
			return nil, err
		}
		x := s.Explanation
		return []any{
			s.ID, s.WindowStart.UTC(), s.WindowEnd.UTC(), s.Tenant, s.Profile, s.Entity, s.EntityField, x.Feature,
			x.Observed, x.Expected, x.Spread, x.Samples, x.Method, s.AnomalyScore,
		}, nil
	},
}

var alertsTable = table{
	name:    "alerts",
	tsCol:   2,
	columns: "id, dedup_key, timestamp, tenant, profile, entity, severity, status, summary, observed, expected, anomaly_score, payload",
	row: func(b []byte) ([]any, error) {
		var a alert.Alert
		if err := json.Unmarshal(b, &a); err != nil {
			return nil, fmt.Errorf("decode alert: %w", err)
		}
		if a.ID == "" || a.DedupKey == "" || a.LastSeen.IsZero() {
			return nil, fmt.Errorf("decode alert: id, dedup_key and last_seen are required")
		}
		if err := storable("last_seen", a.LastSeen); err != nil {
			return nil, err
		}
		return []any{
			a.ID, a.DedupKey, a.LastSeen.UTC(), a.Tenant, a.Profile, a.Entity, a.Severity, a.Status, a.Summary,
			a.Explanation.Observed, a.Explanation.Expected, a.AnomalyScore, string(b),
		}, nil
	},
}
