package processor

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/pkg/detect"
)

type metrics struct {
	// results counts events by what the engine did with them.
	results           map[detect.Result]prometheus.Counter
	invalid           prometheus.Counter
	readEvents        prometheus.Counter // messages read from the events topic
	readForwarded     prometheus.Counter // forwarded events read from the repartition topic
	readProgress      prometheus.Counter // progress reports read from the repartition topic
	forwarded         prometheus.Counter
	scores            prometheus.Counter
	alerts            prometheus.Counter
	republished       prometheus.Counter
	lag               *prometheus.GaugeVec
	fetchErrors       prometheus.Counter
	restoreSeconds    prometheus.Histogram
	restoreFailures   prometheus.Counter
	checkpointSeconds prometheus.Histogram
	checkpointBytes   prometheus.Histogram
}

// resultNames label vigil_processor_events_total by what Observe did.
var resultNames = map[detect.Result]string{
	detect.Counted: "counted", detect.Ignored: "ignored", detect.Late: "late",
	detect.Future: "future", detect.Duplicate: "duplicate",
}

func newMetrics(reg prometheus.Registerer, profiles []string, p *Processor) *metrics {
	events := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_processor_events_total",
		Help: "Events read, by result: counted (by a profile of the task that read it), ignored (by every such profile), late (for every profile it matched), future (dated beyond the clock skew allowed), duplicate (an event id counted already), invalid (not an envelope).",
	}, []string{"result"})
	read := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "vigil_processor_messages_total",
		Help: "Messages read, by kind: events (from the events topic), forwarded (events from the repartition topic, each event of a bundle counted), progress (reports from the repartition topic).",
	}, []string{"kind"})
	m := &metrics{
		readEvents:    read.WithLabelValues("events"),
		readForwarded: read.WithLabelValues("forwarded"),
		readProgress:  read.WithLabelValues("progress"),
		results:       map[detect.Result]prometheus.Counter{},
		invalid:       events.WithLabelValues("invalid"),
		forwarded:     prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_forwarded_total", Help: "Events forwarded to the repartition topic, once per re-keyed stage that wants them."}),
		scores:        prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_scores_total", Help: "Scores published."}),
		alerts:        prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_alerts_total", Help: "Alerts published."}),
		republished: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_alerts_not_republished_total",
			Help: "Alerts raised again while reading from a checkpoint and not published: they were before the partition changed hands."}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_processor_consumer_lag",
			Help: "Messages not yet read, per partition this instance owns."}, []string{"topic", "partition"}),
		fetchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_fetch_errors_total",
			Help: "Failed fetches from Kafka (retried)."}),
		restoreSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_processor_restore_seconds",
			Help: "Time to load a partition's state from its checkpoint when it is assigned.", Buckets: prometheus.ExponentialBuckets(0.01, 2, 14)}),
		restoreFailures: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_restore_failures_total",
			Help: "Partitions whose checkpoint could not be read: their state started empty at the committed offset."}),
		checkpointSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_processor_checkpoint_seconds",
			Help: "Time to write one partition's checkpoint and commit its offset.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		checkpointBytes: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "vigil_processor_checkpoint_bytes",
			Help: "Size of one partition's checkpoint.", Buckets: prometheus.ExponentialBuckets(1024, 4, 12)}),
	}
	for r, name := range resultNames {
		m.results[r] = events.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(events, read, m.forwarded, m.scores, m.alerts, m.republished, m.lag, m.fetchErrors, m.restoreSeconds,
			m.restoreFailures, m.checkpointSeconds, m.checkpointBytes, &stateCollector{p: p, profiles: profiles})
	}
	return m
}

// stateCollector reports the state of the tasks running now, summed per
// profile.
type stateCollector struct {
	p        *Processor
	profiles []string
}

var (
	descEntities    = prometheus.NewDesc("vigil_processor_entities", "Entities with a baseline, per profile, on this instance (bounded by processor.max_entities per partition).", []string{"profile"}, nil)
	descOverflow    = prometheus.NewDesc("vigil_processor_entity_overflow", "Entity-windows judged only against the population because the profile's entity cap was reached.", []string{"profile"}, nil)
	descLate        = prometheus.NewDesc("vigil_processor_late_events", "Events a profile could not count because their window had closed.", []string{"profile"}, nil)
	descSuppressed  = prometheus.NewDesc("vigil_processor_suppressed_incidents", "Anomalous entity-windows that opened no incident because a suppression window covered them.", []string{"profile"}, nil)
	descFlaps       = prometheus.NewDesc("vigil_processor_incident_flaps", "Incidents reopened within the flap window of their resolution.", []string{"profile"}, nil)
	descOpenWindows = prometheus.NewDesc("vigil_processor_open_windows", "Windows not yet closed by the watermark, over all profiles and partitions of this instance.", nil, nil)
	descStateBytes  = prometheus.NewDesc("vigil_processor_state_bytes", "Size of the last checkpoint of every partition this instance owns: the state it holds.", nil, nil)
	descTasks       = prometheus.NewDesc("vigil_processor_partitions", "Partitions (events and repartition) this instance owns.", nil, nil)
)

func (c *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEntities, descOverflow, descLate, descSuppressed, descFlaps, descOpenWindows, descStateBytes, descTasks} {
		ch <- d
	}
}

func (c *stateCollector) Collect(ch chan<- prometheus.Metric) {
	sum, n := c.p.totals()
	for _, name := range c.profiles {
		st := sum.profiles[name]
		ch <- prometheus.MustNewConstMetric(descEntities, prometheus.GaugeValue, float64(sum.entities[name]), name)
		ch <- prometheus.MustNewConstMetric(descOverflow, prometheus.GaugeValue, float64(st.Overflow), name)
		ch <- prometheus.MustNewConstMetric(descLate, prometheus.GaugeValue, float64(st.Late), name)
		ch <- prometheus.MustNewConstMetric(descSuppressed, prometheus.GaugeValue, float64(st.Suppressed), name)
		ch <- prometheus.MustNewConstMetric(descFlaps, prometheus.GaugeValue, float64(st.Flaps), name)
	}
	ch <- prometheus.MustNewConstMetric(descOpenWindows, prometheus.GaugeValue, float64(sum.openWins))
	ch <- prometheus.MustNewConstMetric(descStateBytes, prometheus.GaugeValue, float64(sum.stateBytes))
	ch <- prometheus.MustNewConstMetric(descTasks, prometheus.GaugeValue, float64(n))
}
