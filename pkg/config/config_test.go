package config

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDefaultsYAMLMatchesDefault(t *testing.T) {
	c, err := Load(Source{Environ: []string{}})
	require.NoError(t, err)
	require.Equal(t, Default(), c, "defaults.yaml and Default() disagree")
	d := Default()
	require.NoError(t, d.Validate())
}

func TestLoadFile(t *testing.T) {
	c, err := Load(Source{File: "testdata/valid.yaml", Environ: []string{}})
	require.NoError(t, err)
	require.Equal(t, "acme", c.Tenant)
	require.Equal(t, []string{"kafka-1:9092", "kafka-2:9092"}, c.Kafka.Brokers)
	require.Equal(t, Secret("hunter2"), c.Kafka.SASL.Password)
	// List items take the defaults of the keys they leave out.
	require.Equal(t, []FileInput{{Paths: []string{"/var/log/nginx/*.log"}, Format: "raw", FromEnd: true, Multiline: DefaultMultiline()}}, c.Shipper.Files)
	require.Equal(t, "0.0.0.0:6514", c.Shipper.Syslog.TCPListen)
	require.Equal(t, []Secret{"ingest-token-0123456789"}, c.Shipper.HTTP.Tokens)
	// Keys the file does not name keep their defaults.
	require.Equal(t, "vigil.events", c.Kafka.Topics.Events)
	require.Equal(t, 50*time.Millisecond, c.Shipper.Syslog.BatchWait)
}

func TestLoadTokensFromEnvironment(t *testing.T) {
	c, err := Load(Source{Environ: []string{
		"VIGIL_SHIPPER_HTTP_LISTEN=127.0.0.1:8088",
		"VIGIL_SHIPPER_HTTP_TOKENS=first-token-0123456789,second-token-0123456789",
	}})
	require.NoError(t, err)
	require.Equal(t, []Secret{"first-token-0123456789", "second-token-0123456789"}, c.Shipper.HTTP.Tokens)
}

// A JSON field mapping keeps its dotted keys whole (they are not nested
// config keys) and its paths as written.
func TestLoadJSONFields(t *testing.T) {
	c, err := Load(Source{File: "testdata/json_fields.yaml", Environ: []string{}})
	require.NoError(t, err)
	require.Equal(t, map[string]string{
		"timestamp": "time", "source.ip": "client.addr", "user.name": "actor.Login", "event.outcome": "result",
	}, c.Shipper.Files[0].Fields)
}

func TestLoadRejects(t *testing.T) {
	tests := []struct {
		name string
		src  Source
		want []string
	}{
		{"misspelled key in file", Source{File: "testdata/misspelled.yaml"}, []string{`unknown key "kafka.brokerz"`}},
		{"bad values", Source{File: "testdata/invalid_values.yaml"}, []string{"kafka.compression", "processor.profiles[0].features[0].alpha"}},
		{"bad profiles", Source{File: "testdata/bad_profiles.yaml"}, []string{
			`processor.disabled[0]: "brute_forse" is not a built-in profile`,
			`processor.profiles[0].name: "Logins" must be lower case`,
			`processor.profiles[0].key[0]: "user.nam" is not an event field`,
			`processor.profiles[0].key[1]: "host.name/24": only source.ip and destination.ip take a prefix length`,
			`processor.profiles[0].match.fields: "labelz.x" is not an event field`,
			"processor.profiles[0].window: must be from 1s to 168h and divide a week, got 11m0s",
			`processor.profiles[0].features[0].field: sum needs a numeric field`,
			`processor.profiles[0].features[1].kind: "median" is not one of`,
			"processor.profiles[1].features[0].field: first_seen needs a field",
			"processor.profiles[1].features[0].kind: first_seen must be a profile's only feature",
			`processor.profiles[1].features[1].direction: "sideways" is not one of`,
		}},
		{"unknown --set key", Source{Set: []string{"kafka.brokerz=x:1"}}, []string{"kafka.brokerz"}},
		{"--set without =", Source{Set: []string{"tenant"}}, []string{"key=value"}},
		{"bad env value", Source{Environ: []string{"VIGIL_ARCHIVER_BATCH_ROWS=0"}}, []string{"archiver.batch_rows"}},
		{"unparseable duration", Source{Set: []string{"shipper.poll_interval=soon"}}, []string{"poll_interval"}},
		{"two topics with one name", Source{Set: []string{"kafka.topics.events_dlq=vigil.events"}}, []string{"kafka.topics.events_dlq", "own name"}},
		{"bad glob", Source{File: "testdata/bad_glob.yaml"}, []string{"shipper.files[0].paths", "not a valid glob"}},
		{"line limit too large", Source{Set: []string{"shipper.max_line_bytes=100000000"}}, []string{"shipper.max_line_bytes"}},
		{"bad JSON field mapping", Source{File: "testdata/bad_fields.yaml"}, []string{
			`shipper.files[0].fields.source.address: unknown envelope key "source.address"`,
			"shipper.files[0].fields.user.name: needs a JSON path",
			`shipper.files[1].fields: maps JSON fields: it needs format json or auto, not "sshd"`,
		}},
		{"unknown format", Source{Set: []string{}, File: "testdata/bad_format.yaml"}, []string{"shipper.files[0].format", `"zeek-json"`}},
		{"misspelled key in a list item", Source{File: "testdata/misspelled_in_list.yaml"}, []string{"pathz"}},
		{"missing file", Source{File: "testdata/nope.yaml"}, []string{"nope.yaml"}},
		{"negative retention", Source{Set: []string{"clickhouse.retention.events_days=-1"}}, []string{"clickhouse.retention.events_days", "keep forever"}},
		{"retention beyond a century", Source{Set: []string{"clickhouse.retention.rollups_days=40000"}}, []string{"clickhouse.retention.rollups_days"}},
		{"negative entity ttl", Source{Set: []string{"processor.entity_ttl=-1h"}}, []string{"processor.entity_ttl", "must not be negative"}},
		{"negative silence retention", Source{Set: []string{"pager.silence_retention=-1h"}}, []string{"pager.silence_retention", "must not be negative"}},
		{"unknown clickhouse compression", Source{Set: []string{"clickhouse.compression=gzip"}}, []string{"clickhouse.compression", `"gzip"`}},
		{"no retention interval", Source{Set: []string{"clickhouse.retention.interval=0s"}}, []string{"clickhouse.retention.interval"}},
		{"syslog TLS without a certificate", Source{Set: []string{"shipper.syslog.tls_listen=:6514"}},
			[]string{"shipper.syslog.tls.cert_file", "shipper.syslog.tls.key_file"}},
		{"syslog bad address", Source{Set: []string{"shipper.syslog.udp_listen=514"}}, []string{"shipper.syslog.udp_listen"}},
		{"syslog bad zone", Source{Set: []string{"shipper.syslog.timezone=Mars/Olympus"}}, []string{"shipper.syslog.timezone"}},
		{"syslog message limit", Source{Set: []string{"shipper.syslog.max_message_bytes=10"}}, []string{"shipper.syslog.max_message_bytes"}},
		{"syslog batch", Source{Set: []string{"shipper.syslog.batch_messages=0", "shipper.syslog.batch_wait=0s"}},
			[]string{"shipper.syslog.batch_messages", "shipper.syslog.batch_wait"}},
		{"http without tokens", Source{Set: []string{"shipper.http.listen=:8088"}}, []string{"shipper.http.tokens"}},
		{"http short token", Source{Set: []string{"shipper.http.tokens=short"}}, []string{"shipper.http.tokens[0]", "16 characters"}},
		{"http half a certificate", Source{Set: []string{"shipper.http.listen=:8088", "shipper.http.tokens=ingest-token-0123456789", "shipper.http.tls.cert_file=c.pem"}},
			[]string{"shipper.http.tls.key_file"}},
		{"http request limit", Source{Set: []string{"shipper.http.max_request_bytes=10"}}, []string{"shipper.http.max_request_bytes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.src.Environ == nil {
				tt.src.Environ = []string{}
			}
			_, err := Load(tt.src)
			require.Error(t, err)
			for _, w := range tt.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

// auto compresses unless every ClickHouse address is a loopback one; an
// explicit method is kept.
func TestClickHouseCompressionMethod(t *testing.T) {
	tests := []struct {
		setting string
		addr    []string
		want    string
	}{
		{"auto", []string{"127.0.0.1:9000"}, "none"},
		{"auto", []string{"localhost:9000", "[::1]:9000", "127.0.0.2:9000", "LocalHost:9000", "[::1]"}, "none"},
		{"", []string{"127.0.0.1:9000"}, "none"},
		{"auto", []string{"127.0.0.1:9000", "ch1.example.org:9000"}, "lz4"},
		{"auto", []string{"10.1.2.3:9000"}, "lz4"},
		{"lz4", []string{"127.0.0.1:9000"}, "lz4"},
		{"zstd", []string{"ch1.example.org:9000"}, "zstd"},
		{"none", []string{"ch1.example.org:9000"}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.setting+" "+strings.Join(tt.addr, ","), func(t *testing.T) {
			cfg := ClickHouseConfig{Addr: tt.addr, Compression: tt.setting}
			require.Equal(t, tt.want, cfg.CompressionMethod())
		})
	}
}

// Receivers take their type's URL and the receiver defaults for the keys
// they leave out.
func TestLoadPager(t *testing.T) {
	c, err := Load(Source{File: "testdata/pager.yaml", Environ: []string{}})
	require.NoError(t, err)
	p := c.Pager
	require.Equal(t, "none", p.Output)
	require.Equal(t, []string{"vigil.alerts", "vigil.alerts.team-db"}, p.Topics)
	def := DefaultReceiver()
	require.Equal(t, []ReceiverConfig{
		{Name: "oncall", Type: "pagerduty", URL: "https://events.pagerduty.com/v2/enqueue", RoutingKey: "R0UT1NGKEY0123456789abcdefabcdef",
			RateLimit: def.RateLimit, Burst: def.Burst, Timeout: def.Timeout},
		{Name: "ops", Type: "opsgenie", URL: "https://api.eu.opsgenie.com", APIKey: "genie-key-5f1e2d3c",
			RateLimit: 0.5, Burst: def.Burst, Timeout: def.Timeout},
		{Name: "chat", Type: "slack", URL: "https://hooks.slack.com/services/T000/B000/SLACKTOKENxyz",
			RateLimit: def.RateLimit, Burst: 3, Timeout: def.Timeout},
		{Name: "soar", Type: "webhook", URL: "http://soar.internal:8080/hooks/vigil?token=QUERYTOKEN42", BearerToken: "bearer-token-77",
			RateLimit: def.RateLimit, Burst: def.Burst, Timeout: 3 * time.Second},
	}, p.Receivers)
	require.Equal(t, []RouteConfig{
		{Receiver: "oncall", Matchers: []string{"severity=~high|critical"}, Continue: true},
		{Receiver: "chat", Matchers: []string{"team=db", `entity!~"10\\..*"`}},
		{Receiver: "soar"},
	}, p.Routes)
}

func TestLoadRejectsPager(t *testing.T) {
	_, err := Load(Source{File: "testdata/pager_bad.yaml", Environ: []string{}})
	require.Error(t, err)
	for _, want := range []string{
		`pager.topics[1]: "vigil.events" is one of kafka.topics`,
		`pager.topics[2]: "vigil.alerts" is listed twice`,
		"pager.receivers[0].routing_key: must not be empty",
		`pager.receivers[1].name: "oncall" names another receiver too`,
		"pager.receivers[1].api_key: must not be empty",
		"pager.receivers[2].url: must be set for a slack receiver",
		"pager.receivers[3].url: must be an absolute http:// or https:// URL",
		`pager.receivers[4].type: "email" is not one of`,
		`pager.routes[0].receiver: "nobody" is not the name of one of pager.receivers`,
		"pager.routes[0].matchers[0]: bad matcher",
	} {
		require.ErrorContains(t, err, want)
	}
	_, err = Load(Source{File: "testdata/pager_misspelled.yaml", Environ: []string{}})
	require.ErrorContains(t, err, "routingkey")

	for _, set := range [][]string{
		{"pager.output=file"}, {"pager.session_timeout=10ms"}, {"pager.max_pending=0"}, {"pager.retry.max_attempts=0"},
		{"pager.retry.max_backoff=1ms"}, {"pager.grafana_url=grafana"}, {"kafka.topics.silences=vigil.alerts"},
		{"pager.dedup_window=0s"}, {"pager.commit_interval=0s"},
		{"processor.forward_format=avro"},
	} {
		key, _, _ := strings.Cut(set[0], "=")
		_, err := Load(Source{Set: set, Environ: []string{}})
		require.ErrorContains(t, err, key, "--set %s", set[0])
	}
}

func TestOverrideOrder(t *testing.T) {
	c, err := Load(Source{
		File:    "testdata/valid.yaml",
		Environ: []string{"VIGIL_TENANT=from-env", "VIGIL_KAFKA_BROKERS=a:1,b:2", "VIGIL_SHIPPER_POLL_INTERVAL=2s"},
		Set:     []string{"tenant=from-flag"},
	})
	require.NoError(t, err)
	require.Equal(t, "from-flag", c.Tenant, "a flag wins over env and file")
	require.Equal(t, []string{"a:1", "b:2"}, c.Kafka.Brokers, "env wins over the file")
	require.Equal(t, 2*time.Second, c.Shipper.PollInterval)
}

func TestHideConfigSecrets(t *testing.T) {
	c, err := Load(Source{File: "testdata/valid.yaml", Environ: []string{"VIGIL_CLICKHOUSE_PASSWORD=s3cret-ch"}})
	require.NoError(t, err)
	require.Equal(t, "s3cret-ch", c.ClickHouse.Password.Reveal())
	pc, err := Load(Source{File: "testdata/pager.yaml", Environ: []string{}})
	require.NoError(t, err)
	c.Pager = pc.Pager

	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("config", "config", c)
	js, err := json.Marshal(c)
	require.NoError(t, err)
	for name, out := range map[string]string{
		"%v":   fmt.Sprintf("%v", c),
		"%+v":  fmt.Sprintf("%+v", c),
		"%#v":  fmt.Sprintf("%#v", c),
		"json": string(js),
		"slog": logBuf.String(),
	} {
		require.NotContains(t, out, "hunter2", name)
		require.NotContains(t, out, "s3cret-ch", name)
		require.NotContains(t, out, "ingest-token-0123456789", name)
		for _, secret := range []string{"R0UT1NGKEY", "genie-key-5f1e2d3c", "SLACKTOKENxyz", "/services/", "QUERYTOKEN42", "/hooks/vigil", "bearer-token-77"} {
			require.NotContains(t, out, secret, name)
		}
		require.Regexp(t, `https://hooks\.slack\.com/(<|\\u003c)redacted`, out, name)
		require.Contains(t, out, "https://api.eu.opsgenie.com", name, "a URL without a path prints whole")
		require.Contains(t, out, "redacted", name)
	}
}
