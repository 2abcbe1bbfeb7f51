package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/telemetry"
	"github.com/vigil-soc/vigil/services/shipper/httpin"
	"github.com/vigil-soc/vigil/services/shipper/multiline"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/spool"
	"github.com/vigil-soc/vigil/services/shipper/syslog"
	"github.com/vigil-soc/vigil/services/shipper/tail"
)

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

	sources   []*fileSource
	receivers []service.Named // network inputs: syslog, HTTP
	registry  prometheus.Registerer
	store     *tail.Store
	spool     *spool.Spool
	client    *stream.Client
	writer    *kafka.Writer
	sender    *sender
	dirty     atomic.Bool
	saveMu    sync.Mutex // serialises saves; guards onDisk
	// onDisk holds the origins of the checkpoints the store holds: those
	// loaded at start, then those of the last save.
	onDisk map[string]bool

	mu           sync.Mutex
	stop         chan struct{} // closed to stop the sources
	sourcesDone  sync.WaitGroup
	saverDone    chan struct{}
	cancelSender context.CancelFunc
	ready        *telemetry.Readiness
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
		cfg:      cfg,
		logger:   deps.Logger.With("component", "shipper"),
		metrics:  newMetrics(deps.Registry),
		host:     host,
		ready:    telemetry.NewReadiness(),
		registry: deps.Registry,
	}
	workers := cfg.Shipper.Workers
	if workers == 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	opts := sourceOptions{
		tenant: cfg.Tenant, host: host, batch: cfg.Shipper.BatchLines,
		poll: cfg.Shipper.PollInterval, workers: workers,
	}
	for i, in := range cfg.Shipper.Files {
		p, err := parse.New(in.Format, parse.WithFields(in.Fields))
		if err != nil {
			return nil, fmt.Errorf("shipper.files[%d].format: %w", i, err)
		}
		j, err := multiline.New(in.Multiline, cfg.Shipper.MaxLineBytes)
		if err != nil {
			return nil, fmt.Errorf("shipper.files[%d].%w", i, err)
		}
		s.sources = append(s.sources, &fileSource{
			input: fmt.Sprintf("files[%d]", i), parser: p, ordered: parse.Ordered(in.Format), headed: in.Format == parse.FormatZeek, joiner: j,
			metrics: s.metrics, logger: s.logger, opts: opts,
			dirty: func() { s.dirty.Store(true) }, saveFor: s.saveFor,
		})
	}
	if deps.Ready != nil {
		deps.Ready("shipper", s.ready.Check)
	}
	return s, nil
}

// Start loads the checkpoints and the spool, waits for Kafka, and starts
// publishing and following files.
func (s *Shipper) Start(ctx context.Context) error {
	sc := s.cfg.Shipper
	store, err := tail.NewStore(sc.StateDir)
	if err != nil {
		return fmt.Errorf("shipper.state_dir: %w", err)
	}
	s.store = store
	firstRun := !store.Exists()
	cps, err := store.Load()
	if err != nil {
		return err
	}
	s.saveMu.Lock()
	s.onDisk = origins(cps)
	s.saveMu.Unlock()
	for i, src := range s.sources {
		fc := sc.Files[i]
		src.tailer = tail.New(tail.Options{
			Patterns:     fc.Paths,
			FromEnd:      fc.FromEnd && firstRun,
			MaxLineBytes: sc.MaxLineBytes,
			PartialAfter: partialAfter,
			CloseAfter:   closeAfter,
		}, cps)
	}
	if firstRun {
		// Remember where from_end started the files found now, so that a
		// restart before anything was shipped does not skip what they
		// gained meanwhile.
		for _, src := range s.sources {
			if _, err := src.tailer.Poll(0, time.Now()); err != nil {
				s.logger.Warn("reading files failed", "input", src.input, "err", err.Error())
			}
		}
		if err := s.save(); err != nil {
			return err
		}
	}
	sp, err := spool.Open(spool.Options{
		Dir:          filepath.Join(sc.StateDir, "spool"),
		MemoryBytes:  sc.Spool.MemoryBytes,
		MaxBytes:     sc.Spool.MaxBytes,
		SegmentBytes: sc.Spool.SegmentBytes,
	})
	if err != nil {
		return fmt.Errorf("shipper.state_dir: %w", err)
	}
	s.spool = sp
	s.metrics.watchSpool(sp)
	if st := sp.Stats(); st.Recovered > 0 || st.Torn > 0 {
		s.logger.Info("spool recovered", "batches", st.Recovered, "bytes", st.Bytes, "torn_bytes", st.Torn)
	}

	if err := s.startReceivers(ctx, sp); err != nil {
		return err
	}

	k := s.cfg.Kafka
	client, err := stream.Connect(ctx, k, s.logger, stream.Topic{Name: k.Topics.Events, Partitions: k.Partitions})
	if err != nil {
		return err
	}
	s.client = client
	if s.writer, err = client.NewWriter(k.Topics.Events, stream.WriterOptions{BatchSize: sc.BatchLines}); err != nil {
		return err
	}
	s.sender = newSender(sp, s.writer, s.metrics, s.logger)
	sendCtx, cancel := context.WithCancel(context.Background())
	s.sender.start(sendCtx, sc.Inflight)

	s.mu.Lock()
	s.stop, s.saverDone, s.cancelSender = make(chan struct{}), make(chan struct{}), cancel
	for _, src := range s.sources {
		src.spool = sp
		s.sourcesDone.Go(func() { src.run(s.stop) })
	}
	go s.saver(s.stop)
	s.mu.Unlock()
	s.ready.Set(nil)
	s.logger.Info("shipper started", "inputs", len(s.sources), "checkpoints", len(cps), "host", s.host)
	return nil
}

// Shutdown stops reading, waits (until ctx ends) for Kafka to acknowledge
// what the spool holds, and saves the checkpoints of everything
// acknowledged. What is left unacknowledged is read again (files) or sent
// again from the spool's disk (batches written there) after a restart.
// Safe before Start.
func (s *Shipper) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	stop, cancel := s.stop, s.cancelSender
	s.stop = nil
	s.ready.Set(errors.New("shutting down"))
	s.mu.Unlock()
	var errs []error
	// Network inputs stop first, so their last batches get into the spool.
	for i := len(s.receivers) - 1; i >= 0; i-- {
		if err := s.receivers[i].Component.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.receivers[i].Name, err))
		}
	}
	if stop != nil {
		close(stop)
		s.sourcesDone.Wait()
		<-s.saverDone
		if err := s.spool.Wait(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shipper shutdown: %w; unacknowledged lines will be read again", err))
		}
		cancel()
		s.sender.wait()
	}
	if s.loaded() {
		if err := s.save(); err != nil {
			errs = append(errs, err)
		}
	}
	if s.spool != nil {
		errs = append(errs, s.spool.Close())
	}
	for _, src := range s.sources {
		if src.tailer != nil {
			src.tailer.Close()
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

// startReceivers starts the network inputs that are configured; they
// append to the spool, durably, and accept input before Kafka is reached.
func (s *Shipper) startReceivers(ctx context.Context, sp *spool.Spool) error {
	sc := s.cfg.Shipper
	if sc.Syslog.UDPListen != "" || sc.Syslog.TCPListen != "" || sc.Syslog.TLSListen != "" {
		r, err := syslog.New(sc.Syslog, s.cfg.Tenant, sp, s.logger, s.registry)
		if err != nil {
			return fmt.Errorf("shipper.syslog: %w", err)
		}
		s.receivers = append(s.receivers, service.Named{Name: "syslog", Component: r})
	}
	if sc.HTTP.Listen != "" {
		r, err := httpin.New(sc.HTTP, s.cfg.Tenant, sp, s.logger, s.registry)
		if err != nil {
			return fmt.Errorf("shipper.http: %w", err)
		}
		s.receivers = append(s.receivers, service.Named{Name: "http", Component: r})
	}
	for _, r := range s.receivers {
		if err := r.Component.Start(ctx); err != nil {
			return fmt.Errorf("shipper %s receiver: %w", r.Name, err)
		}
	}
	return nil
}

// saver saves the checkpoints every shipper.checkpoint_interval when they
// moved, until stop is closed.
func (s *Shipper) saver(stop <-chan struct{}) {
	defer close(s.saverDone)
	t := time.NewTicker(s.cfg.Shipper.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		files := 0
		for _, src := range s.sources {
			files += src.files()
		}
		s.metrics.files.Set(float64(files))
		if !s.dirty.Swap(false) {
			continue
		}
		if err := s.save(); err != nil {
			s.logger.Error("saving checkpoints failed; lines may be shipped again after a restart", "err", err)
		}
	}
}

// loaded reports whether Start got as far as restoring the checkpoints.
func (s *Shipper) loaded() bool {
	for _, src := range s.sources {
		if src.tailer == nil {
			return false
		}
	}
	return s.store != nil
}

// save saves the checkpoints of every source.
func (s *Shipper) save() error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	return s.saveLocked()
}

// saveFor saves the checkpoints unless the store already holds every one
// of origins, so that a file's origin is on disk before its lines ship.
func (s *Shipper) saveFor(origins []string) error {
	s.saveMu.Lock()
	defer s.saveMu.Unlock()
	for _, o := range origins {
		if !s.onDisk[o] {
			return s.saveLocked()
		}
	}
	return nil
}

func (s *Shipper) saveLocked() error {
	var all []tail.Checkpoint
	for _, src := range s.sources {
		all = append(all, src.checkpoints()...)
	}
	if err := s.store.Save(all); err != nil {
		return err
	}
	s.onDisk = origins(all)
	return nil
}

// origins returns the set of the checkpoints' origins.
func origins(cps []tail.Checkpoint) map[string]bool {
	set := make(map[string]bool, len(cps))
	for _, cp := range cps {
		set[cp.Origin] = true
	}
	return set
}
