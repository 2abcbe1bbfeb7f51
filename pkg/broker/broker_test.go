package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/stream"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m,
		// kafka-go's transport keeps idle connection goroutines until they time out.
		goleak.IgnoreTopFunction("github.com/segmentio/kafka-go.(*conn).run"),
		goleak.IgnoreAnyFunction("github.com/segmentio/kafka-go.(*connPool).discover"),
		goleak.IgnoreTopFunction("time.Sleep"),
	)
}

func freeAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

func TestShutdownWithoutStart(t *testing.T) {
	b := New(config.BrokerConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()}, 1, slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, b.Shutdown(context.Background()))
}

// Topics, messages and a group's committed offsets survive a restart.
func TestPersistsAcrossRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	addr := freeAddr(t)
	cfg := config.BrokerConfig{Listen: addr, DataDir: t.TempDir(), SyncWrites: true}

	b := New(cfg, 3, logger)
	require.NoError(t, b.Start(ctx))
	require.Equal(t, addr, b.Addr())

	kcfg := config.Default().Kafka
	kcfg.Brokers = []string{addr}
	client, err := stream.NewClient(kcfg)
	require.NoError(t, err)
	defer client.Close()
	require.NoError(t, client.WaitReady(ctx, logger))
	require.NoError(t, client.EnsureTopics(ctx, stream.Topic{Name: "t", Partitions: 3}))
	require.NoError(t, client.EnsureTopics(ctx, stream.Topic{Name: "t", Partitions: 3}), "creating twice is fine")

	w, err := client.NewWriter("t", stream.WriterOptions{})
	require.NoError(t, err)
	var msgs []kafka.Message
	for i := range 100 {
		msgs = append(msgs, kafka.Message{Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, "v%d", i)})
	}
	require.NoError(t, w.WriteMessages(ctx, msgs...))
	require.NoError(t, w.Close())

	// Consume and commit the first 40 messages.
	r := client.NewGroupReader("g", "t")
	seen := map[string]bool{}
	for len(seen) < 40 {
		m, err := r.FetchMessage(ctx)
		require.NoError(t, err)
		seen[string(m.Value)] = true
		require.NoError(t, r.CommitMessages(ctx, m))
	}
	require.NoError(t, r.Close())
	require.NoError(t, b.Shutdown(ctx))

	b = New(cfg, 3, logger)
	require.NoError(t, b.Start(ctx))
	defer b.Shutdown(ctx)

	// The group resumes after what it committed; everything else is still there.
	r = client.NewGroupReader("g", "t")
	defer r.Close()
	rest := map[string]bool{}
	for len(seen)+len(rest) < 100 {
		m, err := r.FetchMessage(ctx)
		require.NoError(t, err)
		require.False(t, seen[string(m.Value)], "%s was committed before the restart but delivered again", m.Value)
		rest[string(m.Value)] = true
		require.NoError(t, r.CommitMessages(ctx, m))
	}
	all := map[string]bool{}
	for k := range seen {
		all[k] = true
	}
	for k := range rest {
		all[k] = true
	}
	require.Len(t, all, 100, "every message delivered after the restart")
}
