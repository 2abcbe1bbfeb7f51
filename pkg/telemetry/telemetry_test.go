package telemetry_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/telemetry"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// start starts a server on a free loopback port and shuts it down at the end
// of the test.
func start(tb testing.TB, reg *prometheus.Registry) *telemetry.Server {
	tb.Helper()
	s := telemetry.NewServer("127.0.0.1:0", reg, testkit.Logger(tb))
	require.Empty(tb, s.Addr(), "no address before Start")
	require.NoError(tb, s.Start(context.Background()))
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		require.NoError(tb, s.Shutdown(ctx))
	})
	require.NotEmpty(tb, s.Addr())
	return s
}

// get fetches path from s without keeping the connection alive, so no
// client goroutine outlives the test.
func get(tb testing.TB, s *telemetry.Server, path string) (int, string) {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + s.Addr() + path)
	require.NoError(tb, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(body)
}

func TestMetrics(t *testing.T) {
	reg := telemetry.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "vigil_test_things_total", Help: "Things counted by the test."})
	reg.MustRegister(c)
	c.Add(3)
	s := start(t, reg)

	code, body := get(t, s, "/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "# HELP vigil_test_things_total Things counted by the test.")
	require.Contains(t, body, "vigil_test_things_total 3\n")
	// NewRegistry registers the Go and process collectors.
	require.Contains(t, body, "go_goroutines ")
	require.Contains(t, body, "process_")

	c.Inc()
	_, body = get(t, s, "/metrics")
	require.Contains(t, body, "vigil_test_things_total 4\n", "served live, not a snapshot")
}

func TestHealthz(t *testing.T) {
	s := start(t, prometheus.NewRegistry())
	// Health does not depend on readiness.
	s.AddReadyCheck("never", func() error { return errors.New("not yet") })
	code, body := get(t, s, "/healthz")
	require.Equal(t, http.StatusOK, code)
	require.Equal(t, "ok\n", body)
}

func TestReadyz(t *testing.T) {
	tests := []struct {
		name     string
		checks   map[string]telemetry.ReadyFunc
		wantCode int
		wantBody string
	}{
		{"no checks", nil, http.StatusOK, ""},
		{
			"all pass",
			map[string]telemetry.ReadyFunc{"kafka": okCheck, "clickhouse": okCheck},
			http.StatusOK,
			"clickhouse: ok\nkafka: ok\n",
		},
		{
			"one fails",
			map[string]telemetry.ReadyFunc{"kafka": okCheck, "clickhouse": func() error { return errors.New("dial 127.0.0.1:9000: refused") }},
			http.StatusServiceUnavailable,
			"clickhouse: dial 127.0.0.1:9000: refused\nkafka: ok\n",
		},
		{
			"all fail",
			map[string]telemetry.ReadyFunc{"b": func() error { return errors.New("two") }, "a": func() error { return errors.New("one") }},
			http.StatusServiceUnavailable,
			"a: one\nb: two\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := start(t, prometheus.NewRegistry())
			for n, f := range tt.checks {
				s.AddReadyCheck(n, f)
			}
			code, body := get(t, s, "/readyz")
			require.Equal(t, tt.wantCode, code)
			require.Equal(t, tt.wantBody, body)
		})
	}
}

func okCheck() error { return nil }

// Readiness is evaluated on every request, and a check registered again
// under the same name replaces the old one.
func TestReadyzFollowsChecks(t *testing.T) {
	s := start(t, prometheus.NewRegistry())
	var mu sync.Mutex
	state := errors.New("consumer group not joined")
	s.AddReadyCheck("processor", func() error { mu.Lock(); defer mu.Unlock(); return state })

	code, body := get(t, s, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "processor: consumer group not joined\n", body)

	mu.Lock()
	state = nil
	mu.Unlock()
	code, _ = get(t, s, "/readyz")
	require.Equal(t, http.StatusOK, code)

	s.AddReadyCheck("processor", func() error { return errors.New("replaced") })
	code, body = get(t, s, "/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "processor: replaced\n", body)
}

func TestShutdownWithoutStart(t *testing.T) {
	s := telemetry.NewServer("127.0.0.1:0", prometheus.NewRegistry(), testkit.Logger(t))
	require.NoError(t, s.Shutdown(context.Background()))
	require.Empty(t, s.Addr())
}

func TestShutdownStopsServing(t *testing.T) {
	s := telemetry.NewServer("127.0.0.1:0", prometheus.NewRegistry(), testkit.Logger(t))
	require.NoError(t, s.Start(context.Background()))
	addr := s.Addr()
	code, _ := get(t, s, "/healthz")
	require.Equal(t, http.StatusOK, code)
	require.NoError(t, s.Shutdown(context.Background()))
	_, err := net.DialTimeout("tcp", addr, time.Second)
	require.Error(t, err, "nothing listens after Shutdown")
}

func TestStartFailsOnBusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s := telemetry.NewServer(ln.Addr().String(), prometheus.NewRegistry(), testkit.Logger(t))
	err = s.Start(context.Background())
	require.Error(t, err)
	require.Contains(t, err.Error(), ln.Addr().String(), "the error names the address")
	require.NoError(t, s.Shutdown(context.Background()))
}

func TestNewLogger(t *testing.T) {
	tests := []struct {
		name, format, level string
		// wantLevels are the levels that get through, of debug, info, warn, error.
		wantLevels []string
	}{
		{"json debug", "json", "debug", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"json info", "json", "info", []string{"INFO", "WARN", "ERROR"}},
		{"json warn", "json", "warn", []string{"WARN", "ERROR"}},
		{"json error", "json", "error", []string{"ERROR"}},
		{"level in upper case", "json", "WARN", []string{"WARN", "ERROR"}},
		{"unknown level means info", "json", "loud", []string{"INFO", "WARN", "ERROR"}},
		{"empty level means info", "json", "", []string{"INFO", "WARN", "ERROR"}},
		{"text debug", "text", "debug", []string{"DEBUG", "INFO", "WARN", "ERROR"}},
		{"text error", "text", "error", []string{"ERROR"}},
		{"unknown format means json", "logfmt", "info", []string{"INFO", "WARN", "ERROR"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			l := telemetry.NewLogger(&buf, tt.format, tt.level)
			l.Debug("m", "k", "v")
			l.Info("m", "k", "v")
			l.Warn("m", "k", "v")
			l.Error("m", "k", "v")
			lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
			if buf.Len() == 0 {
				lines = nil
			}
			var got []string
			for _, line := range lines {
				if tt.format == "text" {
					require.Contains(t, line, "msg=m k=v")
					_, rest, ok := strings.Cut(line, "level=")
					require.True(t, ok, "text line has a level: %s", line)
					lvl, _, _ := strings.Cut(rest, " ")
					got = append(got, lvl)
					continue
				}
				var rec map[string]any
				require.NoError(t, json.Unmarshal([]byte(line), &rec), "JSON line: %s", line)
				require.Equal(t, "m", rec["msg"])
				require.Equal(t, "v", rec["k"])
				require.Contains(t, rec, "time")
				got = append(got, rec["level"].(string))
			}
			require.Equal(t, tt.wantLevels, got)
		})
	}
}
