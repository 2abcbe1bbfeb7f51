package store

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
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
		ReadTimeout:      cfg.ReadTimeout,
		Compression:      &clickhouse.Compression{Method: clickhouse.CompressionLZ4},
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
