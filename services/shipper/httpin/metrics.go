package httpin

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests                                *prometheus.CounterVec
	accepted, parseErrors, bytes, truncated prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_shipper_http_" + name, Help: help})
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_shipper_http_requests_total", Help: "POST /v1/events requests answered, by status code.",
		}, []string{"code"}),
		accepted:    counter("events_accepted_total", "Events appended to the spool."),
		parseErrors: counter("parse_errors_total", "Accepted events kept raw with a parse error."),
		bytes:       counter("bytes_received_total", "Request body bytes read."),
		truncated:   counter("lines_truncated_total", "Lines cut at shipper.http.max_line_bytes."),
	}
	if reg == nil {
		return m, nil
	}
	var errs []error
	for _, c := range []prometheus.Collector{m.requests, m.accepted, m.parseErrors, m.bytes, m.truncated} {
		errs = append(errs, reg.Register(c))
	}
	return m, errors.Join(errs...)
}
