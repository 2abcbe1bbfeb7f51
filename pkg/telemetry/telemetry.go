package telemetry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// NewLogger returns a slog logger writing to w in format "json" or "text"
// at level "debug", "info", "warn" or "error".
func NewLogger(w io.Writer, format, level string) *slog.Logger {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		lvl = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// NewRegistry returns a Prometheus registry with the Go and process collectors.
func NewRegistry() *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

// ReadyFunc reports whether a component is ready; nil means ready.
type ReadyFunc func() error

// Server serves /metrics, /healthz and /readyz.
type Server struct {
	addr   string
	reg    *prometheus.Registry
	logger *slog.Logger

	mu     sync.Mutex
	checks map[string]ReadyFunc
	srv    *http.Server
	ln     net.Listener
}

// NewServer returns a server for addr (host:port) exposing reg.
func NewServer(addr string, reg *prometheus.Registry, logger *slog.Logger) *Server {
	return &Server{addr: addr, reg: reg, logger: logger, checks: map[string]ReadyFunc{}}
}

// AddReadyCheck registers a named readiness check shown on /readyz.
func (s *Server) AddReadyCheck(name string, f ReadyFunc) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.checks[name] = f
}

// Start listens and serves in the background.
func (s *Server) Start(_ context.Context) error {
	ln, err := net.Listen("tcp", s.addr)
	if err != nil {
		return fmt.Errorf("telemetry listen on %s: %w", s.addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("/readyz", s.ready)
	s.mu.Lock()
	s.ln = ln
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv := s.srv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("telemetry server stopped", "err", err)
		}
	}()
	s.logger.Info("telemetry listening", "addr", ln.Addr().String())
	return nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops the server; safe before Start.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	type check struct {
		name string
		f    ReadyFunc
	}
	s.mu.Lock()
	checks := make([]check, 0, len(s.checks))
	for n, f := range s.checks {
		checks = append(checks, check{n, f})
	}
	s.mu.Unlock()
	sort.Slice(checks, func(i, j int) bool { return checks[i].name < checks[j].name })
	var b strings.Builder
	status := http.StatusOK
	for _, c := range checks {
		if err := c.f(); err != nil {
			status = http.StatusServiceUnavailable
			fmt.Fprintf(&b, "%s: %v\n", c.name, err)
		} else {
			fmt.Fprintf(&b, "%s: ok\n", c.name)
		}
	}
	w.WriteHeader(status)
	io.WriteString(w, b.String())
}
