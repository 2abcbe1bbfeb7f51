package archiver

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// clickhouseServer is a ClickHouse server of the test's own, started with
// deploy/clickhouse/clickhouse.sh on free ports, which the test may stop
// and start again.
type clickhouseServer struct {
	t   *testing.T
	env []string
	cfg config.ClickHouseConfig
}

// ownClickHouse starts a ClickHouse server for t alone, stopped at the end
// of the test, and returns a configuration for a migrated database on it.
// Like every ClickHouse test it runs only where the test server is set up.
func ownClickHouse(t *testing.T) *clickhouseServer {
	t.Helper()
	if os.Getenv(testkit.EnvClickHouse) == "" {
		testkit.ClickHouse(t) // skips, or fails under VIGIL_TEST_REQUIRE=1
	}
	tcp, http := port(t), port(t)
	s := &clickhouseServer{t: t, env: append(os.Environ(),
		"VIGIL_CH_DIR="+filepath.Join(t.TempDir(), "clickhouse"),
		"VIGIL_CH_TCP_PORT="+tcp, "VIGIL_CH_HTTP_PORT="+http,
	)}
	s.run("start")
	t.Cleanup(func() { s.run("stop") })
	s.cfg = config.Default().ClickHouse
	s.cfg.Addr, s.cfg.Database, s.cfg.Local = []string{"127.0.0.1:" + tcp}, "vigil", false
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := store.Migrate(ctx, s.cfg, testkit.Logger(t))
	require.NoError(t, err)
	return s
}

func port(t *testing.T) string {
	_, p, _ := strings.Cut(testkit.FreeAddr(t), ":")
	return p
}

// run runs clickhouse.sh with command (start, stop).
func (s *clickhouseServer) run(command string) {
	s.t.Helper()
	cmd := exec.Command("bash", filepath.Join("..", "..", "deploy", "clickhouse", "clickhouse.sh"), command)
	cmd.Env = s.env
	out, err := cmd.CombinedOutput()
	require.NoError(s.t, err, "clickhouse.sh %s: %s", command, out)
}

// ClickHouse stops for a minute while events keep coming: the archiver
// stops reading once its batches are full, holds no more than they allow,
// and when ClickHouse is back every event is stored, once as queries see
// it.
func TestClickHouseDownForAMinute(t *testing.T) {
	if testing.Short() {
		t.Skip("stops a ClickHouse server for 60 s")
	}
	ch := ownClickHouse(t)
	cfg := config.Default()
	cfg.ClickHouse = ch.cfg
	cfg.Kafka = testkit.Broker(t)
	cfg.Telemetry.Listen = ""
	cfg.Archiver.BatchRows = 2000
	cfg.Archiver.Inserters = 2
	cfg.Archiver.FlushInterval = 100 * time.Millisecond
	cfg.Archiver.RetryBackoff = 50 * time.Millisecond
	cfg.Archiver.RetryBackoffMax = time.Second
	k := cfg.Kafka
	testkit.Topics(t, k, k.Topics.Events)
	a := start(t, cfg)
	conn := clickhouse(t, cfg)

	// Events keep coming, 1,000 every 200 ms, until stopProducing.
	var (
		mu       sync.Mutex
		produced []string // ids
	)
	stopProducing := keepProducing(t, k, k.Topics.Events, 200*time.Millisecond, func(i int) ([]kafka.Message, error) {
		evs := benchEvents(1000, uint64(i+1))
		msgs := make([]kafka.Message, len(evs))
		ids := make([]string, len(evs))
		for j, e := range evs {
			e.ID = event.NewID(e.Tenant, "outage", int64(i*1000+j), []byte(e.Message))
			b, err := event.Encode(e)
			if err != nil {
				return nil, err
			}
			msgs[j], ids[j] = kafka.Message{Key: []byte(e.SrcIP), Value: b}, e.ID
		}
		mu.Lock()
		produced = append(produced, ids...)
		mu.Unlock()
		return msgs, nil
	})

	require.Eventually(t, func() bool { return count(t, conn, "SELECT count() FROM events") >= 5000 },
		time.Minute, 50*time.Millisecond, "rows flow before the outage")
	ch.run("stop")

	// For a minute, watch what the archiver holds; reading must stop.
	bound := float64(cfg.Archiver.BatchRows * (cfg.Archiver.Inserters + 3))
	var maxPending, maxInFlight, readMidway float64
	outage := time.NewTimer(60 * time.Second)
	midway := time.NewTimer(30 * time.Second)
	sample := time.NewTicker(50 * time.Millisecond)
	defer sample.Stop()
watch:
	for {
		select {
		case <-outage.C:
			break watch
		case <-midway.C:
			readMidway = a.metric("vigil_archiver_messages_read_total", nil)
		case <-sample.C:
			maxPending = max(maxPending, a.metric("vigil_archiver_pending_rows", nil))
			maxInFlight = max(maxInFlight, a.metric("vigil_archiver_batches_in_flight", nil))
		}
	}
	readAtEnd := a.metric("vigil_archiver_messages_read_total", nil)
	mu.Lock()
	producedDuringOutage := len(produced)
	mu.Unlock()
	t.Logf("outage: held at most %.0f rows and %.0f batches in flight; read %.0f messages of %d produced",
		maxPending, maxInFlight, readAtEnd, producedDuringOutage)
	require.LessOrEqual(t, maxPending, bound, "rows held are bounded by the batches")
	require.LessOrEqual(t, maxInFlight, float64(cfg.Archiver.Inserters))
	require.Positive(t, maxInFlight, "inserts were being retried")
	require.Equal(t, readMidway, readAtEnd, "reading stopped while ClickHouse was down")
	require.Less(t, readAtEnd, float64(producedDuringOutage), "events kept coming and waited in Kafka")
	require.Positive(t, a.metric("vigil_archiver_retries_total", map[string]string{"operation": "insert into events"}))

	ch.run("start")
	require.Eventually(t, func() bool { return a.metric("vigil_archiver_messages_read_total", nil) > readAtEnd },
		time.Minute, 50*time.Millisecond, "reading resumes once ClickHouse is back")
	stopProducing()
	n := uint64(len(produced))
	require.Eventually(t, func() bool { return count(t, conn, "SELECT count() FROM events FINAL") >= n },
		2*time.Minute, 100*time.Millisecond)
	require.Equal(t, n, count(t, conn, "SELECT count() FROM events FINAL"))
	require.Equal(t, n, count(t, conn, "SELECT count(DISTINCT id) FROM events"))
	stored := testkit.StoredIDs(t, conn, "SELECT DISTINCT id FROM events")
	for _, id := range produced {
		require.True(t, stored[id], "event %s is missing", id)
	}
	require.Eventually(t, func() bool { return testkit.CommittedSum(t, k, cfg.Archiver.GroupID, k.Topics.Events) == int64(n) },
		time.Minute, 100*time.Millisecond, "every offset is committed")
	t.Logf("%d events, %s rows stored before merges", n, strconv.FormatUint(count(t, conn, "SELECT count() FROM events"), 10))
}
