package grafanads_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// settingsFor are the settings of a data source on cfg's ClickHouse,
// pinned to tenant when it is not empty.
func settingsFor(cfg config.ClickHouseConfig, uid, tenant string, kafka *config.KafkaConfig) dsSettings {
	js := map[string]any{"addr": strings.Join(cfg.Addr, ","), "database": cfg.Database, "tenant": tenant,
		"queryTimeout": "60s"}
	if kafka != nil {
		js["kafkaBrokers"] = strings.Join(kafka.Brokers, ",")
	}
	return dsSettings{uid: uid, jsonData: js, secure: map[string]string{"password": ""}}
}

// window is the range the golden queries ask for: an hour either side of t0.
var window = &pluginv2.TimeRange{FromEpochMS: t0.Add(-time.Hour).UnixMilli(), ToEpochMS: t0.Add(time.Hour).UnixMilli()}

func dataQuery(t testing.TB, refID, queryType string, model map[string]any) *pluginv2.DataQuery {
	t.Helper()
	m := map[string]any{"refId": refID, "queryType": queryType, "datasource": map[string]string{"type": grafanads.PluginID}}
	for k, v := range model {
		m[k] = v
	}
	js, err := json.Marshal(m)
	require.NoError(t, err)
	return &pluginv2.DataQuery{RefId: refID, QueryType: queryType, Json: js, TimeRange: window,
		IntervalMS: 60_000, MaxDataPoints: 1000}
}

// goldenCase is one query whose response is kept in testdata/golden.
type goldenCase struct {
	name, queryType string
	model           map[string]any
}

// goldenCases cover every query type on a data source pinned to acme.
func goldenCases() []goldenCase {
	return []goldenCase{
		{"timeline", grafanads.TypeTimeline, map[string]any{"entity": attacker, "entityField": "source.ip"}},
		{"timeline_band2", grafanads.TypeTimeline, map[string]any{"entity": office, "band": 2}},
		{"timeline_unknown_entity", grafanads.TypeTimeline, map[string]any{"entity": "203.0.113.250"}},
		{"top_entities", grafanads.TypeTopEntities, map[string]any{}},
		{"top_entities_min_score", grafanads.TypeTopEntities, map[string]any{"minScore": 0.98, "entityField": "source.ip"}},
		{"alert_feed", grafanads.TypeAlertFeed, map[string]any{}},
		{"alert_feed_entity_high", grafanads.TypeAlertFeed, map[string]any{"entity": attacker, "minSeverity": "high"}},
		{"alert_rate_firing", grafanads.TypeAlertRate, map[string]any{"status": "firing"}},
		{"open_incidents", grafanads.TypeOpenIncidents, map[string]any{}},
		{"alert_stream", grafanads.TypeAlertStream, map[string]any{"limit": 3}},
		{"event_search_ip", grafanads.TypeEventSearch, map[string]any{"srcIp": attacker, "limit": 5}},
		{"event_search_filters", grafanads.TypeEventSearch, map[string]any{"category": "authentication", "outcome": "success"}},
		{"event_search_text", grafanads.TypeEventSearch, map[string]any{"text": "ACCEPTED"}},
		{"event_search_entity_user", grafanads.TypeEventSearch, map[string]any{"entity": "alice", "entityField": "user.name"}},
		{"event_search_user_host", grafanads.TypeEventSearch, map[string]any{"user": "alice", "host": "web1"}},
		{"event_counts", grafanads.TypeEventCounts, map[string]any{}},
		{"event_counts_failed_logins", grafanads.TypeEventCounts,
			map[string]any{"category": "authentication", "outcome": "failure", "groupBy": []string{"source"}}},
		{"forensic_ip_activity", grafanads.TypeForensic, map[string]any{"forensic": "ip-activity", "params": map[string]string{"ip": office}}},
		{"forensic_user_logins", grafanads.TypeForensic, map[string]any{"forensic": "user-logins", "params": map[string]string{"user": "alice"}}},
		{"forensic_first_seen", grafanads.TypeForensic, map[string]any{"forensic": "first-seen"}},
		{"forensic_top_talkers", grafanads.TypeForensic, map[string]any{"forensic": "top-talkers"}},
		{"forensic_failed_then_success", grafanads.TypeForensic, map[string]any{"forensic": "failed-then-success"}},
		{"forensic_alert_events", grafanads.TypeForensic,
			map[string]any{"forensic": "alert-events", "params": map[string]string{"alert": firstAlertID()}}},
		{"sql_table", grafanads.TypeSQL, map[string]any{"rawSql": "SELECT src_ip, count() AS n FROM $__events " +
			"WHERE $__timeFilter(timestamp) GROUP BY src_ip ORDER BY n DESC, src_ip"}},
		{"sql_time_series", grafanads.TypeSQL, map[string]any{"format": "time_series", "rawSql": "SELECT " +
			"$__timeInterval(timestamp) AS time, outcome, count() AS n FROM $__events " +
			"WHERE category = 'authentication' GROUP BY time, outcome ORDER BY time, outcome"}},
		{"sql_macros", grafanads.TypeSQL, map[string]any{"rawSql": "SELECT $__tenant AS tenant, $__fromTime AS from_time, " +
			"$__toTime AS to_time, $__interval_s AS interval_s, (SELECT count() FROM $__alerts_all) AS alert_count"}},
		{"tenants", grafanads.TypeTenants, map[string]any{}},
		{"entities", grafanads.TypeEntities, map[string]any{}},
	}
}

// TestQueryDataGolden runs every query type through the plugin process on
// a data source pinned to acme and compares each response with its golden
// file (go test -run TestQueryDataGolden -update rewrites them).
func TestQueryDataGolden(t *testing.T) {
	cfg := seed(t)
	h := startPlugin(t)
	pc := settingsFor(cfg, "vigil-acme", "acme", nil).pluginContext(t)
	covered := map[string]bool{}
	for _, c := range goldenCases() {
		t.Run(c.name, func(t *testing.T) {
			covered[c.queryType] = true
			res, err := h.data.QueryData(ctxT(t, time.Minute), &pluginv2.QueryDataRequest{
				PluginContext: pc, Queries: []*pluginv2.DataQuery{dataQuery(t, "A", c.queryType, c.model)}})
			require.NoError(t, err)
			r := res.Responses["A"]
			require.NotNil(t, r)
			require.Empty(t, r.Error)
			// The test's database has a random name: the goldens say <database>.
			got := bytes.ReplaceAll(responseJSON(t, r), []byte(cfg.Database), []byte("<database>"))
			golden(t, filepath.Join("testdata", "golden", c.name+".json"), got)
		})
	}
	for _, qt := range grafanads.QueryTypes {
		require.True(t, covered[qt], "query type %s has a golden case", qt)
	}
}

// responseJSON is a response as its golden file keeps it: the frames as
// JSON (schema and values), the error and its source.
func responseJSON(t testing.TB, r *pluginv2.DataResponse) []byte {
	t.Helper()
	frames, err := data.UnmarshalArrowFrames(r.Frames)
	require.NoError(t, err)
	out := struct {
		Status      int32         `json:"status,omitempty"`
		Error       string        `json:"error,omitempty"`
		ErrorSource string        `json:"errorSource,omitempty"`
		Frames      []*data.Frame `json:"frames"`
	}{r.Status, r.Error, r.ErrorSource, frames}
	b, err := json.MarshalIndent(out, "", "  ")
	require.NoError(t, err)
	return append(b, '\n')
}

func golden(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "no golden file: go test -run %s -update", t.Name())
	if !bytes.Equal(want, got) {
		require.JSONEq(t, string(want), string(got), "%s differs (go test -update rewrites it)", path)
		require.Equal(t, string(want), string(got), "%s differs (go test -update rewrites it)", path)
	}
}
