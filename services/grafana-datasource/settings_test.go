package grafanads

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/grafana/grafana-plugin-sdk-go/backend"
	"github.com/stretchr/testify/require"
)

func TestParseSettingsDefaults(t *testing.T) {
	s, err := ParseSettings(backend.DataSourceInstanceSettings{JSONData: []byte(`{"manageAlerts": false}`)})
	require.NoError(t, err)
	require.Equal(t, "127.0.0.1:9000", s.Addr)
	require.Equal(t, "vigil", s.Database)
	require.Equal(t, "default", s.Username)
	require.Equal(t, "default", s.DefaultTenant)
	require.Equal(t, "vigil.alerts", s.AlertsTopic)
	require.Equal(t, 10_000, s.MaxRows)
	require.Equal(t, time.Minute, s.queryTimeout)
	require.False(t, s.Pinned())
	_, ok := s.Kafka()
	require.False(t, ok, "no brokers, no live stream")
	ch := s.ClickHouse()
	require.Equal(t, []string{"127.0.0.1:9000"}, ch.Addr)
	require.False(t, ch.Local)
}

func TestParseSettingsErrorsNameKeys(t *testing.T) {
	tests := []struct {
		json string
		want []string
	}{
		{`{"adress": "x:1"}`, []string{`unknown field "adress"`}},
		{`{"maxRows": "many"}`, []string{"jsonData: json: cannot unmarshal string"}},
		{`{"addr": "a:1, b", "database": "vigil; DROP", "tenant": "` + strings.Repeat("t", 300) + `"}`,
			[]string{`addr: "b" is not host:port`, `database: "vigil; DROP"`, "tenant: longer than 256 bytes"}},
		{`{"defaultTenant": "a\nb", "alertsTopic": "a b", "kafkaBrokers": "k"}`,
			[]string{"defaultTenant: ", "does not print", `alertsTopic: "a b"`, `kafkaBrokers: "k" is not host:port`}},
	}
	for _, tt := range tests {
		_, err := ParseSettings(backend.DataSourceInstanceSettings{JSONData: []byte(tt.json)})
		require.Error(t, err, tt.json)
		for _, w := range tt.want {
			require.Contains(t, err.Error(), w)
		}
	}
}

func TestSettingsHideSecrets(t *testing.T) {
	s, err := ParseSettings(backend.DataSourceInstanceSettings{
		JSONData:                []byte(`{"kafkaBrokers": "k:9092", "kafkaSaslMechanism": "PLAIN", "kafkaSaslUsername": "u"}`),
		DecryptedSecureJSONData: map[string]string{"password": "ch-secret", "kafkaSaslPassword": "kafka-secret"},
	})
	require.NoError(t, err)
	require.Equal(t, "ch-secret", s.ClickHouse().Password.Reveal())
	k, ok := s.Kafka()
	require.True(t, ok)
	require.Equal(t, "kafka-secret", k.SASL.Password.Reveal())
	for _, out := range []string{fmt.Sprintf("%v", s), fmt.Sprintf("%+v", s), fmt.Sprintf("%#v", s)} {
		require.NotContains(t, out, "ch-secret")
		require.NotContains(t, out, "kafka-secret")
	}
}
