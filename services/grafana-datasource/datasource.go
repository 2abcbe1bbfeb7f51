package grafanads

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/instancemgmt"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/data"

	"github.com/vigil-soc/vigil/pkg/forensics"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/stream"
)

// PluginID is the plugin's id in plugin.json.
const PluginID = "vigilsoc-vigil-datasource"

// Datasource is one configured Vigil data source: its settings, its
// ClickHouse connection pool and, with brokers configured, its Kafka client.
type Datasource struct {
	uid      string
	settings Settings
	// settingsErr says what is wrong with the settings; every call reports it.
	settingsErr error
	logger      log.Logger
	metrics     *Metrics
	conn        driver.Conn
	kafka       *stream.Client

	namesMu  sync.Mutex
	names    guard
	namesAt  time.Time
	namesTTL time.Duration
}

var (
	_ backend.QueryDataHandler      = (*Datasource)(nil)
	_ backend.CheckHealthHandler    = (*Datasource)(nil)
	_ backend.StreamHandler         = (*Datasource)(nil)
	_ instancemgmt.InstanceDisposer = (*Datasource)(nil)
)

// NewFactory returns what the SDK's instance manager calls for each data
// source (and again when its settings change).
func NewFactory(logger log.Logger, m *Metrics) datasource.InstanceFactoryFunc {
	return func(_ context.Context, s backend.DataSourceInstanceSettings) (instancemgmt.Instance, error) {
		return New(s, logger, m), nil
	}
}

// New returns the data source of s. Bad settings do not fail here: every
// query and health check reports them, naming the key.
func New(s backend.DataSourceInstanceSettings, logger log.Logger, m *Metrics) *Datasource {
	d := &Datasource{uid: s.UID, logger: logger, metrics: m, namesTTL: time.Minute}
	d.settings, d.settingsErr = ParseSettings(s)
	if d.settingsErr != nil {
		d.settingsErr = fmt.Errorf("%w: %w", errSettings, d.settingsErr)
		return d
	}
	conn, err := store.Open(d.settings.ClickHouse())
	if err != nil {
		d.settingsErr = fmt.Errorf("%w: %w", errSettings, err)
		return d
	}
	d.conn = conn
	if kc, ok := d.settings.Kafka(); ok {
		c, err := stream.NewClient(kc)
		if err != nil {
			d.settingsErr = fmt.Errorf("%w: %w", errSettings, err)
			return d
		}
		d.kafka = c
	}
	return d
}

// Dispose closes the connections; the SDK calls it when the settings change.
func (d *Datasource) Dispose() {
	if d.conn != nil {
		_ = d.conn.Close()
	}
	if d.kafka != nil {
		d.kafka.Close()
	}
}

// errSettings wraps what is wrong with a data source's settings.
var errSettings = errors.New("data source settings")

// errTenant is a query asking for a tenant its data source is not pinned to.
var errTenant = errors.New("tenant not allowed")

// tenant returns the tenant a query reads: the pinned one, or the query's,
// or the default.
func (d *Datasource) tenant(q Query) (string, error) {
	switch {
	case d.settings.Pinned() && q.Tenant != "" && q.Tenant != d.settings.Tenant:
		return "", fmt.Errorf("%w: this data source is pinned to tenant %q; the query asks for %.100q",
			errTenant, d.settings.Tenant, q.Tenant)
	case d.settings.Pinned():
		return d.settings.Tenant, nil
	case q.Tenant != "":
		return q.Tenant, nil
	}
	return d.settings.DefaultTenant, nil
}

// QueryData runs each query of the request; one query's error does not
// fail the others.
func (d *Datasource) QueryData(ctx context.Context, req *backend.QueryDataRequest) (*backend.QueryDataResponse, error) {
	res := backend.NewQueryDataResponse()
	for _, dq := range req.Queries {
		start := time.Now()
		frames, err := d.query(ctx, dq)
		d.metrics.observeQuery(dq.QueryType, err, time.Since(start))
		if err != nil {
			res.Responses[dq.RefID] = errorResponse(dq.QueryType, err)
			continue
		}
		res.Responses[dq.RefID] = backend.DataResponse{Frames: frames}
	}
	return res, nil
}

func (d *Datasource) query(ctx context.Context, dq backend.DataQuery) (data.Frames, error) {
	if d.settingsErr != nil {
		return nil, d.settingsErr
	}
	q, err := parseQuery(dq.JSON)
	if err != nil {
		return nil, err
	}
	tenant, err := d.tenant(q)
	if err != nil {
		return nil, err
	}
	r := request{q: q, tenant: tenant, from: dq.TimeRange.From.UTC(), to: dq.TimeRange.To.UTC(),
		interval: dq.Interval, maxPoints: dq.MaxDataPoints}
	if !r.from.Before(r.to) {
		return nil, fmt.Errorf("%w: the time range is empty (from %s, to %s)", errBadQuery,
			r.from.Format(time.RFC3339), r.to.Format(time.RFC3339))
	}
	ctx, cancel := context.WithTimeout(ctx, d.settings.queryTimeout)
	defer cancel()
	switch dq.QueryType {
	case TypeTimeline:
		return d.timeline(ctx, r)
	case TypeTopEntities:
		return d.topEntities(ctx, r)
	case TypeAlertFeed:
		return d.alertFeed(ctx, r)
	case TypeAlertRate:
		return d.alertRate(ctx, r)
	case TypeOpenIncidents:
		return d.openIncidents(ctx, r)
	case TypeAlertStream:
		return d.alertStream(ctx, r)
	case TypeEventSearch:
		return d.eventSearch(ctx, r)
	case TypeEventCounts:
		return d.eventCounts(ctx, r)
	case TypeForensic:
		return d.forensic(ctx, r)
	case TypeSQL:
		return d.rawSQL(ctx, r)
	case TypeTenants:
		return d.tenants(ctx, r)
	case TypeEntities:
		return d.entities(ctx, r)
	}
	return nil, fmt.Errorf("%w: queryType: %.100q is not one of %v", errBadQuery, dq.QueryType, QueryTypes)
}

// forensic runs a query of Vigil's forensic library, with its tenant set
// to the query's (on a pinned data source a tenant parameter must be the
// pinned one) and from and to, when it has them and they are not given,
// set to the dashboard's range.
func (d *Datasource) forensic(ctx context.Context, r request) (data.Frames, error) {
	fq, err := forensics.Lookup(r.q.Forensic)
	if err != nil {
		return nil, fmt.Errorf("%w: forensic: %v", errBadQuery, err)
	}
	values := map[string]string{}
	for k, v := range r.q.Params {
		if v != "" {
			values[k] = v
		}
	}
	if t, ok := values["tenant"]; ok {
		if _, err := d.tenant(Query{Tenant: t}); err != nil {
			return nil, err
		}
		if t != r.tenant {
			return nil, fmt.Errorf("%w: params.tenant %.100q differs from the query's tenant %q", errBadQuery, t, r.tenant)
		}
	}
	has := map[string]bool{}
	for _, p := range fq.Params {
		has[p.Name] = true
	}
	for name, t := range map[string]time.Time{"from": r.from, "to": r.to} {
		if _, given := values[name]; !given && has[name] {
			values[name] = t.Format(time.RFC3339)
		}
	}
	bound, err := fq.Bind(values, forensics.Env{Now: time.Now(), Tenant: r.tenant})
	if err != nil {
		return nil, err
	}
	args := make([]any, 0, len(bound))
	for name, v := range bound {
		args = append(args, clickhouse.Named(name, v))
	}
	return d.table(ctx, fq.Name, d.settings.MaxRows, fq.SQL, args...)
}

// guard returns the names the SQL of a pinned data source may not use:
// the server's databases, the tables of Vigil's database and the table
// functions, read from the server at most once a minute.
func (d *Datasource) guard(ctx context.Context) (guard, error) {
	d.namesMu.Lock()
	defer d.namesMu.Unlock()
	if d.names.names != nil && time.Since(d.namesAt) < d.namesTTL {
		return d.names, nil
	}
	g := guard{names: map[string]bool{}, tableFuncs: map[string]bool{}}
	for _, n := range []string{"system", "default", "information_schema", d.settings.Database} {
		g.names[strings.ToLower(n)] = true
	}
	for _, n := range knownTableFuncs {
		g.tableFuncs[n] = true
	}
	for sql, into := range map[string]map[string]bool{
		"SELECT name FROM system.databases":                                 g.names,
		"SELECT name FROM system.tables WHERE database = currentDatabase()": g.names,
		"SELECT name FROM system.table_functions":                           g.tableFuncs,
	} {
		rows, err := d.conn.Query(ctx, sql)
		if err != nil {
			return guard{}, fmt.Errorf("list names for the SQL check: %w", err)
		}
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				rows.Close()
				return guard{}, err
			}
			into[strings.ToLower(n)] = true
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return guard{}, fmt.Errorf("list names for the SQL check: %w", err)
		}
	}
	d.names, d.namesAt = g, time.Now()
	return g, nil
}

// errorResponse marks err as the user's (a bad query: 400), the
// server's (ClickHouse or Kafka failed or is unreachable: 502, or a
// timeout: 504), both downstream of the plugin, or the plugin's (500).
func errorResponse(queryType string, err error) backend.DataResponse {
	status, source := classify(queryType, err)
	return backend.DataResponse{Error: err, Status: status, ErrorSource: source}
}

func classify(queryType string, err error) (backend.Status, backend.ErrorSource) {
	var exc *clickhouse.Exception
	var netErr net.Error
	switch {
	case errors.Is(err, errBadQuery), errors.Is(err, errSQL), errors.Is(err, errTenant),
		errors.Is(err, forensics.ErrBadParam), errors.Is(err, errSettings):
		return backend.StatusBadRequest, backend.ErrorSourceDownstream
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return backend.StatusTimeout, backend.ErrorSourceDownstream
	case errors.As(err, &exc) && queryType == TypeSQL:
		// ClickHouse refused the user's SQL (a syntax error, an unknown column).
		return backend.StatusBadRequest, backend.ErrorSourceDownstream
	case errors.As(err, &exc), errors.As(err, &netErr):
		return backend.StatusBadGateway, backend.ErrorSourceDownstream
	}
	return backend.StatusInternal, backend.ErrorSourcePlugin
}
