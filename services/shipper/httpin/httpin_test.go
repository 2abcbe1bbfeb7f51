package httpin

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/receiver/receivertest"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

const waitFor = receivertest.WaitFor

const (
	token      = "first-token-0123456789"
	otherToken = "second-token-0123456789"
)

var testNow = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func testConfig() config.HTTPInputConfig {
	c := config.Default().Shipper.HTTP
	c.Listen = "127.0.0.1:0"
	c.Tokens = []config.Secret{token, otherToken}
	return c
}

func newReceiver(t *testing.T, cfg config.HTTPInputConfig, sp *spool.Spool) *Receiver {
	t.Helper()
	r, err := New(cfg, "acme", sp, testkit.Logger(t), prometheus.NewRegistry())
	require.NoError(t, err)
	r.now = func() time.Time { return testNow }
	return r
}

// start starts a receiver, shut down at the end of the test, and returns
// it with its base URL.
func start(t *testing.T, cfg config.HTTPInputConfig, sp *spool.Spool) (*Receiver, string) {
	t.Helper()
	r := newReceiver(t, cfg, sp)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
	})
	scheme := "http"
	if cfg.TLS.CertFile != "" {
		scheme = "https"
	}
	return r, scheme + "://" + r.Addr()
}

func client(t *testing.T, tc *tls.Config) *http.Client {
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitFor}
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

func post(t *testing.T, c *http.Client, url, auth string, body io.Reader, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+Path, body)
	require.NoError(t, err)
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	if resp.Header.Get("Content-Type") == "application/json" {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out.body))
	}
	return out
}

func bearer(tok string) string { return "Bearer " + tok }

func TestIngest(t *testing.T) {
	sp := receivertest.OpenSpool(t, 0)
	r, url := start(t, testConfig(), sp)
	body, err := os.ReadFile(filepath.Join("testdata", "body.ndjson"))
	require.NoError(t, err)
	resp := post(t, client(t, nil), url, bearer(token), bytes.NewReader(body))
	require.Equal(t, http.StatusOK, resp.status)
	require.Equal(t, map[string]any{"accepted": 7.0, "parse_errors": 4.0}, resp.body)
	require.Positive(t, sp.Stats().DiskBytes, "appended durably: on disk before the answer")

	evs := receivertest.ReadEvents(t, sp, 7)
	env := evs[0]
	require.Equal(t, "0123456789abcdef0123456789abcdef", env.ID, "an envelope keeps its id")
	require.Equal(t, "acme", env.Tenant, "and gets the receiver's tenant")
	require.Equal(t, "sshd", env.Source)
	require.Equal(t, "vpn_login", evs[1].Action)
	require.Equal(t, "alice", evs[1].User)
	require.Equal(t, "198.51.100.4", evs[1].SrcIP)
	require.Equal(t, "vpn-1", evs[1].Host)
	require.Equal(t, "127.0.0.1", evs[2].Host, "no host in the line: the client's address")
	require.Equal(t, "not json at all", evs[3].Message)
	require.NotEmpty(t, evs[3].ParseError)
	for _, ev := range evs {
		require.Equal(t, "http", ev.Attrs[AttrInput])
		require.Contains(t, ev.Attrs[AttrSourceAddress], "127.0.0.1:")
	}
	require.Equal(t, 7.0, testutil.ToFloat64(r.metrics.accepted))
	require.Equal(t, 4.0, testutil.ToFloat64(r.metrics.parseErrors))
	require.Equal(t, float64(len(body)), testutil.ToFloat64(r.metrics.bytes))
	require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.requests.WithLabelValues("200")))

	resp = post(t, client(t, nil), url, bearer(otherToken), strings.NewReader("\n\n"))
	require.Equal(t, http.StatusOK, resp.status, "every configured token is accepted")
	require.Equal(t, map[string]any{"accepted": 0.0, "parse_errors": 0.0}, resp.body)
}

// go test -run TestGolden -update rewrites testdata/body.golden.
func TestGolden(t *testing.T) {
	sp := receivertest.OpenSpool(t, 0)
	r := newReceiver(t, testConfig(), sp)
	body, err := os.ReadFile(filepath.Join("testdata", "body.ndjson"))
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodPost, Path, bytes.NewReader(body))
	req.RemoteAddr = "192.0.2.10:40000"
	req.Header.Set("Authorization", bearer(token))
	req.Header.Set(IdempotencyKeyHeader, "golden")
	rec := httptest.NewRecorder()
	r.Handler().ServeHTTP(rec, req)
	require.Equal(t, http.StatusOK, rec.Code, rec.Body.String())
	receivertest.Golden(t, filepath.Join("testdata", "body.golden"), receivertest.ReadEvents(t, sp, 7), *update)
}

func TestAuth(t *testing.T) {
	sp := receivertest.OpenSpool(t, 0)
	r, url := start(t, testConfig(), sp)
	tests := []struct {
		name      string
		auth      string
		status    int
		challenge string
	}{
		{"no token", "", http.StatusUnauthorized, `Bearer realm="vigil"`},
		{"wrong token", bearer("wrong-token-0123456789"), http.StatusUnauthorized, `Bearer realm="vigil", error="invalid_token"`},
		{"a prefix of a token", bearer(token[:10]), http.StatusUnauthorized, `Bearer realm="vigil", error="invalid_token"`},
		{"basic scheme", "Basic " + token, http.StatusUnauthorized, `Bearer realm="vigil"`},
		{"bearer, any case", "bearer " + token, http.StatusOK, ""},
	}
	c := client(t, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(t, c, url, tt.auth, strings.NewReader(`{"msg":"x"}`))
			require.Equal(t, tt.status, resp.status)
			require.Equal(t, tt.challenge, resp.header.Get("WWW-Authenticate"))
		})
	}
	require.Equal(t, 4.0, testutil.ToFloat64(r.metrics.requests.WithLabelValues("401")))
	require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.accepted), "only the authenticated request's event")
}

func TestLimits(t *testing.T) {
	cfg := testConfig()
	cfg.MaxRequestBytes = 4096
	cfg.MaxLineBytes = 300
	sp := receivertest.OpenSpool(t, 0)
	r, url := start(t, cfg, sp)
	c := client(t, nil)

	big := strings.Repeat(`{"msg":"x"}`+"\n", 500)
	resp := post(t, c, url, bearer(token), strings.NewReader(big))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.status, "told by Content-Length")
	// A reader of unknown length is sent chunked: the limit is found reading.
	resp = post(t, c, url, bearer(token), io.MultiReader(strings.NewReader(big)))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.status, "found while reading")
	require.Equal(t, 0, sp.Stats().Batches, "nothing of a refused request is kept")

	long := `{"msg":"` + strings.Repeat("y", 500) + `"}`
	resp = post(t, c, url, bearer(token), strings.NewReader(long+"\n"+`{"msg":"short"}`))
	require.Equal(t, http.StatusOK, resp.status)
	evs := receivertest.ReadEvents(t, sp, 2)
	require.Equal(t, long[:300], evs[0].Message)
	require.Equal(t, "true", evs[0].Attrs[parse.AttrTruncated])
	require.NotEmpty(t, evs[0].ParseError, "a cut JSON line is no longer JSON")
	require.Equal(t, "short", evs[1].Attrs["message"])
	require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.truncated))

	resp = post(t, c, url, bearer(token), strings.NewReader("{}"), "Content-Encoding", "gzip")
	require.Equal(t, http.StatusUnsupportedMediaType, resp.status)
	resp = post(t, c, url, bearer(token), strings.NewReader("{}"), IdempotencyKeyHeader, strings.Repeat("k", 300))
	require.Equal(t, http.StatusBadRequest, resp.status)
	require.Equal(t, 2.0, testutil.ToFloat64(r.metrics.requests.WithLabelValues("413")))

	get, err := c.Get(url + Path)
	require.NoError(t, err)
	get.Body.Close()
	require.Equal(t, http.StatusMethodNotAllowed, get.StatusCode)
}

func TestSpoolFull(t *testing.T) {
	sp := receivertest.OpenSpool(t, 1)
	_, url := start(t, testConfig(), sp)
	receivertest.Fill(t, sp)
	c := client(t, nil)
	resp := post(t, c, url, bearer(token), strings.NewReader(`{"msg":"wait"}`))
	require.Equal(t, http.StatusTooManyRequests, resp.status)
	require.Equal(t, "1", resp.header.Get("Retry-After"))

	receivertest.Unfill(t, sp)
	resp = post(t, c, url, bearer(token), strings.NewReader(`{"msg":"wait"}`))
	require.Equal(t, http.StatusOK, resp.status, "room again")
	require.Equal(t, "wait", receivertest.ReadEvents(t, sp, 1)[0].Attrs["message"])
}

func TestIdempotencyKey(t *testing.T) {
	sp := receivertest.OpenSpool(t, 0)
	_, url := start(t, testConfig(), sp)
	c := client(t, nil)
	body := "{\"msg\":\"a\"}\n{\"msg\":\"a\"}\n"
	ids := func(header ...string) []string {
		require.Equal(t, http.StatusOK, post(t, c, url, bearer(token), strings.NewReader(body), header...).status)
		evs := receivertest.ReadEvents(t, sp, 2)
		require.NotEqual(t, evs[0].ID, evs[1].ID, "equal lines at different offsets")
		return []string{evs[0].ID, evs[1].ID}
	}
	first := ids(IdempotencyKeyHeader, "batch-1")
	require.Equal(t, first, ids(IdempotencyKeyHeader, "batch-1"), "a retry gets the same ids")
	require.NotEqual(t, first, ids(IdempotencyKeyHeader, "batch-2"))
	require.NotEqual(t, ids(), ids(), "without a key every request is new")
}

func TestTLS(t *testing.T) {
	certs := testkit.NewCerts(t)
	for _, mutual := range []bool{false, true} {
		t.Run(fmt.Sprintf("mutual=%v", mutual), func(t *testing.T) {
			cfg := testConfig()
			cfg.TLS = config.ServerTLSConfig{CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile}
			if mutual {
				cfg.TLS.ClientCAFile = certs.CAFile
			}
			sp := receivertest.OpenSpool(t, 0)
			_, url := start(t, cfg, sp)
			resp := post(t, client(t, certs.ClientTLS(mutual)), url, bearer(token), strings.NewReader(`{"msg":"over tls"}`))
			require.Equal(t, http.StatusOK, resp.status)
			require.Equal(t, "over tls", receivertest.ReadEvents(t, sp, 1)[0].Attrs["message"])
			if mutual {
				_, err := client(t, certs.ClientTLS(false)).Get(url + "/healthz")
				require.Error(t, err, "no client certificate, no connection")
			}
		})
	}
}

func TestStartShutdown(t *testing.T) {
	t.Run("shutdown without start", func(t *testing.T) {
		r := newReceiver(t, testConfig(), receivertest.OpenSpool(t, 0))
		require.NoError(t, r.Shutdown(context.Background()))
		require.Error(t, r.Start(context.Background()), "no start after shutdown")
	})
	t.Run("start then shutdown", func(t *testing.T) {
		r := newReceiver(t, testConfig(), receivertest.OpenSpool(t, 0))
		require.NoError(t, r.Start(context.Background()))
		c := client(t, nil)
		resp, err := c.Get("http://" + r.Addr() + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.Error(t, r.Start(context.Background()), "started twice")
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, r.Shutdown(context.Background()), "twice is fine")
		_, err = net.Dial("tcp", r.Addr())
		require.Error(t, err, "the listener is closed")
	})
	t.Run("503 while shutting down", func(t *testing.T) {
		r := newReceiver(t, testConfig(), receivertest.OpenSpool(t, 0))
		require.NoError(t, r.Shutdown(context.Background()))
		for _, path := range []string{Path, "/healthz"} {
			method := http.MethodPost
			if path == "/healthz" {
				method = http.MethodGet
			}
			req := httptest.NewRequest(method, path, strings.NewReader(`{"msg":"late"}`))
			req.Header.Set("Authorization", bearer(token))
			rec := httptest.NewRecorder()
			r.Handler().ServeHTTP(rec, req)
			require.Equal(t, http.StatusServiceUnavailable, rec.Code, path)
		}
	})
	t.Run("a busy address fails start", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		cfg := testConfig()
		cfg.Listen = ln.Addr().String()
		r := newReceiver(t, cfg, receivertest.OpenSpool(t, 0))
		require.ErrorContains(t, r.Start(context.Background()), "shipper.http.listen")
		require.NoError(t, r.Shutdown(context.Background()))
	})
	t.Run("bad configuration", func(t *testing.T) {
		cfg := testConfig()
		cfg.Tokens = nil
		_, err := New(cfg, "acme", receivertest.OpenSpool(t, 0), testkit.Logger(t), nil)
		require.ErrorContains(t, err, "shipper.http.tokens")
		cfg = testConfig()
		cfg.TLS.CertFile, cfg.TLS.KeyFile = "missing.pem", "missing-key.pem"
		_, err = New(cfg, "acme", receivertest.OpenSpool(t, 0), testkit.Logger(t), nil)
		require.ErrorContains(t, err, "shipper.http.tls.cert_file")
	})
}

// FuzzBody checks that any body is answered, and that every event it
// yields is valid and keeps its line.
func FuzzBody(f *testing.F) {
	body, err := os.ReadFile(filepath.Join("testdata", "body.ndjson"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add([]byte("\r\n{\"a\":1}\r\n\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		cfg := testConfig()
		cfg.MaxLineBytes = 256
		r := newReceiver(t, cfg, nil) // read does not append
		msgs, res, err := r.read(bytes.NewReader(body), "192.0.2.1:5", "fuzz")
		require.NoError(t, err)
		require.Len(t, msgs, res.Accepted)
		for _, m := range msgs {
			ev, err := event.Decode(m.Value)
			require.NoError(t, err)
			require.Equal(t, "acme", ev.Tenant)
		}
	})
}
