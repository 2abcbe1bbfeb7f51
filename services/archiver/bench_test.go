package archiver

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// benchEvents returns n events as the shipper would publish them: sshd
// logins, network flows, web and database access from many sources, users
// and hosts over one day, with the source IP as the message key.
func benchEvents(n int, seed uint64) []*event.Event {
	rng := rand.New(rand.NewPCG(seed, 7))
	day := time.Date(2026, 3, 5, 0, 0, 0, 0, time.UTC)
	evs := make([]*event.Event, n)
	for i := range evs {
		ts := day.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n)).Add(time.Duration(rng.IntN(1e9)))
		ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(4), rng.IntN(256), 1+rng.IntN(254))
		host := fmt.Sprintf("host-%03d", rng.IntN(300))
		user := fmt.Sprintf("user%d", rng.IntN(2000))
		port := uint16(1024 + rng.IntN(60000))
		e := &event.Event{
			Version: event.Version, Timestamp: ts, Ingested: ts.Add(time.Duration(rng.IntN(2000)) * time.Millisecond),
			Tenant: "default", Host: host, SrcIP: ip, SrcPort: port, User: user,
		}
		switch k := rng.IntN(10); {
		case k < 4:
			e.Source, e.Category, e.Action, e.Protocol, e.DstPort = "sshd", event.CategoryAuthentication, "ssh_login", "ssh", 22
			e.Outcome = event.OutcomeFailure
			verb := "Failed password"
			if k == 0 {
				e.Outcome, verb = event.OutcomeSuccess, "Accepted publickey"
			}
			e.Message = fmt.Sprintf("%s %s sshd[%d]: %s for %s from %s port %d ssh2", ts.Format(time.Stamp), host, 1000+rng.IntN(30000), verb, user, ip, port)
			e.Attrs = map[string]string{"pid": fmt.Sprint(1000 + rng.IntN(30000))}
		case k < 7:
			e.Source, e.Category, e.Action, e.Protocol, e.Outcome = "netflow", event.CategoryNetwork, "flow", "tcp", event.OutcomeSuccess
			e.DstIP, e.DstPort = fmt.Sprintf("192.0.2.%d", 1+rng.IntN(254)), uint16([]int{443, 80, 5432, 3306, 53}[rng.IntN(5)])
			e.BytesOut, e.BytesIn = uint64(rng.IntN(1<<20)), uint64(rng.IntN(1<<24))
			e.User = ""
			e.Message = fmt.Sprintf("flow %s:%d -> %s:%d tcp out=%d in=%d", ip, port, e.DstIP, e.DstPort, e.BytesOut, e.BytesIn)
		case k < 9:
			e.Source, e.Category, e.Action, e.Protocol, e.DstPort = "nginx", event.CategoryWeb, "http_request", "http", 443
			e.Outcome = event.OutcomeSuccess
			status := []int{200, 200, 200, 304, 404, 403, 500}[rng.IntN(7)]
			if status >= 400 {
				e.Outcome = event.OutcomeFailure
			}
			e.Value = float64(rng.IntN(5000)) / 10
			e.BytesIn = uint64(rng.IntN(100000))
			e.Message = fmt.Sprintf(`%s - %s [%s] "GET /api/v1/items/%d HTTP/1.1" %d %d "-" "Mozilla/5.0 (X11; Linux x86_64)"`,
				ip, user, ts.Format("02/Jan/2006:15:04:05 -0700"), rng.IntN(100000), status, e.BytesIn)
			e.Attrs = map[string]string{"http.status": fmt.Sprint(status), "http.method": "GET"}
		default:
			e.Source, e.Category, e.Action, e.Protocol, e.DstPort = "postgres", event.CategoryDatabase, "query", "postgresql", 5432
			e.Outcome, e.Value = event.OutcomeSuccess, float64(rng.IntN(100000))/100
			e.Message = fmt.Sprintf("%s UTC [%d] %s@app LOG:  duration: %.2f ms  statement: SELECT * FROM orders WHERE id = %d",
				ts.Format("2006-01-02 15:04:05.000"), rng.IntN(30000), user, e.Value, rng.IntN(1e6))
		}
		e.ID = event.NewID(e.Tenant, "bench:"+host, int64(i), []byte(e.Message))
		evs[i] = e
	}
	return evs
}

// produceEvents publishes evs on topic keyed by source IP, as the shipper
// does (its writer, its compression).
func produceEvents(tb testing.TB, k config.KafkaConfig, topic string, evs []*event.Event) {
	tb.Helper()
	testkit.Topics(tb, k, topic)
	client, err := stream.NewClient(k)
	require.NoError(tb, err)
	defer client.Close()
	w, err := client.NewWriter(topic, stream.WriterOptions{BatchSize: 10_000})
	require.NoError(tb, err)
	defer w.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const chunk = 50_000
	for len(evs) > 0 {
		n := min(chunk, len(evs))
		msgs := make([]kafka.Message, n)
		for i, e := range evs[:n] {
			b, err := event.Encode(e)
			require.NoError(tb, err)
			msgs[i] = kafka.Message{Key: []byte(e.SrcIP), Value: b}
		}
		require.NoError(tb, w.WriteMessages(ctx, msgs...))
		evs = evs[n:]
	}
}

// writeTSV writes evs as the events table's columns in TabSeparated format.
func writeTSV(tb testing.TB, path string, evs []*event.Event) {
	tb.Helper()
	f, err := os.Create(path)
	require.NoError(tb, err)
	w := bufio.NewWriterSize(f, 1<<20)
	esc := strings.NewReplacer(`\`, `\\`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`)
	quote := strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\t", `\t`, "\n", `\n`, "\r", `\r`, "\x00", `\0`)
	dt := func(t time.Time) string { return t.UTC().Format(time.DateTime) }
	for _, e := range evs {
		keys := make([]string, 0, len(e.Attrs))
		for k := range e.Attrs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		var ks, vs []string
		for _, k := range keys {
			ks = append(ks, "'"+quote.Replace(k)+"'")
			vs = append(vs, "'"+quote.Replace(e.Attrs[k])+"'")
		}
		fmt.Fprintf(w, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%d\t%s\t%s\t%d\t%d\t%v\t%s\t%s\t[%s]\t[%s]\n",
			e.ID, dt(e.Timestamp), e.Timestamp.Nanosecond(), dt(e.Ingested), esc.Replace(e.Tenant), esc.Replace(e.Source),
			esc.Replace(e.Host), esc.Replace(e.Category), esc.Replace(e.Action), esc.Replace(e.Outcome),
			e.SrcIP, e.SrcPort, e.DstIP, e.DstPort, esc.Replace(e.User), esc.Replace(e.Protocol), e.BytesOut, e.BytesIn, e.Value,
			esc.Replace(e.Message), esc.Replace(e.ParseError), strings.Join(ks, ","), strings.Join(vs, ","))
	}
	require.NoError(tb, w.Flush())
	require.NoError(tb, f.Close())
}

// BenchmarkArchiverThroughput publishes a million events on the events
// topic, then times the archiver reading and inserting all of them, until
// every row is inserted and every offset committed. In the same run it
// times clickhouse-client inserting the same rows as TabSeparated into the
// events table of a second database made by the same migrations (same
// engine, same materialized views): the floor any Go client works against;
// and, for what the views cost, into a copy of that table without them.
// Each side starts on a quiet server (no merges running) and a collected
// heap, so neither pays for the other's merges or for the fixture.
func BenchmarkArchiverThroughput(b *testing.B) {
	const n = 1_000_000
	client, lookErr := exec.LookPath("clickhouse-client")
	for range b.N {
		cfg := benchConfig(b)
		conn, err := store.Open(cfg.ClickHouse)
		require.NoError(b, err)
		defer conn.Close()
		evs := benchEvents(n, 1)
		produceEvents(b, cfg.Kafka, cfg.Kafka.Topics.Events, evs)
		tsv := filepath.Join(b.TempDir(), "events.tsv")
		if lookErr == nil {
			writeTSV(b, tsv, evs)
		}
		evs = nil
		settle(b, conn)

		cpu := measureCPU(b)
		t0 := time.Now()
		a := start(b, cfg)
		a.waitArchived(cfg, n)
		elapsed := time.Since(t0)
		cpu.print(elapsed)
		a.stop()
		require.Equal(b, uint64(n), count(b, conn, "SELECT count() FROM events"))
		rate := float64(n) / elapsed.Seconds()

		if lookErr != nil {
			fmt.Printf("BENCH name=archiver_throughput value=%.0f unit=events/s\n", rate)
			b.Log("clickhouse-client is not on PATH (deploy/clickhouse/clickhouse.sh installs it): no comparison")
			continue
		}
		peerDB := testkit.ClickHouse(b)
		peer := clickhouseClientRate(b, client, conn, peerDB, "events", tsv, n)
		// The same without the rollups' materialized views, which every
		// insert into events also feeds: what they cost the server.
		require.NoError(b, conn.Exec(context.Background(), "CREATE TABLE "+peerDB.Database+".events_no_views AS "+peerDB.Database+".events"))
		noViews := clickhouseClientRate(b, client, conn, peerDB, "events_no_views", tsv, n)
		fmt.Printf("BENCH name=archiver_throughput value=%.0f unit=events/s vs=clickhouse-client ratio=%.2f\n", rate, rate/peer)
		fmt.Printf("BENCH name=clickhouse_client_tsv_throughput value=%.0f unit=events/s\n", peer)
		fmt.Printf("BENCH name=clickhouse_client_tsv_no_views_throughput value=%.0f unit=events/s\n", noViews)
	}
}

// cpuUse is the CPU time used so far by this process (the archiver and
// the broker) and by the ClickHouse servers running on this machine.
type cpuUse struct {
	tb               testing.TB
	servers          []int
	self, clickhouse float64
}

func measureCPU(tb testing.TB) cpuUse {
	c := cpuUse{tb: tb, servers: testkit.ProcessesNamed(tb, "clickhouse-serv")} // the name, cut to 15 bytes
	c.self, c.clickhouse = c.now()
	return c
}

func (c cpuUse) now() (self, clickhouse float64) {
	for _, pid := range c.servers {
		clickhouse += testkit.CPUSeconds(c.tb, pid)
	}
	return testkit.CPUSeconds(c.tb, os.Getpid()), clickhouse
}

// print prints the CPU time used since c was measured, in elapsed on the
// machine's cores (which can give at most their number times elapsed).
func (c cpuUse) print(elapsed time.Duration) {
	self, clickhouse := c.now()
	fmt.Printf("# %.2f s on %d cores: CPU of the archiver and the broker %.2f s, of the %d ClickHouse server(s) on this machine %.2f s\n",
		elapsed.Seconds(), runtime.NumCPU(), self-c.self, len(c.servers), clickhouse-c.clickhouse)
}

// clickhouseClientRate times clickhouse-client inserting the n rows of the
// TabSeparated file tsv into table of db, on a quiet server, and returns
// its rate in rows per second, with clickhouse-client's own defaults
// (18.16 compresses with LZ4 even on loopback, where the archiver's
// default does not).
func clickhouseClientRate(tb testing.TB, client string, conn driver.Conn, db config.ClickHouseConfig, table, tsv string, n int) float64 {
	tb.Helper()
	settle(tb, conn)
	host, port, _ := strings.Cut(db.Addr[0], ":")
	in, err := os.Open(tsv)
	require.NoError(tb, err)
	defer in.Close()
	cmd := exec.Command(client, "--host", host, "--port", port, "--database", db.Database,
		"--query", "INSERT INTO "+table+" ("+eventsTable.columns()+") FORMAT TabSeparated")
	cmd.Stdin = in
	start := time.Now()
	out, err := cmd.CombinedOutput()
	require.NoError(tb, err, "%s", out)
	elapsed := time.Since(start)
	require.Equal(tb, uint64(n), count(tb, conn, "SELECT count() FROM "+db.Database+"."+table))
	return float64(n) / elapsed.Seconds()
}

// settle waits until the server runs no merge and collects the heap, so
// that what is timed next starts from a quiet machine.
func settle(tb testing.TB, conn driver.Conn) {
	tb.Helper()
	require.Eventually(tb, func() bool { return count(tb, conn, "SELECT count() FROM system.merges") == 0 },
		5*time.Minute, 50*time.Millisecond)
	runtime.GC()
}

// waitArchived waits until the archiver has inserted n events and
// committed their offsets. It watches the archiver's own counter rather
// than querying ClickHouse, which would load the server being measured.
func (r *running) waitArchived(cfg config.Config, n int) {
	r.t.Helper()
	inserted := map[string]string{"table": "events"}
	require.Eventually(r.t, func() bool { return r.metric("vigil_archiver_rows_inserted_total", inserted) >= float64(n) },
		10*time.Minute, 5*time.Millisecond)
	require.Eventually(r.t, func() bool {
		return testkit.CommittedSum(r.t, cfg.Kafka, cfg.Archiver.GroupID, cfg.Kafka.Topics.Events) == int64(n)
	}, time.Minute, 5*time.Millisecond)
}

// benchConfig is the default configuration on a fresh broker and database.
func benchConfig(tb testing.TB) config.Config {
	tb.Helper()
	cfg := config.Default()
	cfg.ClickHouse = testkit.ClickHouse(tb)
	cfg.Kafka = testkit.Broker(tb)
	cfg.Telemetry.Listen = ""
	return cfg
}
