package processor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/labels"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
)

// publishBackoff paces retries of publishing scores and alerts.
var publishBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// tick is how often windows are checked for closing when no event arrives.
const tick = 500 * time.Millisecond

// Processor is the processor's lifecycle. See the package doc.
type Processor struct {
	cfg     config.Config
	logger  *slog.Logger
	metrics *metrics
	det     *detect.Engine

	client *stream.Client
	reader *kafka.Reader
	scores *kafka.Writer
	alerts *kafka.Writer
	routes []alertRoute

	// fetched is, per partition, the offset of the last message read;
	// committed, the offset committed (the next one to read).
	fetched   map[int]kafka.Message
	committed map[int]int64
	// unpublished is set when scores or alerts of closed windows could not
	// be published before shutdown: their events must be read again, so
	// nothing more is committed.
	unpublished bool

	loop  service.Loop
	ready *telemetry.Readiness
}

// New returns a processor configured by deps; Start connects it.
func New(deps service.Deps) (*Processor, error) {
	det, err := detect.New(deps.Config.Processor.ActiveProfiles(), detect.OptionsFrom(deps.Config.Processor))
	if err != nil {
		return nil, fmt.Errorf("processor: %w", err)
	}
	p := &Processor{
		cfg:       deps.Config,
		logger:    deps.Logger.With("component", "processor"),
		metrics:   newMetrics(deps.Registry, det.Profiles()),
		det:       det,
		fetched:   map[int]kafka.Message{},
		committed: map[int]int64{},
		ready:     telemetry.NewReadiness(),
	}
	if deps.Ready != nil {
		deps.Ready("processor", p.ready.Check)
	}
	return p, nil
}

// Start waits for Kafka, creates the topics and starts consuming.
func (p *Processor) Start(ctx context.Context) error {
	k := p.cfg.Kafka
	topics := []stream.Topic{
		{Name: k.Topics.Events, Partitions: k.Partitions},
		{Name: k.Topics.Scores, Partitions: k.Partitions},
		{Name: k.Topics.Alerts, Partitions: k.Partitions},
	}
	for _, r := range p.cfg.Processor.AlertRoutes {
		topics = append(topics, stream.Topic{Name: r.Topic, Partitions: k.Partitions})
	}
	client, err := stream.Connect(ctx, k, p.logger, topics...)
	if err != nil {
		return err
	}
	p.client = client
	if p.scores, err = client.NewWriter(k.Topics.Scores, stream.WriterOptions{}); err != nil {
		return err
	}
	if p.alerts, err = client.NewWriter(k.Topics.Alerts, stream.WriterOptions{}); err != nil {
		return err
	}
	for _, rc := range p.cfg.Processor.AlertRoutes {
		ms, err := labels.ParseMatchers(rc.Matchers)
		if err != nil {
			return fmt.Errorf("processor.alert_routes: %w", err)
		}
		w, err := client.NewWriter(rc.Topic, stream.WriterOptions{})
		if err != nil {
			return err
		}
		p.routes = append(p.routes, alertRoute{matchers: ms, topic: rc.Topic, w: w})
	}
	parts, err := client.Partitions(ctx, k.Topics.Events)
	if err != nil {
		return err
	}
	p.det.Expect(parts, time.Now())
	p.reader = client.NewGroupReader(p.cfg.Processor.GroupID, k.Topics.Events)
	p.ready.Set(nil)
	p.loop.Go(p.run)
	p.logger.Info("processor started", "group", p.cfg.Processor.GroupID, "topic", k.Topics.Events)
	return nil
}

// Shutdown stops consuming and commits what is fully accounted for; events
// still held in open windows are read again on the next start. Safe before
// Start.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.ready.Set(errors.New("shutting down"))
	started, err := p.loop.Stop(ctx)
	if err != nil {
		return fmt.Errorf("processor shutdown: %w", err)
	}
	if started {
		if p.unpublished {
			p.logger.Warn("scores or alerts were not published before shutdown; their events will be read again")
		} else if err := p.commit(ctx); err != nil {
			p.logger.Warn("final commit failed; events will be read again", "err", err)
		}
	}
	var errs []error
	if p.reader != nil {
		errs = append(errs, p.reader.Close())
	}
	writers := []*kafka.Writer{p.scores, p.alerts}
	for _, r := range p.routes {
		writers = append(writers, r.w)
	}
	for _, w := range writers {
		if w != nil {
			errs = append(errs, w.Close())
		}
	}
	if p.client != nil {
		p.client.Close()
	}
	return errors.Join(errs...)
}

func (p *Processor) run(ctx context.Context) {
	lastCommit := time.Now()
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, tick)
		m, err := p.reader.FetchMessage(fctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case errors.Is(err, context.DeadlineExceeded):
		case err != nil:
			p.logger.Warn("fetch failed, retrying", "err", err)
			backoff.Sleep(ctx, time.Second)
			continue
		default:
			p.handle(m)
		}
		out := p.det.Advance(time.Now())
		if err := p.publish(ctx, out); err != nil {
			// Only when ctx ended (or an output could not be encoded): the
			// closed windows are gone from the low-water mark, so commit
			// nothing more; their events are read again on the next start.
			p.unpublished = true
			if ctx.Err() == nil {
				p.logger.Error("publishing failed; stopping", "err", err)
				p.ready.Set(err)
			}
			return
		}
		if time.Since(lastCommit) >= time.Second || len(out.Scores) > 0 {
			if err := p.commit(ctx); err != nil && ctx.Err() == nil {
				p.logger.Warn("commit failed, will retry", "err", err)
			}
			lastCommit = time.Now()
		}
		p.observeState()
	}
}

func (p *Processor) handle(m kafka.Message) {
	p.fetched[m.Partition] = m
	e, err := event.Decode(m.Value)
	if err != nil {
		// The archiver keeps it on the dead-letter topic with the reason.
		p.metrics.events.WithLabelValues("invalid").Inc()
		return
	}
	r := p.det.Observe(e, detect.Position{Partition: m.Partition, Offset: m.Offset}, time.Now())
	p.metrics.events.WithLabelValues(resultNames[r]).Inc()
}

// publish writes alerts, then scores, retrying until acknowledged or ctx
// ends: a page goes out before the bulk of the scores.
func (p *Processor) publish(ctx context.Context, out detect.Output) error {
	if len(out.Alerts) > 0 {
		msgs := make([]kafka.Message, 0, len(out.Alerts))
		for _, a := range out.Alerts {
			b, err := json.Marshal(a)
			if err != nil {
				return fmt.Errorf("encode alert: %w", err)
			}
			msgs = append(msgs, kafka.Message{Key: []byte(a.DedupKey), Value: b})
		}
		if !backoff.Retry(ctx, publishBackoff, p.logger, "publish alerts", func(ctx context.Context) error { return p.alerts.WriteMessages(ctx, msgs...) }) {
			return ctx.Err()
		}
		for _, r := range p.routes {
			var routed []kafka.Message
			for i, a := range out.Alerts {
				if r.matchers.Matches(a.LabelSet()) {
					routed = append(routed, kafka.Message{Key: msgs[i].Key, Value: msgs[i].Value})
				}
			}
			if len(routed) == 0 {
				continue
			}
			if !backoff.Retry(ctx, publishBackoff, p.logger, "publish alerts to "+r.topic, func(ctx context.Context) error { return r.w.WriteMessages(ctx, routed...) }) {
				return ctx.Err()
			}
		}
		p.metrics.alerts.Add(float64(len(msgs)))
	}
	if len(out.Scores) > 0 {
		msgs := make([]kafka.Message, 0, len(out.Scores))
		for _, s := range out.Scores {
			b, err := json.Marshal(s)
			if err != nil {
				return fmt.Errorf("encode score: %w", err)
			}
			msgs = append(msgs, kafka.Message{Key: []byte(s.Entity), Value: b})
		}
		if !backoff.Retry(ctx, publishBackoff, p.logger, "publish scores", func(ctx context.Context) error { return p.scores.WriteMessages(ctx, msgs...) }) {
			return ctx.Err()
		}
		p.metrics.scores.Add(float64(len(msgs)))
	}
	return nil
}

// commit commits, per partition, every offset below the lowest one an open
// window still holds (or through the last message read, when none is held).
func (p *Processor) commit(ctx context.Context) error {
	low := p.det.LowWater()
	var msgs []kafka.Message
	for part, m := range p.fetched {
		next := m.Offset + 1
		if l, held := low[part]; held {
			next = l
		}
		if next <= p.committed[part] {
			continue
		}
		// kafka-go commits a message's offset + 1.
		msgs = append(msgs, kafka.Message{Topic: m.Topic, Partition: part, Offset: next - 1})
	}
	if len(msgs) == 0 {
		return nil
	}
	if err := p.reader.CommitMessages(ctx, msgs...); err != nil {
		return fmt.Errorf("commit offsets: %w", err)
	}
	for _, m := range msgs {
		p.committed[m.Partition] = m.Offset + 1
	}
	return nil
}

// alertRoute is one of processor.alert_routes: matching alerts go to its
// topic as well.
type alertRoute struct {
	matchers labels.Matchers
	topic    string
	w        *kafka.Writer
}

// resultNames label vigil_processor_events_total by what Observe did.
var resultNames = map[detect.Result]string{
	detect.Counted: "counted", detect.Ignored: "ignored", detect.Late: "late",
	detect.Future: "future", detect.Duplicate: "duplicate",
}

func (p *Processor) observeState() {
	for name, n := range p.det.Entities() {
		p.metrics.entities.WithLabelValues(name).Set(float64(n))
	}
	for name, st := range p.det.ProfileStats() {
		p.metrics.overflow.WithLabelValues(name).Set(float64(st.Overflow))
		p.metrics.late.WithLabelValues(name).Set(float64(st.Late))
		p.metrics.suppressed.WithLabelValues(name).Set(float64(st.Suppressed))
		p.metrics.flaps.WithLabelValues(name).Set(float64(st.Flaps))
	}
	p.metrics.openWindows.Set(float64(p.det.OpenWindows()))
}

type metrics struct {
	events      *prometheus.CounterVec
	scores      prometheus.Counter
	alerts      prometheus.Counter
	entities    *prometheus.GaugeVec
	openWindows prometheus.Gauge
	overflow    *prometheus.GaugeVec
	late        *prometheus.GaugeVec
	suppressed  *prometheus.GaugeVec
	flaps       *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, profiles []string) *metrics {
	m := &metrics{
		events: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_processor_events_total",
			Help: "Events read, by result: counted (by a profile), ignored (matched by no profile), late (for every profile it matched), future (dated beyond the clock skew allowed), duplicate (an event id counted already), invalid (not an envelope).",
		}, []string{"result"}),
		scores:      prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_scores_total", Help: "Scores published."}),
		alerts:      prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_processor_alerts_total", Help: "Alerts published."}),
		entities:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_processor_entities", Help: "Entities with a baseline, per profile (bounded by processor.max_entities)."}, []string{"profile"}),
		openWindows: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_processor_open_windows", Help: "Windows not yet closed by the watermark, over all profiles."}),
		overflow:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_processor_entity_overflow", Help: "Entity-windows judged only against the population because the profile's entity cap was reached."}, []string{"profile"}),
		late:        prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_processor_late_events", Help: "Events a profile could not count because their window had closed."}, []string{"profile"}),
		suppressed:  prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_processor_suppressed_incidents", Help: "Anomalous entity-windows that opened no incident because a suppression window covered them."}, []string{"profile"}),
		flaps:       prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "vigil_processor_incident_flaps", Help: "Incidents reopened within the flap window of their resolution."}, []string{"profile"}),
	}
	for _, name := range profiles {
		m.entities.WithLabelValues(name)
		m.overflow.WithLabelValues(name)
		m.late.WithLabelValues(name)
		m.suppressed.WithLabelValues(name)
		m.flaps.WithLabelValues(name)
	}
	if reg != nil {
		reg.MustRegister(m.events, m.scores, m.alerts, m.entities, m.openWindows, m.overflow, m.late, m.suppressed, m.flaps)
	}
	return m
}
