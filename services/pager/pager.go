package pager

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"
	"golang.org/x/time/rate"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/silence"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
	"github.com/vigil-soc/vigil/services/pager/receiver"
)

// Pager is the pager's lifecycle. See the package doc.
type Pager struct {
	cfg     config.Config
	logger  *slog.Logger
	metrics *metrics
	ready   *telemetry.Readiness
	now     func() time.Time

	outMu sync.Mutex
	out   io.Writer // nil: print nothing

	targets map[string]*target
	router  router
	// redact removes every receiver's secrets from text that is logged or
	// dead-lettered (each receiver already removes its own).
	redact *strings.Replacer

	client     *stream.Client
	silences   *silence.Store
	deliveries *deliveryLog
	dlq        *kafka.Writer
	group      *kafka.ConsumerGroup

	loop service.Loop
	// purge deletes silences pager.silence_retention after they ended.
	purge service.Loop
}

// target is one configured receiver with its limits.
type target struct {
	name string
	receiver.Receiver
	limiter *rate.Limiter
	timeout time.Duration
	// sending is held from a request to the record of its outcome.
	sending sync.Mutex
	// warn logs a dead letter at most once a minute.
	warn rate.Sometimes
}

// Option configures a Pager.
type Option func(*Pager)

// WithOutput prints alerts to w instead of stdout or stderr; pager.output
// none still prints nothing.
func WithOutput(w io.Writer) Option { return func(p *Pager) { p.out = w } }

// WithClock sets the clock silences are checked against. Default time.Now.
func WithClock(now func() time.Time) Option { return func(p *Pager) { p.now = now } }

// New returns a pager built from deps.Config.Pager; it connects at Start.
func New(deps service.Deps, opts ...Option) (*Pager, error) {
	cfg := deps.Config
	p := &Pager{
		cfg:     cfg,
		logger:  deps.Logger.With("component", "pager"),
		metrics: newMetrics(deps.Registry),
		ready:   telemetry.NewReadiness(),
		now:     time.Now,
		targets: map[string]*target{},
	}
	switch cfg.Pager.Output {
	case "stdout":
		p.out = os.Stdout
	case "stderr":
		p.out = os.Stderr
	}
	for _, o := range opts {
		o(p)
	}
	if cfg.Pager.Output == "none" {
		p.out = nil
	}
	var secrets []string
	for _, rc := range cfg.Pager.Receivers {
		hidden := []string{rc.RoutingKey.Reveal(), rc.APIKey.Reveal(), rc.BearerToken.Reveal()}
		if rc.URL.String() != rc.URL.Reveal() { // the URL has a path, a query or a user
			hidden = append(hidden, rc.URL.Reveal())
		}
		for _, sec := range hidden {
			if len(sec) >= 4 {
				secrets = append(secrets, sec, "<redacted>")
			}
		}
		r, err := receiver.New(rc, receiver.Options{GrafanaURL: cfg.Pager.GrafanaURL})
		if err != nil {
			return nil, err
		}
		p.targets[rc.Name] = &target{
			name: rc.Name, Receiver: r, timeout: rc.Timeout,
			limiter: rate.NewLimiter(rate.Limit(rc.RateLimit), rc.Burst),
			warn:    rate.Sometimes{Interval: time.Minute},
		}
	}
	p.redact = strings.NewReplacer(secrets...)
	var err error
	if p.router, err = newRouter(cfg.Pager); err != nil {
		return nil, err
	}
	if deps.Ready != nil {
		deps.Ready("pager", p.ready.Check)
	}
	if p.client, err = stream.NewClient(cfg.Kafka, stream.WithLogger(p.logger)); err != nil {
		return nil, err
	}
	p.silences = silence.NewStore(p.client, cfg.Kafka.Topics.Silences, silence.Options{Logger: p.logger, Registerer: deps.Registry})
	return p, nil
}

// topics are the alert topics the pager consumes.
func (p *Pager) topics() []string {
	if len(p.cfg.Pager.Topics) > 0 {
		return p.cfg.Pager.Topics
	}
	return []string{p.cfg.Kafka.Topics.Alerts}
}

// Start connects to Kafka, loads the silences and the delivery records,
// and joins the consumer group.
func (p *Pager) Start(ctx context.Context) error {
	k := p.cfg.Kafka
	pc := p.cfg.Pager
	topics := []stream.Topic{
		{Name: k.Topics.AlertsDLQ, Partitions: k.Partitions},
		deliveriesTopic(k.Topics.Deliveries, pc.DedupWindow),
		silence.Topic(k.Topics.Silences),
	}
	for _, t := range p.topics() {
		topics = append(topics, stream.Topic{Name: t, Partitions: k.Partitions})
	}
	client := p.client
	if err := client.WaitReady(ctx, p.logger); err != nil {
		return err
	}
	if err := client.EnsureTopics(ctx, topics...); err != nil {
		return err
	}
	if err := p.silences.Start(ctx); err != nil {
		return err
	}
	var err error
	p.deliveries, err = newDeliveryLog(client, k.Topics.Deliveries, pc.DedupWindow, p.logger)
	if err != nil {
		return err
	}
	if err := p.deliveries.start(ctx); err != nil {
		return fmt.Errorf("load delivery records from %s: %w", k.Topics.Deliveries, err)
	}
	p.dlq, err = client.NewWriter(k.Topics.AlertsDLQ, stream.WriterOptions{BatchTimeout: time.Millisecond})
	if err != nil {
		return err
	}
	p.group, err = client.NewConsumerGroup(pc.GroupID, p.topics(), stream.GroupOptions{SessionTimeout: pc.SessionTimeout})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", pc.GroupID, err)
	}
	p.loop.Go(p.run)
	if pc.SilenceRetention > 0 {
		p.purge.Go(p.purgeSilences)
	}
	p.logger.Info("pager started", "group", pc.GroupID, "topics", p.topics(), "receivers", len(p.targets),
		"silences", len(p.silences.Active(p.now())), "deliveries_remembered", p.deliveries.size())
	return nil
}

// run follows the group's generations: each assigned partition is
// consumed by its own goroutine until the generation ends.
func (p *Pager) run(ctx context.Context) {
	stream.FollowGroup(ctx, p.group, p.logger, p.ready.Set, func(gen *kafka.Generation, topic string, pa kafka.PartitionAssignment) {
		gen.Start(func(ctx context.Context) { p.consume(ctx, gen, topic, pa.ID, pa.Offset) })
	})
}

// silencePurgeInterval is how often a pager deletes the silences that
// ended more than pager.silence_retention ago.
const silencePurgeInterval = time.Hour

// purgeSilences deletes, at start and every silencePurgeInterval, the
// silences that ended more than pager.silence_retention ago, so that the
// silences topic does not grow without bound.
func (p *Pager) purgeSilences(ctx context.Context) {
	tick := time.NewTicker(silencePurgeInterval)
	defer tick.Stop()
	for {
		cutoff := p.now().Add(-p.cfg.Pager.SilenceRetention)
		n, err := p.silences.Purge(ctx, cutoff)
		switch {
		case err != nil && ctx.Err() == nil:
			p.logger.Warn("deleting expired silences failed; will try again", "err", err.Error(), "retry_in", silencePurgeInterval.String())
		case n > 0:
			p.logger.Info("deleted expired silences", "silences", n, "ended_before", cutoff.UTC().Format(time.RFC3339))
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Shutdown leaves the group once every partition has finished the
// requests in flight, recorded them and committed; what was read and not
// sent yet is left to the next pager. Safe before Start.
func (p *Pager) Shutdown(ctx context.Context) error {
	p.ready.Set(errors.New("shutting down"))
	if _, err := p.purge.Stop(ctx); err != nil {
		return fmt.Errorf("pager shutdown: %w", err)
	}
	if _, err := p.loop.Stop(ctx); err != nil {
		return fmt.Errorf("pager shutdown: %w", err)
	}
	var errs []error
	if err := stream.CloseGroup(ctx, p.group); err != nil && ctx.Err() != nil {
		return fmt.Errorf("pager shutdown: %w", err)
	} else if err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, p.silences.Shutdown(ctx))
	if p.deliveries != nil {
		errs = append(errs, p.deliveries.close())
	}
	if p.dlq != nil {
		errs = append(errs, p.dlq.Close())
	}
	p.client.Close()
	return errors.Join(errs...)
}
