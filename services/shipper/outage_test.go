package shipper

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/broker"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// The broker stops for 30 s while lines keep coming: the shipper keeps
// reading into its spool (onto disk, past its small memory budget), and
// when the broker is back the spool drains and every line is in Kafka.
func TestBrokerOutageLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("stops the broker for 30s")
	}
	const outage = 30 * time.Second
	dir := t.TempDir()
	bcfg := config.BrokerConfig{Listen: testkit.FreeAddr(t), DataDir: filepath.Join(dir, "broker"), SyncWrites: true}
	b := broker.New(bcfg, 6, testkit.Logger(t))
	require.NoError(t, b.Start(context.Background()))

	k := config.Default().Kafka
	k.Brokers = []string{bcfg.Listen}
	inbox := filepath.Join(dir, "inbox")
	require.NoError(t, os.MkdirAll(inbox, 0o750))
	cfg := filesConfig(t, k, filepath.Join(dir, "shipper"), "sshd", filepath.Join(inbox, "*.log"))
	cfg.Shipper.BatchLines = 200
	cfg.Shipper.Spool.MemoryBytes = 64 << 10 // the outage's backlog goes to disk
	s := startShipper(t, cfg)

	path := filepath.Join(inbox, "auth.log")
	n := 0
	write := func(count int) {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		require.NoError(t, err)
		for range count {
			fmt.Fprintf(f, "Nov 24 10:00:00 gw sshd[1]: Failed password for u%d from 192.0.2.%d port %d ssh2\n", n, n%250, 1024+n%60000)
			n++
		}
		require.NoError(t, f.Close())
	}
	write(5000)
	require.Eventually(t, func() bool { return s.spool.Stats().Batches == 0 && n == 5000 }, time.Minute, 20*time.Millisecond)

	require.NoError(t, b.Shutdown(context.Background()))
	down := time.Now()
	for time.Since(down) < outage {
		write(1000)
		time.Sleep(500 * time.Millisecond) // a live log, written while the broker is down
	}
	st := s.spool.Stats()
	require.Positive(t, st.DiskBytes, "the backlog went to disk")
	require.Positive(t, st.Bytes)
	require.False(t, st.Oldest.IsZero())
	t.Logf("after %v down: %d batches, %d bytes spooled (%d on disk)", outage, st.Batches, st.Bytes, st.DiskBytes)

	b = broker.New(bcfg, 6, testkit.Logger(t))
	require.NoError(t, b.Start(context.Background()))
	t.Cleanup(func() { _ = b.Shutdown(context.Background()) })
	write(1000)
	require.Eventually(t, func() bool {
		st := s.spool.Stats()
		return st.Batches == 0 && st.DiskBytes == 0
	}, 2*time.Minute, 50*time.Millisecond, "the spool did not drain")
	require.NoError(t, s.Shutdown(context.Background()))
	seen := map[string]int{}
	for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Events) {
		ev, err := event.Decode(m.Value)
		require.NoError(t, err)
		seen[ev.User]++
	}
	for i := range n {
		require.Positive(t, seen[fmt.Sprintf("u%d", i)], "line %d of %d is missing", i, n)
	}
	require.Len(t, seen, n)
}
