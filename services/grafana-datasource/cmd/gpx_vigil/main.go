// Command gpx_vigil is Vigil's Grafana data source backend. Grafana starts
// it (plugin.json: "executable": "gpx_vigil") and talks to it over gRPC.
package main

import (
	"os"

	"github.com/grafana/grafana-plugin-sdk-go/backend/datasource"
	"github.com/grafana/grafana-plugin-sdk-go/backend/log"
	"github.com/prometheus/client_golang/prometheus"

	grafanads "github.com/vigil-soc/vigil/services/grafana-datasource"
)

func main() {
	// The SDK serves the default registry to Grafana (CollectMetrics).
	m := grafanads.NewMetrics(prometheus.DefaultRegisterer)
	if err := datasource.Manage(grafanads.PluginID, grafanads.NewFactory(log.DefaultLogger, m), datasource.ManageOpts{}); err != nil {
		log.DefaultLogger.Error("serve", "error", err.Error())
		os.Exit(1)
	}
}
