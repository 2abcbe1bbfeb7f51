package vigil

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/testkit"
)

// benchLines is how many sshd lines BenchmarkShipper ships.
const benchLines = 1_000_000

// BenchmarkShipper ships a file of 1,000,000 sshd lines to the embedded
// broker (`vigil broker`, its own process, writes synced as `vigil up` runs
// it) twice: with rsyslog (imfile → omkafka, no parsing, lz4, acks=all)
// when rsyslogd and its omkafka module are installed, and with `vigil
// shipper` (parsing every line into an event, lz4, acks=all). Each is timed
// from its start until the broker holds every line. It prints both rates,
// their ratio, and the shipper's peak RSS.
func BenchmarkShipper(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		logPath := filepath.Join(dir, "auth.log")
		writeSSHDLines(b, logPath, benchLines)
		brokerAddr := testkit.FreeAddr(b)
		cfgFile := filepath.Join(dir, "vigil.yaml")
		require.NoError(b, os.WriteFile(cfgFile, []byte(fmt.Sprintf(`
telemetry: {listen: ""}
kafka: {brokers: [%s]}
broker: {listen: %s, data_dir: %s}
shipper:
  files:
    - paths: [%s]
      format: sshd
  state_dir: %s
`, brokerAddr, brokerAddr, filepath.Join(dir, "broker"), logPath, filepath.Join(dir, "shipper"))), 0o600))
		broker := startProc(b, dir, "broker", "broker", "-c", cfgFile)
		client := &kafka.Client{Addr: kafka.TCP(brokerAddr), Timeout: 10 * time.Second}
		waitBroker(b, client)

		var peer float64
		brokerCPU := testkit.CPUSeconds(b, broker.Pid())
		if rate, ok := rsyslogRate(b, dir, brokerAddr, logPath, client); ok {
			peer = rate
			fmt.Printf("BENCH name=rsyslog_ship value=%.0f unit=lines/s\n", rate)
			fmt.Printf("# broker CPU while rsyslog shipped: %.2f s\n", testkit.CPUSeconds(b, broker.Pid())-brokerCPU)
			brokerCPU = testkit.CPUSeconds(b, broker.Pid())
		}

		// The topic exists before the clock starts, as rsyslog's does: this
		// client then knows its partitions from the start.
		createTopic(b, client, "vigil.events")
		start := time.Now()
		ship := startProc(b, dir, "shipper", "shipper", "-c", cfgFile)

		waitTopic(b, client, "vigil.events", benchLines, 10*time.Minute, dir)
		elapsed := time.Since(start)
		rss := peakRSS(b, ship.Pid())
		fmt.Printf("# shipper CPU %.2f s, broker CPU %.2f s, in %.2f s\n", testkit.CPUSeconds(b, ship.Pid()), testkit.CPUSeconds(b, broker.Pid())-brokerCPU, elapsed.Seconds())
		ship.Stop(30 * time.Second)
		rate := benchLines / elapsed.Seconds()
		if peer > 0 {
			fmt.Printf("BENCH name=shipper_ship value=%.0f unit=lines/s vs=rsyslog ratio=%.2f\n", rate, rate/peer)
		} else {
			fmt.Printf("BENCH name=shipper_ship value=%.0f unit=lines/s\n", rate)
		}
		fmt.Printf("BENCH name=shipper_peak_rss value=%.1f unit=MiB\n", rss)
	}
}

// rsyslogRate ships path with rsyslog and returns its lines per second, or
// false when rsyslog or its Kafka module is not installed.
func rsyslogRate(b *testing.B, dir, brokerAddr, path string, client *kafka.Client) (float64, bool) {
	rsyslogd, err := exec.LookPath("rsyslogd")
	if err != nil {
		fmt.Println("# rsyslogd not installed (apt-get install rsyslog rsyslog-kafka): no peer figure")
		return 0, false
	}
	if _, err := os.Stat("/usr/lib/x86_64-linux-gnu/rsyslog/omkafka.so"); err != nil {
		fmt.Println("# rsyslog's omkafka module not installed (apt-get install rsyslog-kafka): no peer figure")
		return 0, false
	}
	const topic = "bench.rsyslog"
	createTopic(b, client, topic)
	work := filepath.Join(dir, "rsyslog")
	require.NoError(b, os.MkdirAll(work, 0o750))
	conf := filepath.Join(work, "rsyslog.conf")
	// The queue is large enough to hold the file: rsyslog drops what does
	// not fit when Kafka is slower than the file is read.
	require.NoError(b, os.WriteFile(conf, []byte(fmt.Sprintf(`
global(workDirectory=%q)
module(load="imfile")
module(load="omkafka")
input(type="imfile" File=%q Tag="auth" ruleset="k" freshStartTail="off")
template(name="msg" type="string" string="%%msg%%")
ruleset(name="k" queue.type="LinkedList" queue.size="2000000" queue.dequeueBatchSize="4096") {
  action(type="omkafka" broker=[%q] topic=%q template="msg" partitions.auto="on"
         confParam=["acks=all", "compression.codec=lz4", "queue.buffering.max.ms=5", "batch.num.messages=10000"])
}
`, work, path, brokerAddr, topic)), 0o600))
	start := time.Now()
	cmd := exec.Command(rsyslogd, "-n", "-f", conf, "-i", filepath.Join(work, "rsyslogd.pid"))
	out, err := os.Create(filepath.Join(dir, "rsyslog.log"))
	require.NoError(b, err)
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	require.NoError(b, cmd.Start())
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	waitTopic(b, client, topic, benchLines, 5*time.Minute, dir)
	elapsed := time.Since(start)
	fmt.Printf("# rsyslogd CPU %.2f s in %.2f s\n", testkit.CPUSeconds(b, cmd.Process.Pid), elapsed.Seconds())
	return benchLines / elapsed.Seconds(), true
}

// createTopic creates topic with six partitions, as Vigil creates its own.
func createTopic(b *testing.B, client *kafka.Client, topic string) {
	res, err := client.CreateTopics(context.Background(), &kafka.CreateTopicsRequest{
		Topics: []kafka.TopicConfig{{Topic: topic, NumPartitions: 6, ReplicationFactor: 1}},
	})
	require.NoError(b, err)
	require.NoError(b, res.Errors[topic])
}

// waitTopic waits until topic holds at least n messages.
func waitTopic(b *testing.B, client *kafka.Client, topic string, n int64, limit time.Duration, dir string) {
	deadline := time.Now().Add(limit)
	for {
		if got := topicSize(client, topic); got >= n {
			return
		} else if time.Now().After(deadline) {
			b.Fatalf("%s holds %d of %d messages after %v; logs:\n%s", topic, got, n, limit, tailLogs(dir))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// topicSize is the sum of the end offsets of topic's partitions; 0 when
// the topic does not exist (yet).
func topicSize(client *kafka.Client, topic string) int64 {
	ctx := context.Background()
	md, err := client.Metadata(ctx, &kafka.MetadataRequest{Topics: []string{topic}})
	if err != nil || len(md.Topics) != 1 || md.Topics[0].Error != nil {
		return 0
	}
	req := &kafka.ListOffsetsRequest{Topics: map[string][]kafka.OffsetRequest{}}
	for _, p := range md.Topics[0].Partitions {
		req.Topics[topic] = append(req.Topics[topic], kafka.LastOffsetOf(p.ID))
	}
	res, err := client.ListOffsets(ctx, req)
	if err != nil {
		return 0
	}
	var total int64
	for _, p := range res.Topics[topic] {
		total += p.LastOffset
	}
	return total
}

func waitBroker(b *testing.B, client *kafka.Client) {
	require.Eventually(b, func() bool {
		_, err := client.Metadata(context.Background(), &kafka.MetadataRequest{})
		return err == nil
	}, 30*time.Second, 20*time.Millisecond, "broker did not start")
}

// peakRSS is the process's peak resident set (VmHWM), in MiB.
func peakRSS(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 64)
			require.NoError(b, err)
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/pid/status")
	return 0
}

// writeSSHDLines writes n sshd lines of a busy gateway: failed and accepted
// logins, invalid users and disconnects from thousands of addresses.
func writeSSHDLines(b *testing.B, path string, n int) {
	f, err := os.Create(path)
	require.NoError(b, err)
	w := bufio.NewWriterSize(f, 1<<20)
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ts := t0.Add(time.Duration(i) * 50 * time.Millisecond).Format(time.Stamp)
		ip := fmt.Sprintf("10.%d.%d.%d", rng.IntN(8), rng.IntN(256), 1+rng.IntN(254))
		port := 1024 + rng.IntN(60000)
		pid := 1000 + rng.IntN(30000)
		user := fmt.Sprintf("user%d", rng.IntN(500))
		var msg string
		switch rng.IntN(6) {
		case 0, 1:
			msg = fmt.Sprintf("Failed password for %s from %s port %d ssh2", user, ip, port)
		case 2:
			msg = fmt.Sprintf("Failed password for invalid user %s from %s port %d ssh2", user, ip, port)
		case 3:
			msg = fmt.Sprintf("Accepted publickey for %s from %s port %d ssh2: RSA SHA256:3q2+7wAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", user, ip, port)
		case 4:
			msg = fmt.Sprintf("Invalid user %s from %s port %d", user, ip, port)
		default:
			msg = fmt.Sprintf("Disconnected from authenticating user %s %s port %d [preauth]", user, ip, port)
		}
		fmt.Fprintf(w, "%s gw%d sshd[%d]: %s\n", ts, rng.IntN(4), pid, msg)
	}
	require.NoError(b, w.Flush())
	require.NoError(b, f.Close())
}
