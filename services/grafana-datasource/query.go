package grafanads

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
)

// Query types: the queryType of a Grafana query.
const (
	TypeTimeline      = "timeline"
	TypeTopEntities   = "topEntities"
	TypeAlertFeed     = "alertFeed"
	TypeAlertRate     = "alertRate"
	TypeOpenIncidents = "openIncidents"
	TypeAlertStream   = "alertStream"
	TypeEventSearch   = "eventSearch"
	TypeEventCounts   = "eventCounts"
	TypeForensic      = "forensic"
	TypeSQL           = "sql"
	TypeTenants       = "tenants"
	TypeEntities      = "entities"
)

// QueryTypes lists every query type, in the order the query editor shows them.
var QueryTypes = []string{
	TypeTimeline, TypeTopEntities, TypeAlertFeed, TypeAlertRate, TypeOpenIncidents, TypeAlertStream,
	TypeEventSearch, TypeEventCounts, TypeForensic, TypeSQL, TypeTenants, TypeEntities,
}

// Query is the model of a query: the fields each query type reads (the
// others are ignored). Grafana's own fields (refId, datasource, …) are
// ignored too.
type Query struct {
	// Tenant whose rows to read; empty for the data source's default. On a
	// pinned data source it must be empty or the pinned tenant.
	Tenant string `json:"tenant"`

	// Entity is an entity (a source IP, user or host) to look at.
	Entity string `json:"entity"`
	// EntityField says what Entity is: source.ip, user.name, host.name,
	// or empty for any of them.
	EntityField string `json:"entityField"`
	// Profile is a detection profile (brute_force); empty for every one.
	Profile string `json:"profile"`
	// Feature is a scored feature (failed_logins); empty for every one.
	Feature string `json:"feature"`
	// Band is how many spreads the baseline band spans either side of
	// the expectation. Default 1.
	Band float64 `json:"band"`
	// MinScore is the lowest peak anomaly score an entity needs to be
	// listed (topEntities). Default 0.
	MinScore float64 `json:"minScore"`
	// MinSeverity keeps alerts of this severity or higher: info, low,
	// medium, high, critical; empty for every one.
	MinSeverity string `json:"minSeverity"`
	// Status keeps alerts with this status: firing or resolved; empty for both.
	Status string `json:"status"`

	// Event filters; each empty one matches everything.
	SrcIP    string `json:"srcIp"`
	User     string `json:"user"`
	Host     string `json:"host"`
	Source   string `json:"source"`
	Category string `json:"category"`
	Outcome  string `json:"outcome"`
	// Text is searched for in the raw message, ignoring case.
	Text string `json:"text"`
	// GroupBy are the dimensions of eventCounts: any of source,
	// category, outcome. Default category and outcome.
	GroupBy []string `json:"groupBy"`

	// Forensic names a query of Vigil's forensic library.
	Forensic string `json:"forensic"`
	// Params are the forensic query's parameters, as `vigil query` takes them.
	Params map[string]string `json:"params"`

	// RawSQL is the SQL of a sql query, with macros.
	RawSQL string `json:"rawSql"`
	// Format of a sql query's result: table (default) or time_series (long
	// rows with a time column become one series per string column value).
	Format string `json:"format"`

	// Limit is the most rows (or entities, alerts, incidents) returned.
	// Default per query type.
	Limit int `json:"limit"`
}

// Limits on what a query may ask for.
const (
	maxFieldLen = 4096
	maxSQLLen   = 64 << 10
	maxLimit    = 100_000
)

// Entity fields an entity can be keyed by.
const (
	FieldSourceIP = "source.ip"
	FieldUser     = "user.name"
	FieldHost     = "host.name"
)

// Severities, lowest first.
var severities = []string{"info", "low", "medium", "high", "critical"}

var groupDims = []string{"source", "category", "outcome"}

// errBadQuery wraps every problem with a query's model: the user's to fix.
var errBadQuery = errors.New("bad query")

// parseQuery reads a query's JSON model and checks every field; every
// problem is reported, each naming its field.
func parseQuery(raw json.RawMessage) (Query, error) {
	var q Query
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &q); err != nil {
			return Query{}, fmt.Errorf("%w: %v", errBadQuery, err)
		}
	}
	return q, q.check()
}

func (q *Query) check() error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%w: %s: %s", errBadQuery, field, fmt.Sprintf(format, args...)))
	}
	for _, f := range []struct{ name, value string }{
		{"tenant", q.Tenant}, {"entity", q.Entity}, {"profile", q.Profile}, {"feature", q.Feature},
		{"user", q.User}, {"host", q.Host}, {"source", q.Source}, {"category", q.Category},
		{"outcome", q.Outcome}, {"text", q.Text}, {"forensic", q.Forensic},
	} {
		if len(f.value) > maxFieldLen {
			bad(f.name, "longer than %d bytes", maxFieldLen)
		}
	}
	if len(q.RawSQL) > maxSQLLen {
		bad("rawSql", "longer than %d bytes", maxSQLLen)
	}
	if q.Tenant != "" {
		if err := checkTenant(q.Tenant); err != nil {
			bad("tenant", "%v", err)
		}
	}
	if q.SrcIP != "" {
		a, err := netip.ParseAddr(q.SrcIP)
		if err != nil {
			bad("srcIp", "%.100q is not an IP address", q.SrcIP)
		} else {
			q.SrcIP = a.Unmap().String() // the form events store
		}
	}
	switch q.EntityField {
	case "", FieldSourceIP, FieldUser, FieldHost:
	default:
		bad("entityField", "%.100q is not %s, %s, %s or empty", q.EntityField, FieldSourceIP, FieldUser, FieldHost)
	}
	if q.EntityField == FieldSourceIP {
		if a, err := netip.ParseAddr(q.Entity); err == nil {
			q.Entity = a.Unmap().String()
		}
	}
	if q.Band == 0 {
		q.Band = 1
	}
	if q.Band < 0 || q.Band > 100 {
		bad("band", "%g is not from 0 to 100", q.Band)
	}
	if q.MinScore < 0 || q.MinScore > 1 {
		bad("minScore", "%g is not from 0 to 1", q.MinScore)
	}
	if q.MinSeverity != "" && !slices.Contains(severities, q.MinSeverity) {
		bad("minSeverity", "%.100q is not one of %s", q.MinSeverity, strings.Join(severities, ", "))
	}
	switch q.Status {
	case "", "firing", "resolved":
	default:
		bad("status", "%.100q is not firing, resolved or empty", q.Status)
	}
	if len(q.GroupBy) == 0 {
		q.GroupBy = []string{"category", "outcome"}
	}
	for _, d := range q.GroupBy {
		if !slices.Contains(groupDims, d) {
			bad("groupBy", "%.100q is not one of %s", d, strings.Join(groupDims, ", "))
		}
	}
	switch q.Format {
	case "", "table", "time_series":
	default:
		bad("format", "%.100q is not table or time_series", q.Format)
	}
	for _, k := range slices.Sorted(maps.Keys(q.Params)) {
		if len(k) > 64 || len(q.Params[k]) > maxFieldLen {
			bad("params", "parameter %.64q: name longer than 64 or value longer than %d bytes", k, maxFieldLen)
		}
	}
	if q.Limit < 0 || q.Limit > maxLimit {
		bad("limit", "%d is not from 1 to %d", q.Limit, maxLimit)
	}
	return errors.Join(errs...)
}

// limitOr returns the query's limit, or def when it has none, bounded by max.
func (q Query) limitOr(def, max int) int {
	if q.Limit == 0 {
		return min(def, max)
	}
	return min(q.Limit, max)
}

// severityRank is the 1-based rank of the query's minimum severity, 0 for
// none: alerts whose severity ranks at least this are kept.
func (q Query) severityRank() int {
	return slices.Index(severities, q.MinSeverity) + 1
}
