package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/tail"
)

// publishBackoff paces retries of a batch Kafka did not acknowledge.
var publishBackoff = backoff.Policy{Initial: 100 * time.Millisecond, Max: 10 * time.Second}

// Timing of the file tailer that is not configurable.
const (
	partialAfter = 2 * time.Second
	closeAfter   = 5 * time.Second
)

// Shipper is the shipper's lifecycle. See the package doc.
type Shipper struct {
	cfg     config.Config
	logger  *slog.Logger
	metrics *metrics
	host    string

	inputs []*input
	store  *tail.Store
	client *stream.Client
	writer *kafka.Writer

	mu        sync.Mutex
	stop      chan struct{}
	done      chan struct{}
	pubCancel context.CancelFunc
	ready     *telemetry.Readiness
}

type input struct {
	format  string
	parser  parse.Parser
	tailer  *tail.Tailer
	last    tail.Stats
	lastErr string
}

// maxEventBytes bounds one encoded event, well under Kafka's default
// message.max.bytes (1 MiB): JSON escaping can make an event several times
// longer than its line.
const maxEventBytes = 512 << 10

// encodeBounded encodes ev; an event over maxEventBytes has its original
// line cut (at a character boundary) until it fits, and is flagged
// truncated, so no line can stall the stream.
func encodeBounded(ev *event.Event) ([]byte, error) {
	b, err := event.Encode(ev)
	for err == nil && len(b) > maxEventBytes && ev.Message != "" {
		cut := len(ev.Message) / 2
		for cut > 0 && !utf8.RuneStart(ev.Message[cut]) {
			cut--
		}
		ev.Message = ev.Message[:cut]
		if ev.Attrs == nil {
			ev.Attrs = map[string]string{}
		}
		ev.Attrs[parse.AttrTruncated] = "true"
		b, err = event.Encode(ev)
	}
	return b, err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// New checks the configuration and returns a shipper; Start connects it.
func New(deps service.Deps) (*Shipper, error) {
	cfg := deps.Config
	host := cfg.Shipper.Host
	if host == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("shipper.host is empty and the hostname is unknown: %w", err)
		}
		host = h
	}
	s := &Shipper{
		cfg:     cfg,
		logger:  deps.Logger.With("component", "shipper"),
		metrics: newMetrics(deps.Registry),
		host:    host,
		ready:   telemetry.NewReadiness(),
	}
	for i, in := range cfg.Shipper.Files {
		p, err := parse.New(in.Format, parse.WithFields(in.Fields))
		if err != nil {
			return nil, fmt.Errorf("shipper.files[%d].format: %w", i, err)
		}
		s.inputs = append(s.inputs, &input{format: in.Format, parser: p})
	}
	if deps.Ready != nil {
		deps.Ready("shipper", s.ready.Check)
	}
	return s, nil
}

// Start loads the checkpoints, waits for Kafka and starts following files.
func (s *Shipper) Start(ctx context.Context) error {
	store, err := tail.NewStore(s.cfg.Shipper.StateDir)
	if err != nil {
		return fmt.Errorf("shipper.state_dir: %w", err)
	}
	s.store = store
	firstRun := !store.Exists()
	cps, err := store.Load()
	if err != nil {
		return err
	}
	for i, in := range s.inputs {
		fc := s.cfg.Shipper.Files[i]
		in.tailer = tail.New(tail.Options{
			Patterns:     fc.Paths,
			FromEnd:      fc.FromEnd && firstRun,
			MaxLineBytes: s.cfg.Shipper.MaxLineBytes,
			PartialAfter: partialAfter,
			CloseAfter:   closeAfter,
		}, cps)
	}
	if firstRun {
		// Remember where from_end started the files found now, so that a
		// restart before anything was shipped does not skip what they
		// gained meanwhile.
		for _, in := range s.inputs {
			if _, err := in.tailer.Poll(0, time.Now()); err != nil {
				s.logger.Warn("reading files failed", "format", in.format, "err", err.Error())
			}
		}
		if err := s.save(); err != nil {
			return err
		}
	}
	k := s.cfg.Kafka
	client, err := stream.Connect(ctx, k, s.logger, stream.Topic{Name: k.Topics.Events, Partitions: k.Partitions})
	if err != nil {
		return err
	}
	s.client = client
	if s.writer, err = client.NewWriter(k.Topics.Events, stream.WriterOptions{BatchSize: s.cfg.Shipper.BatchLines}); err != nil {
		return err
	}
	pubCtx, cancel := context.WithCancel(context.Background())
	s.mu.Lock()
	s.stop, s.done, s.pubCancel = make(chan struct{}), make(chan struct{}), cancel
	s.mu.Unlock()
	s.ready.Set(nil)
	go s.run(pubCtx, s.stop)
	s.logger.Info("shipper started", "inputs", len(s.inputs), "checkpoints", len(cps), "host", s.host)
	return nil
}

// Shutdown stops reading, finishes publishing the batch in flight (until
// ctx ends) and closes the files; checkpoints are saved after every
// acknowledged batch, so they cover everything shipped. Safe before Start.
func (s *Shipper) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	stop, done, cancel := s.stop, s.done, s.pubCancel
	s.stop = nil
	s.ready.Set(errors.New("shutting down"))
	s.mu.Unlock()
	var errs []error
	if stop != nil {
		close(stop)
		select {
		case <-done:
		case <-ctx.Done():
			cancel()
			<-done
			errs = append(errs, fmt.Errorf("shipper shutdown: %w; unacknowledged lines will be read again", ctx.Err()))
		}
		cancel()
	}
	for _, in := range s.inputs {
		if in.tailer != nil {
			in.tailer.Close()
		}
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	if s.client != nil {
		s.client.Close()
	}
	return errors.Join(errs...)
}

func (s *Shipper) run(ctx context.Context, stop <-chan struct{}) {
	defer close(s.done)
	t := time.NewTicker(s.cfg.Shipper.PollInterval)
	defer t.Stop()
	for {
		full, err := s.cycle(ctx)
		if err != nil {
			return // ctx ended while publishing
		}
		if full {
			select {
			case <-stop:
				return
			default:
				continue // more is waiting: no pause
			}
		}
		select {
		case <-stop:
			return
		case <-t.C:
		}
	}
}

// cycle reads one batch from every input, publishes it, and commits it. It
// reports whether any input filled its batch (more is waiting).
func (s *Shipper) cycle(ctx context.Context) (bool, error) {
	now := time.Now()
	full := false
	for _, in := range s.inputs {
		lines, err := in.tailer.Poll(s.cfg.Shipper.BatchLines, now)
		if err != nil {
			s.metrics.readErrors.WithLabelValues(in.format).Inc()
		}
		// Log a read problem when it starts or changes, not every poll.
		if msg := errString(err); msg != in.lastErr {
			if msg != "" {
				s.logger.Warn("reading files failed", "format", in.format, "err", msg)
			} else {
				s.logger.Info("reading files works again", "format", in.format)
			}
			in.lastErr = msg
		}
		s.observe(in)
		if len(lines) == 0 {
			continue
		}
		full = full || len(lines) >= s.cfg.Shipper.BatchLines
		msgs := make([]kafka.Message, 0, len(lines))
		for _, l := range lines {
			ev, _ := in.parser.Parse(parse.Input{
				Tenant: s.cfg.Tenant, Host: s.host, Origin: l.Origin, Offset: l.Offset,
				Line: l.Data, Truncated: l.Truncated, Now: now,
			})
			if ev.ParseError != "" {
				s.metrics.parseErrors.WithLabelValues(in.format).Inc()
			}
			b, err := encodeBounded(ev)
			if err != nil {
				// Cannot happen for a parser's event; keep the line anyway.
				s.metrics.parseErrors.WithLabelValues(in.format).Inc()
				continue
			}
			key := ev.SrcIP
			if key == "" {
				key = ev.Host
			}
			msgs = append(msgs, kafka.Message{Key: []byte(key), Value: b})
		}
		if err := s.publish(ctx, msgs); err != nil {
			return full, err
		}
		s.metrics.published.WithLabelValues(in.format).Add(float64(len(msgs)))
		for _, l := range lines {
			in.tailer.Commit(l.Origin, l.End)
		}
		if err := s.save(); err != nil {
			s.logger.Error("saving checkpoints failed; lines may be shipped again after a restart", "err", err)
		}
	}
	return full, nil
}

// publish writes msgs and returns once Kafka acknowledged all of them,
// retrying with backoff; it fails only when ctx ends.
func (s *Shipper) publish(ctx context.Context, msgs []kafka.Message) error {
	ok := backoff.Retry(ctx, publishBackoff, s.logger, "publish to kafka", func(ctx context.Context) error {
		err := s.writer.WriteMessages(ctx, msgs...)
		if err != nil && ctx.Err() == nil {
			s.metrics.publishRetries.Inc()
		}
		return err
	})
	if !ok {
		return ctx.Err()
	}
	return nil
}

func (s *Shipper) save() error {
	var all []tail.Checkpoint
	for _, in := range s.inputs {
		all = append(all, in.tailer.Checkpoints()...)
	}
	return s.store.Save(all)
}

func (s *Shipper) observe(in *input) {
	st := in.tailer.Stats()
	s.metrics.lines.WithLabelValues(in.format).Add(float64(st.Lines - in.last.Lines))
	s.metrics.bytes.WithLabelValues(in.format).Add(float64(st.Bytes - in.last.Bytes))
	s.metrics.truncated.WithLabelValues(in.format).Add(float64(st.Truncated - in.last.Truncated))
	in.last = st
	files := 0
	for _, i := range s.inputs {
		if i.tailer != nil {
			files += i.tailer.Files()
		}
	}
	s.metrics.files.Set(float64(files))
}

type metrics struct {
	lines, bytes, truncated, published, parseErrors, readErrors *prometheus.CounterVec
	publishRetries                                              prometheus.Counter
	files                                                       prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	counter := func(name, help string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"format"})
	}
	m := &metrics{
		lines:       counter("vigil_shipper_lines_read_total", "Lines read from files, by input format."),
		bytes:       counter("vigil_shipper_bytes_read_total", "Bytes read from files, by input format."),
		truncated:   counter("vigil_shipper_lines_truncated_total", "Lines cut at shipper.max_line_bytes, by input format."),
		published:   counter("vigil_shipper_events_published_total", "Events acknowledged by Kafka, by input format."),
		parseErrors: counter("vigil_shipper_parse_errors_total", "Lines kept as raw events because no parser understood them, by input format."),
		readErrors:  counter("vigil_shipper_read_errors_total", "Failed globs, stats, opens or reads, by input format."),
		publishRetries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "vigil_shipper_publish_retries_total", Help: "Batches retried because Kafka did not acknowledge them.",
		}),
		files: prometheus.NewGauge(prometheus.GaugeOpts{Name: "vigil_shipper_files", Help: "Files being followed."}),
	}
	if reg != nil {
		reg.MustRegister(m.lines, m.bytes, m.truncated, m.published, m.parseErrors, m.readErrors, m.publishRetries, m.files)
	}
	return m
}
