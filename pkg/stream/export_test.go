package stream

import (
	"context"
	"net"
)

// WithDial makes the client's readers and groups open their connections
// with dial.
func WithDial(dial func(ctx context.Context, network, address string) (net.Conn, error)) Option {
	return func(c *Client) { c.dial = dial }
}
