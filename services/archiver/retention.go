package archiver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
)

// Retention drops the day partitions of events, scores, alerts and the
// rollups once they are older than clickhouse.retention allows: at start,
// then every clickhouse.retention.interval. It never drops today's
// partition. With no retention set it does nothing.
type Retention struct {
	cfg     config.ClickHouseConfig
	logger  *slog.Logger
	metrics *retentionMetrics
	now     func() time.Time

	conn driver.Conn
	loop service.Loop
}

// NewRetention returns the retention component configured by deps; Start
// starts it. It expects the migrations applied (the archiver, started
// before it, applies them).
func NewRetention(deps service.Deps) *Retention {
	return &Retention{
		cfg:     deps.Config.ClickHouse,
		logger:  deps.Logger.With("component", "retention"),
		metrics: newRetentionMetrics(deps.Registry),
		now:     time.Now,
	}
}

// Start connects and starts the periodic run.
func (r *Retention) Start(context.Context) error {
	rc := r.cfg.Retention
	if !rc.Enabled() {
		r.logger.Info("retention off: every table is kept forever (clickhouse.retention.*_days are 0)")
		return nil
	}
	conn, err := store.Open(r.cfg)
	if err != nil {
		return err
	}
	r.conn = conn
	r.logger.Info("retention on", "events_days", rc.EventsDays, "scores_days", rc.ScoresDays,
		"alerts_days", rc.AlertsDays, "rollups_days", rc.RollupsDays, "interval", rc.Interval)
	r.loop.Go(r.run)
	return nil
}

// Shutdown stops the periodic run, cancelling one in flight, and closes
// the connection. Safe before Start.
func (r *Retention) Shutdown(ctx context.Context) error {
	_, err := r.loop.Stop(ctx)
	if r.conn != nil {
		err = errors.Join(err, r.conn.Close())
	}
	if err != nil {
		return fmt.Errorf("retention shutdown: %w", err)
	}
	return nil
}

func (r *Retention) run(ctx context.Context) {
	t := time.NewTicker(r.cfg.Retention.Interval)
	defer t.Stop()
	failing := false
	for {
		err := r.once(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			r.logger.Error("retention failed; trying again next interval", "err", err, "interval", r.cfg.Retention.Interval)
		case err == nil && failing:
			r.logger.Info("retention works again")
		}
		failing = err != nil
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// once enforces retention one time and counts what it did.
func (r *Retention) once(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.ReadTimeout)
	defer cancel()
	dropped, err := store.EnforceRetention(ctx, r.conn, r.cfg.Database, store.RetentionPlan(r.cfg.Retention), r.now(), false)
	for _, p := range dropped {
		r.metrics.partitions.WithLabelValues(p.Table).Inc()
		r.metrics.rows.WithLabelValues(p.Table).Add(float64(p.Rows))
		r.logger.Info("partition dropped", "table", p.Table, "partition", p.ID(), "rows", p.Rows)
	}
	if err != nil {
		r.metrics.runs.WithLabelValues("error").Inc()
		return err
	}
	r.metrics.runs.WithLabelValues("ok").Inc()
	r.metrics.lastSuccess.SetToCurrentTime()
	return nil
}

type retentionMetrics struct {
	partitions  *prometheus.CounterVec
	rows        *prometheus.CounterVec
	runs        *prometheus.CounterVec
	lastSuccess prometheus.Gauge
}

func newRetentionMetrics(reg prometheus.Registerer) *retentionMetrics {
	m := &retentionMetrics{
		partitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_retention_partitions_dropped_total", Help: "Day partitions dropped by retention, by table.",
		}, []string{"table"}),
		rows: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_retention_rows_dropped_total", Help: "Rows in the partitions dropped by retention, by table.",
		}, []string{"table"}),
		runs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_retention_runs_total", Help: "Retention runs, by result (ok, error).",
		}, []string{"result"}),
		lastSuccess: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_retention_last_success_timestamp_seconds", Help: "When retention last ran without error (Unix time).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.partitions, m.rows, m.runs, m.lastSuccess)
	}
	return m
}
