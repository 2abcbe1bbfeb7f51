package pager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/score"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, testkit.GoleakOptions()...)
}

// syncBuffer is an io.Writer safe for the pager's goroutine and the test's.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Lines returns the complete lines written so far.
func (b *syncBuffer) Lines() []string {
	s := b.String()
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return strings.Split(s[:i], "\n")
	}
	return nil
}

var t0 = time.Date(2024, 3, 5, 10, 11, 0, 0, time.UTC)

func testAlert(i int) alert.Alert {
	entity := fmt.Sprintf("203.0.113.%d", i+1)
	key := alert.DedupKey("default", "brute_force", entity)
	first := t0.Add(time.Duration(i) * time.Minute)
	return alert.Alert{
		Version: 1, ID: alert.ID(key, first, alert.StatusFiring), DedupKey: key, Status: alert.StatusFiring,
		Severity: "high", Summary: fmt.Sprintf("%d failed logins from %s", 40+i, entity), Tenant: "default",
		Profile: "brute_force", Entity: entity, EntityField: "source.ip", FirstSeen: first, LastSeen: first.Add(time.Minute),
		Count: 1, AnomalyScore: 0.999999,
		Explanation: score.Explanation{Feature: "failed_logins", Observed: float64(40 + i), Expected: 1.5, Spread: 1.2, Samples: 30, Method: "poisson_ewma"},
	}
}

// startPager starts a pager printing to out; the returned stop shuts it
// down (also at the end of the test, if not called before).
func startPager(t *testing.T, cfg config.Config, out *syncBuffer) (stop func()) {
	t.Helper()
	p := NewWithOutput(service.Deps{Config: cfg, Logger: testkit.Logger(t), Registry: prometheus.NewRegistry()}, out)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	require.NoError(t, p.Start(ctx))
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			require.NoError(t, p.Shutdown(ctx))
		})
	}
	t.Cleanup(stop)
	return stop
}

func TestShutdownWithoutStart(t *testing.T) {
	p, err := New(service.Deps{Config: config.Default(), Logger: testkit.Logger(t)})
	require.NoError(t, err)
	require.NoError(t, p.Shutdown(context.Background()))
}

// Each alert is printed once, in Format's form; a message that is not an
// alert is printed raw; after a clean Shutdown every message is committed,
// so the next pager in the group prints only what is new.
func TestPrintsEachAlertOnce(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka = testkit.Broker(t)
	cfg.Telemetry.Listen = ""
	k := cfg.Kafka
	testkit.Topics(t, k, k.Topics.Alerts)

	var keys, values [][]byte
	for i := range 8 {
		a := testAlert(i)
		b, err := json.Marshal(a)
		require.NoError(t, err)
		keys, values = append(keys, []byte(a.DedupKey)), append(values, b)
	}
	bad := [][]byte{[]byte("not an alert"), []byte(`{"id":"x","summary":"no dedup key"}`)}
	for _, b := range bad {
		keys, values = append(keys, b), append(values, b)
	}
	testkit.Produce(t, k, k.Topics.Alerts, keys, values)

	// The expected lines, in each partition's offset order.
	var want []string
	for _, m := range testkit.ReadAll(t, k, k.Topics.Alerts) {
		var a alert.Alert
		if err := json.Unmarshal(m.Value, &a); err == nil && a.DedupKey != "" {
			want = append(want, Format(a))
		} else {
			want = append(want, fmt.Sprintf("ALERT (undecodable, partition %d offset %d): %q", m.Partition, m.Offset, m.Value))
		}
	}
	require.Len(t, want, len(values))

	var out syncBuffer
	stop := startPager(t, cfg, &out)
	require.Eventually(t, func() bool { return len(out.Lines()) >= len(values) }, 30*time.Second, 20*time.Millisecond)
	stop()
	got := out.Lines()
	require.Len(t, got, len(values), "one line per message:\n%s", out.String())
	sort.Strings(got)
	sort.Strings(want)
	require.Equal(t, want, got)
	require.Equal(t, int64(len(values)), testkit.CommittedSum(t, cfg.Kafka, cfg.Pager.GroupID, k.Topics.Alerts),
		"after Shutdown every printed message is committed")

	// A second pager in the group prints only the alert published after
	// the first stopped.
	var again syncBuffer
	stop = startPager(t, cfg, &again)
	late := testAlert(100)
	b, err := json.Marshal(late)
	require.NoError(t, err)
	testkit.Produce(t, k, k.Topics.Alerts, [][]byte{[]byte(late.DedupKey)}, [][]byte{b})
	require.Eventually(t, func() bool { return len(again.Lines()) >= 1 }, 30*time.Second, 20*time.Millisecond)
	stop()
	require.Equal(t, Format(late)+"\n", again.String(), "nothing printed twice after a clean shutdown")
	require.Equal(t, int64(len(values)+1), testkit.CommittedSum(t, cfg.Kafka, cfg.Pager.GroupID, k.Topics.Alerts))
}

func TestFormat(t *testing.T) {
	base := testAlert(6)
	tests := []struct {
		name string
		edit func(*alert.Alert)
		want string
	}{
		{
			name: "firing",
			want: "ALERT firing [high] 46 failed logins from 203.0.113.7 score=0.999999 first_seen=2024-03-05T10:17:00Z key=vigil/default/brute_force/203.0.113.7",
		},
		{
			name: "resolved, first seen in another zone, score rounded to 6 places",
			edit: func(a *alert.Alert) {
				a.Status, a.Severity, a.Summary = alert.StatusResolved, "critical", "quiet again"
				a.AnomalyScore = 0.12345678
				a.FirstSeen = time.Date(2024, 3, 5, 12, 17, 0, 999, time.FixedZone("CEST", 2*3600))
			},
			want: "ALERT resolved [critical] quiet again score=0.123457 first_seen=2024-03-05T10:17:00Z key=vigil/default/brute_force/203.0.113.7",
		},
		{
			name: "empty fields",
			edit: func(a *alert.Alert) { *a = alert.Alert{DedupKey: "k"} },
			want: "ALERT  []  score=0.000000 first_seen=0001-01-01T00:00:00Z key=k",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := base
			if tt.edit != nil {
				tt.edit(&a)
			}
			require.Equal(t, tt.want, Format(a))
		})
	}
}

// gateWriter holds the pager's first Write until release is closed, and
// signals entered when it starts.
type gateWriter struct {
	syncBuffer
	entered chan struct{}
	release chan struct{}
}

func (w *gateWriter) Write(p []byte) (int, error) {
	select {
	case w.entered <- struct{}{}:
	default:
	}
	<-w.release
	return w.syncBuffer.Write(p)
}

// An alert printed while Shutdown is under way is still committed, as
// Shutdown promises: otherwise the next pager prints it again. The pager
// commits with the context Shutdown cancels, and kafka-go's CommitMessages
// then drops the commit half of the time, so each trial is one coin toss.
func TestShutdownWhilePrintingCommits(t *testing.T) {
	cfg := config.Default()
	cfg.Kafka = testkit.Broker(t)
	cfg.Telemetry.Listen = ""
	const trials = 16
	lost := 0
	for trial := range trials {
		cfg.Kafka.Topics.Alerts = fmt.Sprintf("vigil.alerts.%d", trial)
		k := cfg.Kafka
		testkit.Topics(t, k, k.Topics.Alerts)
		a := testAlert(trial)
		b, err := json.Marshal(a)
		require.NoError(t, err)
		testkit.Produce(t, k, k.Topics.Alerts, [][]byte{[]byte(a.DedupKey)}, [][]byte{b})

		w := &gateWriter{entered: make(chan struct{}, 1), release: make(chan struct{})}
		p := NewWithOutput(service.Deps{Config: cfg, Logger: testkit.Logger(t), Registry: prometheus.NewRegistry()}, w)
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		require.NoError(t, p.Start(ctx))
		select {
		case <-w.entered:
		case <-ctx.Done():
			close(w.release)
			require.NoError(t, p.Shutdown(context.Background()))
			t.Fatal("the pager printed nothing")
		}
		errc := make(chan error, 1)
		go func() { errc <- p.Shutdown(ctx) }()
		// Shutdown has cancelled the run context.
		require.Eventually(t, p.loop.Stopping, 10*time.Second, time.Millisecond)
		close(w.release)
		require.NoError(t, <-errc)
		cancel()
		require.Equal(t, Format(a)+"\n", w.String())
		if testkit.CommittedSum(t, cfg.Kafka, cfg.Pager.GroupID, k.Topics.Alerts) != 1 {
			lost++
		}
	}
	require.Zero(t, lost, "%d of %d alerts printed during Shutdown were not committed", lost, trials)
}
