package service_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// journal records lifecycle calls in the order they happen.
type journal struct {
	mu      sync.Mutex
	entries []string
}

func (j *journal) add(s string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.entries = append(j.entries, s)
}

func (j *journal) get() []string {
	j.mu.Lock()
	defer j.mu.Unlock()
	return append([]string(nil), j.entries...)
}

// fake is a component that records its lifecycle.
type fake struct {
	name        string
	j           *journal
	startErr    error
	shutdownErr error
	started     chan struct{}
	// shutdownCtxErr and shutdownDeadline describe the context Shutdown was
	// called with, as it was during the call.
	shutdownCtxErr   error
	shutdownDeadline time.Time
	hasDeadline      bool
}

func newFake(name string, j *journal) *fake {
	return &fake{name: name, j: j, started: make(chan struct{})}
}

func (f *fake) Start(context.Context) error {
	f.j.add("start " + f.name)
	if f.startErr != nil {
		return f.startErr
	}
	close(f.started)
	return nil
}

func (f *fake) Shutdown(ctx context.Context) error {
	f.j.add("shutdown " + f.name)
	f.shutdownCtxErr = ctx.Err()
	f.shutdownDeadline, f.hasDeadline = ctx.Deadline()
	return f.shutdownErr
}

func named(fs ...*fake) []service.Named {
	out := make([]service.Named, len(fs))
	for i, f := range fs {
		out[i] = service.Named{Name: f.name, Component: f}
	}
	return out
}

// runAsync runs service.Run in the background and returns its result channel.
func runAsync(ctx context.Context, tb testing.TB, comps []service.Named) <-chan error {
	tb.Helper()
	done := make(chan error, 1)
	go func() { done <- service.Run(ctx, testkit.Logger(tb), comps...) }()
	return done
}

func wait(tb testing.TB, ch <-chan error) error {
	tb.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		tb.Fatal("Run did not return")
		return nil
	}
}

func TestRunStartsInOrderAndShutsDownInReverse(t *testing.T) {
	j := &journal{}
	a, b, c := newFake("a", j), newFake("b", j), newFake("c", j)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := runAsync(ctx, t, named(a, b, c))

	<-c.started
	select {
	case err := <-done:
		t.Fatalf("Run returned before its context ended: %v", err)
	default:
	}
	require.Equal(t, []string{"start a", "start b", "start c"}, j.get(), "nothing shut down while running")

	cancel()
	require.NoError(t, wait(t, done))
	require.Equal(t, []string{"start a", "start b", "start c", "shutdown c", "shutdown b", "shutdown a"}, j.get())

	// Shutdown gets a live context with a deadline, not the cancelled one.
	for _, f := range []*fake{a, b, c} {
		require.NoError(t, f.shutdownCtxErr, "shutdown of %s gets a live context", f.name)
		require.True(t, f.hasDeadline, "shutdown of %s is bounded", f.name)
		require.WithinDuration(t, time.Now().Add(service.ShutdownTimeout), f.shutdownDeadline, 5*time.Second)
	}
}

func TestRunStartFailureStopsStartedComponents(t *testing.T) {
	j := &journal{}
	a, b, c, d := newFake("a", j), newFake("b", j), newFake("kafka-writer", j), newFake("d", j)
	boom := errors.New("broker unreachable")
	c.startErr = boom

	// The context never ends: a start failure must return on its own.
	err := wait(t, runAsync(context.Background(), t, named(a, b, c, d)))
	require.Error(t, err)
	require.ErrorIs(t, err, boom)
	require.Contains(t, err.Error(), "start kafka-writer: broker unreachable", "the error names the component")
	require.Equal(t, []string{"start a", "start b", "start kafka-writer", "shutdown kafka-writer", "shutdown b", "shutdown a"}, j.get(),
		"the failed component is shut down (releasing what its Start acquired); the ones after it are not started")
}

func TestRunFirstComponentFails(t *testing.T) {
	j := &journal{}
	a, b := newFake("a", j), newFake("b", j)
	a.startErr = errors.New("no")
	err := wait(t, runAsync(context.Background(), t, named(a, b)))
	require.EqualError(t, err, "start a: no")
	require.Equal(t, []string{"start a", "shutdown a"}, j.get())
}

func TestRunReportsShutdownErrors(t *testing.T) {
	j := &journal{}
	a, b, c := newFake("a", j), newFake("b", j), newFake("c", j)
	a.shutdownErr = errors.New("flush failed")
	c.shutdownErr = errors.New("close failed")
	ctx, cancel := context.WithCancel(context.Background())
	done := runAsync(ctx, t, named(a, b, c))
	<-c.started
	cancel()
	err := wait(t, done)
	require.Error(t, err)
	require.Contains(t, err.Error(), "shutdown a: flush failed")
	require.Contains(t, err.Error(), "shutdown c: close failed")
	require.NotContains(t, err.Error(), "shutdown b")
	require.Equal(t, []string{"start a", "start b", "start c", "shutdown c", "shutdown b", "shutdown a"}, j.get(),
		"a failing shutdown does not stop the others")
}

func TestRunWithoutComponents(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, service.Run(ctx, testkit.Logger(t)))
}

func httpGet(tb testing.TB, url string) (int, string) {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	require.NoError(tb, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(tb, err)
	return resp.StatusCode, string(b)
}

// RunWithTelemetry serves /readyz with the checks build registered, starts
// telemetry before the components and stops it after them.
func TestRunWithTelemetry(t *testing.T) {
	cfg := config.Default()
	cfg.Telemetry.Listen = testkit.FreeAddr(t)
	j := &journal{}
	comp := newFake("worker", j)
	var gotDeps service.Deps
	build := func(d service.Deps) ([]service.Named, error) {
		gotDeps = d
		d.Ready("worker", func() error { return errors.New("warming up") })
		return named(comp), nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- service.RunWithTelemetry(ctx, cfg, testkit.Logger(t), build) }()

	<-comp.started
	require.Equal(t, cfg, gotDeps.Config)
	require.NotNil(t, gotDeps.Logger)
	require.NotNil(t, gotDeps.Registry)

	code, body := httpGet(t, "http://"+cfg.Telemetry.Listen+"/readyz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Equal(t, "worker: warming up\n", body)
	code, body = httpGet(t, "http://"+cfg.Telemetry.Listen+"/metrics")
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, body, "go_goroutines")

	cancel()
	require.NoError(t, wait(t, done))
	_, err := net.DialTimeout("tcp", cfg.Telemetry.Listen, time.Second)
	require.Error(t, err, "telemetry is shut down")
}

func TestRunWithTelemetryBuildError(t *testing.T) {
	cfg := config.Default()
	cfg.Telemetry.Listen = testkit.FreeAddr(t)
	boom := errors.New("bad wiring")
	err := service.RunWithTelemetry(context.Background(), cfg, testkit.Logger(t), func(service.Deps) ([]service.Named, error) {
		return nil, boom
	})
	require.ErrorIs(t, err, boom)
	_, err = net.DialTimeout("tcp", cfg.Telemetry.Listen, time.Second)
	require.Error(t, err, "telemetry never started")
}

func TestOptionsLoad(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		check   func(t *testing.T, c config.Config)
		wantErr []string
	}{
		{
			name:  "defaults",
			args:  nil,
			check: func(t *testing.T, c config.Config) { require.Equal(t, config.Default(), c) },
		},
		{
			name: "repeated --set",
			args: []string{"--set", "tenant=acme", "--set", "kafka.brokers=k1:9092,k2:9092", "--set", "log.level=debug"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, "acme", c.Tenant)
				require.Equal(t, []string{"k1:9092", "k2:9092"}, c.Kafka.Brokers)
				require.Equal(t, "debug", c.Log.Level)
				require.Equal(t, config.Default().Kafka.Topics, c.Kafka.Topics, "untouched keys keep their defaults")
			},
		},
		{
			name: "--set=key=value form and a value containing =",
			args: []string{"--set=tenant=a=b"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, "a=b", c.Tenant)
			},
		},
		{
			name: "-c file, --set wins over it",
			args: []string{"-c", "testdata/service.yaml", "--set", "tenant=from-flag"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, "from-flag", c.Tenant)
				require.Equal(t, []string{"kafka-1:9092"}, c.Kafka.Brokers, "from the file")
				require.Equal(t, "text", c.Log.Format, "from the file")
			},
		},
		{
			name: "--config long form",
			args: []string{"--config", "testdata/service.yaml"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, "from-file", c.Tenant)
			},
		},
		{
			name: "--set wins over the environment",
			args: []string{"--set", "tenant=from-flag"},
			env:  map[string]string{"VIGIL_TENANT": "from-env"},
			check: func(t *testing.T, c config.Config) {
				require.Equal(t, "from-flag", c.Tenant)
			},
		},
		{name: "unknown key", args: []string{"--set", "kafka.brokerz=x:1"}, wantErr: []string{"kafka.brokerz"}},
		{name: "bad value names its key", args: []string{"--set", "kafka.compression=brotli"}, wantErr: []string{"kafka.compression"}},
		{name: "missing =", args: []string{"--set", "tenant"}, wantErr: []string{"key=value"}},
		{name: "missing file", args: []string{"-c", "testdata/nope.yaml"}, wantErr: []string{"nope.yaml"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var o service.Options
			fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
			fs.SetOutput(io.Discard)
			o.Register(fs)
			require.NoError(t, fs.Parse(tt.args))
			c, err := o.Load()
			if len(tt.wantErr) > 0 {
				require.Error(t, err)
				for _, w := range tt.wantErr {
					require.Contains(t, err.Error(), w)
				}
				return
			}
			require.NoError(t, err)
			tt.check(t, c)
		})
	}
}

// The command a service binary runs: flags, a bad configuration failing
// before anything starts, and a clean stop when its context ends.
func TestCommand(t *testing.T) {
	t.Run("rejects arguments", func(t *testing.T) {
		cmd := service.Command("svc", "test service", func(service.Deps) ([]service.Named, error) {
			t.Fatal("build must not run")
			return nil, nil
		})
		cmd.SetArgs([]string{"extra"})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		require.Error(t, cmd.Execute())
	})
	t.Run("bad configuration names the key", func(t *testing.T) {
		cmd := service.Command("svc", "test service", func(service.Deps) ([]service.Named, error) {
			t.Fatal("build must not run")
			return nil, nil
		})
		cmd.SetArgs([]string{"--set", "log.level=chatty"})
		cmd.SetOut(io.Discard)
		cmd.SetErr(io.Discard)
		err := cmd.Execute()
		require.Error(t, err)
		require.Contains(t, err.Error(), "log.level")
	})
	t.Run("runs until its context ends", func(t *testing.T) {
		j := &journal{}
		comp := newFake("worker", j)
		var tenant string
		cmd := service.Command("svc", "test service", func(d service.Deps) ([]service.Named, error) {
			tenant = d.Config.Tenant
			return named(comp), nil
		})
		cmd.SetArgs([]string{"--set", "tenant=acme", "--set", "telemetry.listen=" + testkit.FreeAddr(t), "--set", "log.level=error"})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- cmd.ExecuteContext(ctx) }()
		<-comp.started
		require.Equal(t, "acme", tenant, "--set reached the build function")
		cancel()
		require.NoError(t, wait(t, done))
		require.Equal(t, []string{"start worker", "shutdown worker"}, j.get())
	})
}
