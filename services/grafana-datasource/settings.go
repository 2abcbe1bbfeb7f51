package grafanads

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"regexp"
	"strings"
	"time"
	"unicode"

	"github.com/grafana/grafana-plugin-sdk-go/backend"

	"github.com/vigil-soc/vigil/pkg/config"
)

// Settings is one data source's configuration: its jsonData, with the
// secrets from secureJsonData. Keys are those of jsonData.
type Settings struct {
	// Addr are ClickHouse native-protocol host:port pairs, comma-separated.
	// Default 127.0.0.1:9000.
	Addr string `json:"addr"`
	// Database holds Vigil's tables. Default vigil.
	Database string `json:"database"`
	// Username to connect to ClickHouse as. Default default.
	Username string `json:"username"`
	// Password for Username: secureJsonData key "password".
	Password config.Secret `json:"-"`
	// Tenant pins the data source to one tenant: every query, raw SQL
	// included, sees that tenant's rows only. Empty: not pinned, queries
	// name their tenant.
	Tenant string `json:"tenant"`
	// DefaultTenant is the tenant of queries that name none, when the data
	// source is not pinned. Default default.
	DefaultTenant string `json:"defaultTenant"`
	// QueryTimeout bounds one query, as a Go duration. Default 60s.
	QueryTimeout string `json:"queryTimeout"`
	// MaxRows is the most rows a table query returns. Default 10000.
	MaxRows int `json:"maxRows"`
	// KafkaBrokers are host:port pairs, comma-separated, for the live alert
	// stream. Empty: no live stream.
	KafkaBrokers string `json:"kafkaBrokers"`
	// AlertsTopic is the topic alerts are published on. Default vigil.alerts.
	AlertsTopic string `json:"alertsTopic"`
	// KafkaSASLMechanism is "", PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
	KafkaSASLMechanism string `json:"kafkaSaslMechanism"`
	// KafkaSASLUsername is the SASL user.
	KafkaSASLUsername string `json:"kafkaSaslUsername"`
	// KafkaSASLPassword: secureJsonData key "kafkaSaslPassword".
	KafkaSASLPassword config.Secret `json:"-"`
	// KafkaTLS connects to the brokers over TLS (system roots).
	KafkaTLS bool `json:"kafkaTls"`

	queryTimeout time.Duration
}

// Secure keys of secureJsonData.
const (
	securePassword          = "password"
	secureKafkaSASLPassword = "kafkaSaslPassword"
)

// maxTenantLen bounds a tenant name, pinned or given by a query.
const maxTenantLen = 256

var identRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// grafanaKeys are jsonData keys Grafana's own settings pages may write
// for any data source; they are ignored.
var grafanaKeys = []string{"manageAlerts", "alertmanagerUid", "timeInterval", "disableGrafanaCache",
	"enableSecureSocksProxy", "secureSocksProxyUsername", "oauthPassThru", "keepCookies"}

// ParseSettings reads a data source's settings, fills in defaults and
// validates them; every problem is reported, each naming its key. Unknown
// jsonData keys are an error (Grafana's own keys aside).
func ParseSettings(s backend.DataSourceInstanceSettings) (Settings, error) {
	var st Settings
	if len(bytes.TrimSpace(s.JSONData)) > 0 {
		var keys map[string]json.RawMessage
		if err := json.Unmarshal(s.JSONData, &keys); err != nil {
			return Settings{}, fmt.Errorf("jsonData: %w", err)
		}
		for _, k := range grafanaKeys {
			delete(keys, k)
		}
		own, _ := json.Marshal(keys)
		dec := json.NewDecoder(bytes.NewReader(own))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&st); err != nil {
			return Settings{}, fmt.Errorf("jsonData: %w", err)
		}
	}
	st.Password = config.Secret(s.DecryptedSecureJSONData[securePassword])
	st.KafkaSASLPassword = config.Secret(s.DecryptedSecureJSONData[secureKafkaSASLPassword])
	st.defaults()
	return st, st.validate()
}

func (s *Settings) defaults() {
	if s.Addr == "" {
		s.Addr = "127.0.0.1:9000"
	}
	if s.Database == "" {
		s.Database = "vigil"
	}
	if s.Username == "" {
		s.Username = "default"
	}
	if s.DefaultTenant == "" {
		s.DefaultTenant = "default"
	}
	if s.QueryTimeout == "" {
		s.QueryTimeout = "60s"
	}
	if s.MaxRows == 0 {
		s.MaxRows = 10_000
	}
	if s.AlertsTopic == "" {
		s.AlertsTopic = "vigil.alerts"
	}
}

func (s *Settings) validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for _, a := range s.addrs() {
		if _, _, err := net.SplitHostPort(a); err != nil {
			bad("addr", "%q is not host:port", a)
		}
	}
	if !identRe.MatchString(s.Database) {
		bad("database", "%q is not a ClickHouse database name (letters, digits, _)", s.Database)
	}
	if s.Tenant != "" {
		if err := checkTenant(s.Tenant); err != nil {
			bad("tenant", "%v", err)
		}
	}
	if err := checkTenant(s.DefaultTenant); err != nil {
		bad("defaultTenant", "%v", err)
	}
	d, err := time.ParseDuration(s.QueryTimeout)
	if err != nil || d <= 0 {
		bad("queryTimeout", "%q is not a positive duration (e.g. 60s)", s.QueryTimeout)
	}
	s.queryTimeout = d
	if s.MaxRows < 1 || s.MaxRows > 1_000_000 {
		bad("maxRows", "%d is not from 1 to 1000000", s.MaxRows)
	}
	for _, b := range s.brokers() {
		if _, _, err := net.SplitHostPort(b); err != nil {
			bad("kafkaBrokers", "%q is not host:port", b)
		}
	}
	switch s.KafkaSASLMechanism {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		bad("kafkaSaslMechanism", "%q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.KafkaSASLMechanism)
	}
	if s.AlertsTopic == "" || strings.ContainsAny(s.AlertsTopic, " /") {
		bad("alertsTopic", "%q is not a topic name", s.AlertsTopic)
	}
	return errors.Join(errs...)
}

// checkTenant accepts a tenant name: not empty, at most maxTenantLen
// bytes, printable.
func checkTenant(t string) error {
	switch {
	case t == "":
		return errors.New("empty")
	case len(t) > maxTenantLen:
		return fmt.Errorf("longer than %d bytes", maxTenantLen)
	case strings.IndexFunc(t, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("%q has a character that does not print", t)
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func (s Settings) addrs() []string   { return splitList(s.Addr) }
func (s Settings) brokers() []string { return splitList(s.KafkaBrokers) }

// Pinned reports whether the data source is pinned to one tenant.
func (s Settings) Pinned() bool { return s.Tenant != "" }

// ClickHouse returns the ClickHouse configuration Vigil's store opens.
func (s Settings) ClickHouse() config.ClickHouseConfig {
	c := config.Default().ClickHouse
	c.Addr = s.addrs()
	c.Database = s.Database
	c.Username = s.Username
	c.Password = s.Password
	c.Local = false
	c.ReadTimeout = s.queryTimeout
	return c
}

// Kafka returns the Kafka configuration of the live stream; ok is false
// when no brokers are configured.
func (s Settings) Kafka() (cfg config.KafkaConfig, ok bool) {
	c := config.Default().Kafka
	c.Brokers = s.brokers()
	c.ClientID = "vigil-grafana"
	c.SASL.Mechanism = s.KafkaSASLMechanism
	c.SASL.Username = s.KafkaSASLUsername
	c.SASL.Password = s.KafkaSASLPassword
	c.TLS.Enabled = s.KafkaTLS
	return c, len(c.Brokers) > 0
}
