package pager

import "github.com/prometheus/client_golang/prometheus"

// Results of a notification (vigil_pager_notifications_total{result}).
const (
	resultDelivered    = "delivered"
	resultDeadLettered = "dead_lettered"
	resultDuplicate    = "duplicate"
)

// Reasons of a dead letter (vigil_pager_dead_letters_total{reason}).
const (
	reasonInvalid  = "invalid"  // the message is not an alert
	reasonRejected = "rejected" // the receiver answered with a 4xx other than 429
	reasonAttempts = "attempts" // pager.retry.max_attempts tries failed
	reasonElapsed  = "elapsed"  // pager.retry.max_elapsed passed
)

type metrics struct {
	read          prometheus.Counter
	invalid       prometheus.Counter
	silenced      prometheus.Counter
	unrouted      prometheus.Counter
	notifications *prometheus.CounterVec
	retries       *prometheus.CounterVec
	deadLetters   *prometheus.CounterVec
	limited       *prometheus.CounterVec
	limitedWait   *prometheus.CounterVec
	requests      *prometheus.HistogramVec
	pending       prometheus.Gauge
	recordErrors  prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		read: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pager_alerts_read_total", Help: "Messages read from the alert topics."}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pager_alerts_invalid_total", Help: "Messages on the alert topics that are not valid alerts (dead-lettered)."}),
		silenced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pager_alerts_silenced_total", Help: "Alerts not notified because a silence matched them."}),
		unrouted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pager_alerts_unrouted_total", Help: "Alerts no route sent to a receiver."}),
		notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pager_notifications_total",
			Help: "Notifications by receiver and result: delivered, dead_lettered, or duplicate (already delivered, not sent again)."},
			[]string{"receiver", "result"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pager_retries_total", Help: "Requests tried again after a network error, a 5xx or a 429, by receiver."},
			[]string{"receiver"}),
		deadLetters: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pager_dead_letters_total",
			Help: "Messages written to the alert dead-letter topic, by receiver (empty for invalid alerts) and reason: invalid, rejected, attempts, elapsed."},
			[]string{"receiver", "reason"}),
		limited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pager_rate_limited_waits_total", Help: "Requests that waited for their receiver's rate limit."},
			[]string{"receiver"}),
		limitedWait: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_pager_rate_limited_wait_seconds_total", Help: "Time requests waited for their receiver's rate limit."},
			[]string{"receiver"}),
		requests: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "vigil_pager_request_duration_seconds", Help: "Duration of one request to a receiver, whatever its answer.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12)},
			[]string{"receiver"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_pager_pending_alerts", Help: "Alerts read and not yet finished by every receiver (bounded by pager.max_pending per partition)."}),
		recordErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_pager_delivery_record_errors_total",
			Help: "Delivered notifications whose record could not be written to the deliveries topic (they may be sent again after a crash)."}),
	}
	if reg != nil {
		reg.MustRegister(m.read, m.invalid, m.silenced, m.unrouted, m.notifications, m.retries, m.deadLetters,
			m.limited, m.limitedWait, m.requests, m.pending, m.recordErrors)
	}
	return m
}
