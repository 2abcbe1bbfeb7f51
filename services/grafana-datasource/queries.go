package grafanads

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/grafana/grafana-plugin-sdk-go/data"
)

// Every query type but sql runs fixed SQL with its values bound as
// literals by clickhouse-go (named binds, @name; ClickHouse 18.16 has no
// server-side parameters): a value is a string, number or time literal
// and never SQL. Every one filters on the tenant. Tables with copies
// (events, scores, alerts) are read with FINAL, as the forensic library
// does, so that a redelivered row counts once.

// request is one query with what it applies to.
type request struct {
	q         Query
	tenant    string
	from, to  time.Time
	interval  time.Duration
	maxPoints int64
}

// named turns name, value pairs into clickhouse-go named binds.
func named(kv ...any) []any {
	out := make([]any, 0, len(kv)/2)
	for i := 0; i < len(kv); i += 2 {
		out = append(out, clickhouse.Named(kv[i].(string), kv[i+1]))
	}
	return out
}

// step is the bucket width of a time series over r's range: at least the
// query's interval and minStep, few enough buckets for maxDataPoints (and
// never more than maxBuckets), a whole multiple of minStep.
func (r request) step(minStep time.Duration) time.Duration {
	const maxBuckets = 10_000
	s := max(r.interval.Truncate(time.Second), minStep)
	span := r.to.Sub(r.from)
	points := int64(maxBuckets)
	if r.maxPoints > 0 && r.maxPoints < points {
		points = r.maxPoints
	}
	if need := (span + time.Duration(points) - 1) / time.Duration(points); need > s {
		s = need
	}
	return (s + minStep - 1) / minStep * minStep
}

const timelineSQL = `SELECT profile, feature, toDateTime(intDiv(toUInt32(window_start), @step) * @step, 'UTC') AS time,
    max(observed) AS observed, avg(expected) AS expected, avg(spread) AS spread, max(anomaly_score) AS anomaly_score
FROM scores FINAL
PREWHERE entity = @entity
WHERE tenant = @tenant AND (@entity_field = '' OR entity_field = @entity_field)
  AND (@profile = '' OR profile = @profile) AND (@feature = '' OR feature = @feature)
  AND window_start >= @from AND window_start < @to
GROUP BY profile, feature, time
ORDER BY profile, feature, time`

// timeline: an entity's feature over time, its baseline band (expected ±
// band × spread, floored at 0) and its anomaly score; one frame per
// profile and feature. Buckets of several windows keep the highest
// observation and score and the mean expectation and spread.
func (d *Datasource) timeline(ctx context.Context, r request) (data.Frames, error) {
	if r.q.Entity == "" {
		return nil, fmt.Errorf("%w: entity: required", errBadQuery)
	}
	step := r.step(time.Second)
	rows, err := d.conn.Query(ctx, timelineSQL, named("step", int64(step/time.Second), "entity", r.q.Entity,
		"tenant", r.tenant, "entity_field", r.q.EntityField, "profile", r.q.Profile, "feature", r.q.Feature,
		"from", r.from, "to", r.to)...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	type group struct {
		profile, feature                        string
		ts                                      []time.Time
		observed, expected, lower, upper, score []float64
	}
	var groups []*group
	for rows.Next() {
		var (
			profile, feature                  string
			at                                time.Time
			observed, expected, spread, score float64
		)
		if err := rows.Scan(&profile, &feature, &at, &observed, &expected, &spread, &score); err != nil {
			return nil, err
		}
		if len(groups) == 0 || groups[len(groups)-1].profile != profile || groups[len(groups)-1].feature != feature {
			groups = append(groups, &group{profile: profile, feature: feature})
		}
		g := groups[len(groups)-1]
		g.ts = append(g.ts, at.UTC())
		g.observed = append(g.observed, observed)
		g.expected = append(g.expected, expected)
		g.lower = append(g.lower, max(expected-r.q.Band*spread, 0))
		g.upper = append(g.upper, expected+r.q.Band*spread)
		g.score = append(g.score, score)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out data.Frames
	for _, g := range groups {
		labels := data.Labels{"entity": r.q.Entity, "profile": g.profile, "feature": g.feature}
		prefix := ""
		if len(groups) > 1 {
			prefix = g.profile + "/" + g.feature + " "
		}
		field := func(name string, vals []float64) *data.Field {
			f := data.NewField(name, labels, vals)
			f.Config = &data.FieldConfig{DisplayNameFromDS: prefix + name}
			return f
		}
		f := data.NewFrame(g.profile+"/"+g.feature, data.NewField("time", nil, g.ts),
			field("observed", g.observed), field("expected", g.expected),
			field("lower", g.lower), field("upper", g.upper), field("anomaly_score", g.score))
		f.SetMeta(&data.FrameMeta{Type: data.FrameTypeTimeSeriesWide, TypeVersion: data.FrameTypeVersion{0, 1}})
		out = append(out, f)
	}
	if len(out) == 0 {
		out = append(out, data.NewFrame("timeline"))
	}
	return out, nil
}

// topEntitiesSQL picks, per entity, its window with the highest score
// (the latest of equal ones), so the answer does not depend on row order.
const topEntitiesSQL = `SELECT entity, entity_field, profile, max(anomaly_score) AS max_score,
    argMax(observed, (anomaly_score, window_start)) AS observed,
    argMax(expected, (anomaly_score, window_start)) AS expected,
    argMax(window_start, (anomaly_score, window_start)) AS peak_at,
    count() AS windows
FROM scores FINAL
WHERE tenant = @tenant AND window_start >= @from AND window_start < @to
  AND (@profile = '' OR profile = @profile) AND (@entity_field = '' OR entity_field = @entity_field)
GROUP BY entity, entity_field, profile
HAVING max_score >= @min_score
ORDER BY max_score DESC, peak_at DESC, entity, profile
LIMIT @limit`

func (d *Datasource) topEntities(ctx context.Context, r request) (data.Frames, error) {
	limit := r.q.limitOr(10, d.settings.MaxRows)
	return d.table(ctx, "top entities", limit, topEntitiesSQL, named("tenant", r.tenant, "from", r.from, "to", r.to,
		"profile", r.q.Profile, "entity_field", r.q.EntityField, "min_score", r.q.MinScore, "limit", limit)...)
}

// alertFilter is what the alert queries share: the tenant, the entity,
// the profile, the lowest severity and the status.
const alertFilter = `tenant = @tenant
  AND (@entity = '' OR entity = @entity)
  AND (@entity_field = '' OR visitParamExtractString(payload, 'entity_field') = @entity_field)
  AND (@profile = '' OR profile = @profile)
  AND indexOf(['info', 'low', 'medium', 'high', 'critical'], severity) >= @severity_rank
  AND (@status = '' OR status = @status)`

func alertArgs(r request, kv ...any) []any {
	return named(append([]any{"tenant", r.tenant, "entity", r.q.Entity, "entity_field", r.q.EntityField,
		"profile", r.q.Profile, "severity_rank", int64(r.q.severityRank()), "status", r.q.Status,
		"from", r.from, "to", r.to}, kv...)...)
}

const alertColumns = `timestamp AS time, severity, status, profile, entity,
    visitParamExtractString(payload, 'entity_field') AS entity_field, summary,
    observed, expected, anomaly_score, dedup_key, id`

const alertFeedSQL = `SELECT ` + alertColumns + `
FROM alerts FINAL
WHERE ` + alertFilter + `
  AND timestamp >= @from AND timestamp < @to
ORDER BY timestamp DESC, id
LIMIT @limit`

func (d *Datasource) alertFeed(ctx context.Context, r request) (data.Frames, error) {
	limit := r.q.limitOr(100, d.settings.MaxRows)
	return d.table(ctx, "alerts", limit, alertFeedSQL, alertArgs(r, "limit", limit)...)
}

// alertStreamSQL is the newest alerts of the range, oldest first: what a
// live panel shows before the stream appends to it.
const alertStreamSQL = `SELECT * FROM
(
    SELECT ` + alertColumns + `
    FROM alerts FINAL
    WHERE ` + alertFilter + `
      AND timestamp >= @from AND timestamp < @to
    ORDER BY timestamp DESC, id
    LIMIT @limit
)
ORDER BY time, id`

const alertRateSQL = `SELECT toDateTime(intDiv(toUInt32(timestamp), @step) * @step, 'UTC') AS time, severity, count() AS alerts
FROM alerts FINAL
WHERE ` + alertFilter + `
  AND timestamp >= @from AND timestamp < @to
GROUP BY time, severity
ORDER BY time, severity`

// alertRate: alerts per bucket, one series per severity.
func (d *Datasource) alertRate(ctx context.Context, r request) (data.Frames, error) {
	step := r.step(time.Second)
	return d.timeSeries(ctx, "alerts", r, step, []string{"severity"}, alertRateSQL,
		alertArgs(r, "step", int64(step/time.Second))...)
}

// openIncidentsSQL: an incident is a dedup key; it is open when its
// latest alert up to the end of the range is firing.
const openIncidentsSQL = `SELECT dedup_key, i_profile AS profile, i_entity AS entity, i_entity_field AS entity_field,
    i_severity AS severity, since, last_alert, alerts, i_summary AS summary
FROM
(
    SELECT dedup_key, any(profile) AS i_profile, any(entity) AS i_entity,
        argMax(visitParamExtractString(payload, 'entity_field'), (timestamp, id)) AS i_entity_field,
        argMax(status, (timestamp, id)) AS last_status,
        argMax(severity, (timestamp, id)) AS i_severity,
        argMax(summary, (timestamp, id)) AS i_summary,
        argMax(parseDateTimeBestEffortOrZero(visitParamExtractString(payload, 'first_seen')), (timestamp, id)) AS since,
        max(timestamp) AS last_alert, count() AS alerts
    FROM alerts FINAL
    WHERE tenant = @tenant AND timestamp < @to
      AND (@entity = '' OR entity = @entity)
      AND (@entity_field = '' OR visitParamExtractString(payload, 'entity_field') = @entity_field)
      AND (@profile = '' OR profile = @profile)
    GROUP BY dedup_key
)
WHERE last_status = 'firing'
  AND indexOf(['info', 'low', 'medium', 'high', 'critical'], i_severity) >= @severity_rank
ORDER BY indexOf(['info', 'low', 'medium', 'high', 'critical'], i_severity) DESC, last_alert DESC, dedup_key
LIMIT @limit`

func (d *Datasource) openIncidents(ctx context.Context, r request) (data.Frames, error) {
	limit := r.q.limitOr(1000, d.settings.MaxRows)
	return d.table(ctx, "open incidents", limit, openIncidentsSQL, named("tenant", r.tenant, "to", r.to,
		"entity", r.q.Entity, "entity_field", r.q.EntityField, "profile", r.q.Profile,
		"severity_rank", int64(r.q.severityRank()), "limit", limit)...)
}

// eventFilter is what event queries share. Filters on columns outside the
// sorting key go in PREWHERE, which runs before FINAL and is exact here
// because every copy of an event is the same row (pkg/forensics).
const eventSearchSQL = `SELECT timestamp AS time, source, host, category, action, outcome, src_ip, src_port,
    dst_ip, dst_port, user, message, id
FROM events FINAL
PREWHERE (@user = '' OR user = @user) AND (@host = '' OR host = @host)
  AND (@entity = '' OR multiIf(@entity_field = 'source.ip', src_ip = @entity,
      @entity_field = 'user.name', user = @entity, @entity_field = 'host.name', host = @entity,
      src_ip = @entity OR user = @entity OR host = @entity))
WHERE tenant = @tenant AND timestamp >= @from AND timestamp < @to
  AND (@src_ip = '' OR src_ip = @src_ip)
  AND (@source = '' OR source = @source)
  AND (@category = '' OR category = @category) AND (@outcome = '' OR outcome = @outcome)
  AND (@text = '' OR positionCaseInsensitiveUTF8(message, @text) > 0)
ORDER BY timestamp DESC, timestamp_ns DESC, id
LIMIT @limit`

func (d *Datasource) eventSearch(ctx context.Context, r request) (data.Frames, error) {
	limit := r.q.limitOr(1000, d.settings.MaxRows)
	return d.table(ctx, "events", limit, eventSearchSQL, named("tenant", r.tenant, "from", r.from, "to", r.to,
		"user", r.q.User, "host", r.q.Host, "entity", r.q.Entity, "entity_field", r.q.EntityField,
		"src_ip", r.q.SrcIP, "source", r.q.Source, "category", r.q.Category, "outcome", r.q.Outcome,
		"text", r.q.Text, "limit", limit)...)
}

// eventCountsSQL reads the per-minute rollup; %s are the grouping
// columns, each from the fixed list groupDims, never from the query text.
const eventCountsSQL = `SELECT toDateTime(intDiv(toUInt32(minute), @step) * @step, 'UTC') AS time%s, sum(event_count) AS events
FROM events_per_minute
WHERE tenant = @tenant AND minute >= @from AND minute < @to
  AND (@source = '' OR source = @source)
  AND (@category = '' OR category = @category) AND (@outcome = '' OR outcome = @outcome)
GROUP BY time%s
ORDER BY time%s`

// eventCounts: events per bucket from the rollup (approximate under
// redelivery, schemas/clickhouse), one series per value of the groupBy
// columns. Buckets are whole minutes.
func (d *Datasource) eventCounts(ctx context.Context, r request) (data.Frames, error) {
	step := r.step(time.Minute)
	cols := ""
	for _, dim := range r.q.GroupBy {
		if !slices.Contains(groupDims, dim) { // checked by parseQuery; never interpolate anything else
			return nil, fmt.Errorf("%w: groupBy: %q", errBadQuery, dim)
		}
		cols += ", " + dim
	}
	sql := fmt.Sprintf(eventCountsSQL, cols, cols, cols)
	return d.timeSeries(ctx, "events", r, step, r.q.GroupBy, sql, named("tenant", r.tenant, "from", r.from, "to", r.to,
		"step", int64(step/time.Second), "source", r.q.Source, "category", r.q.Category, "outcome", r.q.Outcome)...)
}

const tenantsSQL = `SELECT DISTINCT tenant FROM events_per_minute ORDER BY tenant LIMIT @limit`

// tenants lists the tenants with events, for a dashboard variable: only
// the pinned one on a pinned data source.
func (d *Datasource) tenants(ctx context.Context, r request) (data.Frames, error) {
	if d.settings.Pinned() {
		return data.Frames{data.NewFrame("tenants", data.NewField("tenant", nil, []string{d.settings.Tenant}))}, nil
	}
	limit := r.q.limitOr(1000, d.settings.MaxRows)
	return d.table(ctx, "tenants", limit, tenantsSQL, named("limit", limit)...)
}

const entitiesSQL = `SELECT entity, entity_field, max(anomaly_score) AS max_score
FROM scores FINAL
WHERE tenant = @tenant AND window_start >= @from AND window_start < @to
  AND (@profile = '' OR profile = @profile) AND (@entity_field = '' OR entity_field = @entity_field)
GROUP BY entity, entity_field
ORDER BY max_score DESC, entity
LIMIT @limit`

// entities lists the scored entities of the range, most anomalous first,
// for a dashboard variable.
func (d *Datasource) entities(ctx context.Context, r request) (data.Frames, error) {
	limit := r.q.limitOr(100, d.settings.MaxRows)
	return d.table(ctx, "entities", limit, entitiesSQL, named("tenant", r.tenant, "from", r.from, "to", r.to,
		"profile", r.q.Profile, "entity_field", r.q.EntityField, "limit", limit)...)
}

// table runs sql and returns its rows as one frame of at most limit rows.
func (d *Datasource) table(ctx context.Context, name string, limit int, sql string, args ...any) (data.Frames, error) {
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	f, err := tableFrame(rows, name, limit)
	if err != nil {
		return nil, err
	}
	return data.Frames{f}, nil
}

// timeSeries runs sql, whose rows are (time, the dims as strings, a
// count), and returns one frame per combination of dims, every bucket of
// the range present.
func (d *Datasource) timeSeries(ctx context.Context, name string, r request, step time.Duration, dims []string,
	sql string, args ...any) (data.Frames, error) {
	rows, err := d.conn.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	s := newSeries(r.from, r.to, step, name)
	vals := make([]string, len(dims))
	dest := make([]any, 0, len(dims)+2)
	var at time.Time
	var n uint64
	dest = append(dest, &at)
	for i := range vals {
		dest = append(dest, &vals[i])
	}
	dest = append(dest, &n)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		labels := data.Labels{}
		for i, dim := range dims {
			labels[dim] = vals[i]
		}
		s.add(labels, at, float64(n))
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return s.frames(name), nil
}
