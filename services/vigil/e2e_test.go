package vigil

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/archiver"
	"github.com/vigil-soc/vigil/services/pager"
	"github.com/vigil-soc/vigil/services/processor"
	"github.com/vigil-soc/vigil/services/shipper"
)

// stack runs the shipper, processor, archiver and pager in this process
// against the embedded broker and the test ClickHouse, following inbox/*.
// Tests shorten the poll, flush and idle intervals; the benchmark keeps the
// defaults users run with.
type stack struct {
	cfg   config.Config
	inbox string
	comps []service.Named
	reg   *prometheus.Registry
}

func startStack(t testing.TB, defaults bool) *stack {
	t.Helper()
	cfg := config.Default()
	cfg.Kafka = testkit.Broker(t)
	cfg.ClickHouse = testkit.ClickHouse(t)
	cfg.Telemetry.Listen = ""
	dir := t.TempDir()
	inbox := filepath.Join(dir, "inbox")
	require.NoError(t, os.MkdirAll(inbox, 0o750))
	cfg.Shipper.Files = []config.FileInput{{Paths: []string{filepath.Join(inbox, "*")}, Format: "auto"}}
	cfg.Shipper.StateDir = filepath.Join(dir, "shipper")
	cfg.Shipper.Host = "e2e-host"
	cfg.Shipper.MemoryLimit = 0 // this test process hosts every service
	if !defaults {
		cfg.Shipper.PollInterval = 50 * time.Millisecond
		cfg.Processor.IdleFlush = time.Second
		// One-minute brute-force windows: the last ones close (idle flush,
		// lateness) within the tests' patience.
		cfg.Processor.Profiles = []config.ProfileConfig{testkit.MinuteBruteForce()}
		cfg.Archiver.FlushInterval = 200 * time.Millisecond
	}
	require.NoError(t, cfg.Validate())

	reg := prometheus.NewRegistry()
	deps := service.Deps{Config: cfg, Logger: testkit.Logger(t), Registry: reg}
	s := &stack{cfg: cfg, inbox: inbox, reg: reg}
	for _, build := range []func(service.Deps) ([]service.Named, error){archiver.Build, processor.Build, pager.Build, shipper.Build} {
		comps, err := build(deps)
		require.NoError(t, err)
		s.comps = append(s.comps, comps...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, c := range s.comps {
		require.NoError(t, c.Start(ctx), c.Name)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		for i := len(s.comps) - 1; i >= 0; i-- {
			require.NoError(t, s.comps[i].Shutdown(ctx), s.comps[i].Name)
		}
	})
	return s
}

func (s *stack) count(t testing.TB, query string) uint64 {
	t.Helper()
	conn, err := store.Open(s.cfg.ClickHouse)
	require.NoError(t, err)
	defer conn.Close()
	var n uint64
	require.NoError(t, conn.QueryRow(context.Background(), query).Scan(&n))
	return n
}

// authLog writes an sshd log of the last hour: steady failed logins from
// background IPs, a burst from burstIP (when not empty) 15 minutes ago, and
// other syslog lines, n lines in all. end is when the log ends: the end of
// its last minute.
func authLog(n int, burstIP string, seed uint64) (lines []string, end time.Time) {
	rng := rand.New(rand.NewPCG(seed, 2))
	end = time.Now().UTC().Truncate(time.Minute).Add(-2 * time.Minute)
	start := end.Add(-time.Hour)
	stamp := func(ts time.Time) string { return ts.Format(time.Stamp) }
	burstAt := end.Add(-15 * time.Minute)
	for len(lines) < n {
		ts := start.Add(time.Duration(len(lines)) * time.Hour / time.Duration(n))
		switch {
		case burstIP != "" && !ts.Before(burstAt) && ts.Before(burstAt.Add(2*time.Minute)) && len(lines)%2 == 0:
			lines = append(lines, fmt.Sprintf("%s gw sshd[%d]: Failed password for root from %s port %d ssh2",
				stamp(ts), 4000+rng.IntN(1000), burstIP, 30000+rng.IntN(30000)))
		case rng.IntN(10) < 3:
			// Each background address fails for a few accounts of its own
			// (many distinct accounts per address would be a spray).
			ip := 1 + rng.IntN(40)
			lines = append(lines, fmt.Sprintf("%s gw sshd[%d]: Failed password for invalid user u%d from 198.51.100.%d port %d ssh2",
				stamp(ts), 4000+rng.IntN(1000), 3*ip+rng.IntN(3), ip, 30000+rng.IntN(30000)))
		case rng.IntN(10) < 2:
			lines = append(lines, fmt.Sprintf("%s gw sshd[%d]: Accepted publickey for deploy from 192.0.2.%d port %d ssh2",
				stamp(ts), 4000+rng.IntN(1000), 1+rng.IntN(5), 30000+rng.IntN(30000)))
		case rng.IntN(10) < 5:
			lines = append(lines, fmt.Sprintf("%s gw CRON[%d]: (root) CMD (run-parts /etc/cron.hourly)", stamp(ts), rng.IntN(9000)))
		default:
			lines = append(lines, fmt.Sprintf(`{"timestamp":"%s","host":"app-1","user":"u%d","message":"login","outcome":"success"}`,
				ts.Format(time.RFC3339), rng.IntN(9)))
		}
	}
	return lines, end
}

// lastWindowScored counts the scores of the last minute of a log that
// ended at end.
func lastWindowScored(end time.Time) string {
	return fmt.Sprintf("SELECT count() FROM scores FINAL WHERE window_end >= toDateTime(%d)", end.Unix())
}

func appendLines(t testing.TB, path string, lines []string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(t, err)
	defer f.Close()
	for _, l := range lines {
		_, err := f.WriteString(l + "\n")
		require.NoError(t, err)
	}
}

func alertsOnTopic(t testing.TB, cfg config.Config) []alert.Alert {
	var out []alert.Alert
	for _, m := range testkit.ReadAll(t, cfg.Kafka, cfg.Kafka.Topics.Alerts) {
		var a alert.Alert
		require.NoError(t, json.Unmarshal(m.Value, &a))
		out = append(out, a)
	}
	return out
}

// 10,000 lines appended to a followed file become exactly 10,000 rows, and
// the burst of failed logins in them raises exactly one alert.
func TestLinesBecomeRowsAndBurstAlerts(t *testing.T) {
	s := startStack(t, false)
	lines, end := authLog(10_000, "203.0.113.50", 1)
	path := filepath.Join(s.inbox, "auth.log")
	// Appended in pieces, as a live log grows.
	for i := 0; i < len(lines); i += 2500 {
		appendLines(t, path, lines[i:i+2500])
	}
	require.Eventually(t, func() bool {
		return s.count(t, "SELECT count() FROM events FINAL") >= 10_000
	}, 90*time.Second, 250*time.Millisecond)
	require.Equal(t, uint64(10_000), s.count(t, "SELECT count() FROM events FINAL"))
	require.Equal(t, uint64(10_000), s.count(t, "SELECT uniqExact(message, timestamp, id) FROM events"))
	require.Equal(t, uint64(0), s.count(t, "SELECT count() FROM events FINAL WHERE host = ''"))

	// Every window is scored once the processor's idle flush closes the
	// last ones.
	if !assert.Eventually(t, func() bool {
		return s.count(t, "SELECT count() FROM alerts FINAL") >= 1 &&
			s.count(t, lastWindowScored(end)) > 0
	}, 90*time.Second, 250*time.Millisecond) {
		explainStack(t, s)
		t.FailNow()
	}
	var firing []alert.Alert
	for _, a := range alertsOnTopic(t, s.cfg) {
		require.Equal(t, "203.0.113.50", a.Entity, "alerts: %+v", a)
		if a.Status == alert.StatusFiring {
			firing = append(firing, a)
		}
	}
	require.Len(t, firing, 1, "one incident (its resolution may follow)")
	require.Equal(t, uint64(1), s.count(t, "SELECT count() FROM alerts FINAL WHERE entity = '203.0.113.50' AND status = 'firing'"))
}

// Steady background traffic raises no alert.
func TestSteadyTrafficRaisesNoAlert(t *testing.T) {
	s := startStack(t, false)
	lines, end := authLog(6_000, "", 2)
	appendLines(t, filepath.Join(s.inbox, "auth.log"), lines)
	// Wait for the scores of the last minute: by then every window is closed.
	if !assert.Eventually(t, func() bool {
		return s.count(t, "SELECT count() FROM events FINAL") == 6_000 &&
			s.count(t, lastWindowScored(end)) > 0
	}, 90*time.Second, 250*time.Millisecond) {
		explainStack(t, s)
		t.FailNow()
	}
	require.Empty(t, alertsOnTopic(t, s.cfg))
	require.Equal(t, uint64(0), s.count(t, "SELECT count() FROM alerts"))
}

// The real sshd log dropped into the inbox of a running stack: all 2,000
// lines become rows, and its brute-forcing sources alert, with at most a
// handful of others.
func TestOpenSSHDatasetThroughStack(t *testing.T) {
	src := datasetPath(t, "loghub/OpenSSH_2k.log")
	s := startStack(t, false)
	b, err := os.ReadFile(src)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(s.inbox, "OpenSSH_2k.log"), b, 0o640))
	require.Eventually(t, func() bool {
		return s.count(t, "SELECT count() FROM events FINAL") == 2000 &&
			s.count(t, "SELECT count() FROM scores FINAL WHERE profile = 'brute_force' AND window_start = toDateTime('2025-12-10 11:00:00')") > 0
	}, 90*time.Second, 250*time.Millisecond)
	require.Equal(t, uint64(0), s.count(t, "SELECT count() FROM events FINAL WHERE parse_error != ''"))
	entities := map[string]bool{}
	for _, a := range alertsOnTopic(t, s.cfg) {
		entities[a.Entity] = true
	}
	t.Logf("alerted: %v", entities)
	require.True(t, entities["183.62.140.253"], "alerted: %v", entities)
	require.LessOrEqual(t, len(entities), 6, "no more than a handful of sources besides it")
}
