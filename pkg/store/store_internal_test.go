package store

import (
	"context"
	"net"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// A server that accepts a connection and never reads from it fails a
// write once the socket buffers are full, within the write timeout.
func TestWriteToAServerThatStopsReadingTimesOut(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	c, err := dialer(time.Second, 200*time.Millisecond)(context.Background(), ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	if s := <-accepted; s != nil {
		defer s.Close()
	}

	chunk := make([]byte, 1<<20)
	start := time.Now()
	var werr error
	for i := 0; i < 1024 && werr == nil; i++ { // up to 1 GiB, far beyond any socket buffer
		_, werr = c.Write(chunk)
	}
	require.ErrorIs(t, werr, os.ErrDeadlineExceeded)
	require.Less(t, time.Since(start), 30*time.Second)
}
