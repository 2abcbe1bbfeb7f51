package vigil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

var (
	buildOnce sync.Once
	vigilBin  string
	buildErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if vigilBin != "" {
		os.RemoveAll(filepath.Dir(vigilBin))
	}
	os.Exit(code)
}

// binary builds the vigil command once per test run.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "vigil-bin-")
		if err != nil {
			buildErr = err
			return
		}
		vigilBin = filepath.Join(dir, "vigil")
		out, err := exec.Command("go", "build", "-o", vigilBin, "./cmd/vigil").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %w\n%s", err, out)
		}
	})
	require.NoError(t, buildErr)
	return vigilBin
}

func startProc(t testing.TB, logDir, name string, args ...string) *testkit.Process {
	return testkit.StartProcess(t, binary(t), filepath.Join(logDir, name+".log"), args...)
}

// Every service runs as its own process; the shipper and the archiver are
// each killed with SIGKILL mid-stream and started again: every line ends up
// in ClickHouse exactly once as queries see it.
func TestProcessesSurviveKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	ch := testkit.ClickHouse(t)
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	require.NoError(t, os.MkdirAll(inbox, 0o750))
	brokerAddr := testkit.FreeAddr(t)
	cfgFile := filepath.Join(dir, "vigil.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
log: {level: debug}
telemetry: {listen: ""}
kafka: {brokers: [%s]}
clickhouse: {addr: [%s], database: %s, local: false}
broker: {listen: %s, data_dir: %s}
shipper:
  files:
    - paths: [%s/*]
      format: auto
  state_dir: %s
  poll_interval: 50ms
  batch_lines: 500
archiver: {flush_interval: 200ms, batch_rows: 2000}
`, brokerAddr, ch.Addr[0], ch.Database, brokerAddr, filepath.Join(dir, "broker"), inbox, filepath.Join(dir, "shipper"))), 0o600))

	startProc(t, dir, "broker", "broker", "-c", cfgFile)
	archiver := startProc(t, dir, "archiver", "archiver", "-c", cfgFile)
	shipper := startProc(t, dir, "shipper", "shipper", "-c", cfgFile)
	s := &stack{cfg: defaultsWith(ch)}

	const total = 20_000
	lines, _ := authLog(total, "", 9)
	path := filepath.Join(inbox, "auth.log")
	// Lines arrive in chunks; right after some chunks, while the new lines
	// are in flight, the shipper or the archiver is killed and restarted.
	for i := 0; i < total; i += 1000 {
		appendLines(t, path, lines[i:i+1000])
		time.Sleep(100 * time.Millisecond) // pace the writer like a live log
		switch i / 1000 {
		case 3, 9, 15:
			shipper.Kill9()
			shipper.Start()
		case 6, 12, 18:
			archiver.Kill9()
			archiver.Start()
		default:
			continue
		}
		// The restarted process catches up with every line written so far
		// before the next kill.
		written := uint64(i + 1000)
		require.Eventually(t, func() bool { return s.count(t, "SELECT count() FROM events FINAL") >= written },
			time.Minute, 20*time.Millisecond, "not caught up after a restart at line %d", i)
	}
	// Not require: on a timeout the check below reports what is missing,
	// with the processes' logs.
	assert.Eventually(t, func() bool {
		return s.count(t, "SELECT count() FROM events FINAL") >= total
	}, 2*time.Minute, 100*time.Millisecond)
	if got := s.count(t, "SELECT count() FROM events FINAL"); got != total {
		kcfg := config.Default().Kafka
		kcfg.Brokers = []string{brokerAddr}
		cl := &kafka.Client{Addr: kafka.TCP(brokerAddr)}
		dg, err := cl.DescribeGroups(context.Background(), &kafka.DescribeGroupsRequest{GroupIDs: []string{"vigil-archiver"}})
		t.Logf("group: %+v err=%v", dg, err)
		t.Fatalf("%d of %d lines in ClickHouse, %d events on Kafka; logs:\n%s", got, total,
			len(testkit.ReadAll(t, kcfg, kcfg.Topics.Events)), tailLogs(dir))
	}
	require.Equal(t, uint64(total), s.count(t, "SELECT uniqExact(id) FROM events"))
	t.Logf("rows stored before merges: %d (copies from redelivery collapse under FINAL)", s.count(t, "SELECT count() FROM events"))
	// Every line is there as often as it was written.
	want := map[string]uint64{}
	for _, l := range lines {
		want[l]++
	}
	conn, err := store.Open(ch)
	require.NoError(t, err)
	defer conn.Close()
	rows, err := conn.Query(context.Background(), "SELECT message, count() FROM events FINAL GROUP BY message")
	require.NoError(t, err)
	got := map[string]uint64{}
	for rows.Next() {
		var m string
		var n uint64
		require.NoError(t, rows.Scan(&m, &n))
		got[m] = n
	}
	require.NoError(t, rows.Err())
	require.Equal(t, want, got)
}

func tailLogs(dir string) string {
	var b strings.Builder
	for _, n := range []string{"broker", "shipper", "archiver"} {
		data, _ := os.ReadFile(filepath.Join(dir, n+".log"))
		lines := strings.Split(strings.TrimSpace(string(data)), "\n")
		fmt.Fprintf(&b, "== %s\n%s\n", n, strings.Join(lines[max(0, len(lines)-30):], "\n"))
	}
	return b.String()
}

// logCount is how many times sub occurs in the log file at path.
func logCount(t testing.TB, path, sub string) int {
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		require.NoError(t, err)
	}
	return strings.Count(string(data), sub)
}

// diagnose tells why a process seems hung: the last lines of every log;
// then it stops p with SIGQUIT, which makes p write the stack of every
// goroutine to its log; and the queries ClickHouse is running.
func diagnose(t testing.TB, dir string, p *testkit.Process, conn driver.Conn) string {
	var b strings.Builder
	b.WriteString("logs:\n" + tailLogs(dir))
	p.Quit()
	data, _ := os.ReadFile(p.Log)
	stacks := data[max(0, bytes.LastIndex(data, []byte("SIGQUIT"))):]
	fmt.Fprintf(&b, "== %s after SIGQUIT\n%s\n== queries running in ClickHouse\n", filepath.Base(p.Log), stacks[:min(len(stacks), 64<<10)])
	rows, err := conn.Query(context.Background(), "SELECT elapsed, query FROM system.processes")
	if err != nil {
		return b.String() + err.Error()
	}
	defer rows.Close()
	for rows.Next() {
		var elapsed float64
		var query string
		if err := rows.Scan(&elapsed, &query); err != nil {
			return b.String() + err.Error()
		}
		fmt.Fprintf(&b, "%.1fs %s\n", elapsed, query)
	}
	return b.String()
}

func defaultsWith(ch config.ClickHouseConfig) config.Config {
	c := config.Default()
	c.ClickHouse = ch
	return c
}

// The archiver process is killed with SIGKILL while it inserts a backlog,
// three times, and started again each time: every event ends up in
// ClickHouse exactly once as queries see it.
func TestArchiverKilledDuringInserts(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs binaries")
	}
	ch := testkit.ClickHouse(t)
	dir := t.TempDir()
	brokerAddr := testkit.FreeAddr(t)
	cfgFile := filepath.Join(dir, "vigil.yaml")
	require.NoError(t, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
log: {level: debug}
telemetry: {listen: ""}
kafka: {brokers: [%s]}
clickhouse: {addr: [%s], database: %s, local: false}
broker: {listen: %s, data_dir: %s}
archiver: {flush_interval: 200ms, batch_rows: 10000, inserters: 2, retry_backoff: 50ms, retry_backoff_max: 1s}
`, brokerAddr, ch.Addr[0], ch.Database, brokerAddr, filepath.Join(dir, "broker"))), 0o600))
	startProc(t, dir, "broker", "broker", "-c", cfgFile)
	kcfg := config.Default().Kafka
	kcfg.Brokers = []string{brokerAddr}
	require.Eventually(t, func() bool {
		c, err := stream.NewClient(kcfg)
		require.NoError(t, err)
		defer c.Close()
		return c.EnsureTopics(context.Background(), stream.Topic{Name: kcfg.Topics.Events, Partitions: kcfg.Partitions}) == nil
	}, time.Minute, 50*time.Millisecond, "the broker starts")

	const total = 200_000
	ids := make([]string, total)
	values := make([][]byte, total)
	ts := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	for i := range values {
		line := fmt.Sprintf("Mar  5 10:00:00 gw sshd[%d]: Failed password for root from 198.51.100.%d port %d ssh2", i%30000, i%250+1, 1024+i%60000)
		e := &event.Event{
			Version: event.Version, ID: event.NewID("default", "kill-test", int64(i), []byte(line)),
			Timestamp: ts.Add(time.Duration(i) * time.Second / 4), Ingested: ts, Tenant: "default", Source: "sshd",
			Category: event.CategoryAuthentication, Action: "ssh_login", Outcome: event.OutcomeFailure,
			SrcIP: fmt.Sprintf("198.51.100.%d", i%250+1), Message: line,
		}
		b, err := event.Encode(e)
		require.NoError(t, err)
		ids[i], values[i] = e.ID, b
	}
	testkit.Produce(t, kcfg, kcfg.Topics.Events, nil, values)

	conn, err := store.Open(ch)
	require.NoError(t, err)
	defer conn.Close()
	count := func(query string) uint64 {
		var n uint64
		require.NoError(t, conn.QueryRow(context.Background(), query).Scan(&n))
		return n
	}
	archiver := testkit.NewProcess(t, binary(t), filepath.Join(dir, "archiver.log"), "archiver", "-c", cfgFile)
	for kill := range 3 {
		// Each process is killed once it has joined the group and rows of
		// its own arrive: inserts are under way. Rows that arrive earlier
		// may be the last inserts of the process killed before, landing
		// after it died. (A process killed while it joins is another case:
		// the group may wait for it until its rebalance timeout.)
		joined := logCount(t, archiver.Log, `"msg":"partitions assigned"`)
		archiver.Start()
		if !assert.Eventually(t, func() bool { return logCount(t, archiver.Log, `"msg":"partitions assigned"`) > joined },
			2*time.Minute, 20*time.Millisecond, "archiver %d never joins its group", kill) {
			t.Fatal(diagnose(t, dir, archiver, conn))
		}
		before := count("SELECT count() FROM events")
		if !assert.Eventually(t, func() bool { return count("SELECT count() FROM events") > before },
			time.Minute, 5*time.Millisecond, "no rows arrive before kill %d", kill) {
			t.Fatal(diagnose(t, dir, archiver, conn))
		}
		archiver.Kill9()
		stored := count("SELECT count() FROM events FINAL")
		t.Logf("kill %d: %d of %d events stored", kill, stored, total)
		require.Less(t, stored, uint64(total), "kill %d came after the last insert", kill)
	}
	archiver.Start()
	assert.Eventually(t, func() bool { return count("SELECT count() FROM events FINAL") >= total },
		2*time.Minute, 50*time.Millisecond)
	if got := count("SELECT count() FROM events FINAL"); got != total {
		t.Fatalf("%d of %d events stored; %s", got, total, diagnose(t, dir, archiver, conn))
	}
	require.Equal(t, uint64(total), count("SELECT count(DISTINCT id) FROM events"))
	stored := testkit.StoredIDs(t, conn, "SELECT DISTINCT id FROM events")
	for _, id := range ids {
		require.True(t, stored[id], "event %s is missing", id)
	}
	t.Logf("rows stored before merges: %d", count("SELECT count() FROM events"))
}
