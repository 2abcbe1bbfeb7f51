package grafanads_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/store"
	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

// newDS is a data source of the plugin, in process, on cfg's ClickHouse.
func newDS(t *testing.T, cfg config.ClickHouseConfig, uid, tenant string) *grafanads.Datasource {
	t.Helper()
	s := settingsFor(cfg, uid, tenant, nil)
	js, err := json.Marshal(s.jsonData)
	require.NoError(t, err)
	d := grafanads.New(backend.DataSourceInstanceSettings{UID: uid, JSONData: js}, log.DefaultLogger, nil)
	t.Cleanup(d.Dispose)
	return d
}

// ask runs one query in process, over the golden window.
func ask(t *testing.T, d *grafanads.Datasource, queryType string, model map[string]any) backend.DataResponse {
	t.Helper()
	js, err := json.Marshal(model)
	require.NoError(t, err)
	res, err := d.QueryData(context.Background(), &backend.QueryDataRequest{Queries: []backend.DataQuery{{
		RefID: "A", QueryType: queryType, JSON: js, Interval: time.Minute, MaxDataPoints: 1000,
		TimeRange: backend.TimeRange{From: t0.Add(-time.Hour), To: t0.Add(time.Hour)},
	}}})
	require.NoError(t, err)
	return res.Responses["A"]
}

// strings returns every string value of the frames, labels included.
func frameStrings(frames data.Frames) []string {
	var out []string
	for _, f := range frames {
		for _, fd := range f.Fields {
			for _, v := range fd.Labels {
				out = append(out, v)
			}
			for i := 0; i < fd.Len(); i++ {
				if s, ok := fd.At(i).(string); ok {
					out = append(out, s)
				}
			}
		}
	}
	return out
}

func rowCount(frames data.Frames) int {
	n := 0
	for _, f := range frames {
		if len(f.Fields) > 0 {
			n += f.Fields[0].Len()
		}
	}
	return n
}

// hostileValues are typed into query fields: quotes, comments,
// semicolons, UNION, bind markers, macros, another tenant's name, and
// strings at and over the length limit.
var hostileValues = []string{
	`x' OR '1'='1`,
	`'; DROP TABLE events; --`,
	`') UNION ALL SELECT * FROM events --`,
	`/* */ UNION ALL SELECT tenant FROM events WHERE tenant = 'globex' --`,
	`\' OR 1=1 -- `,
	`" OR ""="`,
	"` OR 1 --",
	`$__events`,
	`@tenant`,
	`?`,
	`{tenant:String}`,
	`globex`,
	`acme' OR tenant = 'globex`,
	"\x00\n\r\t;",
	hostile.user, hostile.host, hostile.category, hostile.outcome, hostile.message,
	strings.Repeat("A", 4096),
	strings.Repeat("'", 4097),
}

// fieldsOf are the text fields each query type reads.
var fieldsOf = map[string][]string{
	grafanads.TypeTimeline:      {"entity", "entityField", "profile", "feature"},
	grafanads.TypeTopEntities:   {"profile", "entityField"},
	grafanads.TypeAlertFeed:     {"entity", "entityField", "profile", "minSeverity", "status"},
	grafanads.TypeAlertRate:     {"entity", "profile", "minSeverity", "status"},
	grafanads.TypeOpenIncidents: {"entity", "profile", "minSeverity"},
	grafanads.TypeAlertStream:   {"entity", "profile", "status"},
	grafanads.TypeEventSearch:   {"srcIp", "user", "host", "source", "category", "outcome", "text", "entity", "entityField"},
	grafanads.TypeEventCounts:   {"source", "category", "outcome", "groupBy"},
	grafanads.TypeEntities:      {"profile", "entityField"},
	grafanads.TypeTenants:       {"tenant"},
	grafanads.TypeForensic:      {"forensic", "params.ip", "params.user", "params.alert", "params.by", "params.tenant"},
	grafanads.TypeSQL:           {"rawSql"},
}

// forensicFor is the forensic query a parameter is typed into.
var forensicFor = map[string]string{"params.user": "user-logins", "params.alert": "alert-events", "params.by": "top-talkers",
	"params.tenant": "first-seen"}

// baseModel is a query of each type that finds rows in acme's history.
func baseModel(queryType string) map[string]any {
	switch queryType {
	case grafanads.TypeTimeline:
		return map[string]any{"entity": attacker}
	case grafanads.TypeForensic:
		return map[string]any{"forensic": "ip-activity", "params": map[string]string{"ip": attacker}}
	case grafanads.TypeSQL:
		return map[string]any{"rawSql": "SELECT tenant, src_ip, user, host FROM $__events_all"}
	}
	return map[string]any{}
}

// TestHostileInput types hostile text into every field of every query
// type on a data source pinned to acme. Each answer is either refused as
// the user's error or is a subset of what the query finds without it, and
// never holds another tenant's rows; the stored history is unchanged.
func TestHostileInput(t *testing.T) {
	cfg := seed(t)
	d := newDS(t, cfg, "hostile", "acme")
	before := tableCounts(t, cfg)
	answered := map[string]int{}
	for _, qt := range grafanads.QueryTypes {
		base := ask(t, d, qt, baseModel(qt))
		require.NoError(t, base.Error, qt)
		baseRows := rowCount(base.Frames)
		for _, field := range fieldsOf[qt] {
			for _, v := range hostileValues {
				model := baseModel(qt)
				if forensicFor[field] != "" {
					model["forensic"] = forensicFor[field]
					model["params"] = map[string]string{}
				}
				if name, ok := strings.CutPrefix(field, "params."); ok {
					params := map[string]string{}
					if p, ok := model["params"].(map[string]string); ok {
						for k, x := range p {
							params[k] = x
						}
					}
					params[name] = v
					model["params"] = params
				} else if field == "groupBy" {
					model[field] = []string{v}
				} else {
					model[field] = v
				}
				r := ask(t, d, qt, model)
				what := fmt.Sprintf("%s.%s = %.60q", qt, field, v)
				if r.Error != nil {
					require.Equal(t, backend.StatusBadRequest, r.Status, "%s: %v", what, r.Error)
					require.Equal(t, backend.ErrorSourceDownstream, r.ErrorSource, what)
					continue
				}
				answered[qt]++
				for _, s := range frameStrings(r.Frames) {
					require.NotContains(t, s, "globex", "%s: another tenant's row", what)
				}
				if qt != grafanads.TypeSQL && qt != grafanads.TypeTenants && qt != grafanads.TypeAlertRate &&
					qt != grafanads.TypeEventCounts {
					require.LessOrEqual(t, rowCount(r.Frames), baseRows, "%s: a filter can only narrow", what)
				}
			}
		}
	}
	for _, qt := range grafanads.QueryTypes {
		if qt != grafanads.TypeSQL && qt != grafanads.TypeTenants {
			require.NotZero(t, answered[qt], "%s ran with some hostile values (not every one refused)", qt)
		}
	}
	require.Equal(t, before, tableCounts(t, cfg), "the stored history is unchanged")
}

// TestHostileValuesAreLiterals: a filter set to a hostile value stored in
// both tenants' events finds acme's event, exactly, and nothing else: the
// value is compared as text, never read as SQL.
func TestHostileValuesAreLiterals(t *testing.T) {
	cfg := seed(t)
	pinned := newDS(t, cfg, "literal-pinned", "acme")
	open := newDS(t, cfg, "literal-open", "")
	for field, v := range map[string]string{"user": hostile.user, "host": hostile.host, "category": hostile.category,
		"outcome": hostile.outcome, "text": hostile.message, "entity": hostile.user} {
		for _, d := range []*grafanads.Datasource{pinned, open} {
			model := map[string]any{field: v, "tenant": "acme"}
			r := ask(t, d, grafanads.TypeEventSearch, model)
			require.NoError(t, r.Error, field)
			require.Equal(t, 1, rowCount(r.Frames), field)
			id, _ := r.Frames[0].FieldByName("id")
			require.Equal(t, "acme-hostile", id.At(0), field)
		}
		// A data source that is not pinned reads the tenant the query names, as a value.
		r := ask(t, open, grafanads.TypeEventSearch, map[string]any{field: v, "tenant": "globex"})
		require.NoError(t, r.Error)
		require.Equal(t, 1, rowCount(r.Frames), field)
		for _, tenant := range []string{`acme' OR '1'='1`, `globex' OR tenant = 'acme`, `acme%`} {
			r = ask(t, open, grafanads.TypeEventSearch, map[string]any{field: v, "tenant": tenant})
			require.NoError(t, r.Error)
			require.Zero(t, rowCount(r.Frames), "tenant %q is a name, not SQL", tenant)
		}
	}
	// A pinned data source refuses any other tenant, whatever the query type.
	for _, qt := range grafanads.QueryTypes {
		model := baseModel(qt)
		model["tenant"] = "globex"
		r := ask(t, pinned, qt, model)
		require.Error(t, r.Error, qt)
		require.Equal(t, backend.StatusBadRequest, r.Status, qt)
		require.Contains(t, r.Error.Error(), `pinned to tenant "acme"`)
	}
}

// TestHostileRawSQL runs SQL on a data source pinned to acme: what tries
// to reach other tables or tenants is refused before it reaches
// ClickHouse; what reads through the macros sees acme's rows only.
func TestHostileRawSQL(t *testing.T) {
	cfg := seed(t)
	d := newDS(t, cfg, "raw-pinned", "acme")
	for _, sql := range []string{
		"SELECT DISTINCT tenant FROM events",
		"SELECT DISTINCT tenant FROM " + cfg.Database + ".events",
		"SELECT tenant FROM $__events UNION ALL SELECT tenant FROM events",
		"SELECT tenant FROM $__events WHERE 1 /* /* */ UNION ALL SELECT tenant FROM events */",
		"SELECT tenant FROM $__events -- \r UNION ALL SELECT tenant FROM events",
		"SELECT tenant FROM $__events; SELECT tenant FROM events",
		"SELECT tenant FROM $__events AS e, remote('127.0.0.1', '" + cfg.Database + "', 'events')",
		"SELECT tenant FROM merge(currentDatabase(), '^events$')",
		"SELECT name FROM system.tables",
		"SELECT query FROM system.processes",
		"SELECT tenant FROM $__events WHERE src_ip IN " + cfg.Database + ".events",
		"SELECT hasColumnInTable(currentDatabase(), 'events', 'tenant')",
		"SELECT count() AS alerts FROM $__alerts",
		"INSERT INTO events (id) SELECT 'x'",
		"SELECT tenant FROM $__events SETTINGS max_threads = 1",
		"SELECT tenant FROM `" + cfg.Database + "`.`events`",
	} {
		r := ask(t, d, grafanads.TypeSQL, map[string]any{"rawSql": sql})
		require.Error(t, r.Error, sql)
		require.Equal(t, backend.StatusBadRequest, r.Status, sql)
		require.Contains(t, r.Error.Error(), "bad SQL", sql)
	}
	for _, sql := range []string{
		"SELECT DISTINCT tenant FROM $__events_all",
		"SELECT tenant FROM $__events WHERE 1 = 1 OR tenant != ''",
		"SELECT tenant FROM $__events_all WHERE tenant = 'globex' OR 1",
		"SELECT a.tenant FROM $__alerts_all AS a JOIN $__scores_all AS s ON a.entity = s.entity",
		"SELECT tenant FROM (SELECT * FROM $__events_all) WHERE user = 'x'' OR ''1''=''1' OR 1",
		"SELECT tenant FROM $__events_per_minute_all UNION ALL SELECT tenant FROM $__failed_auth_per_minute_all",
		"SELECT $__tenant AS tenant",
	} {
		r := ask(t, d, grafanads.TypeSQL, map[string]any{"rawSql": sql})
		require.NoError(t, r.Error, sql)
		require.NotZero(t, rowCount(r.Frames), sql)
		tenants, _ := r.Frames[0].FieldByName("tenant")
		for i := 0; i < tenants.Len(); i++ {
			require.Equal(t, "acme", tenants.At(i), sql)
		}
	}
	// ClickHouse's own refusal of the user's SQL is the user's error too.
	r := ask(t, d, grafanads.TypeSQL, map[string]any{"rawSql": "SELECT no_such_column FROM $__events"})
	require.Error(t, r.Error)
	require.Equal(t, backend.StatusBadRequest, r.Status)
	require.Equal(t, backend.ErrorSourceDownstream, r.ErrorSource)
}

// tableCounts counts every table's rows, per tenant.
func tableCounts(t *testing.T, cfg config.ClickHouseConfig) map[string]uint64 {
	t.Helper()
	conn, err := store.Open(cfg)
	require.NoError(t, err)
	defer conn.Close()
	out := map[string]uint64{}
	for _, table := range []string{"events", "scores", "alerts", "events_per_minute", "failed_auth_per_minute"} {
		rows, err := conn.Query(context.Background(), "SELECT tenant, count() FROM "+table+" GROUP BY tenant")
		require.NoError(t, err)
		for rows.Next() {
			var tenant string
			var n uint64
			require.NoError(t, rows.Scan(&tenant, &n))
			out[table+"/"+tenant] = n
		}
		require.NoError(t, rows.Err())
		rows.Close()
	}
	require.NotEmpty(t, out)
	return out
}
