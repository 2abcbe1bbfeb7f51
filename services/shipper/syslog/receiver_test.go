package syslog

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
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

const waitFor = receivertest.WaitFor

// testConfig listens on every transport, on free loopback ports.
func testConfig() config.SyslogConfig {
	c := config.Default().Shipper.Syslog
	c.UDPListen, c.TCPListen = "127.0.0.1:0", "127.0.0.1:0"
	return c
}

// start starts a receiver appending to sp, shut down at the end of the test.
func start(t *testing.T, cfg config.SyslogConfig, sp *spool.Spool) *Receiver {
	t.Helper()
	r, err := New(cfg, "acme", sp, testkit.Logger(t), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		require.NoError(t, r.Shutdown(ctx))
	})
	return r
}

func originals(evs []*event.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Message
	}
	return out
}

func dial(t *testing.T, network, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial(network, addr)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	return c
}

const (
	sshdLine   = "<38>Jan  2 09:00:00 bastion sshd[7]: Failed password for root from 203.0.113.7 port 22 ssh2"
	rfc5424Msg = `<165>1 2026-01-02T09:14:15.003Z host.example app 42 ID47 [ex@32473 iut="3"] hello`
)

func TestUDP(t *testing.T) {
	sp := receivertest.OpenSpool(t, 0)
	r := start(t, testConfig(), sp)
	c := dial(t, "udp", r.Addr(TransportUDP))
	for _, m := range []string{sshdLine + "\n", rfc5424Msg, "not syslog at all"} {
		_, err := c.Write([]byte(m))
		require.NoError(t, err)
	}
	evs := receivertest.ReadEvents(t, sp, 3)
	require.Equal(t, []string{sshdLine, rfc5424Msg, "not syslog at all"}, originals(evs))
	require.Equal(t, "sshd", evs[0].Source)
	require.Equal(t, "203.0.113.7", evs[0].SrcIP)
	require.Equal(t, "bastion", evs[0].Host)
	require.Equal(t, "3", evs[1].Attrs[AttrSDPrefix+"ex@32473.iut"])
	require.Contains(t, evs[2].ParseError, "syslog:")
	require.Equal(t, "127.0.0.1", evs[2].Host, "no header: the sender's address is the host")
	for _, ev := range evs {
		require.Equal(t, "syslog/udp", ev.Attrs[AttrInput])
		require.Equal(t, c.LocalAddr().String(), ev.Attrs[AttrSourceAddress])
		require.Equal(t, "acme", ev.Tenant)
	}
	require.NotEqual(t, evs[0].ID, evs[1].ID)
	m := r.metrics
	require.Equal(t, 3.0, testutil.ToFloat64(m.received.WithLabelValues(TransportUDP)))
	require.Equal(t, 3.0, testutil.ToFloat64(m.published.WithLabelValues(TransportUDP)))
	require.Equal(t, 1.0, testutil.ToFloat64(m.parseErrors.WithLabelValues(TransportUDP)), "no header")
	require.Equal(t, float64(len(sshdLine)+1+len(rfc5424Msg)+len("not syslog at all")), testutil.ToFloat64(m.bytes.WithLabelValues(TransportUDP)))
}

func TestTCPFramings(t *testing.T) {
	msgs := []string{sshdLine, rfc5424Msg, "<13>Jan  2 09:00:00 web-1 app: first\nsecond"}
	tests := []struct {
		name string
		wire string
		want []string
	}{
		{"octet counting", octet(msgs...), msgs},
		// Newline framing cannot carry the embedded LF: it splits there.
		{"newline", strings.Join(msgs, "\n") + "\n", []string{sshdLine, rfc5424Msg, "<13>Jan  2 09:00:00 web-1 app: first", "second"}},
		{"newline with CRLF and no final LF", sshdLine + "\r\n" + rfc5424Msg, []string{sshdLine, rfc5424Msg}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := receivertest.OpenSpool(t, 0)
			r := start(t, testConfig(), sp)
			c := dial(t, "tcp", r.Addr(TransportTCP))
			_, err := io.WriteString(c, tt.wire)
			require.NoError(t, err)
			require.NoError(t, c.(*net.TCPConn).CloseWrite(), "the end of the stream ends a last line without LF")
			evs := receivertest.ReadEvents(t, sp, len(tt.want))
			require.Equal(t, tt.want, originals(evs))
			require.Equal(t, "sshd", evs[0].Source)
			require.Equal(t, "syslog/tcp", evs[0].Attrs[AttrInput])
			require.Equal(t, float64(len(tt.want)), testutil.ToFloat64(r.metrics.received.WithLabelValues(TransportTCP)))
			require.Equal(t, float64(len(tt.wire)), testutil.ToFloat64(r.metrics.bytes.WithLabelValues(TransportTCP)))
			require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.connections.WithLabelValues(TransportTCP)))
		})
	}
}

func TestTCPBadFrameAndTruncation(t *testing.T) {
	cfg := testConfig()
	cfg.MaxMessageBytes = 300
	sp := receivertest.OpenSpool(t, 0)
	r := start(t, cfg, sp)
	c := dial(t, "tcp", r.Addr(TransportTCP))
	long := "<13>Jan  2 09:00:00 web-1 app: " + strings.Repeat("x", 400)
	_, err := io.WriteString(c, octet(sshdLine)+"12x junk\n"+octet(long))
	require.NoError(t, err)
	evs := receivertest.ReadEvents(t, sp, 3)
	require.Equal(t, sshdLine, evs[0].Message)
	require.Equal(t, "12x junk", evs[1].Message)
	require.Equal(t, `syslog: octet-counting frame: want LEN SP MSG, got 'x' after "12"`, evs[1].ParseError)
	require.Equal(t, long[:300], evs[2].Message)
	require.Equal(t, "true", evs[2].Attrs[parse.AttrTruncated])
	require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.framingErrors.WithLabelValues(TransportTCP)))
	require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.truncated.WithLabelValues(TransportTCP)))
}

func TestTLS(t *testing.T) {
	certs := testkit.NewCerts(t)
	tests := []struct {
		name     string
		clientCA bool
		withCert bool
		subject  string
		refused  bool
	}{
		{name: "server certificate only"},
		{name: "mutual TLS", clientCA: true, withCert: true, subject: "CN=client,O=vigil test"},
		{name: "mutual TLS without a client certificate", clientCA: true, refused: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.TLSListen = "127.0.0.1:0"
			cfg.TLS = config.ServerTLSConfig{CertFile: certs.ServerCertFile, KeyFile: certs.ServerKeyFile}
			if tt.clientCA {
				cfg.TLS.ClientCAFile = certs.CAFile
			}
			sp := receivertest.OpenSpool(t, 0)
			r := start(t, cfg, sp)
			c, err := tls.Dial("tcp", r.Addr(TransportTLS), certs.ClientTLS(tt.withCert))
			if err == nil {
				t.Cleanup(func() { c.Close() })
				_, err = io.WriteString(c, octet(sshdLine, rfc5424Msg))
				if err == nil && tt.refused {
					// TLS 1.3 clients learn of a refused certificate only
					// when they read.
					_, err = c.Read(make([]byte, 1))
				}
			}
			if tt.refused {
				require.Error(t, err)
				require.Eventually(t, func() bool {
					return testutil.ToFloat64(r.metrics.connErrors.WithLabelValues(TransportTLS, "handshake")) == 1
				}, waitFor, time.Millisecond)
				return
			}
			require.NoError(t, err)
			evs := receivertest.ReadEvents(t, sp, 2)
			require.Equal(t, []string{sshdLine, rfc5424Msg}, originals(evs))
			require.Equal(t, "syslog/tls", evs[0].Attrs[AttrInput])
			require.Equal(t, tt.subject, evs[0].Attrs[AttrClientSubject])
			require.Equal(t, "sshd", evs[0].Source)
		})
	}
}

func TestMaxConnections(t *testing.T) {
	cfg := testConfig()
	cfg.MaxConnections = 1
	sp := receivertest.OpenSpool(t, 0)
	r := start(t, cfg, sp)
	first := dial(t, "tcp", r.Addr(TransportTCP))
	_, err := io.WriteString(first, sshdLine+"\n")
	require.NoError(t, err)
	receivertest.ReadEvents(t, sp, 1) // the first connection is being served

	second := dial(t, "tcp", r.Addr(TransportTCP))
	require.NoError(t, second.SetReadDeadline(time.Now().Add(waitFor)))
	_, err = second.Read(make([]byte, 1))
	require.Error(t, err, "the connection over the limit is closed")
	require.False(t, errors.Is(err, os.ErrDeadlineExceeded), "closed, not timed out")
	require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.connErrors.WithLabelValues(TransportTCP, "limit")))
	require.Equal(t, 1.0, testutil.ToFloat64(r.metrics.open.WithLabelValues(TransportTCP)))

	first.Close()
	require.Eventually(t, func() bool { return testutil.ToFloat64(r.metrics.open.WithLabelValues(TransportTCP)) == 0 }, waitFor, time.Millisecond)
	third := dial(t, "tcp", r.Addr(TransportTCP))
	_, err = io.WriteString(third, rfc5424Msg+"\n")
	require.NoError(t, err)
	require.Equal(t, []string{rfc5424Msg}, originals(receivertest.ReadEvents(t, sp, 1)), "a slot is free again")
}

func TestUDPDropsWhenSpoolFull(t *testing.T) {
	sp := receivertest.OpenSpool(t, 1)
	r := start(t, testConfig(), sp)
	receivertest.Fill(t, sp)
	c := dial(t, "udp", r.Addr(TransportUDP))
	for i := range 5 {
		_, err := fmt.Fprintf(c, "<13>Jan  2 09:00:00 web-1 app: dropped %d", i)
		require.NoError(t, err)
	}
	dropped := r.metrics.dropped.WithLabelValues(TransportUDP, "spool_full")
	require.Eventually(t, func() bool { return testutil.ToFloat64(dropped) == 5 }, waitFor, time.Millisecond)
	require.Equal(t, 5.0, testutil.ToFloat64(r.metrics.received.WithLabelValues(TransportUDP)))
	require.Equal(t, 0.0, testutil.ToFloat64(r.metrics.published.WithLabelValues(TransportUDP)))

	receivertest.Unfill(t, sp)
	_, err := io.WriteString(c, sshdLine)
	require.NoError(t, err)
	require.Equal(t, []string{sshdLine}, originals(receivertest.ReadEvents(t, sp, 1)), "room again: datagrams flow")
	require.Equal(t, 5.0, testutil.ToFloat64(dropped))
}

// TestTCPBackpressure checks that a full spool stops the receiver reading,
// so that the sender's writes block, and that every message arrives once
// the spool has room again.
func TestTCPBackpressure(t *testing.T) {
	sp := receivertest.OpenSpool(t, 1)
	r := start(t, testConfig(), sp)
	receivertest.Fill(t, sp)

	// More than the socket buffers, the framer and the pipe hold together.
	const n = 8000
	var wire bytes.Buffer
	for i := range n {
		fmt.Fprintf(&wire, "<13>Jan  2 09:00:00 web-1 app: message %06d %s\n", i, strings.Repeat("p", 4000))
	}
	c := dial(t, "tcp", r.Addr(TransportTCP)).(*net.TCPConn)
	require.NoError(t, c.SetWriteDeadline(time.Now().Add(time.Second)))
	written, err := c.Write(wire.Bytes())
	var ne net.Error
	require.True(t, errors.As(err, &ne) && ne.Timeout(), "the sender blocks while the spool is full: %v", err)
	require.Less(t, written, wire.Len())
	require.Equal(t, 1, sp.Stats().Batches, "nothing was appended past the limit")
	require.Equal(t, 0.0, testutil.ToFloat64(r.metrics.published.WithLabelValues(TransportTCP)))

	require.NoError(t, c.SetWriteDeadline(time.Time{}))
	sent := make(chan error, 1)
	go func() {
		_, err := c.Write(wire.Bytes()[written:])
		sent <- err
	}()
	receivertest.Unfill(t, sp)
	evs := receivertest.ReadEvents(t, sp, n)
	for i, ev := range evs {
		require.Contains(t, ev.Message, fmt.Sprintf("message %06d ", i))
	}
	require.NoError(t, <-sent)
	require.Equal(t, float64(n), testutil.ToFloat64(r.metrics.published.WithLabelValues(TransportTCP)))
	require.Equal(t, 0.0, testutil.ToFloat64(r.metrics.dropped.WithLabelValues(TransportTCP, "shutdown")))
}

func TestStartShutdown(t *testing.T) {
	t.Run("shutdown without start", func(t *testing.T) {
		r, err := New(testConfig(), "acme", receivertest.OpenSpool(t, 0), testkit.Logger(t), nil)
		require.NoError(t, err)
		require.NoError(t, r.Shutdown(context.Background()))
		require.Error(t, r.Start(context.Background()), "no start after shutdown")
	})
	t.Run("start then shutdown", func(t *testing.T) {
		r, err := New(testConfig(), "acme", receivertest.OpenSpool(t, 0), testkit.Logger(t), nil)
		require.NoError(t, err)
		require.NoError(t, r.Start(context.Background()))
		require.NotEmpty(t, r.Addr(TransportUDP))
		require.NotEmpty(t, r.Addr(TransportTCP))
		require.Empty(t, r.Addr(TransportTLS), "not configured")
		require.Error(t, r.Start(context.Background()), "started twice")
		require.NoError(t, r.Shutdown(context.Background()))
		require.NoError(t, r.Shutdown(context.Background()), "twice is fine")
		_, err = net.Dial("tcp", r.Addr(TransportTCP))
		require.Error(t, err, "the listener is closed")
	})
	t.Run("a busy address fails start", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		defer ln.Close()
		cfg := testConfig()
		cfg.TCPListen = ln.Addr().String()
		r, err := New(cfg, "acme", receivertest.OpenSpool(t, 0), testkit.Logger(t), nil)
		require.NoError(t, err)
		require.ErrorContains(t, r.Start(context.Background()), "shipper.syslog.tcp_listen")
		require.NoError(t, r.Shutdown(context.Background()), "releases what the failed start opened")
	})
	t.Run("bad configuration", func(t *testing.T) {
		cfg := testConfig()
		cfg.Timezone = "Mars/Olympus"
		_, err := New(cfg, "acme", receivertest.OpenSpool(t, 0), testkit.Logger(t), nil)
		require.ErrorContains(t, err, "shipper.syslog.timezone")
		cfg = testConfig()
		cfg.TLSListen = "127.0.0.1:0"
		cfg.TLS.CertFile, cfg.TLS.KeyFile = "missing.pem", "missing-key.pem"
		_, err = New(cfg, "acme", receivertest.OpenSpool(t, 0), testkit.Logger(t), nil)
		require.ErrorContains(t, err, "shipper.syslog.tls.cert_file")
	})
}

// TestShutdownFlushes checks that messages read but still waiting for
// their batch to fill are appended by Shutdown.
func TestShutdownFlushes(t *testing.T) {
	cfg := testConfig()
	cfg.BatchWait = time.Hour
	sp := receivertest.OpenSpool(t, 0)
	r, err := New(cfg, "acme", sp, testkit.Logger(t), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	c := dial(t, "tcp", r.Addr(TransportTCP))
	_, err = io.WriteString(c, octet(sshdLine, rfc5424Msg))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return testutil.ToFloat64(r.metrics.received.WithLabelValues(TransportTCP)) == 2 }, waitFor, time.Millisecond)
	require.Equal(t, 0, sp.Stats().Batches, "held for the batch to fill")
	require.NoError(t, r.Shutdown(context.Background()))
	require.Equal(t, []string{sshdLine, rfc5424Msg}, originals(receivertest.ReadEvents(t, sp, 2)))
}

// TestShutdownGivesUp checks that Shutdown returns when its context ends
// while the spool has no room, counting what it drops.
func TestShutdownGivesUp(t *testing.T) {
	sp := receivertest.OpenSpool(t, 1)
	r, err := New(testConfig(), "acme", sp, testkit.Logger(t), prometheus.NewRegistry())
	require.NoError(t, err)
	require.NoError(t, r.Start(context.Background()))
	receivertest.Fill(t, sp)
	c := dial(t, "tcp", r.Addr(TransportTCP))
	_, err = io.WriteString(c, octet(sshdLine, rfc5424Msg))
	require.NoError(t, err)
	require.Eventually(t, func() bool { return testutil.ToFloat64(r.metrics.received.WithLabelValues(TransportTCP)) == 2 }, waitFor, time.Millisecond)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, r.Shutdown(ctx), context.Canceled)
	require.Equal(t, 2.0, testutil.ToFloat64(r.metrics.dropped.WithLabelValues(TransportTCP, "shutdown")))
	require.Equal(t, 1, sp.Stats().Batches)
}

// The ids of one sender's messages differ, also for equal messages, and
// from those of another run.
func TestEventIDs(t *testing.T) {
	sp := receivertest.OpenSpool(t, 0)
	r := start(t, testConfig(), sp)
	c := dial(t, "tcp", r.Addr(TransportTCP))
	_, err := io.WriteString(c, octet(sshdLine, sshdLine))
	require.NoError(t, err)
	evs := receivertest.ReadEvents(t, sp, 2)
	require.NotEqual(t, evs[0].ID, evs[1].ID)

	r2 := start(t, testConfig(), sp)
	c2 := dial(t, "tcp", r2.Addr(TransportTCP))
	_, err = io.WriteString(c2, octet(sshdLine))
	require.NoError(t, err)
	again := receivertest.ReadEvents(t, sp, 1)
	require.NotEqual(t, evs[0].ID, again[0].ID)
	require.Len(t, strconv.Quote(again[0].ID), event.IDLength+2)
}
