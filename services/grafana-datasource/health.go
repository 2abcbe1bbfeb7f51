package grafanads

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/vigil-soc/vigil/pkg/stream"
)

// healthTimeout bounds each check.
const healthTimeout = 10 * time.Second

// unknownDatabase is ClickHouse's error code for a database that does not exist.
const unknownDatabase = 81

// requiredTables are the tables the query types read.
var requiredTables = []string{"events", "scores", "alerts", "events_per_minute"}

// CheckHealth reports whether ClickHouse answers and holds Vigil's tables,
// and whether Kafka answers and has the alerts topic (when brokers are
// configured), in one message; details are in the JSON details.
func (d *Datasource) CheckHealth(ctx context.Context, _ *backend.CheckHealthRequest) (*backend.CheckHealthResult, error) {
	if d.settingsErr != nil {
		return &backend.CheckHealthResult{Status: backend.HealthStatusError, Message: d.settingsErr.Error()}, nil
	}
	details := map[string]any{}
	var msgs []string
	ok := true
	checks := []healthCheck{{"ClickHouse", d.checkClickHouse}}
	if d.kafka != nil {
		checks = append(checks, healthCheck{"Kafka", d.checkKafka})
	}
	for _, c := range checks {
		msg, err := c.run(ctx)
		details[strings.ToLower(c.name)] = healthDetail(msg, err)
		if err != nil {
			ok, msg = false, err.Error()
		}
		msgs = append(msgs, c.name+": "+msg)
	}
	if d.kafka == nil {
		msgs = append(msgs, "Kafka: no brokers configured, so no live alert stream")
		details["kafka"] = healthDetail("not configured", nil)
	}
	if d.settings.Pinned() {
		msgs = append(msgs, fmt.Sprintf("pinned to tenant %q", d.settings.Tenant))
	}
	res := &backend.CheckHealthResult{Status: backend.HealthStatusOk, Message: strings.Join(msgs, "; ")}
	if !ok {
		res.Status = backend.HealthStatusError
	}
	res.JSONDetails, _ = json.Marshal(details)
	return res, nil
}

// healthCheck checks one dependency, saying what it found.
type healthCheck struct {
	name string
	run  func(context.Context) (string, error)
}

func healthDetail(msg string, err error) map[string]any {
	if err != nil {
		return map[string]any{"ok": false, "error": err.Error()}
	}
	return map[string]any{"ok": true, "message": msg}
}

func (d *Datasource) checkClickHouse(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	addr := d.settings.Addr
	if err := d.conn.Ping(ctx); err != nil {
		var exc *clickhouse.Exception
		switch {
		case errors.As(err, &exc) && exc.Code == unknownDatabase:
			return "", fmt.Errorf("at %s: no database %s (run `vigil migrate`)", addr, d.settings.Database)
		case errors.As(err, &exc):
			return "", fmt.Errorf("at %s as %s: %w", addr, d.settings.Username, err)
		}
		return "", fmt.Errorf("not reachable at %s as %s: %w", addr, d.settings.Username, err)
	}
	var version string
	if err := d.conn.QueryRow(ctx, "SELECT version()").Scan(&version); err != nil {
		return "", fmt.Errorf("at %s: %w", addr, err)
	}
	rows, err := d.conn.Query(ctx, "SELECT name FROM system.tables WHERE database = currentDatabase()")
	if err != nil {
		return "", fmt.Errorf("%s at %s: list tables of %s: %w", version, addr, d.settings.Database, err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return "", err
		}
		tables = append(tables, n)
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	var missing []string
	for _, t := range requiredTables {
		if !slices.Contains(tables, t) {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("%s at %s: database %s lacks %s (run `vigil migrate`)",
			version, addr, d.settings.Database, strings.Join(missing, ", "))
	}
	return fmt.Sprintf("%s at %s, database %s has Vigil's tables", version, addr, d.settings.Database), nil
}

func (d *Datasource) checkKafka(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	brokers := d.settings.KafkaBrokers
	if err := d.kafka.Ping(ctx); err != nil {
		return "", fmt.Errorf("not reachable at %s: %w", brokers, err)
	}
	ends, err := d.kafka.EndOffsets(ctx, d.settings.AlertsTopic)
	switch {
	case errors.Is(err, stream.ErrNoTopic):
		return "", fmt.Errorf("at %s: no topic %s (the processor creates it; check alertsTopic)", brokers, d.settings.AlertsTopic)
	case err != nil:
		return "", fmt.Errorf("at %s: %w", brokers, err)
	}
	return fmt.Sprintf("at %s, topic %s has %d partition(s)", brokers, d.settings.AlertsTopic, len(ends)), nil
}
