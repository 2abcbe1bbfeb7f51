package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"os"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/broker"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/store"
)

// Environment variables `make test` sets.
const (
	// EnvClickHouse is the native host:port of the test ClickHouse server.
	EnvClickHouse = "VIGIL_TEST_CLICKHOUSE"
	// EnvRequire, when "1", turns a missing test server into a failure
	// instead of a skip, so CI never passes by skipping.
	EnvRequire = "VIGIL_TEST_REQUIRE"
)

// Logger returns a logger that writes through t.Log when -v is on.
func Logger(t testing.TB) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// FreeAddr returns a loopback host:port nobody listens on right now.
func FreeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// Broker starts an embedded broker on a free port with its own data
// directory, stopped at the end of the test, and returns a Kafka
// configuration pointing at it.
func Broker(t testing.TB) config.KafkaConfig {
	t.Helper()
	cfg := config.Default()
	b := broker.New(config.BrokerConfig{Listen: FreeAddr(t), DataDir: t.TempDir()}, cfg.Kafka.Partitions, Logger(t))
	require.NoError(t, b.Start(context.Background()))
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	k := cfg.Kafka
	k.Brokers = []string{b.Addr()}
	return k
}

// ClickHouse returns a configuration for a fresh, migrated database on the
// test server, dropped at the end of the test. Without the server it skips,
// or fails when VIGIL_TEST_REQUIRE=1.
func ClickHouse(t testing.TB) config.ClickHouseConfig {
	t.Helper()
	addr := os.Getenv(EnvClickHouse)
	if addr == "" {
		if os.Getenv(EnvRequire) == "1" {
			t.Fatalf("%s is not set: run the tests with `make test`", EnvClickHouse)
		}
		t.Skipf("%s is not set: run `make test` for the ClickHouse integration tests", EnvClickHouse)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	cfg := config.Default().ClickHouse
	cfg.Addr = []string{addr}
	cfg.Database = "vigil_test_" + hex.EncodeToString(b[:])
	cfg.Local = false
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	DropAtEnd(t, cfg)
	_, err := store.Migrate(ctx, cfg, Logger(t))
	require.NoError(t, err)
	return cfg
}

// DropAtEnd drops cfg's database when the test ends.
func DropAtEnd(t testing.TB, cfg config.ClickHouseConfig) {
	t.Cleanup(func() {
		conn, err := store.Open(cfg)
		if err != nil {
			return
		}
		defer conn.Close()
		_ = conn.Exec(context.Background(), "DROP DATABASE IF EXISTS "+cfg.Database)
	})
}

// Insert inserts rows into table of cfg's database in one batch; columns
// lists the columns in the order of each row's values.
func Insert(t testing.TB, cfg config.ClickHouseConfig, table, columns string, rows ...[]any) {
	t.Helper()
	conn, err := store.Open(cfg)
	require.NoError(t, err)
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	batch, err := conn.PrepareBatch(ctx, "INSERT INTO "+table+" ("+columns+")")
	require.NoError(t, err)
	for _, r := range rows {
		require.NoError(t, batch.Append(r...))
	}
	require.NoError(t, batch.Send())
}

// StoredIDs returns the set of strings query returns, one per row: the ids
// a table holds, to check that none is missing.
func StoredIDs(t testing.TB, conn driver.Conn, query string) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, err := conn.Query(ctx, query)
	require.NoError(t, err)
	defer rows.Close()
	ids := map[string]bool{}
	for rows.Next() {
		var id string
		require.NoError(t, rows.Scan(&id))
		ids[id] = true
	}
	require.NoError(t, rows.Err())
	return ids
}
