package processor

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// procInstance is one vigil-processor process.
type procInstance struct {
	*testkit.Process
	t       *testing.T
	metrics string
}

func buildProcessor(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil-processor")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/vigil-processor").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func newInstance(t *testing.T, bin, dir, name string, cfg config.Config) *procInstance {
	metrics := testkit.FreeAddr(t)
	cfgFile := filepath.Join(dir, name+".yaml")
	k := cfg.Kafka
	yaml := fmt.Sprintf(`
log: {level: info, format: json}
telemetry: {listen: %q}
kafka:
  brokers: [%s]
  topics: {events: %s, scores: %s, alerts: %s}
processor:
  group_id: %s
  idle_flush: %s
  session_timeout: %s
  checkpoint: {interval: %s}
`, metrics, k.Brokers[0], k.Topics.Events, k.Topics.Scores, k.Topics.Alerts, cfg.Processor.GroupID,
		cfg.Processor.IdleFlush, cfg.Processor.SessionTimeout, cfg.Processor.Checkpoint.Interval)
	require.NoError(t, os.WriteFile(cfgFile, []byte(yaml), 0o600))
	return &procInstance{Process: testkit.NewProcess(t, bin, filepath.Join(dir, name+".log"), "-c", cfgFile), t: t, metrics: metrics}
}

// stop ends the process with SIGTERM: it checkpoints and leaves the group.
func (p *procInstance) stop() {
	if !p.Stop(60 * time.Second) {
		p.t.Errorf("%s did not stop within a minute", p.Log)
	}
	require.Equal(p.t, 0, p.ExitCode(), "clean exit; log %s", p.Log)
}

var partitionsGauge = regexp.MustCompile(`(?m)^vigil_processor_partitions (\S+)$`)

// partitions is how many partitions the process owns now (-1 when it
// does not answer).
func (p *procInstance) partitions() int {
	res, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return -1
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return -1
	}
	m := partitionsGauge.FindSubmatch(b)
	if m == nil {
		return -1
	}
	n, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		return -1
	}
	return int(n)
}

// logHas reports whether the process logged a line matching re.
func (p *procInstance) logHas(re *regexp.Regexp) bool {
	f, err := os.Open(p.Log)
	require.NoError(p.t, err)
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if re.Match(sc.Bytes()) {
			return true
		}
	}
	return false
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// Three processor processes share the partitions; the stream arrives in
// chunks; one process is killed with SIGKILL mid-stream, its partitions
// go to the other two (which restore them from the changelog), and it is
// started again later (the partitions move back the same way). The scores
// and alerts published are those of one uninterrupted instance on the same
// input, and no alert is published twice.
func TestThreeInstancesOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs processor binaries")
	}
	msgs, err := evalStream()
	require.NoError(t, err)
	bin := buildProcessor(t)
	k := testkit.Broker(t)
	want := uninterrupted(t, k, msgs)

	cfg := runConfig(k, "killed")
	dir := t.TempDir()
	if d := os.Getenv("VIGIL_TEST_KEEP_LOGS"); d != "" {
		dir = d
	}
	var inst []*procInstance
	for i := range 3 {
		inst = append(inst, newInstance(t, bin, dir, fmt.Sprintf("p%d", i), cfg))
		inst[i].Start()
	}
	require.Eventually(t, func() bool {
		return inst[0].partitions() > 0 && inst[1].partitions() > 0 && inst[2].partitions() > 0 &&
			inst[0].partitions()+inst[1].partitions()+inst[2].partitions() == 2*cfg.Kafka.Partitions
	}, 60*time.Second, 100*time.Millisecond, "the three share the 12 partitions")

	const chunks = 16
	chunk := func(i int) [][]byte { return msgs[i*len(msgs)/chunks : (i+1)*len(msgs)/chunks] }
	fed := 0
	feed := func(upTo int) {
		for ; fed < upTo; fed++ {
			produceStream(t, cfg, chunk(fed))
			time.Sleep(500 * time.Millisecond) // the stream arrives over time, not at once
		}
	}
	feed(4)
	victim := inst[1]
	require.Eventually(t, func() bool { return victim.logHas(regexp.MustCompile(`"partition assigned"`)) }, 30*time.Second, 50*time.Millisecond)
	victim.Kill9()
	// The other two take its partitions once its session times out; the
	// stream goes on meanwhile.
	require.Eventually(t, func() bool {
		if fed < chunks-4 {
			feed(fed + 1)
		}
		return inst[0].partitions()+inst[2].partitions() == 2*cfg.Kafka.Partitions
	}, 60*time.Second, 100*time.Millisecond, "the survivors take over the killed instance's partitions")
	feed(chunks - 4)
	victim.Start()
	feed(chunks)
	require.Eventually(t, func() bool { return victim.partitions() > 0 }, 60*time.Second, 100*time.Millisecond,
		"the restarted instance gets partitions back")

	var scores, alerts int
	var done bool
	if !assert.Eventually(t, func() bool {
		got := readPublished(t, cfg)
		scores, alerts, done = len(got.scores), len(got.alerts), settled(t, cfg)
		return scores >= len(want.scores) && alerts >= len(want.alerts) && done
	}, 180*time.Second, 500*time.Millisecond) {
		for _, p := range inst {
			b, _ := os.ReadFile(p.Log)
			t.Logf("%s:\n%s", p.Log, lastLines(b, 15))
		}
		t.Errorf("not every score and alert published, or not every partition checkpointed: scores %d of %d, alerts %d of %d, settled %v",
			scores, len(want.scores), alerts, len(want.alerts), done)
	}
	for _, p := range inst {
		p.stop()
	}
	requireSameOutputs(t, want, readPublished(t, cfg))
}
