package syslog

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/shipper/receiver/receivertest"
)

// BenchmarkDecode measures turning one RFC 3164 sshd message into an
// encoded event.
func BenchmarkDecode(b *testing.B) {
	r := &Receiver{now: time.Now, metrics: mustMetrics(b)}
	d := newDecoder("acme", time.UTC)
	msg := []byte(sshdLine)
	b.ReportAllocs()
	start := time.Now()
	for i := 0; b.Loop(); i++ {
		if !r.decode(d, msg, false, "", &testSender, int64(i)).ok {
			b.Fatal("not encoded")
		}
	}
	fmt.Printf("BENCH name=syslog_decode value=%.0f unit=msgs/s\n", float64(b.N)/time.Since(start).Seconds())
}

// BenchmarkTCP measures messages through a TCP connection, the receiver
// and the spool, from the first write to the last event taken from the
// spool.
func BenchmarkTCP(b *testing.B) {
	sp := receivertest.OpenSpool(b, 0)
	cfg := testConfig()
	cfg.UDPListen = ""
	r, err := New(cfg, "acme", sp, testkit.Logger(b), prometheus.NewRegistry())
	require.NoError(b, err)
	require.NoError(b, r.Start(context.Background()))
	defer func() { require.NoError(b, r.Shutdown(context.Background())) }()
	c, err := net.Dial("tcp", r.Addr(TransportTCP))
	require.NoError(b, err)
	defer c.Close()
	frame := []byte(octet(sshdLine))
	n := b.N
	b.ResetTimer()
	start := time.Now()
	go func() {
		w := bufio.NewWriterSize(c, 64<<10)
		for range n {
			if _, err := w.Write(frame); err != nil {
				return
			}
		}
		_ = w.Flush()
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	for got := 0; got < n; {
		batch, err := sp.Next(ctx)
		require.NoError(b, err)
		got += len(batch.Msgs)
		require.NoError(b, sp.Ack(batch.Seq))
	}
	b.StopTimer()
	if n > 1 { // not the calibration run
		fmt.Printf("BENCH name=syslog_tcp_throughput value=%.0f unit=msgs/s\n", float64(n)/time.Since(start).Seconds())
	}
}

func mustMetrics(tb testing.TB) *metrics {
	m, err := newMetrics(nil)
	require.NoError(tb, err)
	return m
}
