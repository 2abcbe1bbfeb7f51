package httpin

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/receiver"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// Path is where events are posted.
const Path = "/v1/events"

// IdempotencyKeyHeader names the header that makes a retried request's
// events get the same ids as the first attempt's.
const IdempotencyKeyHeader = "Idempotency-Key"

// Attribute keys set on every event received over HTTP.
const (
	AttrInput         = "vigil.input"
	AttrSourceAddress = "log.source.address"
)

const (
	// retryAfter is what a 429 asks the client to wait, in seconds.
	retryAfter = "1"
	// maxKeyBytes bounds an Idempotency-Key.
	maxKeyBytes = 256
	// Timeouts of the server.
	readHeaderTimeout = 10 * time.Second
	readTimeout       = time.Minute
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
)

// Receiver serves POST /v1/events and GET /healthz.
type Receiver struct {
	cfg     config.HTTPInputConfig
	tenant  string
	sink    receiver.Sink
	logger  *slog.Logger
	metrics *metrics
	parser  parse.Parser
	tokens  [][sha256.Size]byte
	tls     *tls.Config
	now     func() time.Time

	stopping atomic.Bool
	mu       sync.Mutex
	srv      *http.Server
	ln       net.Listener
	served   chan struct{} // closed when the server stops serving
}

// New checks cfg and returns a receiver that appends to sink; Start
// listens. Events carry tenant. reg may be nil.
func New(cfg config.HTTPInputConfig, tenant string, sink receiver.Sink, logger *slog.Logger, reg prometheus.Registerer) (*Receiver, error) {
	if len(cfg.Tokens) == 0 {
		return nil, errors.New("shipper.http.tokens: must list at least one token")
	}
	p, err := parse.New(parse.FormatJSON)
	if err != nil {
		return nil, err
	}
	r := &Receiver{
		cfg:    cfg,
		tenant: tenant,
		sink:   sink,
		logger: logger.With("component", "httpin"),
		parser: p,
		now:    time.Now,
	}
	for _, t := range cfg.Tokens {
		r.tokens = append(r.tokens, sha256.Sum256([]byte(t.Reveal())))
	}
	if cfg.TLS.CertFile != "" {
		if r.tls, err = receiver.ServerTLS(cfg.TLS, "shipper.http.tls"); err != nil {
			return nil, err
		}
	}
	if r.metrics, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("httpin metrics: %w", err)
	}
	return r, nil
}

// Handler returns the receiver's routes.
func (r *Receiver) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+Path, r.ingest)
	mux.HandleFunc("GET /healthz", r.healthz)
	return mux
}

// Start listens on cfg.Listen and serves in the background.
func (r *Receiver) Start(_ context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.srv != nil || r.stopping.Load() {
		return errors.New("httpin: Start after Start or Shutdown")
	}
	ln, err := net.Listen("tcp", r.cfg.Listen)
	if err != nil {
		return fmt.Errorf("shipper.http.listen: %w", err)
	}
	r.ln = ln
	r.srv = &http.Server{
		Handler:           r.Handler(),
		TLSConfig:         r.tls,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		// The server logs per connection (failed TLS handshakes, say):
		// debug, so that a scan cannot flood the log.
		ErrorLog: slog.NewLogLogger(r.logger.Handler(), slog.LevelDebug),
	}
	r.served = make(chan struct{})
	srv, served := r.srv, r.served
	go func() {
		defer close(served)
		var err error
		if r.tls != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.logger.Error("httpin server stopped", "err", err)
		}
	}()
	r.logger.Info("httpin listening", "addr", ln.Addr().String(), "tls", r.tls != nil)
	return nil
}

// Addr is the address the receiver listens on, once started.
func (r *Receiver) Addr() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ln == nil {
		return ""
	}
	return r.ln.Addr().String()
}

// Shutdown stops accepting requests; requests still arriving get 503, and
// those being handled finish. When ctx ends first, the connections are
// closed and Shutdown returns ctx's error. Safe before Start.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.stopping.Store(true)
	r.mu.Lock()
	srv, served := r.srv, r.served
	r.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		srv.Close()
		err = fmt.Errorf("httpin: shutdown: %w", err)
	}
	<-served
	return err
}

func (r *Receiver) healthz(w http.ResponseWriter, _ *http.Request) {
	if r.stopping.Load() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	io.WriteString(w, "ok\n")
}

// result is the body of a 200 answer.
type result struct {
	// Accepted counts the events now in the spool.
	Accepted int `json:"accepted"`
	// ParseErrors counts those of them kept raw, with vigil.parse_error.
	ParseErrors int `json:"parse_errors"`
}

func (r *Receiver) ingest(w http.ResponseWriter, req *http.Request) {
	if r.stopping.Load() {
		w.Header().Set("Connection", "close")
		r.fail(w, http.StatusServiceUnavailable, "shutting down")
		return
	}
	if status, msg := r.authenticate(req); status != 0 {
		w.Header().Set("WWW-Authenticate", msg)
		r.fail(w, status, "missing or invalid bearer token")
		return
	}
	if enc := req.Header.Get("Content-Encoding"); enc != "" && !strings.EqualFold(enc, "identity") {
		r.fail(w, http.StatusUnsupportedMediaType, "Content-Encoding "+strconv.Quote(enc)+" is not supported")
		return
	}
	key := req.Header.Get(IdempotencyKeyHeader)
	if len(key) > maxKeyBytes {
		r.fail(w, http.StatusBadRequest, fmt.Sprintf("%s is longer than %d bytes", IdempotencyKeyHeader, maxKeyBytes))
		return
	}
	if req.ContentLength > r.cfg.MaxRequestBytes {
		r.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", r.cfg.MaxRequestBytes))
		return
	}
	body := &countingReader{r: http.MaxBytesReader(w, req.Body, r.cfg.MaxRequestBytes)}
	msgs, res, err := r.read(body, req.RemoteAddr, key)
	r.metrics.bytes.Add(float64(body.n))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			r.fail(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d bytes", r.cfg.MaxRequestBytes))
			return
		}
		r.fail(w, http.StatusBadRequest, "reading the body: "+err.Error())
		return
	}
	if len(msgs) > 0 {
		switch err := r.sink.TryAppend(msgs, nil, true); {
		case errors.Is(err, spool.ErrFull):
			w.Header().Set("Retry-After", retryAfter)
			r.fail(w, http.StatusTooManyRequests, "the spool is full; retry later")
			return
		case errors.Is(err, spool.ErrClosed):
			r.fail(w, http.StatusServiceUnavailable, "shutting down")
			return
		case err != nil:
			r.logger.Error("httpin: append to the spool failed", "err", err)
			r.fail(w, http.StatusInternalServerError, "the events could not be stored")
			return
		}
	}
	r.metrics.accepted.Add(float64(res.Accepted))
	r.metrics.parseErrors.Add(float64(res.ParseErrors))
	r.reply(w, http.StatusOK, res)
}

// authenticate checks the bearer token against every configured one, in
// constant time. It returns 0, or 401 and the WWW-Authenticate challenge.
func (r *Receiver) authenticate(req *http.Request) (int, string) {
	const challenge = `Bearer realm="vigil"`
	scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return http.StatusUnauthorized, challenge
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(token)))
	match := 0
	for i := range r.tokens {
		match |= subtle.ConstantTimeCompare(sum[:], r.tokens[i][:])
	}
	if match != 1 {
		return http.StatusUnauthorized, challenge + `, error="invalid_token"`
	}
	return 0, ""
}

// read parses the body's lines into spool messages. Blank lines are
// skipped. Every event's id is made of the tenant, an origin, the line's
// offset in the body and the line: the origin is the Idempotency-Key when
// the request has one (so a retry gets the same ids), else the client's
// address and a random request id.
func (r *Receiver) read(body io.Reader, remote, key string) ([]spool.Msg, result, error) {
	var res result
	origin := "http/key/" + key
	if key == "" {
		var id [8]byte
		_, _ = rand.Read(id[:])
		origin = "http/" + remote + "/" + hex.EncodeToString(id[:])
	}
	host := remote
	if ap, err := netip.ParseAddrPort(remote); err == nil {
		host = ap.Addr().Unmap().String()
	}
	now := r.now()
	lines := receiver.NewLineReader(bufio.NewReaderSize(body, 64<<10), r.cfg.MaxLineBytes)
	var msgs []spool.Msg
	for {
		line, truncated, _, err := lines.ReadLine(nil)
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, res, err
		}
		if len(bytes.TrimSpace(line)) > 0 || truncated {
			ev, _ := r.parser.Parse(parse.Input{
				Tenant:    r.tenant,
				Host:      host,
				Origin:    origin,
				Offset:    lines.Offset(),
				Line:      line,
				Truncated: truncated,
				Now:       now,
			})
			setAttr(ev, AttrInput, "http")
			setAttr(ev, AttrSourceAddress, remote)
			if truncated {
				r.metrics.truncated.Inc()
			}
			m, encErr := receiver.Encode(ev)
			if encErr != nil {
				return nil, res, fmt.Errorf("line at byte %d: %w", lines.Offset(), encErr)
			}
			msgs = append(msgs, m)
			res.Accepted++
			if ev.ParseError != "" {
				res.ParseErrors++
			}
		}
		if err != nil {
			return msgs, res, nil
		}
	}
}

// fail answers with status and a JSON error.
func (r *Receiver) fail(w http.ResponseWriter, status int, msg string) {
	r.reply(w, status, struct {
		Error string `json:"error"`
	}{msg})
}

// reply answers a POST with status and v as JSON.
func (r *Receiver) reply(w http.ResponseWriter, status int, v any) {
	r.metrics.requests.WithLabelValues(strconv.Itoa(status)).Inc()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func setAttr(ev *event.Event, k, v string) {
	if ev.Attrs == nil {
		ev.Attrs = make(map[string]string, 2)
	}
	ev.Attrs[k] = v
}

// countingReader counts the bytes read from a body.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
