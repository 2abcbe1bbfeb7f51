//go:build unix

package store

import (
	"context"
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// The driver checks an idle connection through its socket before using it
// again, to drop one the server closed: the connection the dialer returns
// exposes it, and a closed peer reads as the end of the stream there.
func TestDialedConnectionShowsAClosedPeer(t *testing.T) {
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
	c, err := dialer(time.Second, time.Second)(context.Background(), ln.Addr().String())
	require.NoError(t, err)
	defer c.Close()
	s := <-accepted
	require.NotNil(t, s)
	require.NoError(t, s.Close())

	sc, ok := c.(syscall.Conn)
	require.True(t, ok, "the driver needs the socket")
	raw, err := sc.SyscallConn()
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		var n int
		var rerr error
		require.NoError(t, raw.Read(func(fd uintptr) bool {
			var buf [1]byte
			n, rerr = syscall.Read(int(fd), buf[:])
			return true
		}))
		return n == 0 && rerr == nil // end of stream
	}, 5*time.Second, 10*time.Millisecond)
}
