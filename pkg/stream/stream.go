package stream

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/segmentio/kafka-go/compress"
	"github.com/segmentio/kafka-go/sasl"
	"github.com/segmentio/kafka-go/sasl/plain"
	"github.com/segmentio/kafka-go/sasl/scram"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
)

// Client holds what every Kafka connection of a process shares.
type Client struct {
	cfg       config.KafkaConfig
	tls       *tls.Config
	mechanism sasl.Mechanism
	transport *kafka.Transport
	// writers is the transport of writers: transport, with each topic's
	// partitions remembered for a second.
	writers *writerTransport
	logger  *slog.Logger
	// dial, when set, opens the connections of readers and groups
	// instead of the dialer's own (tests break connections with it).
	dial func(ctx context.Context, network, address string) (net.Conn, error)
}

// Option configures a Client.
type Option func(*Client)

// WithLogger makes readers report what kafka-go logs (group joins,
// rebalances, failed fetches and commits) at debug level. Default: none.
func WithLogger(l *slog.Logger) Option { return func(c *Client) { c.logger = l } }

// NewClient checks cfg's TLS and SASL settings and returns a Client.
func NewClient(cfg config.KafkaConfig, opts ...Option) (*Client, error) {
	c := &Client{cfg: cfg}
	for _, o := range opts {
		o(c)
	}
	if cfg.TLS.Enabled {
		t, err := tlsConfig(cfg.TLS)
		if err != nil {
			return nil, err
		}
		c.tls = t
	}
	switch cfg.SASL.Mechanism {
	case "":
	case "PLAIN":
		c.mechanism = plain.Mechanism{Username: cfg.SASL.Username, Password: cfg.SASL.Password.Reveal()}
	case "SCRAM-SHA-256", "SCRAM-SHA-512":
		algo := scram.SHA256
		if cfg.SASL.Mechanism == "SCRAM-SHA-512" {
			algo = scram.SHA512
		}
		m, err := scram.Mechanism(algo, cfg.SASL.Username, cfg.SASL.Password.Reveal())
		if err != nil {
			return nil, fmt.Errorf("kafka.sasl: %w", err)
		}
		c.mechanism = m
	default:
		return nil, fmt.Errorf("kafka.sasl.mechanism: unsupported %q", cfg.SASL.Mechanism)
	}
	c.transport = &kafka.Transport{
		DialTimeout: cfg.DialTimeout,
		ClientID:    cfg.ClientID,
		TLS:         c.tls,
		SASL:        c.mechanism,
		IdleTimeout: 30 * time.Second,
		MetadataTTL: 10 * time.Second,
	}
	c.writers = newWriterTransport(c.transport)
	return c, nil
}

// Connect builds a client, waits until a broker answers (logging each
// retry), and creates the topics that do not exist yet: what every service
// does when it starts.
func Connect(ctx context.Context, cfg config.KafkaConfig, logger *slog.Logger, topics ...Topic) (*Client, error) {
	c, err := NewClient(cfg, WithLogger(logger))
	if err != nil {
		return nil, err
	}
	if err := c.WaitReady(ctx, logger); err != nil {
		c.Close()
		return nil, err
	}
	if err := c.EnsureTopics(ctx, topics...); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// Config returns the Kafka configuration the client was built from.
func (c *Client) Config() config.KafkaConfig { return c.cfg }

// Close releases idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

func tlsConfig(cfg config.TLSConfig) (*tls.Config, error) {
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: cfg.InsecureSkipVerify} //nolint:gosec // opt-in for tests
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file: no certificates in %s", cfg.CAFile)
		}
		t.RootCAs = pool
	}
	if cfg.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file: %w", err)
		}
		t.Certificates = []tls.Certificate{cert}
	}
	return t, nil
}

func (c *Client) dialer() *kafka.Dialer {
	return &kafka.Dialer{
		ClientID:      c.cfg.ClientID,
		Timeout:       c.cfg.DialTimeout,
		DualStack:     true,
		TLS:           c.tls,
		SASLMechanism: c.mechanism,
		DialFunc:      c.dial,
	}
}

// WriterOptions tune a writer; the zero value is sensible.
type WriterOptions struct {
	// BatchSize is the most messages per produce request. Default 1000.
	BatchSize int
	// BatchTimeout is how long a partial batch waits. Default 5ms.
	BatchTimeout time.Duration
	// Async makes WriteMessages return before acknowledgement. Default false:
	// WriteMessages returns once every message is acknowledged.
	Async bool
}

// NewWriter returns a writer to topic that waits for all in-sync replicas,
// partitions by message key with Kafka's murmur2 (as the Java client does),
// and compresses as configured.
func (c *Client) NewWriter(topic string, o WriterOptions) (*kafka.Writer, error) {
	codec, err := Compression(c.cfg.Compression)
	if err != nil {
		return nil, err
	}
	if o.BatchSize == 0 {
		o.BatchSize = 1000
	}
	if o.BatchTimeout == 0 {
		o.BatchTimeout = 5 * time.Millisecond
	}
	return &kafka.Writer{
		Addr:         kafka.TCP(c.cfg.Brokers...),
		Topic:        topic,
		Balancer:     kafka.Murmur2Balancer{},
		RequiredAcks: kafka.RequireAll,
		Compression:  codec,
		BatchSize:    o.BatchSize,
		BatchBytes:   1 << 20, // Kafka's default message.max.bytes, per partition batch
		BatchTimeout: o.BatchTimeout,
		WriteTimeout: 30 * time.Second,
		MaxAttempts:  10,
		Async:        o.Async,
		Transport:    c.writers,
	}, nil
}

// Compression returns the kafka-go codec of a kafka.compression setting.
func Compression(name string) (kafka.Compression, error) {
	switch name {
	case "", "none":
		return 0, nil
	case "gzip":
		return compress.Gzip, nil
	case "snappy":
		return compress.Snappy, nil
	case "lz4":
		return compress.Lz4, nil
	case "zstd":
		return compress.Zstd, nil
	}
	return 0, fmt.Errorf("kafka.compression: unsupported %q", name)
}

// NewGroupReader returns a reader of topics in consumer group groupID that
// starts at the earliest offset when the group has none, and commits only
// when CommitMessages is called.
func (c *Client) NewGroupReader(groupID string, topics ...string) *kafka.Reader {
	infoLog, errLog := c.kafkaLoggers("kafka reader", "group", groupID)
	return kafka.NewReader(kafka.ReaderConfig{
		Logger:                infoLog,
		ErrorLogger:           errLog,
		Brokers:               c.cfg.Brokers,
		GroupID:               groupID,
		GroupTopics:           topics,
		Dialer:                c.dialer(),
		MinBytes:              1,
		MaxBytes:              16 << 20,
		MaxWait:               250 * time.Millisecond,
		ReadBatchTimeout:      2 * time.Second,
		QueueCapacity:         1000,
		StartOffset:           kafka.FirstOffset,
		CommitInterval:        0,
		HeartbeatInterval:     time.Second,
		SessionTimeout:        10 * time.Second,
		RebalanceTimeout:      10 * time.Second,
		JoinGroupBackoff:      time.Second,
		WatchPartitionChanges: true,
		ReadBackoffMin:        50 * time.Millisecond,
		ReadBackoffMax:        500 * time.Millisecond,
	})
}

// kafkaLoggers returns loggers that pass what kafka-go reports to the
// client's logger at debug level, or nils without one.
func (c *Client) kafkaLoggers(what string, attrs ...any) (info, errs kafka.Logger) {
	if c.logger == nil {
		return nil, nil
	}
	l := c.logger.With(attrs...)
	info = kafka.LoggerFunc(func(msg string, args ...any) { l.Debug(what + ": " + fmt.Sprintf(msg, args...)) })
	errs = kafka.LoggerFunc(func(msg string, args ...any) { l.Debug(what + " error: " + fmt.Sprintf(msg, args...)) })
	return info, errs
}

// Topic is a topic to create.
type Topic struct {
	Name       string
	Partitions int
	// Compacted topics keep the newest message per key.
	Compacted bool
	// Retention, when set, deletes messages older than it (retention.ms);
	// with Compacted, the newest message per key is also deleted once it
	// is that old (cleanup.policy=compact,delete). Default: the broker's.
	Retention time.Duration
}

// EnsureTopics creates the topics that do not exist yet.
func (c *Client) EnsureTopics(ctx context.Context, topics ...Topic) error {
	cl := c.KafkaClient()
	req := &kafka.CreateTopicsRequest{}
	for _, t := range topics {
		tc := kafka.TopicConfig{Topic: t.Name, NumPartitions: t.Partitions, ReplicationFactor: c.cfg.ReplicationFactor}
		switch {
		case t.Compacted && t.Retention > 0:
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact,delete"}}
		case t.Compacted:
			tc.ConfigEntries = []kafka.ConfigEntry{{ConfigName: "cleanup.policy", ConfigValue: "compact"}}
		}
		if t.Retention > 0 {
			tc.ConfigEntries = append(tc.ConfigEntries, kafka.ConfigEntry{ConfigName: "retention.ms", ConfigValue: strconv.FormatInt(t.Retention.Milliseconds(), 10)})
		}
		req.Topics = append(req.Topics, tc)
	}
	res, err := cl.CreateTopics(ctx, req)
	if err != nil {
		return fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for name, err := range res.Errors {
		if err != nil && !errors.Is(err, kafka.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("create topic %s: %w", name, err))
		}
	}
	return errors.Join(errs...)
}

// WaitReady blocks until a broker answers a metadata request, logging a
// clear line (not a stack trace) each time it retries.
func (c *Client) WaitReady(ctx context.Context, logger *slog.Logger) error {
	var last error
	if backoff.Retry(ctx, connectBackoff, logger, "connect to kafka at "+strings.Join(c.cfg.Brokers, ","),
		func(ctx context.Context) error { last = c.ping(ctx); return last }) {
		return nil
	}
	return fmt.Errorf("kafka at %v not reachable: %w", c.cfg.Brokers, last)
}

// connectBackoff paces retries of reaching a broker that is not up yet.
var connectBackoff = backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second}

func (c *Client) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	var lastErr error
	for _, b := range c.cfg.Brokers {
		conn, err := c.dialer().DialContext(ctx, "tcp", b)
		if err != nil {
			lastErr = err
			continue
		}
		if dl, ok := ctx.Deadline(); ok {
			_ = conn.SetDeadline(dl) // the dial context does not bound requests
		}
		_, err = conn.Brokers()
		conn.Close()
		if err == nil {
			return nil
		}
		lastErr = err
	}
	var opErr *net.OpError
	if errors.As(lastErr, &opErr) {
		return opErr
	}
	return lastErr
}

// Partitions returns the partition ids of topic.
func (c *Client) Partitions(ctx context.Context, topic string) ([]int, error) {
	cl := c.KafkaClient()
	res, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	for _, t := range res.Topics {
		if t.Name != topic {
			continue
		}
		if t.Error != nil {
			return nil, fmt.Errorf("metadata of %s: %w", topic, t.Error)
		}
		ids := make([]int, len(t.Partitions))
		for i, p := range t.Partitions {
			ids[i] = p.ID
		}
		return ids, nil
	}
	return nil, fmt.Errorf("metadata of %s: %w", topic, ErrNoTopic)
}

// Ping asks the brokers for metadata once, bounded by the dial timeout:
// whether Kafka is reachable now.
func (c *Client) Ping(ctx context.Context) error { return c.ping(ctx) }

// ErrNoTopic is returned for a topic the brokers do not have.
var ErrNoTopic = errors.New("no such topic")

// EndOffsets returns, for each partition of topic, the offset the next
// message written to it will get.
func (c *Client) EndOffsets(ctx context.Context, topic string) (map[int]int64, error) {
	cl := c.KafkaClient()
	md, err := cl.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	if len(md.Topics) != 1 || errors.Is(md.Topics[0].Error, kafka.UnknownTopicOrPartition) || len(md.Topics[0].Partitions) == 0 {
		return nil, fmt.Errorf("%w: %s", ErrNoTopic, topic)
	}
	if err := md.Topics[0].Error; err != nil {
		return nil, fmt.Errorf("metadata of %s: %w", topic, err)
	}
	reqs := make([]kafka.OffsetRequest, len(md.Topics[0].Partitions))
	for i, p := range md.Topics[0].Partitions {
		reqs[i] = kafka.LastOffsetOf(p.ID)
	}
	res, err := cl.ListOffsets(ctx, &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{topic: reqs}})
	if err != nil {
		return nil, fmt.Errorf("end offsets of %s: %w", topic, err)
	}
	out := make(map[int]int64, len(reqs))
	for _, p := range res.Topics[topic] {
		if p.Error != nil {
			return nil, fmt.Errorf("end offset of %s/%d: %w", topic, p.Partition, p.Error)
		}
		out[p.Partition] = p.LastOffset
	}
	return out, nil
}
