package grafanads_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/grafana/grafana-plugin-sdk-go/data"
	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/stretchr/testify/require"

	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

// TestAlertRuleQueries runs queries the way Grafana's alerting runs a
// rule's queries: from the backend, with the model as saved in the rule
// (no frontend, no dashboard variables), the FromAlert header set and a
// range relative to the evaluation. Each answers with numeric time
// series, which alerting reduces and compares.
func TestAlertRuleQueries(t *testing.T) {
	cfg := seed(t)
	h := startPlugin(t)
	pc := settingsFor(cfg, "rules", "acme", nil).pluginContext(t)
	tests := []struct {
		name, queryType string
		model           map[string]any
		// peak is the highest value of the series named by label.
		label string
		peak  float64
	}{
		{"failed logins a minute", grafanads.TypeEventCounts,
			map[string]any{"category": "authentication", "outcome": "failure", "groupBy": []string{"source"}}, "sshd", 4},
		{"an entity's anomaly score", grafanads.TypeTimeline, map[string]any{"entity": attacker}, "anomaly_score", 0.999},
		{"high alerts a minute", grafanads.TypeAlertRate, map[string]any{"minSeverity": "high", "status": "firing"}, "high", 1},
		{"SQL as time series", grafanads.TypeSQL, map[string]any{"format": "time_series", "rawSql": "SELECT " +
			"$__timeInterval(timestamp) AS time, host, count() AS n FROM $__events GROUP BY time, host ORDER BY time"},
			"bastion", 3},
	}
	evaluation := t0.Add(15 * time.Minute)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := map[string]any{"refId": "A", "queryType": tt.queryType, "intervalMs": 60000, "maxDataPoints": 43200,
				"datasource": map[string]string{"type": grafanads.PluginID, "uid": "rules"}}
			for k, v := range tt.model {
				model[k] = v
			}
			js, err := json.Marshal(model)
			require.NoError(t, err)
			res, err := h.data.QueryData(ctxT(t, time.Minute), &pluginv2.QueryDataRequest{
				PluginContext: pc,
				Headers:       map[string]string{"FromAlert": "true"},
				Queries: []*pluginv2.DataQuery{{RefId: "A", QueryType: tt.queryType, Json: js, IntervalMS: 60000,
					MaxDataPoints: 43200, TimeRange: &pluginv2.TimeRange{
						FromEpochMS: evaluation.Add(-20 * time.Minute).UnixMilli(), ToEpochMS: evaluation.UnixMilli()}}},
			})
			require.NoError(t, err)
			r := res.Responses["A"]
			require.Empty(t, r.Error)
			frames, err := data.UnmarshalArrowFrames(r.Frames)
			require.NoError(t, err)
			require.NotEmpty(t, frames)
			peak := -1.0
			for _, f := range frames {
				require.NotEqual(t, data.TimeSeriesTypeNot, f.TimeSeriesSchema().Type, "frame %s is a time series", f.Name)
				for _, fd := range f.Fields[1:] {
					require.True(t, fd.Type().Numeric(), "field %s is numeric", fd.Name)
					if fd.Name != tt.label && !hasLabelValue(fd, tt.label) {
						continue
					}
					for i := 0; i < fd.Len(); i++ {
						v, err := fd.FloatAt(i)
						require.NoError(t, err)
						peak = max(peak, v)
					}
				}
			}
			require.Equal(t, tt.peak, peak)
		})
	}
}

func hasLabelValue(f *data.Field, v string) bool {
	for _, x := range f.Labels {
		if x == v {
			return true
		}
	}
	return false
}

// TestErrorSources: each failed query says whose fault it is, as Grafana
// shows it: the user's (a bad query, 400) or the server's (ClickHouse
// down, 502), both downstream of the plugin.
func TestErrorSources(t *testing.T) {
	cfg := seed(t)
	h := startPlugin(t)
	down := cfg
	down.Addr = []string{"127.0.0.1:1"}
	tests := []struct {
		name      string
		pc        *pluginv2.PluginContext
		queryType string
		model     map[string]any
		status    backend.Status
		contains  string
	}{
		{"unknown query type", settingsFor(cfg, "e1", "acme", nil).pluginContext(t), "everything", nil,
			backend.StatusBadRequest, `queryType: "everything" is not one of`},
		{"another tenant", settingsFor(cfg, "e1", "acme", nil).pluginContext(t), grafanads.TypeAlertFeed,
			map[string]any{"tenant": "globex"}, backend.StatusBadRequest, `pinned to tenant "acme"`},
		{"bad field", settingsFor(cfg, "e1", "acme", nil).pluginContext(t), grafanads.TypeEventSearch,
			map[string]any{"srcIp": "not-an-ip", "minSeverity": "urgent"}, backend.StatusBadRequest, `srcIp: "not-an-ip" is not an IP address`},
		{"missing entity", settingsFor(cfg, "e1", "acme", nil).pluginContext(t), grafanads.TypeTimeline,
			nil, backend.StatusBadRequest, "entity: required"},
		{"forensic parameter", settingsFor(cfg, "e1", "acme", nil).pluginContext(t), grafanads.TypeForensic,
			map[string]any{"forensic": "ip-activity"}, backend.StatusBadRequest, "ip: required"},
		{"SQL ClickHouse refuses", settingsFor(cfg, "e1", "acme", nil).pluginContext(t), grafanads.TypeSQL,
			map[string]any{"rawSql": "SELECT nope FROM $__events"}, backend.StatusBadRequest, "nope"},
		{"ClickHouse down", settingsFor(down, "e2", "acme", nil).pluginContext(t), grafanads.TypeAlertFeed,
			nil, backend.StatusBadGateway, "127.0.0.1:1"},
		{"bad settings", dsSettings{uid: "e3", jsonData: map[string]any{"addr": "x"}}.pluginContext(t),
			grafanads.TypeAlertFeed, nil, backend.StatusBadRequest, `data source settings: addr: "x" is not host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.data.QueryData(ctxT(t, time.Minute), &pluginv2.QueryDataRequest{PluginContext: tt.pc,
				Queries: []*pluginv2.DataQuery{dataQuery(t, "A", tt.queryType, tt.model)}})
			require.NoError(t, err)
			r := res.Responses["A"]
			require.Contains(t, r.Error, tt.contains)
			require.Equal(t, int32(tt.status), r.Status)
			require.Equal(t, string(backend.ErrorSourceDownstream), r.ErrorSource)
		})
	}
}
