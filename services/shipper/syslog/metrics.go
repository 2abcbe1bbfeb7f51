package syslog

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	received, bytes, published, parseErrors, truncated, framingErrors, connections *prometheus.CounterVec
	dropped, connErrors                                                            *prometheus.CounterVec
	open                                                                           *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_shipper_syslog_" + name, Help: help}, append([]string{"transport"}, labels...))
	}
	m := &metrics{
		received:      counter("messages_received_total", "Messages received, by transport."),
		bytes:         counter("bytes_received_total", "Bytes received (after TLS), by transport."),
		published:     counter("events_published_total", "Events appended to the spool, by transport."),
		parseErrors:   counter("parse_errors_total", "Messages kept as raw events with a parse error, by transport."),
		truncated:     counter("messages_truncated_total", "Messages cut at shipper.syslog.max_message_bytes, by transport."),
		framingErrors: counter("framing_errors_total", "Bytes on a TCP or TLS stream that were not a valid octet-counting frame, kept as raw events."),
		connections:   counter("connections_total", "TCP and TLS connections accepted, by transport."),
		dropped: counter("messages_dropped_total",
			"Messages received but not appended, by transport and reason: spool_full (UDP only), shutdown, spool_error, encode.", "reason"),
		connErrors: counter("connection_errors_total",
			"Connections refused or ended by an error, by transport and reason: limit, handshake, read.", "reason"),
		open: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "vigil_shipper_syslog_connections", Help: "Open TCP and TLS connections, by transport.",
		}, []string{"transport"}),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.received, m.bytes, m.published, m.parseErrors, m.truncated, m.framingErrors, m.connections, m.dropped, m.connErrors, m.open} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
