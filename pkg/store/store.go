package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/vigil-soc/vigil/pkg/backoff"
	"github.com/vigil-soc/vigil/pkg/config"
)

// Open connects to cfg's database; it does not check the connection.
func Open(cfg config.ClickHouseConfig) (driver.Conn, error) {
	return open(cfg, cfg.Database)
}

func open(cfg config.ClickHouseConfig, database string) (driver.Conn, error) {
	conn, err := clickhouse.Open(&clickhouse.Options{
		Addr: cfg.Addr,
		Auth: clickhouse.Auth{
			Database: database,
			Username: cfg.Username,
			Password: cfg.Password.Reveal(),
		},
		DialTimeout:      cfg.DialTimeout,
		DialContext:      dialer(cfg.DialTimeout, cfg.ReadTimeout),
		ReadTimeout:      cfg.ReadTimeout,
		Compression:      compression(cfg),
		MaxOpenConns:     8,
		MaxIdleConns:     4,
		ConnMaxLifetime:  time.Hour,
		ConnOpenStrategy: clickhouse.ConnOpenInOrder,
	})
	if err != nil {
		return nil, fmt.Errorf("clickhouse at %v: %w", cfg.Addr, err)
	}
	return conn, nil
}

// compression is the driver's setting for cfg's compression.
func compression(cfg config.ClickHouseConfig) *clickhouse.Compression {
	switch cfg.CompressionMethod() {
	case "lz4":
		return &clickhouse.Compression{Method: clickhouse.CompressionLZ4}
	case "zstd":
		return &clickhouse.Compression{Method: clickhouse.CompressionZSTD}
	}
	return &clickhouse.Compression{Method: clickhouse.CompressionNone}
}

// dialer connects with connections whose every write must finish within
// writeTimeout, as every read must within ClickHouse's ReadTimeout: an
// insert sent in chunks writes outside any query's deadline, and a server
// that stops reading must fail it rather than hold it forever.
func dialer(dialTimeout, writeTimeout time.Duration) func(ctx context.Context, addr string) (net.Conn, error) {
	d := &net.Dialer{Timeout: dialTimeout}
	return func(ctx context.Context, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		return writeDeadlineConn{Conn: c, timeout: writeTimeout}, nil
	}
}

// writeDeadlineConn sets a deadline before each write.
type writeDeadlineConn struct {
	net.Conn
	timeout time.Duration
}

// SyscallConn exposes the socket, with which the driver checks an idle
// connection for a server that closed it (after a restart) before using
// it again.
func (c writeDeadlineConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.ErrUnsupported
	}
	return sc.SyscallConn()
}

func (c writeDeadlineConn) Write(b []byte) (int, error) {
	if err := c.SetWriteDeadline(time.Now().Add(c.timeout)); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}

// WaitReady blocks until ClickHouse answers a ping, logging a clear line
// (not a stack trace) each time it retries.
func WaitReady(ctx context.Context, cfg config.ClickHouseConfig, logger *slog.Logger) error {
	conn, err := open(cfg, "default")
	if err != nil {
		return err
	}
	defer conn.Close()
	var last error
	if backoff.Retry(ctx, backoff.Policy{Initial: 250 * time.Millisecond, Max: 5 * time.Second}, logger,
		"connect to clickhouse at "+strings.Join(cfg.Addr, ","),
		func(ctx context.Context) error {
			pctx, cancel := context.WithTimeout(ctx, cfg.DialTimeout)
			defer cancel()
			last = conn.Ping(pctx)
			return last
		}) {
		return nil
	}
	return fmt.Errorf("clickhouse at %v not reachable: %w", cfg.Addr, last)
}
