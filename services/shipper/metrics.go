package shipper

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// metrics are the shipper's Prometheus metrics. Per-source counters carry
// an "input" label: "files[N]" for the Nth file input.
type metrics struct {
	lines, bytes, truncated, appended, published, parseErrors, readErrors *prometheus.CounterVec
	publishRetries                                                        prometheus.Counter
	files                                                                 prometheus.Gauge
	reg                                                                   prometheus.Registerer
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"input"})
	}
	m := &metrics{
		lines:       counter("vigil_shipper_lines_read_total", "Lines read, by input."),
		bytes:       counter("vigil_shipper_bytes_read_total", "Bytes read, by input."),
		truncated:   counter("vigil_shipper_lines_truncated_total", "Lines cut at shipper.max_line_bytes, by input."),
		appended:    counter("vigil_shipper_events_spooled_total", "Events handed to the spool, by input."),
		published:   counter("vigil_shipper_events_published_total", "Events acknowledged by Kafka, by input."),
		parseErrors: counter("vigil_shipper_parse_errors_total", "Lines kept as raw events because no parser understood them, by input."),
		readErrors:  counter("vigil_shipper_read_errors_total", "Failed globs, stats, opens or reads, by input."),
		publishRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_shipper_publish_retries_total", Help: "Batches retried because Kafka did not acknowledge them.",
		}),
		files: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_shipper_files", Help: "Files being followed."}),
		reg:   reg,
	}
	if reg != nil {
		reg.MustRegister(m.lines, m.bytes, m.truncated, m.appended, m.published, m.parseErrors, m.readErrors, m.publishRetries, m.files)
	}
	return m
}

// watchSpool registers gauges that read the spool's state when scraped.
func (m *metrics) watchSpool(sp *spool.Spool) {
	if m.reg == nil {
		return
	}
	gauge := func(name, help string, f func(spool.Stats) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(sp.Stats()) })
	}
	m.reg.MustRegister(
		gauge("vigil_shipper_spool_bytes", "Bytes of events read and not yet acknowledged by Kafka.",
			func(s spool.Stats) float64 { return float64(s.Bytes) }),
		gauge("vigil_shipper_spool_batches", "Batches read and not yet acknowledged by Kafka.",
			func(s spool.Stats) float64 { return float64(s.Batches) }),
		gauge("vigil_shipper_spool_memory_bytes", "Bytes of the spool held in memory.",
			func(s spool.Stats) float64 { return float64(s.MemoryBytes) }),
		gauge("vigil_shipper_spool_disk_bytes", "Size of the spool's files on disk.",
			func(s spool.Stats) float64 { return float64(s.DiskBytes) }),
		gauge("vigil_shipper_oldest_unacknowledged_seconds", "Age of the oldest batch Kafka has not acknowledged; 0 when none.",
			func(s spool.Stats) float64 {
				if s.Oldest.IsZero() {
					return 0
				}
				return time.Since(s.Oldest).Seconds()
			}),
	)
}
