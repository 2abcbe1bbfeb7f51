package processor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/labels"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
)

// publishBackoff paces retries of publishing scores and alerts.
var publishBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// Processor is the processor's lifecycle. See the package doc and README.
type Processor struct {
	cfg     config.Config
	logger  *slog.Logger
	metrics *metrics
	topo    *topology

	client *stream.Client
	codec  kafka.Compression
	group  *kafka.ConsumerGroup
	out    *outputs
	// forward writes to the repartition topic.
	forward *kafka.Writer
	// repartition and changelog are the names of the internal topics.
	repartition, changelog string
	// partitions is the events topic's partition count (and the
	// repartition topic's); eventParts lists them.
	partitions int
	eventParts []int

	mu    sync.Mutex
	tasks map[*task]stats

	loop  service.Loop
	ready *telemetry.Readiness

	// hooks (set by tests) see each task from its goroutine once its
	// state is loaded (and may hold it there until ctx ends), and once it
	// has handed its partition over.
	hooks struct {
		restored func(context.Context, *task)
		stopped  func(*task)
	}
}

// New returns a processor configured by deps; Start connects it.
func New(deps service.Deps) (*Processor, error) {
	pc := deps.Config.Processor
	topo, err := plan(pc.ActiveProfiles(), detect.OptionsFrom(pc))
	if err != nil {
		return nil, err
	}
	p := &Processor{
		cfg:         deps.Config,
		logger:      deps.Logger.With("component", "processor"),
		topo:        topo,
		repartition: pc.GroupID + ".repartition",
		changelog:   pc.GroupID + ".changelog",
		tasks:       map[*task]stats{},
		ready:       telemetry.NewReadiness(),
	}
	p.metrics = newMetrics(deps.Registry, topo.profiles, p)
	if deps.Ready != nil {
		deps.Ready("processor", p.ready.Check)
	}
	return p, nil
}

// Start waits for Kafka, creates the topics and joins the consumer group.
func (p *Processor) Start(ctx context.Context) error {
	if err := p.connect(ctx); err != nil {
		return err
	}
	k := p.cfg.Kafka
	var err error
	p.group, err = p.client.NewConsumerGroup(p.cfg.Processor.GroupID, []string{k.Topics.Events, p.repartition},
		stream.GroupOptions{SessionTimeout: p.cfg.Processor.SessionTimeout})
	if err != nil {
		return fmt.Errorf("consumer group %s: %w", p.cfg.Processor.GroupID, err)
	}
	p.loop.Go(p.run)
	p.logger.Info("processor started", "group", p.cfg.Processor.GroupID, "topic", k.Topics.Events,
		"local_profiles", len(p.topo.local.profiles), "rekeyed_stages", len(p.topo.rekeyed))
	return nil
}

// connect waits for Kafka, creates the topics and opens the writers.
func (p *Processor) connect(ctx context.Context) error {
	k := p.cfg.Kafka
	client, err := stream.Connect(ctx, k, p.logger,
		stream.Topic{Name: k.Topics.Events, Partitions: k.Partitions},
		stream.Topic{Name: k.Topics.Scores, Partitions: k.Partitions},
		stream.Topic{Name: k.Topics.Alerts, Partitions: k.Partitions})
	if err != nil {
		return err
	}
	p.client = client
	if p.codec, err = stream.Compression(k.Compression); err != nil {
		return err
	}
	if p.eventParts, err = client.Partitions(ctx, k.Topics.Events); err != nil {
		return err
	}
	p.partitions = len(p.eventParts)
	// The internal topics follow the events topic's partition count: one
	// repartition partition per events partition, and one changelog
	// partition per task.
	internal := []stream.Topic{
		{Name: p.repartition, Partitions: p.partitions},
		{Name: p.changelog, Partitions: 2 * p.partitions, Compacted: true},
	}
	for _, r := range p.cfg.Processor.AlertRoutes {
		internal = append(internal, stream.Topic{Name: r.Topic, Partitions: k.Partitions})
	}
	if err := client.EnsureTopics(ctx, internal...); err != nil {
		return err
	}
	if err := p.checkInternalTopics(ctx); err != nil {
		return err
	}
	return p.openWriters()
}

// checkInternalTopics fails when the internal topics do not match the
// events topic (it was given partitions after they were created).
func (p *Processor) checkInternalTopics(ctx context.Context) error {
	for _, t := range []struct {
		name string
		want int
	}{{p.repartition, p.partitions}, {p.changelog, 2 * p.partitions}} {
		parts, err := p.client.Partitions(ctx, t.name)
		if err != nil {
			return err
		}
		if len(parts) != t.want {
			return fmt.Errorf("topic %s has %d partitions, the processor needs %d (the events topic has %d)", t.name, len(parts), t.want, p.partitions)
		}
	}
	return nil
}

// writerOptions: tasks write whole batches and wait for them, so a batch
// need not wait for more messages.
var writerOptions = stream.WriterOptions{BatchSize: 2 * max(forwardBatch, outputBatch), BatchTimeout: time.Millisecond}

func (p *Processor) openWriters() error {
	k := p.cfg.Kafka
	p.out = &outputs{logger: p.logger, metrics: p.metrics}
	var err error
	if p.out.scores, err = p.client.NewWriter(k.Topics.Scores, writerOptions); err != nil {
		return err
	}
	if p.out.alerts, err = p.client.NewWriter(k.Topics.Alerts, writerOptions); err != nil {
		return err
	}
	for _, rc := range p.cfg.Processor.AlertRoutes {
		ms, err := labels.ParseMatchers(rc.Matchers)
		if err != nil {
			return fmt.Errorf("processor.alert_routes: %w", err)
		}
		w, err := p.client.NewWriter(rc.Topic, writerOptions)
		if err != nil {
			return err
		}
		p.out.routes = append(p.out.routes, alertRoute{matchers: ms, topic: rc.Topic, w: w})
	}
	if p.forward, err = p.client.NewWriter(p.repartition, writerOptions); err != nil {
		return err
	}
	p.forward.Balancer = toPartition{}
	return nil
}

// run follows the group's generations: each assigned partition is a task
// of its own until the generation ends.
func (p *Processor) run(ctx context.Context) {
	stream.FollowGroup(ctx, p.group, p.logger, p.ready.Set, func(gen *kafka.Generation, topic string, pa kafka.PartitionAssignment) {
		gen.Start(newTask(p, gen, topic, pa.ID).run)
	})
}

// Shutdown leaves the group after every task has checkpointed its state
// and committed, so whoever takes the partitions goes on from there. Safe
// before Start.
func (p *Processor) Shutdown(ctx context.Context) error {
	p.ready.Set(errors.New("shutting down"))
	if _, err := p.loop.Stop(ctx); err != nil {
		return fmt.Errorf("processor shutdown: %w", err)
	}
	var errs []error
	if err := stream.CloseGroup(ctx, p.group); err != nil && ctx.Err() != nil {
		return fmt.Errorf("processor shutdown: %w", err)
	} else if err != nil {
		errs = append(errs, err)
	}
	if p.out != nil {
		errs = append(errs, p.out.close())
	}
	if p.forward != nil {
		errs = append(errs, p.forward.Close())
	}
	if p.client != nil {
		p.client.Close()
	}
	return errors.Join(errs...)
}

func (p *Processor) register(t *task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tasks[t] = stats{}
}

func (p *Processor) unregister(t *task) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.tasks, t)
	p.metrics.lag.DeleteLabelValues(t.topic, fmt.Sprint(t.part))
}

func (p *Processor) setStats(t *task, s stats) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.tasks[t]; ok {
		p.tasks[t] = s
	}
}

// totals sums the stats of the tasks running now, and counts them.
func (p *Processor) totals() (sum stats, tasks int) {
	sum = stats{entities: map[string]int{}, profiles: map[string]detect.ProfileStats{}}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, s := range p.tasks {
		for k, v := range s.entities {
			sum.entities[k] += v
		}
		for k, v := range s.profiles {
			t := sum.profiles[k]
			t.Overflow += v.Overflow
			t.Late += v.Late
			t.Suppressed += v.Suppressed
			t.Flaps += v.Flaps
			sum.profiles[k] = t
		}
		sum.openWins += s.openWins
		sum.stateBytes += s.stateBytes
	}
	return sum, len(p.tasks)
}
