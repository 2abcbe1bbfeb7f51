package syslog

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/services/shipper/receiver"
)

// Transports, as the metrics' transport label and vigil.input name them.
const (
	TransportUDP = "udp"
	TransportTCP = "tcp"
	TransportTLS = "tls"
)

const (
	// handshakeTimeout bounds a TLS handshake, so that a client that
	// connects and says nothing does not hold a connection slot.
	handshakeTimeout = 10 * time.Second
	// maxDatagram is the largest UDP payload.
	maxDatagram = 65535
	// readBuffer is the read buffer of one TCP connection; longer
	// messages are read through it in pieces.
	readBuffer = 16 << 10
)

// Receiver receives syslog messages over UDP, TCP and TLS and appends their
// events to a sink in batches. See the package doc and README.md.
type Receiver struct {
	cfg     config.SyslogConfig
	tenant  string
	sink    receiver.Sink
	logger  *slog.Logger
	metrics *metrics
	loc     *time.Location
	tls     *tls.Config
	now     func() time.Time
	run     string // this run's id, in every event id's origin

	mu      sync.Mutex
	started bool
	stopped bool
	udp     *net.UDPConn
	lns     map[string]net.Listener
	conns   map[net.Conn]struct{}
	pipes   map[string]*pipe

	readers  sync.WaitGroup // the goroutines that read sockets
	batchers sync.WaitGroup
	// abort is closed when Shutdown's context ends: readers stop waiting
	// to hand over messages, and appends stop waiting for room.
	abort       chan struct{}
	abortAppend context.CancelFunc
	appendCtx   context.Context
}

// New checks cfg and returns a receiver that appends to sink; Start opens
// the listeners. Events carry tenant. reg may be nil.
func New(cfg config.SyslogConfig, tenant string, sink receiver.Sink, logger *slog.Logger, reg prometheus.Registerer) (*Receiver, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("shipper.syslog.timezone: %w", err)
	}
	r := &Receiver{
		cfg:    cfg,
		tenant: tenant,
		sink:   sink,
		logger: logger.With("component", "syslog"),
		loc:    loc,
		now:    time.Now,
		lns:    map[string]net.Listener{},
		conns:  map[net.Conn]struct{}{},
		pipes:  map[string]*pipe{},
		abort:  make(chan struct{}),
	}
	r.appendCtx, r.abortAppend = context.WithCancel(context.Background())
	if cfg.TLSListen != "" {
		if r.tls, err = receiver.ServerTLS(cfg.TLS, "shipper.syslog.tls"); err != nil {
			return nil, err
		}
	}
	if r.metrics, err = newMetrics(reg); err != nil {
		return nil, fmt.Errorf("syslog metrics: %w", err)
	}
	var id [8]byte
	_, _ = rand.Read(id[:])
	r.run = hex.EncodeToString(id[:])
	return r, nil
}

// Start opens the configured listeners and starts receiving. A listener
// that cannot be opened fails Start; Shutdown closes the others.
func (r *Receiver) Start(_ context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.started || r.stopped {
		return errors.New("syslog: Start after Start or Shutdown")
	}
	r.started = true
	if a := r.cfg.UDPListen; a != "" {
		addr, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			return fmt.Errorf("shipper.syslog.udp_listen: %w", err)
		}
		c, err := net.ListenUDP("udp", addr)
		if err != nil {
			return fmt.Errorf("shipper.syslog.udp_listen: %w", err)
		}
		r.udp = c
		p := r.newPipe(TransportUDP)
		r.readers.Add(1)
		go r.readUDP(c, p)
		r.logger.Info("syslog listening", "transport", TransportUDP, "addr", c.LocalAddr().String())
	}
	for _, l := range []struct {
		transport, key, addr string
	}{
		{TransportTCP, "shipper.syslog.tcp_listen", r.cfg.TCPListen},
		{TransportTLS, "shipper.syslog.tls_listen", r.cfg.TLSListen},
	} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			return fmt.Errorf("%s: %w", l.key, err)
		}
		r.lns[l.transport] = ln
		p := r.newPipe(l.transport)
		r.readers.Add(1)
		go r.accept(ln, l.transport, p)
		r.logger.Info("syslog listening", "transport", l.transport, "addr", ln.Addr().String())
	}
	return nil
}

// Addr returns the address a transport listens on, once started, or "".
func (r *Receiver) Addr(transport string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if transport == TransportUDP && r.udp != nil {
		return r.udp.LocalAddr().String()
	}
	if ln := r.lns[transport]; ln != nil {
		return ln.Addr().String()
	}
	return ""
}

// Shutdown stops accepting, closes the connections, and appends the
// messages already read. When ctx ends first, what is still unappended is
// dropped (counted) and Shutdown returns ctx's error. Safe before Start.
func (r *Receiver) Shutdown(ctx context.Context) error {
	r.mu.Lock()
	if !r.started || r.stopped {
		r.stopped = true
		r.mu.Unlock()
		return nil
	}
	r.stopped = true
	if r.udp != nil {
		r.udp.Close()
	}
	for _, ln := range r.lns {
		ln.Close()
	}
	for c := range r.conns {
		c.Close()
	}
	pipes := r.pipes
	r.mu.Unlock()

	done := make(chan struct{})
	go func() {
		r.readers.Wait()
		for _, p := range pipes {
			close(p.in)
		}
		r.batchers.Wait()
		close(done)
	}()
	select {
	case <-done:
		r.abortAppend()
		return nil
	case <-ctx.Done():
		close(r.abort)
		r.abortAppend()
		<-done // nothing waits any more
		return fmt.Errorf("syslog: shutdown: %w", ctx.Err())
	}
}

// readUDP reads datagrams, one message each (RFC 5426).
func (r *Receiver) readUDP(c *net.UDPConn, p *pipe) {
	defer r.readers.Done()
	d := newDecoder(r.tenant, r.loc)
	buf := make([]byte, maxDatagram+1)
	senders := map[string]*sender{}
	var seq int64
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.logger.Error("syslog udp read failed", "err", err)
			}
			return
		}
		r.metrics.received.WithLabelValues(TransportUDP).Inc()
		r.metrics.bytes.WithLabelValues(TransportUDP).Add(float64(n))
		msg := trimEOL(buf[:n])
		if len(msg) == 0 {
			continue
		}
		truncated := len(msg) > r.cfg.MaxMessageBytes
		if truncated {
			msg = msg[:r.cfg.MaxMessageBytes]
		}
		addr := from.String()
		s := senders[addr]
		if s == nil {
			if len(senders) >= 4096 { // bound the cache, not the senders
				clear(senders)
			}
			s = r.newSender(TransportUDP, addr, from.Addr().Unmap().String(), "")
			senders[addr] = s
		}
		seq++
		if !p.put(r.decode(d, msg, truncated, "", s, seq)) {
			return
		}
	}
}

// accept accepts connections up to max_connections.
func (r *Receiver) accept(ln net.Listener, transport string, p *pipe) {
	defer r.readers.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				r.logger.Error("syslog accept failed", "transport", transport, "err", err)
			}
			return
		}
		r.mu.Lock()
		switch {
		case r.stopped:
			r.mu.Unlock()
			c.Close()
			return
		case len(r.conns) >= r.cfg.MaxConnections:
			r.mu.Unlock()
			r.metrics.connErrors.WithLabelValues(transport, "limit").Inc()
			c.Close()
			continue
		}
		r.conns[c] = struct{}{}
		r.readers.Add(1)
		r.mu.Unlock()
		r.metrics.connections.WithLabelValues(transport).Inc()
		r.metrics.open.WithLabelValues(transport).Inc()
		go r.serve(c, transport, p)
	}
}

// serve reads one connection until it ends.
func (r *Receiver) serve(c net.Conn, transport string, p *pipe) {
	defer func() {
		c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		r.metrics.open.WithLabelValues(transport).Dec()
		r.readers.Done()
	}()
	addr := c.RemoteAddr().String()
	host := addr
	if ap, err := netip.ParseAddrPort(addr); err == nil {
		host = ap.Addr().Unmap().String()
	}
	var subject string
	if r.tls != nil && transport == TransportTLS {
		tc := tls.Server(c, r.tls)
		ctx, cancel := context.WithTimeout(context.Background(), handshakeTimeout)
		err := tc.HandshakeContext(ctx)
		cancel()
		if err != nil {
			r.metrics.connErrors.WithLabelValues(transport, "handshake").Inc()
			return
		}
		if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
			subject = certs[0].Subject.String()
		}
		c = tc
	}
	s := r.newSender(transport, addr, host, subject)
	d := newDecoder(r.tenant, r.loc)
	f := newFramer(bufio.NewReaderSize(&countingReader{r: c, n: r.metrics.bytes.WithLabelValues(transport)}, readBuffer), r.cfg.MaxMessageBytes)
	received := r.metrics.received.WithLabelValues(transport)
	framingErrors := r.metrics.framingErrors.WithLabelValues(transport)
	var seq int64
	for {
		fr, err := f.next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				r.metrics.connErrors.WithLabelValues(transport, "read").Inc()
			}
			return
		}
		received.Inc()
		if fr.bad != "" {
			framingErrors.Inc()
		}
		seq++
		if !p.put(r.decode(d, fr.msg, fr.truncated, fr.bad, s, seq)) {
			return
		}
	}
}

// newSender describes a sender; origin makes its event ids distinct from
// every other sender's and run's.
func (r *Receiver) newSender(transport, addr, host, subject string) *sender {
	return &sender{
		transport: transport,
		addr:      addr,
		host:      host,
		origin:    "syslog/" + transport + "/" + addr + "/" + r.run,
		subject:   subject,
	}
}

// decode turns one message into a spool message, counting what happens.
func (r *Receiver) decode(d *decoder, msg []byte, truncated bool, bad string, s *sender, seq int64) item {
	ev := d.decode(msg, truncated, bad, s, seq, r.now())
	if truncated {
		r.metrics.truncated.WithLabelValues(s.transport).Inc()
	}
	if ev.ParseError != "" {
		r.metrics.parseErrors.WithLabelValues(s.transport).Inc()
	}
	m, err := receiver.Encode(ev)
	if err != nil {
		// Only an event time outside the years JSON can hold fails, and
		// the decoder never makes one; count it rather than crash.
		r.metrics.dropped.WithLabelValues(s.transport, "encode").Inc()
		return item{}
	}
	return item{msg: m, ok: true}
}

// trimEOL drops the LF (and CR) many senders end a datagram with.
func trimEOL(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}

// countingReader counts the bytes read from a connection.
type countingReader struct {
	r io.Reader
	n prometheus.Counter
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(float64(n))
	return n, err
}
