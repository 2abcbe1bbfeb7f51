package grafanads

import (
	"errors"
	"slices"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the plugin's Prometheus metrics; Grafana serves them at
// /api/plugins/vigilsoc-vigil-datasource/metrics. A nil *Metrics counts
// nothing.
type Metrics struct {
	queries       *prometheus.CounterVec
	querySeconds  *prometheus.HistogramVec
	streamAlerts  prometheus.Counter
	streamInvalid prometheus.Counter
}

// NewMetrics registers the metrics with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_grafana_queries_total",
			Help: "Queries run, by query type and result (ok, user_error, server_error, plugin_error).",
		}, []string{"type", "result"}),
		querySeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_grafana_query_seconds",
			Help:    "Time to answer a query, by query type.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}, []string{"type"}),
		streamAlerts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_grafana_stream_alerts_total",
			Help: "Alerts pushed to Grafana Live streams.",
		}),
		streamInvalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_grafana_stream_invalid_messages_total",
			Help: "Messages on the alerts topic that are not alerts, skipped by the live stream.",
		}),
	}
	reg.MustRegister(m.queries, m.querySeconds, m.streamAlerts, m.streamInvalid)
	return m
}

func (m *Metrics) observeQuery(queryType string, err error, took time.Duration) {
	if m == nil {
		return
	}
	if !slices.Contains(QueryTypes, queryType) {
		queryType = "unknown"
	}
	result := "ok"
	if err != nil {
		status, source := classify(queryType, err)
		switch {
		case source == backend.ErrorSourcePlugin:
			result = "plugin_error"
		case status == backend.StatusBadRequest || errors.Is(err, errTenant):
			result = "user_error"
		default:
			result = "server_error"
		}
	}
	m.queries.WithLabelValues(queryType, result).Inc()
	m.querySeconds.WithLabelValues(queryType).Observe(took.Seconds())
}

func (m *Metrics) alertSent() {
	if m != nil {
		m.streamAlerts.Inc()
	}
}

func (m *Metrics) invalidMessage() {
	if m != nil {
		m.streamInvalid.Inc()
	}
}
