package pager

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/pager/internal/hooktest"
)

// pagerProc is vigil-pager running as its own process.
type pagerProc struct {
	cmd     *exec.Cmd
	log     string
	metrics string // host:port of its /metrics
}

func buildPager(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vigil-pager")
	out, err := exec.Command("go", "build", "-o", bin, "./cmd/vigil-pager").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

func startPagerProc(t *testing.T, bin, dir, name, config string) *pagerProc {
	t.Helper()
	p := &pagerProc{log: filepath.Join(dir, name+".log")}
	cfg := filepath.Join(dir, name+".yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(config), 0o600))
	f, err := os.Create(p.log)
	require.NoError(t, err)
	defer f.Close()
	p.cmd = exec.Command(bin, "-c", cfg)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	require.NoError(t, p.cmd.Start())
	t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			_ = p.cmd.Wait()
		}
	})
	return p
}

// assigned returns how many partitions the process was given in its
// latest generation (-1 before the first).
func (p *pagerProc) assigned(t *testing.T) int {
	f, err := os.Open(p.log)
	require.NoError(t, err)
	defer f.Close()
	n := -1
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg        string `json:"msg"`
			Partitions int    `json:"partitions"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "partitions assigned" {
			n = line.Partitions
		}
	}
	return n
}

// metric reads one sample from the process's /metrics.
func (p *pagerProc) metric(t *testing.T, sample string) float64 {
	res, err := http.Get("http://" + p.metrics + "/metrics")
	require.NoError(t, err)
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`).FindSubmatch(b)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	require.NoError(t, err)
	return v
}

// Two pager processes share the alert partitions in one consumer group;
// one is killed with SIGKILL in the middle of a request. The other takes
// over its partitions, and the receiver gets every alert exactly once:
// what the dead one delivered before (never committed: commit_interval is
// an hour here) is skipped through the delivery records, and the request
// it died in is sent again by the survivor.
func TestTwoPagersOneKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the pager binary")
	}
	bin := buildPager(t)
	k := testkit.Broker(t)
	dir := t.TempDir()
	const total, killAt = 60, 10

	var (
		mu       sync.Mutex
		accepted = map[string]int{} // alert id → requests answered 2xx
		fromA    int
		a        *pagerProc
		killed   = make(chan struct{})
	)
	h := hooktest.New(t, func(r hooktest.Request, _ int) hooktest.Answer {
		var m struct {
			Alerts []struct {
				Annotations map[string]string `json:"annotations"`
			} `json:"alerts"`
		}
		if json.Unmarshal(r.Body, &m) != nil || len(m.Alerts) != 1 {
			return hooktest.Answer{Status: http.StatusBadRequest}
		}
		id := m.Alerts[0].Annotations["alert_id"]
		mu.Lock()
		defer mu.Unlock()
		if strings.HasPrefix(r.Path, "/a") {
			fromA++
			if fromA == killAt {
				// Killed while its request is under way: the request
				// is not answered, so it does not count.
				if err := a.cmd.Process.Kill(); err != nil {
					t.Errorf("kill pager a: %v", err)
				}
				close(killed)
				return hooktest.Answer{Status: http.StatusServiceUnavailable}
			}
		}
		accepted[id]++
		return hooktest.Answer{Status: http.StatusOK}
	})

	config := func(path, metrics string) string {
		return fmt.Sprintf(`
log: {level: debug, format: json}
telemetry: {listen: %q}
kafka: {brokers: [%s]}
pager:
  output: none
  session_timeout: 6s
  commit_interval: 1h
  retry: {initial_backoff: 10ms, max_backoff: 100ms}
  receivers:
    - {name: hook, type: webhook, url: %q, rate_limit: 1000, burst: 1000}
`, metrics, k.Brokers[0], h.URL+path)
	}
	aMetrics, bMetrics := testkit.FreeAddr(t), testkit.FreeAddr(t)
	mu.Lock()
	a = startPagerProc(t, bin, dir, "a", config("/a", aMetrics))
	mu.Unlock()
	a.metrics = aMetrics
	b := startPagerProc(t, bin, dir, "b", config("/b", bMetrics))
	b.metrics = bMetrics
	require.Eventually(t, func() bool { return a.assigned(t) == 3 && b.assigned(t) == 3 }, 60*time.Second, 50*time.Millisecond,
		"both pagers hold 3 of the 6 partitions")

	var alerts []alert.Alert
	for i := range total {
		alerts = append(alerts, testAlert(i))
	}
	produceAlerts(t, k, k.Topics.Alerts, alerts...)

	select {
	case <-killed:
	case <-time.After(60 * time.Second):
		t.Fatalf("pager a was never killed: it sent %d requests", fromA)
	}
	_ = a.cmd.Wait()
	require.Eventually(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(accepted) == total
	}, 90*time.Second, 50*time.Millisecond, "every alert delivered after the kill")

	mu.Lock()
	for _, al := range alerts {
		require.Equal(t, 1, accepted[al.ID], "alert %s (%s) accepted once", al.ID, al.Entity)
	}
	mu.Unlock()
	require.Equal(t, 6, b.assigned(t), "b was given a's partitions too")
	require.GreaterOrEqual(t, b.metric(t, `vigil_pager_notifications_total{receiver="hook",result="duplicate"}`), float64(killAt-1),
		"b skipped what a had delivered")
	require.Len(t, h.Requests("/a"), killAt)
}
