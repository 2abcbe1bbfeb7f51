package pager

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
)

// Pager is the pager's lifecycle. See the package doc.
type Pager struct {
	cfg     config.Config
	logger  *slog.Logger
	out     io.Writer
	metrics *metrics

	client *stream.Client
	reader *kafka.Reader

	loop service.Loop
}

// New returns a pager that prints to the configured output.
func New(deps service.Deps) (*Pager, error) {
	out := io.Writer(os.Stdout)
	if deps.Config.Pager.Output == "stderr" {
		out = os.Stderr
	}
	return NewWithOutput(deps, out), nil
}

// NewWithOutput returns a pager that prints to out.
func NewWithOutput(deps service.Deps, out io.Writer) *Pager {
	return &Pager{cfg: deps.Config, logger: deps.Logger.With("component", "pager"), out: out, metrics: newMetrics(deps.Registry)}
}

// Start waits for Kafka and starts consuming alerts.
func (p *Pager) Start(ctx context.Context) error {
	k := p.cfg.Kafka
	client, err := stream.Connect(ctx, k, p.logger, stream.Topic{Name: k.Topics.Alerts, Partitions: k.Partitions})
	if err != nil {
		return err
	}
	p.client = client
	p.reader = client.NewGroupReader(p.cfg.Pager.GroupID, k.Topics.Alerts)
	p.loop.Go(p.run)
	p.logger.Info("pager started", "group", p.cfg.Pager.GroupID, "topic", k.Topics.Alerts)
	return nil
}

// Shutdown stops consuming; every printed alert's offset is committed.
// Safe before Start.
func (p *Pager) Shutdown(ctx context.Context) error {
	if _, err := p.loop.Stop(ctx); err != nil {
		return fmt.Errorf("pager shutdown: %w", err)
	}
	var err error
	if p.reader != nil {
		err = p.reader.Close()
	}
	if p.client != nil {
		p.client.Close()
	}
	return err
}

func (p *Pager) run(ctx context.Context) {
	for {
		m, err := p.reader.FetchMessage(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			p.logger.Warn("fetch failed, retrying", "err", err)
			backoff.Sleep(ctx, time.Second)
			continue
		}
		var a alert.Alert
		var line string
		if err := json.Unmarshal(m.Value, &a); err != nil || a.DedupKey == "" {
			p.metrics.invalid.Inc()
			line = fmt.Sprintf("ALERT (undecodable, partition %d offset %d): %q", m.Partition, m.Offset, m.Value)
		} else {
			line = Format(a)
			p.metrics.printed.WithLabelValues(a.Severity).Inc()
		}
		// Not written, not committed: retry until it is out (or shutdown,
		// after which it is delivered again by the next pager).
		if !backoff.Retry(ctx, writeBackoff, p.logger, "write alert", func(context.Context) error {
			_, err := fmt.Fprintln(p.out, line)
			return err
		}) {
			return
		}
		// The alert is out: commit it even if shutdown has begun meanwhile.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		err = p.reader.CommitMessages(cctx, m)
		cancel()
		if err != nil {
			p.logger.Warn("commit failed; the alert may be printed again", "err", err)
		}
	}
}

// writeBackoff paces retries of writing an alert out.
var writeBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// Format renders an alert as one line for a terminal or a log; line breaks
// in its text are escaped.
func Format(a alert.Alert) string {
	line := fmt.Sprintf("ALERT %s [%s] %s score=%.6f first_seen=%s key=%s",
		a.Status, a.Severity, a.Summary, a.AnomalyScore, a.FirstSeen.UTC().Format(time.RFC3339), a.DedupKey)
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(line)
}

type metrics struct {
	printed *prometheus.CounterVec
	invalid prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		printed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "vigil_pager_alerts_printed_total", Help: "Alerts printed, by severity."}, []string{"severity"}),
		invalid: prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_pager_invalid_alerts_total", Help: "Messages on the alert topic that are not alerts (printed raw)."}),
	}
	if reg != nil {
		reg.MustRegister(m.printed, m.invalid)
	}
	return m
}
