package silence

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/stream"
)

// Errors Expire returns.
var (
	ErrNotFound = errors.New("no such silence")
	ErrExpired  = errors.New("silence already expired")
)

// Store holds every silence on the topic: it loads the topic at Start and
// follows it until Shutdown, so a silence added by any process reaches
// every store within about a second. Writes go to the topic; the store
// sees them as every other store does.
type Store struct {
	client *stream.Client
	topic  string
	logger *slog.Logger

	mu       sync.RWMutex
	silences map[string]Silence

	table   *stream.Table
	writer  *kafka.Writer
	invalid prometheus.Counter
	active  prometheus.GaugeFunc
}

// Options configure a Store; the zero value logs nothing and registers no
// metrics.
type Options struct {
	// Logger reports messages on the topic that are not silences.
	Logger *slog.Logger
	// Registerer gets vigil_silences_active and
	// vigil_silences_invalid_total. Stores of one process (in `vigil up`)
	// may share one: the first store's metrics stand for all.
	Registerer prometheus.Registerer
}

// NewStore returns a store of the silences on topic.
func NewStore(client *stream.Client, topic string, o Options) *Store {
	logger := o.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Store{client: client, topic: topic, logger: logger, silences: map[string]Silence{}}
	s.invalid = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "vigil_silences_invalid_total", Help: "Messages on the silences topic that are not valid silences (ignored).",
	})
	s.active = prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_silences_active", Help: "Silences in force now.",
	}, func() float64 { return float64(len(s.Active(time.Now()))) })
	if o.Registerer != nil {
		if err := o.Registerer.Register(s.invalid); err != nil {
			are := prometheus.AlreadyRegisteredError{}
			if !errors.As(err, &are) {
				panic(err)
			}
			s.invalid = are.ExistingCollector.(prometheus.Counter)
		}
		// Another store of the process may have registered the gauge:
		// it follows the same topic, so it says the same.
		_ = o.Registerer.Register(s.active)
	}
	return s
}

// Topic is how the silences topic is created: compacted (the newest
// version of each silence is kept), one partition.
func Topic(name string) stream.Topic { return stream.Topic{Name: name, Partitions: 1, Compacted: true} }

// Start creates the topic if it does not exist, loads every silence on it
// and follows it.
func (s *Store) Start(ctx context.Context) error {
	if err := s.client.EnsureTopics(ctx, Topic(s.topic)); err != nil {
		return err
	}
	w, err := s.client.NewWriter(s.topic, stream.WriterOptions{BatchSize: 1, BatchTimeout: time.Millisecond})
	if err != nil {
		return err
	}
	s.writer = w
	s.table = s.client.NewTable(s.topic, s.apply)
	if err := s.table.Start(ctx); err != nil {
		return fmt.Errorf("load silences from %s: %w", s.topic, err)
	}
	return nil
}

// Shutdown stops following the topic; safe before Start.
func (s *Store) Shutdown(context.Context) error {
	var errs []error
	if s.table != nil {
		errs = append(errs, s.table.Close())
	}
	if s.writer != nil {
		errs = append(errs, s.writer.Close())
	}
	return errors.Join(errs...)
}

func (s *Store) apply(m kafka.Message) {
	id := string(m.Key)
	if m.Value == nil { // a tombstone deletes
		s.mu.Lock()
		delete(s.silences, id)
		s.mu.Unlock()
		return
	}
	var sil Silence
	err := json.Unmarshal(m.Value, &sil)
	if err == nil {
		err = sil.Validate()
	}
	if err == nil && sil.ID != id {
		err = fmt.Errorf("id %q is not the message key %q", sil.ID, id)
	}
	if err != nil {
		s.invalid.Inc()
		s.logger.Warn("ignoring a message on the silences topic that is not a silence",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err.Error())
		return
	}
	s.mu.Lock()
	s.silences[id] = sil
	s.mu.Unlock()
}

// Add writes sil to the topic and returns once this store holds it.
func (s *Store) Add(ctx context.Context, sil Silence) error {
	if err := sil.Validate(); err != nil {
		return err
	}
	return s.put(ctx, sil)
}

func (s *Store) put(ctx context.Context, sil Silence) error {
	b, err := json.Marshal(sil)
	if err != nil {
		return fmt.Errorf("encode silence: %w", err)
	}
	if err := s.writer.WriteMessages(ctx, kafka.Message{Key: []byte(sil.ID), Value: b}); err != nil {
		return fmt.Errorf("write silence %s to %s: %w", sil.ID, s.topic, err)
	}
	return s.table.Sync(ctx)
}

// Expire ends the silence id at now and returns it as written. It returns
// ErrNotFound for an unknown id and ErrExpired (with the silence) for one
// already over.
func (s *Store) Expire(ctx context.Context, id string, now time.Time) (Silence, error) {
	if err := s.table.Sync(ctx); err != nil {
		return Silence{}, err
	}
	sil, ok := s.Get(id)
	if !ok {
		return Silence{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	if sil.StateAt(now) == StateExpired {
		return sil, fmt.Errorf("%w: %s ended at %s", ErrExpired, id, sil.EndsAt.Format(time.RFC3339))
	}
	sil = sil.expired(now)
	return sil, s.put(ctx, sil)
}

// Purge deletes from the topic every silence that ended before cutoff,
// writing a tombstone for each (compaction then removes it for good), and
// returns how many it deleted. Several processes may purge at once: a
// silence deleted twice is deleted once.
func (s *Store) Purge(ctx context.Context, cutoff time.Time) (int, error) {
	if err := s.table.Sync(ctx); err != nil {
		return 0, err
	}
	var tombstones []kafka.Message
	for _, sil := range s.All() {
		if sil.EndsAt.Before(cutoff) {
			tombstones = append(tombstones, kafka.Message{Key: []byte(sil.ID)})
		}
	}
	if len(tombstones) == 0 {
		return 0, nil
	}
	if err := s.writer.WriteMessages(ctx, tombstones...); err != nil {
		return 0, fmt.Errorf("delete expired silences from %s: %w", s.topic, err)
	}
	return len(tombstones), s.table.Sync(ctx)
}

// Sync returns once the store holds every silence written before the call.
func (s *Store) Sync(ctx context.Context) error { return s.table.Sync(ctx) }

// Get returns the silence id.
func (s *Store) Get(id string) (Silence, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	sil, ok := s.silences[id]
	return sil, ok
}

// All returns every silence, the latest ending first.
func (s *Store) All() []Silence {
	s.mu.RLock()
	out := make([]Silence, 0, len(s.silences))
	for _, sil := range s.silences {
		out = append(out, sil)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b Silence) int {
		if c := b.EndsAt.Compare(a.EndsAt); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// Active returns the silences in force at now, the latest ending first.
func (s *Store) Active(now time.Time) []Silence {
	var out []Silence
	for _, sil := range s.All() {
		if sil.StateAt(now) == StateActive {
			out = append(out, sil)
		}
	}
	return out
}

// Silenced returns the ids of the silences that mute a at now (none: nil).
func (s *Store) Silenced(a alert.Alert, now time.Time) []string {
	ls := a.LabelSet()
	s.mu.RLock()
	defer s.mu.RUnlock()
	var ids []string
	for id, sil := range s.silences {
		if sil.Mutes(ls, now) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids
}
