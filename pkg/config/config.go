package config

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/labels"
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
	// AlertsDLQ keeps the notifications the pager could not deliver, with
	// the receiver and the reason in headers. Default vigil.alerts.dlq.
	AlertsDLQ string `mapstructure:"alerts_dlq" yaml:"alerts_dlq"`
	// Silences holds silences, keyed by silence id (compacted). Default
	// vigil.silences.
	Silences string `mapstructure:"silences" yaml:"silences"`
	// Deliveries records every notification the pager delivered, keyed by
	// notification id (compacted, kept pager.dedup_window), so that no
	// pager sends one twice. Default vigil.pager.deliveries.
	Deliveries string `mapstructure:"deliveries" yaml:"deliveries"`
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
	// ReadTimeout bounds one query or insert, and each write to the server.
	// Default 60s.
	ReadTimeout time.Duration `mapstructure:"read_timeout" yaml:"read_timeout"`
	// Compression of what is sent to and from the server: auto, lz4, zstd
	// or none. auto compresses with lz4 unless every address is a loopback
	// one, where compressing only costs CPU on both ends (current
	// ClickHouse clients choose the same way). Default auto.
	Compression string `mapstructure:"compression" yaml:"compression"`
	// Local, when true, makes `vigil up` start a project-local server with
	// deploy/clickhouse/clickhouse.sh before connecting. Default true.
	Local bool `mapstructure:"local" yaml:"local"`
	// HTTPPort of the local server started when Local is true. Default 8123.
	HTTPPort int `mapstructure:"http_port" yaml:"http_port"`
	// DataDir of the local server started when Local is true. Default var/clickhouse.
	DataDir string `mapstructure:"data_dir" yaml:"data_dir"`
	// Retention says how long each table keeps its rows.
	Retention RetentionConfig `mapstructure:"retention" yaml:"retention"`
}

// CompressionMethod is the compression Compression stands for with these
// addresses: lz4, zstd or none. An empty Compression is auto.
func (c ClickHouseConfig) CompressionMethod() string {
	if c.Compression != "" && c.Compression != "auto" {
		return c.Compression
	}
	for _, a := range c.Addr {
		host, _, err := net.SplitHostPort(a)
		if err != nil {
			host = strings.TrimSuffix(strings.TrimPrefix(a, "["), "]")
		}
		if ip := net.ParseIP(host); !strings.EqualFold(host, "localhost") && (ip == nil || !ip.IsLoopback()) {
			return "lz4"
		}
	}
	return "none"
}

// RetentionConfig says how many days each table keeps, counted in whole
// UTC days of its partition key (event time for events, window start for
// scores, alert time for alerts, the minute for rollups). A day's
// partition is dropped once all of it is older than the retention; today's
// never is. 0 keeps a table forever.
type RetentionConfig struct {
	// EventsDays keeps events this many days. Default 0 (forever).
	EventsDays int `mapstructure:"events_days" yaml:"events_days"`
	// ScoresDays keeps scores this many days. Default 0 (forever).
	ScoresDays int `mapstructure:"scores_days" yaml:"scores_days"`
	// AlertsDays keeps alerts this many days. Default 0 (forever).
	AlertsDays int `mapstructure:"alerts_days" yaml:"alerts_days"`
	// RollupsDays keeps the per-minute rollups (events_per_minute,
	// failed_auth_per_minute) this many days. Default 0 (forever).
	RollupsDays int `mapstructure:"rollups_days" yaml:"rollups_days"`
	// Interval is how often the archiver enforces retention. Default 1h.
	Interval time.Duration `mapstructure:"interval" yaml:"interval"`
}

// Enabled reports whether any table has a retention.
func (r RetentionConfig) Enabled() bool {
	return r.EventsDays > 0 || r.ScoresDays > 0 || r.AlertsDays > 0 || r.RollupsDays > 0
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
	// Workers parse and encode the lines of each file input in parallel;
	// 0 uses one per CPU. Default 0.
	Workers int `mapstructure:"workers" yaml:"workers"`
	// Inflight is how many batches await Kafka's acknowledgement at once
	// (they are handed to Kafka one after another, in order).
	// Default 8.
	Inflight int `mapstructure:"inflight" yaml:"inflight"`
	// CheckpointInterval is how often acknowledged read positions are
	// saved. A crash re-reads at most this much (the copies have the same
	// event ids). Default 1s.
	CheckpointInterval time.Duration `mapstructure:"checkpoint_interval" yaml:"checkpoint_interval"`
	// Spool bounds what the shipper holds while Kafka has not acknowledged
	// it. Its files live in <state_dir>/spool.
	Spool SpoolConfig `mapstructure:"spool" yaml:"spool"`
	// MemoryLimit is the soft memory limit (Go's GOMEMLIMIT) of a shipper
	// running as its own process, in bytes; 0 leaves the runtime's default.
	// GOMEMLIMIT in the environment wins. It does not apply inside `vigil
	// up`, whose process hosts every service. Default 83886080 (80 MiB).
	MemoryLimit int64 `mapstructure:"memory_limit" yaml:"memory_limit"`
	// Syslog receives syslog messages over the network. Off by default.
	Syslog SyslogConfig `mapstructure:"syslog" yaml:"syslog"`
	// HTTP receives NDJSON batches of events over HTTP. Off by default.
	HTTP HTTPInputConfig `mapstructure:"http" yaml:"http"`
}

// SyslogConfig configures the syslog receiver. Each transport is on when
// its listen address is set.
type SyslogConfig struct {
	// UDPListen is the host:port to receive datagrams on (RFC 5426); empty
	// disables UDP. Default empty.
	UDPListen string `mapstructure:"udp_listen" yaml:"udp_listen"`
	// TCPListen is the host:port to accept plain TCP connections on (RFC
	// 6587, octet-counting or newline framing); empty disables TCP.
	// Default empty.
	TCPListen string `mapstructure:"tcp_listen" yaml:"tcp_listen"`
	// TLSListen is the host:port to accept TLS connections on (RFC 5425);
	// empty disables TLS. Needs tls.cert_file and tls.key_file. Default empty.
	TLSListen string `mapstructure:"tls_listen" yaml:"tls_listen"`
	// TLS holds the server certificate of TLSListen.
	TLS ServerTLSConfig `mapstructure:"tls" yaml:"tls"`
	// MaxMessageBytes truncates longer messages (the event is flagged).
	// Default 65536.
	MaxMessageBytes int `mapstructure:"max_message_bytes" yaml:"max_message_bytes"`
	// MaxConnections caps the open TCP and TLS connections together; more
	// are closed at once. Default 1000.
	MaxConnections int `mapstructure:"max_connections" yaml:"max_connections"`
	// BatchMessages is the most messages handed to the spool as one batch.
	// Default 1000.
	BatchMessages int `mapstructure:"batch_messages" yaml:"batch_messages"`
	// BatchWait is the longest a message waits for its batch to fill.
	// Default 50ms.
	BatchWait time.Duration `mapstructure:"batch_wait" yaml:"batch_wait"`
	// Timezone is the IANA zone of RFC 3164 timestamps, which carry none.
	// Default UTC.
	Timezone string `mapstructure:"timezone" yaml:"timezone"`
}

// HTTPInputConfig configures the HTTP receiver of NDJSON event batches.
type HTTPInputConfig struct {
	// Listen is the host:port of POST /v1/events and GET /healthz; empty
	// disables the receiver. Default empty.
	Listen string `mapstructure:"listen" yaml:"listen"`
	// Tokens are the bearer tokens a request may carry; at least one is
	// needed when Listen is set. Never printed.
	Tokens []Secret `mapstructure:"tokens" yaml:"tokens"`
	// TLS serves HTTPS when tls.cert_file is set.
	TLS ServerTLSConfig `mapstructure:"tls" yaml:"tls"`
	// MaxRequestBytes bounds a request body; larger ones get 413. Default
	// 10485760 (10 MiB).
	MaxRequestBytes int64 `mapstructure:"max_request_bytes" yaml:"max_request_bytes"`
	// MaxLineBytes truncates longer lines (the event is flagged). Default
	// 65536.
	MaxLineBytes int `mapstructure:"max_line_bytes" yaml:"max_line_bytes"`
}

// ServerTLSConfig is the certificate of a TLS server.
type ServerTLSConfig struct {
	// CertFile is the server certificate chain (PEM).
	CertFile string `mapstructure:"cert_file" yaml:"cert_file"`
	// KeyFile is the server's private key (PEM).
	KeyFile string `mapstructure:"key_file" yaml:"key_file"`
	// ClientCAFile, when set, is a PEM bundle of CAs: clients must present
	// a certificate signed by one of them (mutual TLS).
	ClientCAFile string `mapstructure:"client_ca_file" yaml:"client_ca_file"`
}

// SpoolConfig bounds the shipper's spool: events read but not yet
// acknowledged by Kafka.
type SpoolConfig struct {
	// MemoryBytes of events are held in memory; beyond it, files wait and
	// network input goes to disk (and files too while Kafka is
	// unreachable). Default 8388608 (8 MiB): several batches in flight to
	// Kafka, and the shipper's peak RSS under 100 MiB at full speed.
	MemoryBytes int64 `mapstructure:"memory_bytes" yaml:"memory_bytes"`
	// MaxBytes of events are held in all (memory and disk); when it is
	// reached, files are read no further, TCP syslog senders are slowed,
	// HTTP ingest answers 429. Default 1073741824 (1 GiB).
	MaxBytes int64 `mapstructure:"max_bytes" yaml:"max_bytes"`
	// SegmentBytes is the size of one spool file. Default 67108864 (64 MiB).
	SegmentBytes int64 `mapstructure:"segment_bytes" yaml:"segment_bytes"`
}

// FileInput is one set of files to tail. Keys an item leaves out take the
// defaults shown in defaults.yaml.
type FileInput struct {
	// Paths are glob patterns; files that appear later are picked up.
	Paths []string `mapstructure:"paths" yaml:"paths"`
	// Format of the lines: auto, syslog, sshd, nginx, apache, postgres,
	// mysql, zeek, json or raw (see FileFormats and the shipper's parse
	// README). auto recognises every format a single line tells (JSON and
	// Zeek JSON, syslog, access and error logs, PostgreSQL, MySQL) and keeps
	// anything else as a raw event; zeek is the only one that reads Zeek's
	// TSV logs. Default auto.
	Format string `mapstructure:"format" yaml:"format"`
	// Fields maps envelope keys to dotted paths in JSON lines, for the json
	// and auto formats: {"user.name": "actor.login", "source.ip":
	// "client.addr", timestamp: "time"}. A mapped key is read only from its
	// path; the others keep their usual names. Keys: JSONFieldKeys.
	// Default none.
	Fields map[string]string `mapstructure:"fields" yaml:"fields"`
	// FromEnd starts files found when the shipper first runs (it has no
	// checkpoints yet) at their end instead of their first byte, to skip
	// old history. Files that appear later are always read from their
	// first byte. Default false.
	FromEnd bool `mapstructure:"from_end" yaml:"from_end"`
	// Multiline joins the lines of one record (a stack trace, a query
	// spanning lines) into one event. Off by default.
	Multiline MultilineConfig `mapstructure:"multiline" yaml:"multiline"`
}

// MultilineConfig says which lines belong to the record before them. Set
// at most one of Start and Continue; with neither, every line is a record.
type MultilineConfig struct {
	// Start is a regular expression (Go syntax) matching the first line of
	// a record; other lines are joined to the record before them, e.g.
	// '^\d{4}-\d{2}-\d{2} ' for timestamped records. Default empty.
	Start string `mapstructure:"start" yaml:"start"`
	// Continue is a regular expression matching lines that continue the
	// record before them, e.g. '^\s' for indented stack frames. Default empty.
	Continue string `mapstructure:"continue" yaml:"continue"`
	// MaxLines caps the lines joined into one record; the next line starts
	// a new one. Default 500.
	MaxLines int `mapstructure:"max_lines" yaml:"max_lines"`
	// Timeout ships a record whose next line has not come for this long.
	// Default 2s.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
}

// FileFormats are the formats a FileInput may name.
var FileFormats = []string{"auto", "syslog", "sshd", "nginx", "apache", "postgres", "mysql", "zeek", "json", "raw"}

// JSONFieldKeys are the envelope keys FileInput.Fields may map. "timestamp"
// is another name for "@timestamp", which YAML needs quoted.
var JSONFieldKeys = []string{
	"@timestamp", "timestamp", "host.name", "user.name",
	"source.ip", "source.port", "destination.ip", "destination.port",
	"event.category", "event.action", "event.outcome", "network.protocol",
	"source.bytes", "destination.bytes", "vigil.value", "message",
}

// ProcessorConfig configures the processor.
type ProcessorConfig struct {
	// GroupID is the Kafka consumer group. Default vigil-processor.
	GroupID string `mapstructure:"group_id" yaml:"group_id"`
	// Lateness is how long after a window ends events for it are still
	// accepted; later ones are counted as late. Default 30s.
	Lateness time.Duration `mapstructure:"lateness" yaml:"lateness"`
	// IdleFlush closes open windows when no event arrived for this long
	// (wall clock), so the last windows of a quiet stream are scored. Default 5s.
	IdleFlush time.Duration `mapstructure:"idle_flush" yaml:"idle_flush"`
	// MaxEntities caps the entities each profile keeps a baseline for;
	// beyond it new entities are judged against the population only and
	// counted as overflow. Default 1000000.
	MaxEntities int `mapstructure:"max_entities" yaml:"max_entities"`
	// EntityTTL forgets an entity (its baseline and resolved incidents)
	// once its last window with events started this long of event time
	// before the newest closed window, unless it has a firing incident;
	// it is forgotten within a sixteenth of the TTL after that. 0 keeps
	// entities until max_entities is reached. Default 720h (30 days).
	EntityTTL time.Duration `mapstructure:"entity_ttl" yaml:"entity_ttl"`
	// Disabled names built-in profiles that do not run.
	Disabled []string `mapstructure:"disabled" yaml:"disabled"`
	// Profiles are added to the built-in ones; a profile named like a
	// built-in one replaces it.
	Profiles []ProfileConfig `mapstructure:"profiles" yaml:"profiles"`
	// AlertRoutes publish alerts to further topics besides
	// kafka.topics.alerts: each alert goes to the topic of every route
	// whose matchers all match its labels (e.g. severity=critical, or a
	// team label set by the profile).
	AlertRoutes []AlertRouteConfig `mapstructure:"alert_routes" yaml:"alert_routes"`
	// SessionTimeout is how long an instance may go without a heartbeat
	// before the group gives its partitions to the others. Default 10s.
	SessionTimeout time.Duration `mapstructure:"session_timeout" yaml:"session_timeout"`
	// Checkpoint configures the checkpoints of each partition's state.
	Checkpoint CheckpointConfig `mapstructure:"checkpoint" yaml:"checkpoint"`
	// ForwardFormat is how events are written to the repartition topic:
	// "bundles" (many events of one partition in one message, each in
	// pkg/event's binary form), "binary" (one message per event, in the
	// binary form) or "json" (one message per event, the envelope). All
	// three are always read; "binary" and "json" are for rolling upgrades
	// from versions that read only those. Default bundles.
	ForwardFormat string `mapstructure:"forward_format" yaml:"forward_format"`
}

// The values of processor.forward_format.
const (
	ForwardBundles = "bundles"
	ForwardBinary  = "binary"
	ForwardJSON    = "json"
)

// CheckpointConfig configures how the processor writes each partition's
// state to its changelog topic.
type CheckpointConfig struct {
	// Interval between checkpoints of a partition that read something new:
	// after a crash, at most this much input is read again. Default 10s.
	Interval time.Duration `mapstructure:"interval" yaml:"interval"`
	// ChunkBytes is the size of one changelog message; a checkpoint is as
	// many as its state needs. At most 900KiB, under Kafka's default
	// message.max.bytes. Default 512KiB.
	ChunkBytes int `mapstructure:"chunk_bytes" yaml:"chunk_bytes"`
}

// AlertRouteConfig routes matching alerts to one more topic.
type AlertRouteConfig struct {
	// Matchers all must match the alert's labels: label=value,
	// label!=value, label=~regexp, label!~regexp. None match every alert.
	Matchers []string `mapstructure:"matchers" yaml:"matchers"`
	// Topic receives the matching alerts (created when missing).
	Topic string `mapstructure:"topic" yaml:"topic"`
}

// ProfileConfig is one detection profile: which events, keyed by what,
// which features per window, and how they are judged.
type ProfileConfig struct {
	// Name identifies the profile in scores, alerts and dedup keys
	// (lower case, digits and _).
	Name string `mapstructure:"name" yaml:"name"`
	// Description says what the profile catches.
	Description string `mapstructure:"description" yaml:"description"`
	// Match selects the events the profile counts.
	Match MatchConfig `mapstructure:"match" yaml:"match"`
	// Key is the entity: one or more event fields (e.g. [source.ip] or
	// [user.name, source.ip]); an IP field may name a prefix, source.ip/24.
	// Events without every key field are not counted.
	Key []string `mapstructure:"key" yaml:"key"`
	// Window is the length of one tumbling window of event time. Default 1m.
	Window time.Duration `mapstructure:"window" yaml:"window"`
	// Features are computed per entity and window and judged one by one.
	Features []FeatureConfig `mapstructure:"features" yaml:"features"`
	// Warmup is how many windows an entity needs before its own baseline
	// is used; before that it is judged against the population. Default 10.
	Warmup int `mapstructure:"warmup" yaml:"warmup"`
	// Threshold is the anomaly score in (0,1) at or above which a window
	// alerts. Default 0.9999.
	Threshold float64 `mapstructure:"threshold" yaml:"threshold"`
	// MinValue is the least observed value that may alert (for features
	// judged low, the most). Default 0: any.
	MinValue float64 `mapstructure:"min_value" yaml:"min_value"`
	// Severity of the alerts: info, low, medium, high or critical. Default medium.
	Severity string `mapstructure:"severity" yaml:"severity"`
	// ResolveWindows is how many windows in a row scoring under
	// ResolveThreshold (or without the entity) resolve an open incident.
	// Default 5.
	ResolveWindows int `mapstructure:"resolve_windows" yaml:"resolve_windows"`
	// ResolveThreshold is the score under which a window counts towards
	// resolving (hysteresis: between it and Threshold an incident neither
	// opens nor resolves). Default 0.99.
	ResolveThreshold float64 `mapstructure:"resolve_threshold" yaml:"resolve_threshold"`
	// FlapWindow: an entity anomalous again within this long of its
	// incident's resolution reopens that incident (no new page), and the
	// incident then needs twice the quiet windows to resolve, up to 16
	// times. Default 1h.
	FlapWindow time.Duration `mapstructure:"flap_window" yaml:"flap_window"`
	// Suppress lists times of the week (UTC) in which the profile opens no
	// incidents, e.g. a nightly maintenance window.
	Suppress []SuppressConfig `mapstructure:"suppress" yaml:"suppress"`
	// Labels are added to the profile's alerts (e.g. team: db), for
	// routes and silences; they cannot replace the built-in labels.
	Labels map[string]string `mapstructure:"labels" yaml:"labels"`
}

// SuppressConfig is a recurring time of the week, in UTC.
type SuppressConfig struct {
	// Days are the weekdays it recurs on (sun, mon, ..., sat); empty is every day.
	Days []string `mapstructure:"days" yaml:"days"`
	// From is the start, HH:MM.
	From string `mapstructure:"from" yaml:"from"`
	// To is the end, HH:MM, after From.
	To string `mapstructure:"to" yaml:"to"`
}

// MatchConfig selects events. Every condition given must hold; an empty
// list allows any value.
type MatchConfig struct {
	// Category allows these event.category values.
	Category []string `mapstructure:"category" yaml:"category"`
	// Action allows these event.action values.
	Action []string `mapstructure:"action" yaml:"action"`
	// Outcome allows these event.outcome values.
	Outcome []string `mapstructure:"outcome" yaml:"outcome"`
	// Fields allows, per field (any ProfileFields name), these values; the
	// value "*" allows any non-empty value.
	Fields map[string][]string `mapstructure:"fields" yaml:"fields"`
}

// FeatureConfig is one feature of a profile.
type FeatureConfig struct {
	// Name of the feature in scores and alerts. Default: the kind, with
	// the field (count, sum_source_bytes, distinct_user_name).
	Name string `mapstructure:"name" yaml:"name"`
	// Kind is count, sum, mean or max (of a numeric Field), distinct (count
	// of distinct Field values), failure_ratio (failures over all matched),
	// first_seen (a Field value the entity never had before, e.g. a user's
	// source IP) or hour_of_week (activity at an hour the entity is rarely
	// active). Default count.
	Kind string `mapstructure:"kind" yaml:"kind"`
	// Field the kind applies to.
	Field string `mapstructure:"field" yaml:"field"`
	// Baseline is ewma (mean and variance), median_mad (a streaming median
	// and MAD sketch) or seasonal (an EWMA level times hour-of-week
	// factors). first_seen and hour_of_week have their own. Default ewma.
	Baseline string `mapstructure:"baseline" yaml:"baseline"`
	// Direction is high (too much is anomalous) or low (too little, e.g.
	// a silent source: entities with history are judged in every window,
	// present or not). Default high.
	Direction string `mapstructure:"direction" yaml:"direction"`
	// Alpha is the weight of the newest window in the baseline, in (0,1).
	// Default 0.05.
	Alpha float64 `mapstructure:"alpha" yaml:"alpha"`
}

// Feature kinds, baselines and directions a FeatureConfig may name.
var (
	FeatureKinds      = []string{"count", "sum", "mean", "max", "distinct", "failure_ratio", "first_seen", "hour_of_week"}
	FeatureBaselines  = []string{"ewma", "median_mad", "seasonal"}
	FeatureDirections = []string{"high", "low"}
)

// ProfileFields are the event fields profiles may match on, key by and
// compute features of; labels.NAME reads one label.
var ProfileFields = []string{
	"tenant", "event.dataset", "host.name", "event.category", "event.action", "event.outcome",
	"source.ip", "source.port", "destination.ip", "destination.port", "user.name",
	"network.protocol", "source.bytes", "destination.bytes", "vigil.value",
}

// ArchiverConfig configures the archiver.
type ArchiverConfig struct {
	// GroupID is the Kafka consumer group. Default vigil-archiver.
	GroupID string `mapstructure:"group_id" yaml:"group_id"`
	// BatchRows is the most rows in one insert. Default 200000: ClickHouse
	// writes a part per insert and merges parts in the background, so
	// fewer, larger inserts cost it less.
	BatchRows int `mapstructure:"batch_rows" yaml:"batch_rows"`
	// BatchBytes is the most message bytes in one insert. Default 128MiB
	// (134217728), room for BatchRows events of up to 670 bytes.
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
	// Output is where every alert that is not silenced is also printed as
	// one line: stdout, stderr or none. Default stdout.
	Output string `mapstructure:"output" yaml:"output"`
	// Topics are the alert topics to consume; empty means
	// kafka.topics.alerts alone. Default empty.
	Topics []string `mapstructure:"topics" yaml:"topics"`
	// GrafanaURL is Grafana's base URL: alert links that are paths are
	// made absolute with it. Default empty (links stay paths).
	GrafanaURL string `mapstructure:"grafana_url" yaml:"grafana_url"`
	// SessionTimeout is how long a pager may be silent before the others
	// take over its partitions (Kafka accepts 6s to 5m). Default 10s.
	SessionTimeout time.Duration `mapstructure:"session_timeout" yaml:"session_timeout"`
	// CommitInterval is how often finished alerts' offsets are committed.
	// Default 1s.
	CommitInterval time.Duration `mapstructure:"commit_interval" yaml:"commit_interval"`
	// MaxPending bounds the alerts of one partition read and not yet
	// finished by every receiver: a slow receiver holds back the others
	// by at most this many alerts. Default 100.
	MaxPending int `mapstructure:"max_pending" yaml:"max_pending"`
	// DedupWindow is how long a delivered notification is remembered (and
	// kept on kafka.topics.deliveries), so that the same alert read again
	// within it is not sent again. Default 24h.
	DedupWindow time.Duration `mapstructure:"dedup_window" yaml:"dedup_window"`
	// SilenceRetention is how long a silence stays on
	// kafka.topics.silences after it ends (`vigil silence list` shows it);
	// then the pagers delete it. 0 keeps silences forever. Default 120h.
	SilenceRetention time.Duration `mapstructure:"silence_retention" yaml:"silence_retention"`
	// Retry says how deliveries are retried.
	Retry RetryConfig `mapstructure:"retry" yaml:"retry"`
	// Receivers are where notifications go. Default none.
	Receivers []ReceiverConfig `mapstructure:"receivers" yaml:"receivers"`
	// Routes pick each alert's receivers; with none, every alert goes to
	// every receiver. Default none.
	Routes []RouteConfig `mapstructure:"routes" yaml:"routes"`
}

// RetryConfig says how a failed delivery is retried: after a network
// error, a 5xx or a 429, waiting InitialBackoff, then twice as long each
// time up to MaxBackoff, with jitter, or as long as a Retry-After says.
// Other 4xx answers are not retried.
type RetryConfig struct {
	// InitialBackoff is the first wait. Default 1s.
	InitialBackoff time.Duration `mapstructure:"initial_backoff" yaml:"initial_backoff"`
	// MaxBackoff caps one wait. Default 1m.
	MaxBackoff time.Duration `mapstructure:"max_backoff" yaml:"max_backoff"`
	// MaxAttempts is the most tries of one notification before it goes to
	// the dead-letter topic. Default 10.
	MaxAttempts int `mapstructure:"max_attempts" yaml:"max_attempts"`
	// MaxElapsed is the longest a notification is tried for before it goes
	// to the dead-letter topic. Default 10m.
	MaxElapsed time.Duration `mapstructure:"max_elapsed" yaml:"max_elapsed"`
}

// ReceiverTypes are the kinds of receiver.
var ReceiverTypes = []string{"pagerduty", "opsgenie", "slack", "webhook"}

// ReceiverConfig is one destination of notifications. Keys an item leaves
// out take the defaults of its type.
type ReceiverConfig struct {
	// Name identifies the receiver in routes, metrics and dead letters.
	Name string `mapstructure:"name" yaml:"name"`
	// Type is pagerduty, opsgenie, slack or webhook.
	Type string `mapstructure:"type" yaml:"type"`
	// URL of the API. pagerduty: the Events API v2 enqueue URL (default
	// https://events.pagerduty.com/v2/enqueue); opsgenie: the API's base
	// URL (default https://api.opsgenie.com; https://api.eu.opsgenie.com
	// in the EU); slack: the incoming webhook URL (required); webhook: the
	// URL to POST Alertmanager-format JSON to (required). Printed without
	// its path and query, which may hold a token.
	URL SecretURL `mapstructure:"url" yaml:"url"`
	// RoutingKey is the PagerDuty integration key (pagerduty; required).
	// Never printed.
	RoutingKey Secret `mapstructure:"routing_key" yaml:"routing_key"`
	// APIKey is the Opsgenie API integration key, sent as GenieKey
	// (opsgenie; required). Never printed.
	APIKey Secret `mapstructure:"api_key" yaml:"api_key"`
	// BearerToken, when set, is sent as Authorization: Bearer (webhook).
	// Never printed.
	BearerToken Secret `mapstructure:"bearer_token" yaml:"bearer_token"`
	// RateLimit is the most requests per second to this receiver, per
	// pager process. Default 1.
	RateLimit float64 `mapstructure:"rate_limit" yaml:"rate_limit"`
	// Burst is how many requests may go at once above RateLimit. Default 10.
	Burst int `mapstructure:"burst" yaml:"burst"`
	// Timeout bounds one request. Default 10s.
	Timeout time.Duration `mapstructure:"timeout" yaml:"timeout"`
}

// DefaultReceiverURL returns the URL a receiver of type typ uses when it
// names none; empty for the types that need one.
func DefaultReceiverURL(typ string) SecretURL {
	switch typ {
	case "pagerduty":
		return "https://events.pagerduty.com/v2/enqueue"
	case "opsgenie":
		return "https://api.opsgenie.com"
	}
	return ""
}

// DefaultReceiver is the receiver every item of pager.receivers starts
// from.
func DefaultReceiver() ReceiverConfig {
	return ReceiverConfig{RateLimit: 1, Burst: 10, Timeout: 10 * time.Second}
}

// RouteConfig sends the alerts it matches to a receiver. Routes are tried
// in order; the first that matches an alert takes it, unless it says
// continue, in which case the routes after it are tried too.
type RouteConfig struct {
	// Receiver names a receiver of pager.receivers.
	Receiver string `mapstructure:"receiver" yaml:"receiver"`
	// Matchers all must match the alert's labels: label=value, label!=value,
	// label=~regexp, label!~regexp (regexps match the whole value). None
	// match every alert.
	Matchers []string `mapstructure:"matchers" yaml:"matchers"`
	// Continue tries the next routes as well when this one matches.
	Continue bool `mapstructure:"continue" yaml:"continue"`
}

// DefaultMultiline is the multiline setting of a file input that sets
// none: every line is a record.
func DefaultMultiline() MultilineConfig {
	return MultilineConfig{MaxLines: 500, Timeout: 2 * time.Second}
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
				Events:     "vigil.events",
				EventsDLQ:  "vigil.events.dlq",
				Scores:     "vigil.scores",
				Alerts:     "vigil.alerts",
				AlertsDLQ:  "vigil.alerts.dlq",
				Silences:   "vigil.silences",
				Deliveries: "vigil.pager.deliveries",
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
			Compression: "auto",
			Local:       true,
			HTTPPort:    8123,
			DataDir:     "var/clickhouse",
			Retention:   RetentionConfig{Interval: time.Hour},
		},
		Broker: BrokerConfig{Listen: "127.0.0.1:9092", DataDir: "var/broker", SyncWrites: true},
		Shipper: ShipperConfig{
			Files: []FileInput{{
				Paths:     []string{"/var/log/auth.log", "/var/log/secure", "var/inbox/*"},
				Format:    "auto",
				Fields:    map[string]string{},
				Multiline: DefaultMultiline(),
			}},
			StateDir:           "var/shipper",
			PollInterval:       250 * time.Millisecond,
			BatchLines:         2000,
			MaxLineBytes:       64 << 10,
			Inflight:           8,
			CheckpointInterval: time.Second,
			MemoryLimit:        80 << 20,
			Spool: SpoolConfig{
				MemoryBytes:  8 << 20,
				MaxBytes:     1 << 30,
				SegmentBytes: 64 << 20,
			},
			Syslog: SyslogConfig{
				MaxMessageBytes: 64 << 10,
				MaxConnections:  1000,
				BatchMessages:   1000,
				BatchWait:       50 * time.Millisecond,
				Timezone:        "UTC",
			},
			HTTP: HTTPInputConfig{
				Tokens:          []Secret{},
				MaxRequestBytes: 10 << 20,
				MaxLineBytes:    64 << 10,
			},
		},
		Processor: ProcessorConfig{
			GroupID:        "vigil-processor",
			Lateness:       30 * time.Second,
			IdleFlush:      5 * time.Second,
			MaxEntities:    1_000_000,
			EntityTTL:      720 * time.Hour,
			Disabled:       []string{},
			Profiles:       []ProfileConfig{},
			AlertRoutes:    []AlertRouteConfig{},
			SessionTimeout: 10 * time.Second,
			Checkpoint: CheckpointConfig{
				Interval:   10 * time.Second,
				ChunkBytes: 512 << 10,
			},
			ForwardFormat: ForwardBundles,
		},
		Archiver: ArchiverConfig{
			GroupID:         "vigil-archiver",
			BatchRows:       200_000,
			BatchBytes:      128 << 20,
			Inserters:       2,
			FlushInterval:   time.Second,
			RetryBackoff:    500 * time.Millisecond,
			RetryBackoffMax: 30 * time.Second,
		},
		Pager: PagerConfig{
			GroupID:          "vigil-pager",
			Output:           "stdout",
			Topics:           []string{},
			SessionTimeout:   10 * time.Second,
			CommitInterval:   time.Second,
			MaxPending:       100,
			DedupWindow:      24 * time.Hour,
			SilenceRetention: 120 * time.Hour,
			Retry: RetryConfig{
				InitialBackoff: time.Second,
				MaxBackoff:     time.Minute,
				MaxAttempts:    10,
				MaxElapsed:     10 * time.Minute,
			},
			Receivers: []ReceiverConfig{},
			Routes:    []RouteConfig{},
		},
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
	v.nonEmpty("kafka.topics.alerts_dlq", k.Topics.AlertsDLQ)
	v.nonEmpty("kafka.topics.silences", k.Topics.Silences)
	v.nonEmpty("kafka.topics.deliveries", k.Topics.Deliveries)
	seen := map[string]string{}
	for key, name := range map[string]string{
		"kafka.topics.events": k.Topics.Events, "kafka.topics.events_dlq": k.Topics.EventsDLQ,
		"kafka.topics.scores": k.Topics.Scores, "kafka.topics.alerts": k.Topics.Alerts,
		"kafka.topics.alerts_dlq": k.Topics.AlertsDLQ, "kafka.topics.silences": k.Topics.Silences,
		"kafka.topics.deliveries": k.Topics.Deliveries,
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
	v.oneOf("clickhouse.compression", ch.Compression, "auto", "lz4", "zstd", "none")
	if ch.Local {
		v.port("clickhouse.http_port", ch.HTTPPort)
		v.nonEmpty("clickhouse.data_dir", ch.DataDir)
	}
	r := ch.Retention
	v.days("clickhouse.retention.events_days", r.EventsDays)
	v.days("clickhouse.retention.scores_days", r.ScoresDays)
	v.days("clickhouse.retention.alerts_days", r.AlertsDays)
	v.days("clickhouse.retention.rollups_days", r.RollupsDays)
	v.positive("clickhouse.retention.interval", float64(r.Interval))

	v.hostPort("broker.listen", c.Broker.Listen)
	v.nonEmpty("broker.data_dir", c.Broker.DataDir)

	s := c.Shipper
	for i, f := range s.Files {
		key := fmt.Sprintf("shipper.files[%d]", i)
		if len(f.Paths) == 0 {
			v.add(key+".paths", "must list at least one glob")
		}
		v.oneOf(key+".format", f.Format, FileFormats...)
		if len(f.Fields) > 0 && f.Format != "json" && f.Format != "auto" {
			v.add(key+".fields", fmt.Sprintf("maps JSON fields: it needs format json or auto, not %q", f.Format))
		}
		fieldKeys := make([]string, 0, len(f.Fields))
		for k := range f.Fields {
			fieldKeys = append(fieldKeys, k)
		}
		slices.Sort(fieldKeys)
		for _, k := range fieldKeys {
			switch {
			case !slices.Contains(JSONFieldKeys, k):
				v.add(key+".fields."+k, fmt.Sprintf("unknown envelope key %q (want one of %s)", k, strings.Join(JSONFieldKeys, ", ")))
			case strings.TrimSpace(f.Fields[k]) == "":
				v.add(key+".fields."+k, "needs a JSON path")
			}
		}
		if f.Fields["timestamp"] != "" && f.Fields["@timestamp"] != "" {
			v.add(key+".fields.timestamp", "@timestamp is mapped too; they name the same field")
		}
		for _, p := range f.Paths {
			if _, err := filepath.Match(p, ""); err != nil {
				v.add(key+".paths", fmt.Sprintf("%q is not a valid glob: %v", p, err))
			}
		}
		ml := f.Multiline
		if ml.Start != "" && ml.Continue != "" {
			v.add(key+".multiline", "set start or continue, not both")
		}
		for name, re := range map[string]string{"start": ml.Start, "continue": ml.Continue} {
			if _, err := regexp.Compile(re); err != nil {
				v.add(key+".multiline."+name, fmt.Sprintf("%q is not a valid regular expression: %v", re, err))
			}
		}
		if ml.Start != "" || ml.Continue != "" {
			if ml.MaxLines < 1 {
				v.add(key+".multiline.max_lines", fmt.Sprintf("must be at least 1, got %d", ml.MaxLines))
			}
			v.positive(key+".multiline.timeout", float64(ml.Timeout))
		}
	}
	if s.Workers < 0 || s.Workers > 256 {
		v.add("shipper.workers", fmt.Sprintf("must be from 0 (one per CPU) to 256, got %d", s.Workers))
	}
	if s.Inflight < 1 || s.Inflight > 64 {
		v.add("shipper.inflight", fmt.Sprintf("must be from 1 to 64, got %d", s.Inflight))
	}
	v.positive("shipper.checkpoint_interval", float64(s.CheckpointInterval))
	if s.MemoryLimit < 0 {
		v.add("shipper.memory_limit", "must not be negative (0 leaves the runtime's default)")
	}
	sp := s.Spool
	v.positive("shipper.spool.memory_bytes", float64(sp.MemoryBytes))
	v.positive("shipper.spool.segment_bytes", float64(sp.SegmentBytes))
	if sp.MaxBytes < sp.MemoryBytes {
		v.add("shipper.spool.max_bytes", fmt.Sprintf("must be at least shipper.spool.memory_bytes (%d), got %d", sp.MemoryBytes, sp.MaxBytes))
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
	v.syslog("shipper.syslog", s.Syslog)
	v.httpInput("shipper.http", s.HTTP)

	p := c.Processor
	v.nonEmpty("processor.group_id", p.GroupID)
	if p.Lateness < 0 {
		v.add("processor.lateness", "must not be negative")
	}
	v.positive("processor.idle_flush", float64(p.IdleFlush))
	v.positive("processor.max_entities", float64(p.MaxEntities))
	if p.EntityTTL < 0 {
		v.add("processor.entity_ttl", "must not be negative (0 keeps entities)")
	}
	if p.SessionTimeout < time.Second || p.SessionTimeout > 30*time.Minute {
		v.add("processor.session_timeout", fmt.Sprintf("must be from 1s to 30m (Kafka accepts 6s to 5m unless its brokers say otherwise), got %s", p.SessionTimeout))
	}
	v.positive("processor.checkpoint.interval", float64(p.Checkpoint.Interval))
	if p.ForwardFormat != ForwardBundles && p.ForwardFormat != ForwardBinary && p.ForwardFormat != ForwardJSON {
		v.add("processor.forward_format", fmt.Sprintf("%q is not one of bundles, binary, json", p.ForwardFormat))
	}
	if p.Checkpoint.ChunkBytes < 1<<10 || p.Checkpoint.ChunkBytes > 900<<10 {
		v.add("processor.checkpoint.chunk_bytes", fmt.Sprintf("must be from 1KiB to 900KiB, got %d", p.Checkpoint.ChunkBytes))
	}
	builtin := map[string]bool{}
	for _, b := range BuiltinProfiles() {
		builtin[b.Name] = true
	}
	for i, name := range p.Disabled {
		if !builtin[name] {
			v.add(fmt.Sprintf("processor.disabled[%d]", i), fmt.Sprintf("%q is not a built-in profile", name))
		}
	}
	for i, r := range p.AlertRoutes {
		key := fmt.Sprintf("processor.alert_routes[%d]", i)
		v.nonEmpty(key+".topic", r.Topic)
		if r.Topic == c.Kafka.Topics.Alerts {
			v.add(key+".topic", "is kafka.topics.alerts, which gets every alert already")
		}
		for j, m := range r.Matchers {
			if _, err := labels.ParseMatcher(m); err != nil {
				v.add(fmt.Sprintf("%s.matchers[%d]", key, j), err.Error())
			}
		}
	}
	names := map[string]bool{}
	for i, pr := range p.Profiles {
		key := fmt.Sprintf("processor.profiles[%d]", i)
		if names[pr.Name] {
			v.add(key+".name", fmt.Sprintf("%q is used by two profiles", pr.Name))
		}
		names[pr.Name] = true
		v.profile(key, pr)
	}

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

	v.pager(c.Pager, k.Topics)
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

// days checks a retention in days: 0 (forever) up to 100 years.
func (v *validator) days(key string, d int) {
	if d < 0 || d > 36_500 {
		v.add(key, fmt.Sprintf("must be from 0 (keep forever) to 36500 days, got %d", d))
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

func (v *validator) syslog(key string, c SyslogConfig) {
	for _, l := range []struct{ name, addr string }{
		{"udp_listen", c.UDPListen}, {"tcp_listen", c.TCPListen}, {"tls_listen", c.TLSListen},
	} {
		if l.addr != "" {
			v.hostPort(key+"."+l.name, l.addr)
		}
	}
	if c.TLSListen != "" {
		v.serverTLS(key+".tls", c.TLS)
	}
	// An event holds its message (and more); it must fit in one Kafka message.
	v.between(key+".max_message_bytes", c.MaxMessageBytes, 256, 256<<10)
	v.between(key+".max_connections", c.MaxConnections, 1, 1_000_000)
	v.between(key+".batch_messages", c.BatchMessages, 1, 100_000)
	v.positive(key+".batch_wait", float64(c.BatchWait))
	if _, err := time.LoadLocation(c.Timezone); err != nil || c.Timezone == "" {
		v.add(key+".timezone", fmt.Sprintf("%q is not a time zone name such as UTC or Europe/Berlin", c.Timezone))
	}
}

func (v *validator) pager(p PagerConfig, topics TopicsConfig) {
	v.nonEmpty("pager.group_id", p.GroupID)
	v.oneOf("pager.output", p.Output, "stdout", "stderr", "none")
	for i, t := range p.Topics {
		key := fmt.Sprintf("pager.topics[%d]", i)
		switch t {
		case "":
			v.add(key, "must not be empty")
		case topics.Events, topics.EventsDLQ, topics.Scores, topics.AlertsDLQ, topics.Silences, topics.Deliveries:
			v.add(key, fmt.Sprintf("%q is one of kafka.topics, not an alert topic", t))
		}
		if slices.Index(p.Topics, t) < i {
			v.add(key, fmt.Sprintf("%q is listed twice", t))
		}
	}
	if p.GrafanaURL != "" {
		v.httpURL("pager.grafana_url", p.GrafanaURL)
	}
	if p.SessionTimeout < time.Second || p.SessionTimeout > 30*time.Minute {
		v.add("pager.session_timeout", fmt.Sprintf("must be from 1s to 30m (Kafka accepts 6s to 5m unless its brokers say otherwise), got %s", p.SessionTimeout))
	}
	v.positive("pager.commit_interval", float64(p.CommitInterval))
	v.between("pager.max_pending", p.MaxPending, 1, 100_000)
	v.positive("pager.dedup_window", float64(p.DedupWindow))
	if p.SilenceRetention < 0 {
		v.add("pager.silence_retention", "must not be negative (0 keeps silences forever)")
	}
	r := p.Retry
	v.positive("pager.retry.initial_backoff", float64(r.InitialBackoff))
	if r.MaxBackoff < r.InitialBackoff {
		v.add("pager.retry.max_backoff", "must be at least pager.retry.initial_backoff")
	}
	v.between("pager.retry.max_attempts", r.MaxAttempts, 1, 1000)
	v.positive("pager.retry.max_elapsed", float64(r.MaxElapsed))

	names := map[string]bool{}
	for i, rc := range p.Receivers {
		key := fmt.Sprintf("pager.receivers[%d]", i)
		switch {
		case rc.Name == "":
			v.add(key+".name", "must not be empty")
		case names[rc.Name]:
			v.add(key+".name", fmt.Sprintf("%q names another receiver too", rc.Name))
		}
		names[rc.Name] = true
		v.oneOf(key+".type", rc.Type, ReceiverTypes...)
		if rc.URL == "" {
			v.add(key+".url", fmt.Sprintf("must be set for a %s receiver", rc.Type))
		} else {
			v.httpURL(key+".url", rc.URL.Reveal())
		}
		switch rc.Type {
		case "pagerduty":
			v.nonEmpty(key+".routing_key", rc.RoutingKey.Reveal())
		case "opsgenie":
			v.nonEmpty(key+".api_key", rc.APIKey.Reveal())
		}
		v.positive(key+".rate_limit", rc.RateLimit)
		v.between(key+".burst", rc.Burst, 1, 10_000)
		v.positive(key+".timeout", float64(rc.Timeout))
	}
	for i, rt := range p.Routes {
		key := fmt.Sprintf("pager.routes[%d]", i)
		if !names[rt.Receiver] {
			v.add(key+".receiver", fmt.Sprintf("%q is not the name of one of pager.receivers", rt.Receiver))
		}
		for j, m := range rt.Matchers {
			if _, err := labels.ParseMatcher(m); err != nil {
				v.add(fmt.Sprintf("%s.matchers[%d]", key, j), err.Error())
			}
		}
	}
}

// httpURL checks an absolute http or https URL. The error never repeats
// the URL, which may hold a token.
func (v *validator) httpURL(key, s string) {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		v.add(key, "must be an absolute http:// or https:// URL")
	}
}

func (v *validator) httpInput(key string, c HTTPInputConfig) {
	if c.Listen != "" {
		v.hostPort(key+".listen", c.Listen)
		if len(c.Tokens) == 0 {
			v.add(key+".tokens", "must list at least one token when listen is set")
		}
		if c.TLS != (ServerTLSConfig{}) {
			v.serverTLS(key+".tls", c.TLS)
		}
	}
	for i, t := range c.Tokens {
		if len(t) < 16 {
			v.add(fmt.Sprintf("%s.tokens[%d]", key, i), "must be at least 16 characters")
		}
	}
	if c.MaxRequestBytes < 1024 || c.MaxRequestBytes > 1<<30 {
		v.add(key+".max_request_bytes", fmt.Sprintf("must be from 1024 to 1073741824, got %d", c.MaxRequestBytes))
	}
	v.between(key+".max_line_bytes", c.MaxLineBytes, 256, 256<<10)
}

// serverTLS checks that a TLS server has its certificate and key; the
// files themselves are read when the server starts.
func (v *validator) serverTLS(key string, c ServerTLSConfig) {
	v.nonEmpty(key+".cert_file", c.CertFile)
	v.nonEmpty(key+".key_file", c.KeyFile)
}

func (v *validator) between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.add(key, fmt.Sprintf("must be from %d to %d, got %d", lo, hi, n))
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
