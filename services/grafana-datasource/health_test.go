package grafanads_test

import (
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/genproto/pluginv2"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// TestCheckHealth asks the plugin process for its health as Grafana's
// "Save & test" does, with ClickHouse and Kafka up, down or misconfigured.
func TestCheckHealth(t *testing.T) {
	cfg := testkit.ClickHouse(t)
	k := testkit.Broker(t)
	testkit.Topics(t, k, "vigil.alerts")
	noTopic := testkit.Broker(t)
	h := startPlugin(t)

	down := cfg
	down.Addr = []string{testkit.FreeAddr(t)}
	noDatabase := cfg
	noDatabase.Database = "vigil_no_such_database"
	noTables := cfg
	noTables.Database = cfg.Database + "_empty"
	testkit.DropAtEnd(t, noTables)
	conn, err := store.Open(cfg)
	require.NoError(t, err)
	require.NoError(t, conn.Exec(ctxT(t, time.Minute), "CREATE DATABASE "+noTables.Database))
	conn.Close()
	downSettings := settingsFor(down, "h3", "", nil)
	downSettings.secure = map[string]string{"password": "s3cr3t-pw"}
	kafkaDown := k
	kafkaDown.Brokers = []string{testkit.FreeAddr(t)}

	tests := []struct {
		name     string
		settings dsSettings
		ok       bool
		contains []string
	}{
		{"all up", settingsFor(cfg, "h1", "", &k), true,
			[]string{"ClickHouse: 18.", "database " + cfg.Database + " has Vigil's tables", "Kafka: at " + k.Brokers[0],
				"topic vigil.alerts has 6 partition(s)"}},
		{"pinned, no Kafka", settingsFor(cfg, "h2", "acme", nil), true,
			[]string{"Kafka: no brokers configured", `pinned to tenant "acme"`}},
		{"ClickHouse down", downSettings, false,
			[]string{"ClickHouse: not reachable at " + down.Addr[0] + " as default"}},
		{"no database", settingsFor(noDatabase, "h4", "", nil), false,
			[]string{"ClickHouse: at " + cfg.Addr[0] + ": no database vigil_no_such_database (run `vigil migrate`)"}},
		{"no tables", settingsFor(noTables, "h9", "", nil), false,
			[]string{"database " + noTables.Database + " lacks events, scores, alerts, events_per_minute (run `vigil migrate`)"}},
		{"Kafka down", settingsFor(cfg, "h5", "", &kafkaDown), false,
			[]string{"has Vigil's tables", "Kafka: not reachable at " + kafkaDown.Brokers[0]}},
		{"no alerts topic", settingsFor(cfg, "h6", "", &noTopic), false,
			[]string{"Kafka: at " + noTopic.Brokers[0] + ": no topic vigil.alerts"}},
		{"bad settings", dsSettings{uid: "h7", jsonData: map[string]any{"addr": "nohostport", "database": "a-b",
			"queryTimeout": "soon", "tenant": "bad\x00tenant", "clickhouse": "typo"}}, false,
			[]string{`unknown field "clickhouse"`}},
		{"bad values", dsSettings{uid: "h8", jsonData: map[string]any{"addr": "nohostport", "database": "a-b",
			"queryTimeout": "soon", "tenant": "bad\x00tenant", "maxRows": -1, "kafkaSaslMechanism": "MD5"}}, false,
			[]string{`addr: "nohostport" is not host:port`, `database: "a-b" is not a ClickHouse database name`,
				`queryTimeout: "soon" is not a positive duration`, "tenant: ", "does not print",
				"maxRows: -1 is not from 1 to 1000000", `kafkaSaslMechanism: "MD5"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.diagnostics.CheckHealth(ctxT(t, time.Minute), &pluginv2.CheckHealthRequest{
				PluginContext: tt.settings.pluginContext(t)})
			require.NoError(t, err)
			want := pluginv2.CheckHealthResponse_OK
			if !tt.ok {
				want = pluginv2.CheckHealthResponse_ERROR
			}
			require.Equal(t, want, res.Status, res.Message)
			for _, c := range tt.contains {
				require.Contains(t, res.Message, c)
			}
			require.NotContains(t, res.Message, "s3cr3t-pw")
			require.NotContains(t, string(res.JsonDetails), "s3cr3t-pw")
		})
	}
}
