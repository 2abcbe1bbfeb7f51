package config

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"time"
)

// Config is the whole of Vigil's configuration. One file can hold every
// section; each service reads the sections it needs.
type Config struct {
	// Tenant stamped on events that do not carry one.
	Tenant string `mapstructure:"tenant" yaml:"tenant"`
	// Log configures the process's structured log.
	Log LogConfig `mapstructure:"log" yaml:"log"`
	// Telemetry configures the HTTP endpoint with /metrics, /healthz and /readyz.
	Telemetry TelemetryConfig `mapstructure:"telemetry" yaml:"telemetry"`
	// Kafka says where the brokers are and which topics to use.
	Kafka KafkaConfig `mapstructure:"kafka" yaml:"kafka"`
	// ClickHouse says where the audit history is stored.
	ClickHouse ClickHouseConfig `mapstructure:"clickhouse" yaml:"clickhouse"`
	// Broker configures the embedded Kafka-protocol broker (`vigil broker`).
	Broker BrokerConfig `mapstructure:"broker" yaml:"broker"`
	// Shipper configures the agent that reads logs and publishes events.
	Shipper ShipperConfig `mapstructure:"shipper" yaml:"shipper"`
	// Processor configures baselines, scoring and alerting.
	Processor ProcessorConfig `mapstructure:"processor" yaml:"processor"`
	// Archiver configures the writer of events, scores and alerts to ClickHouse.
	Archiver ArchiverConfig `mapstructure:"archiver" yaml:"archiver"`
	// Pager configures alert delivery.
	Pager PagerConfig `mapstructure:"pager" yaml:"pager"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is one of debug, info, warn, error. Default info.
	Level string `mapstructure:"level" yaml:"level"`
	// Format is json or text. Default json.
	Format string `mapstructure:"format" yaml:"format"`
}

// TelemetryConfig configures the telemetry HTTP server.
type TelemetryConfig struct {
	// Listen is the host:port of /metrics, /healthz and /readyz; empty
	// disables the server. Default 127.0.0.1:9464.
	Listen string `mapstructure:"listen" yaml:"listen"`
}

// KafkaConfig says how to reach Kafka.
type KafkaConfig struct {
	// Brokers are the bootstrap host:port pairs. Default [127.0.0.1:9092].
	Brokers []string `mapstructure:"brokers" yaml:"brokers"`
	// ClientID names this process to the brokers. Default vigil.
	ClientID string `mapstructure:"client_id" yaml:"client_id"`
	// Topics names the topics Vigil reads and writes.
	Topics TopicsConfig `mapstructure:"topics" yaml:"topics"`
	// Partitions is the partition count of topics Vigil creates. Default 6.
	Partitions int `mapstructure:"partitions" yaml:"partitions"`
	// ReplicationFactor of topics Vigil creates. Default 1.
	ReplicationFactor int `mapstructure:"replication_factor" yaml:"replication_factor"`
	// Compression of produced batches: none, gzip, snappy, lz4 or zstd. Default lz4.
	Compression string `mapstructure:"compression" yaml:"compression"`
	// DialTimeout bounds connecting to a broker. Default 10s.
	DialTimeout time.Duration `mapstructure:"dial_timeout" yaml:"dial_timeout"`
	// SASL authenticates to the brokers when Mechanism is set.
	SASL SASLConfig `mapstructure:"sasl" yaml:"sasl"`
	// TLS encrypts connections to the brokers when Enabled.
	TLS TLSConfig `mapstructure:"tls" yaml:"tls"`
}

// TopicsConfig names Vigil's topics.
type TopicsConfig struct {
	// Events carries normalized events. Default vigil.events.
	Events string `mapstructure:"events" yaml:"events"`
	// EventsDLQ keeps messages no stage could use, with the reason. Default vigil.events.dlq.
	EventsDLQ string `mapstructure:"events_dlq" yaml:"events_dlq"`
	// Scores carries one score per entity and window. Default vigil.scores.
	Scores string `mapstructure:"scores" yaml:"scores"`
	// Alerts carries alerts for paging tools. Default vigil.alerts.
	Alerts string `mapstructure:"alerts" yaml:"alerts"`
}

// SASLConfig authenticates to Kafka.
type SASLConfig struct {
	// Mechanism is empty (off), PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	Mechanism string `mapstructure:"mechanism" yaml:"mechanism"`
	// Username for SASL.
	Username string `mapstructure:"username" yaml:"username"`
	// Password for SASL; never printed.
	Password Secret `mapstructure:"password" yaml:"password"`
}

// TLSConfig configures a TLS client.
type TLSConfig struct {
	// Enabled turns TLS on.
	Enabled bool `mapstructure:"enabled" yaml:"enabled"`
	// CAFile is a PEM bundle of CAs to trust; empty uses the system pool.
	CAFile string `mapstructure:"ca_file" yaml:"ca_file"`
	// CertFile is the client certificate (PEM) for mutual TLS.
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	// KeyFile is the client key (PEM) for mutual TLS.
	KeyFile string `mapstructure:"key_file" yaml:"key_file"`
	// InsecureSkipVerify disables server certificate checks. Tests only.
	InsecureSkipVerify bool `mapstructure:"insecure_skip_verify" yaml:"insecure_skip_verify"`
}

// ClickHouseConfig says how to reach ClickHouse.
type ClickHouseConfig struct {
	// Addr are native-protocol host:port pairs. Default [127.0.0.1:9000].
	Addr []string `mapstructure:"addr" yaml:"addr"`
	// Database holds Vigil's tables. Default vigil.
	Database string `mapstructure:"database" yaml:"database"`
	// Username to connect as. Default default.
	Username string `mapstructure:"username" yaml:"username"`
	// Password for Username; never printed.
	Password Secret `mapstructure:"password" yaml:"password"`
	// DialTimeout bounds connecting. Default 10s.
	DialTimeout time.Duration `mapstructure:"dial_timeout" yaml:"dial_timeout"`
	// ReadTimeout bounds one query or insert. Default 60s.
	ReadTimeout time.Duration `mapstructure:"read_timeout" yaml:"read_timeout"`
	// Local, when true, makes `vigil up` start a project-local server with
	// deploy/clickhouse/clickhouse.sh before connecting. Default true.
	Local bool `mapstructure:"local" yaml:"local"`
	// HTTPPort of the local server started when Local is true. Default 8123.
	HTTPPort int `mapstructure:"http_port" yaml:"http_port"`
	// DataDir of the local server started when Local is true. Default var/clickhouse.
	DataDir string `mapstructure:"data_dir" yaml:"data_dir"`
}

// BrokerConfig configures the embedded broker.
type BrokerConfig struct {
	// Listen is the host:port the broker serves Kafka on. Default 127.0.0.1:9092.
	Listen string `mapstructure:"listen" yaml:"listen"`
	// DataDir keeps topics and offsets across restarts. Default var/broker.
	DataDir string `mapstructure:"data_dir" yaml:"data_dir"`
	// SyncWrites fsyncs every produced batch before acknowledging it. Default true.
	SyncWrites bool `mapstructure:"sync_writes" yaml:"sync_writes"`
}

// ShipperConfig configures the shipper.
type ShipperConfig struct {
	// Files lists the files to tail.
	Files []FileInput `mapstructure:"files" yaml:"files"`
	// StateDir keeps read checkpoints. Default var/shipper.
	StateDir string `mapstructure:"state_dir" yaml:"state_dir"`
	// PollInterval is how often files are checked for new lines and new
	// matches of the globs. Default 250ms.
	PollInterval time.Duration `mapstructure:"poll_interval" yaml:"poll_interval"`
	// BatchLines is the most lines published in one batch. Default 2000.
	BatchLines int `mapstructure:"batch_lines" yaml:"batch_lines"`
	// MaxLineBytes truncates longer lines (the event is flagged). Default 65536.
	MaxLineBytes int `mapstructure:"max_line_bytes" yaml:"max_line_bytes"`
	// Host names this machine on events whose line does not. Default: the hostname.
	Host string `mapstructure:"host" yaml:"host"`
}

// FileInput is one set of files to tail.
type FileInput struct {
	// Paths are glob patterns; files that appear later are picked up.
	Paths []string `mapstructure:"paths" yaml:"paths"`
	// Format is auto, sshd, json or raw. auto tries json, then sshd, and
	// keeps anything else as a raw event. Default auto.
	Format string `mapstructure:"format" yaml:"format"`
	// FromEnd starts files found when the shipper first runs (it has no
	// checkpoints yet) at their end instead of their first byte, to skip
	// old history. Files that appear later are always read from their
	// first byte. Default false.
	FromEnd bool `mapstructure:"from_end" yaml:"from_end"`
}

// ProcessorConfig configures the processor.
type ProcessorConfig struct {
	// GroupID is the Kafka consumer group. Default vigil-processor.
	GroupID string `mapstructure:"group_id" yaml:"group_id"`
	// BruteForce configures the failed-logins-per-source-IP detector.
	BruteForce BruteForceConfig `mapstructure:"brute_force" yaml:"brute_force"`
}

// BruteForceConfig configures the per-source-IP failed login baseline.
type BruteForceConfig struct {
	// Window is the length of one counting window (event time). Default 1m.
	Window time.Duration `mapstructure:"window" yaml:"window"`
	// Lateness is how long after a window ends events for it are still
	// accepted; later ones are counted as late. Default 30s.
	Lateness time.Duration `mapstructure:"lateness" yaml:"lateness"`
	// IdleFlush closes open windows when no event arrived for this long
	// (wall clock), so the last windows of a quiet stream are scored. Default 5s.
	IdleFlush time.Duration `mapstructure:"idle_flush" yaml:"idle_flush"`
	// Alpha is the EWMA weight of the newest window, in (0,1). Default 0.05.
	Alpha float64 `mapstructure:"alpha" yaml:"alpha"`
	// Warmup is how many windows an IP needs before its own baseline is
	// used; before that it is judged against the population. Default 10.
	Warmup int `mapstructure:"warmup" yaml:"warmup"`
	// Threshold is the anomaly score in [0,1] at or above which a window
	// alerts. Default 0.99999 (a one-in-100,000 window under the baseline).
	Threshold float64 `mapstructure:"threshold" yaml:"threshold"`
	// MinCount is the fewest failures in a window that may alert. Default 10.
	MinCount int `mapstructure:"min_count" yaml:"min_count"`
	// ResolveWindows is how many quiet windows close an open incident.
	// Default 5.
	ResolveWindows int `mapstructure:"resolve_windows" yaml:"resolve_windows"`
	// MaxEntities caps the tracked IPs; beyond it new IPs are counted as
	// overflow and judged only against the population. Default 1000000.
	MaxEntities int `mapstructure:"max_entities" yaml:"max_entities"`
	// Severity of the alerts raised. Default high.
	Severity string `mapstructure:"severity" yaml:"severity"`
}

// ArchiverConfig configures the archiver.
type ArchiverConfig struct {
	// GroupID is the Kafka consumer group. Default vigil-archiver.
	GroupID string `mapstructure:"group_id" yaml:"group_id"`
	// BatchRows is the most rows in one insert. Default 100000.
	BatchRows int `mapstructure:"batch_rows" yaml:"batch_rows"`
	// BatchBytes is the most message bytes in one insert. Default 32MiB
	// (33554432).
	BatchBytes int `mapstructure:"batch_bytes" yaml:"batch_bytes"`
	// Inserters is how many batches are inserted at once; while they are
	// all busy the archiver reads nothing more. Default 2.
	Inserters int `mapstructure:"inserters" yaml:"inserters"`
	// FlushInterval is the longest a row waits before its batch is
	// inserted. Default 1s.
	FlushInterval time.Duration `mapstructure:"flush_interval" yaml:"flush_interval"`
	// RetryBackoff is the first wait after a failed insert; it doubles up
	// to RetryBackoffMax. Default 500ms.
	RetryBackoff time.Duration `mapstructure:"retry_backoff" yaml:"retry_backoff"`
	// RetryBackoffMax caps the wait between retries. Default 30s.
	RetryBackoffMax time.Duration `mapstructure:"retry_backoff_max" yaml:"retry_backoff_max"`
}

// PagerConfig configures the pager.
type PagerConfig struct {
	// GroupID is the Kafka consumer group. Default vigil-pager.
	GroupID string `mapstructure:"group_id" yaml:"group_id"`
	// Output is where alerts are printed: stdout or stderr. Default stdout.
	Output string `mapstructure:"output" yaml:"output"`
}

// Default returns the configuration Vigil runs on when nothing is set: every
// service on this machine, the embedded broker, the local ClickHouse.
func Default() Config {
	return Config{
		Tenant:    "default",
		Log:       LogConfig{Level: "info", Format: "json"},
		Telemetry: TelemetryConfig{Listen: "127.0.0.1:9464"},
		Kafka: KafkaConfig{
			Brokers:  []string{"127.0.0.1:9092"},
			ClientID: "vigil",
			Topics: TopicsConfig{
				Events:    "vigil.events",
				EventsDLQ: "vigil.events.dlq",
				Scores:    "vigil.scores",
				Alerts:    "vigil.alerts",
			},
			Partitions:        6,
			ReplicationFactor: 1,
			Compression:       "lz4",
			DialTimeout:       10 * time.Second,
		},
		ClickHouse: ClickHouseConfig{
			Addr:        []string{"127.0.0.1:9000"},
			Database:    "vigil",
			Username:    "default",
			DialTimeout: 10 * time.Second,
			ReadTimeout: 60 * time.Second,
			Local:       true,
			HTTPPort:    8123,
			DataDir:     "var/clickhouse",
		},
		Broker: BrokerConfig{Listen: "127.0.0.1:9092", DataDir: "var/broker", SyncWrites: true},
		Shipper: ShipperConfig{
			Files: []FileInput{{
				Paths:  []string{"/var/log/auth.log", "/var/log/secure", "var/inbox/*"},
				Format: "auto",
			}},
			StateDir:     "var/shipper",
			PollInterval: 250 * time.Millisecond,
			BatchLines:   2000,
			MaxLineBytes: 64 << 10,
		},
		Processor: ProcessorConfig{
			GroupID: "vigil-processor",
			BruteForce: BruteForceConfig{
				Window:         time.Minute,
				Lateness:       30 * time.Second,
				IdleFlush:      5 * time.Second,
				Alpha:          0.05,
				Warmup:         10,
				Threshold:      0.99999,
				MinCount:       10,
				ResolveWindows: 5,
				MaxEntities:    1_000_000,
				Severity:       "high",
			},
		},
		Archiver: ArchiverConfig{
			GroupID:         "vigil-archiver",
			BatchRows:       100_000,
			BatchBytes:      32 << 20,
			Inserters:       2,
			FlushInterval:   time.Second,
			RetryBackoff:    500 * time.Millisecond,
			RetryBackoffMax: 30 * time.Second,
		},
		Pager: PagerConfig{GroupID: "vigil-pager", Output: "stdout"},
	}
}

// Validate reports every problem in c, joined, each naming its key.
func (c *Config) Validate() error {
	var v validator
	v.nonEmpty("tenant", c.Tenant)
	v.oneOf("log.level", c.Log.Level, "debug", "info", "warn", "error")
	v.oneOf("log.format", c.Log.Format, "json", "text")
	if c.Telemetry.Listen != "" {
		v.hostPort("telemetry.listen", c.Telemetry.Listen)
	}

	k := c.Kafka
	if len(k.Brokers) == 0 {
		v.add("kafka.brokers", "must list at least one host:port")
	}
	for _, b := range k.Brokers {
		v.hostPort("kafka.brokers", b)
	}
	v.nonEmpty("kafka.client_id", k.ClientID)
	v.nonEmpty("kafka.topics.events", k.Topics.Events)
	v.nonEmpty("kafka.topics.events_dlq", k.Topics.EventsDLQ)
	v.nonEmpty("kafka.topics.scores", k.Topics.Scores)
	v.nonEmpty("kafka.topics.alerts", k.Topics.Alerts)
	seen := map[string]string{}
	for key, name := range map[string]string{
		"kafka.topics.events": k.Topics.Events, "kafka.topics.events_dlq": k.Topics.EventsDLQ,
		"kafka.topics.scores": k.Topics.Scores, "kafka.topics.alerts": k.Topics.Alerts,
	} {
		if other, dup := seen[name]; dup && name != "" {
			first, second := min(key, other), max(key, other)
			v.add(second, fmt.Sprintf("%q is also %s; every topic needs its own name", name, first))
		}
		seen[name] = key
	}
	v.positive("kafka.partitions", float64(k.Partitions))
	v.positive("kafka.replication_factor", float64(k.ReplicationFactor))
	v.oneOf("kafka.compression", k.Compression, "none", "gzip", "snappy", "lz4", "zstd")
	v.positive("kafka.dial_timeout", float64(k.DialTimeout))
	v.oneOf("kafka.sasl.mechanism", k.SASL.Mechanism, "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
	if k.SASL.Mechanism != "" {
		v.nonEmpty("kafka.sasl.username", k.SASL.Username)
	}
	if (k.TLS.CertFile == "") != (k.TLS.KeyFile == "") {
		v.add("kafka.tls.cert_file", "cert_file and key_file must be set together")
	}

	ch := c.ClickHouse
	if len(ch.Addr) == 0 {
		v.add("clickhouse.addr", "must list at least one host:port")
	}
	for _, a := range ch.Addr {
		v.hostPort("clickhouse.addr", a)
	}
	v.identifier("clickhouse.database", ch.Database)
	v.nonEmpty("clickhouse.username", ch.Username)
	v.positive("clickhouse.dial_timeout", float64(ch.DialTimeout))
	v.positive("clickhouse.read_timeout", float64(ch.ReadTimeout))
	if ch.Local {
		v.port("clickhouse.http_port", ch.HTTPPort)
		v.nonEmpty("clickhouse.data_dir", ch.DataDir)
	}

	v.hostPort("broker.listen", c.Broker.Listen)
	v.nonEmpty("broker.data_dir", c.Broker.DataDir)

	s := c.Shipper
	for i, f := range s.Files {
		key := fmt.Sprintf("shipper.files[%d]", i)
		if len(f.Paths) == 0 {
			v.add(key+".paths", "must list at least one glob")
		}
		v.oneOf(key+".format", f.Format, "auto", "sshd", "json", "raw")
		for _, p := range f.Paths {
			if _, err := filepath.Match(p, ""); err != nil {
				v.add(key+".paths", fmt.Sprintf("%q is not a valid glob: %v", p, err))
			}
		}
	}
	v.nonEmpty("shipper.state_dir", s.StateDir)
	v.positive("shipper.poll_interval", float64(s.PollInterval))
	if s.BatchLines < 1 || s.BatchLines > 100_000 {
		v.add("shipper.batch_lines", fmt.Sprintf("must be from 1 to 100000, got %d", s.BatchLines))
	}
	// An event holds its line (and more); it must fit in one Kafka message.
	if s.MaxLineBytes < 256 || s.MaxLineBytes > 256<<10 {
		v.add("shipper.max_line_bytes", fmt.Sprintf("must be from 256 to 262144, got %d", s.MaxLineBytes))
	}

	p := c.Processor
	v.nonEmpty("processor.group_id", p.GroupID)
	bf := p.BruteForce
	v.positive("processor.brute_force.window", float64(bf.Window))
	if bf.Lateness < 0 {
		v.add("processor.brute_force.lateness", "must not be negative")
	}
	v.positive("processor.brute_force.idle_flush", float64(bf.IdleFlush))
	if bf.Alpha <= 0 || bf.Alpha >= 1 {
		v.add("processor.brute_force.alpha", fmt.Sprintf("must be in (0,1), got %g", bf.Alpha))
	}
	if bf.Warmup < 1 || bf.Warmup > 2048 {
		v.add("processor.brute_force.warmup", fmt.Sprintf("must be from 1 to 2048 (the population keeps 2048 windows), got %d", bf.Warmup))
	}
	if bf.Threshold <= 0 || bf.Threshold >= 1 {
		v.add("processor.brute_force.threshold", fmt.Sprintf("must be in (0,1), got %g", bf.Threshold))
	}
	v.positive("processor.brute_force.min_count", float64(bf.MinCount))
	v.positive("processor.brute_force.resolve_windows", float64(bf.ResolveWindows))
	v.positive("processor.brute_force.max_entities", float64(bf.MaxEntities))
	v.oneOf("processor.brute_force.severity", bf.Severity, "info", "low", "medium", "high", "critical")

	a := c.Archiver
	v.nonEmpty("archiver.group_id", a.GroupID)
	v.positive("archiver.batch_rows", float64(a.BatchRows))
	v.positive("archiver.batch_bytes", float64(a.BatchBytes))
	if a.Inserters < 1 || a.Inserters > 64 {
		v.add("archiver.inserters", fmt.Sprintf("must be between 1 and 64, got %d", a.Inserters))
	}
	v.positive("archiver.flush_interval", float64(a.FlushInterval))
	v.positive("archiver.retry_backoff", float64(a.RetryBackoff))
	if a.RetryBackoffMax < a.RetryBackoff {
		v.add("archiver.retry_backoff_max", "must be at least archiver.retry_backoff")
	}

	v.nonEmpty("pager.group_id", c.Pager.GroupID)
	v.oneOf("pager.output", c.Pager.Output, "stdout", "stderr")
	return v.err()
}

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid configuration")

type validator struct{ errs []error }

func (v *validator) add(key, msg string) {
	v.errs = append(v.errs, fmt.Errorf("%w: %s: %s", ErrInvalid, key, msg))
}

func (v *validator) err() error { return errors.Join(v.errs...) }

func (v *validator) nonEmpty(key, s string) {
	if s == "" {
		v.add(key, "must not be empty")
	}
}

func (v *validator) positive(key string, f float64) {
	if f <= 0 {
		v.add(key, "must be positive")
	}
}

func (v *validator) oneOf(key, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.add(key, fmt.Sprintf("%q is not one of %q", s, allowed))
}

func (v *validator) port(key string, p int) {
	if p < 1 || p > 65535 {
		v.add(key, fmt.Sprintf("%d is not a port (1..65535)", p))
	}
}

func (v *validator) hostPort(key, s string) {
	if _, _, err := net.SplitHostPort(s); err != nil {
		v.add(key, fmt.Sprintf("%q is not host:port", s))
	}
}

func (v *validator) identifier(key, s string) {
	if s == "" {
		v.add(key, "must not be empty")
		return
	}
	for _, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			v.add(key, fmt.Sprintf("%q may hold only letters, digits and _", s))
			return
		}
	}
}
