package shipper

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// With shipper.syslog and shipper.http set, what arrives over TCP syslog
// and HTTP ends up in Kafka like the lines of files do.
func TestReceiversPublishToKafka(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka = testkit.Broker(t)
	cfg.Telemetry.Listen = ""
	cfg.Shipper.Files = nil
	cfg.Shipper.StateDir = t.TempDir()
	cfg.Shipper.Host = "h"
	cfg.Shipper.Syslog.TCPListen = testkit.FreeAddr(t)
	cfg.Shipper.HTTP.Listen = testkit.FreeAddr(t)
	const token = "ingest-token-0123456789"
	cfg.Shipper.HTTP.Tokens = []config.Secret{token}
	require.NoError(t, cfg.Validate())
	s, err := New(service.Deps{Config: cfg, Logger: testkit.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, s.Start(context.Background()))
	defer func() { require.NoError(t, s.Shutdown(context.Background())) }()

	c, err := net.Dial("tcp", cfg.Shipper.Syslog.TCPListen)
	require.NoError(t, err)
	_, err = fmt.Fprintf(c, "<38>%s bastion sshd[1]: Failed password for root from 203.0.113.7 port 4242 ssh2\n", time.Now().UTC().Format(time.Stamp))
	require.NoError(t, err)
	require.NoError(t, c.Close())

	req, err := http.NewRequest(http.MethodPost, "http://"+cfg.Shipper.HTTP.Listen+"/v1/events",
		strings.NewReader(`{"@timestamp":"2026-11-24T10:00:00Z","event.category":"authentication","event.outcome":"success","user.name":"alice","source.ip":"198.51.100.4"}`+"\n"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)

	var got map[string]string
	require.Eventually(t, func() bool {
		got = map[string]string{}
		for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Events) {
			ev, err := event.Decode(m.Value)
			if err != nil {
				return false
			}
			got[ev.SrcIP] = ev.User
		}
		return len(got) == 2
	}, 30*time.Second, 50*time.Millisecond)
	require.Equal(t, map[string]string{"203.0.113.7": "root", "198.51.100.4": "alice"}, got)
}
