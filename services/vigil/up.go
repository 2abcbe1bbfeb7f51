package vigil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/broker"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/telemetry"
	"github.com/vigil-soc/vigil/services/archiver"
	"github.com/vigil-soc/vigil/services/pager"
	"github.com/vigil-soc/vigil/services/processor"
	"github.com/vigil-soc/vigil/services/shipper"
)

// clickhouseScript manages the project-local ClickHouse server; `vigil up`
// runs it from the repository root.
const clickhouseScript = "deploy/clickhouse/clickhouse.sh"

func upCommand() *cobra.Command {
	var opts service.Options
	var logFile string
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Run the whole stack in one process: broker, local ClickHouse, migrations and every service",
		Long: `Run the whole stack in one process on the embedded defaults: the embedded broker
(when kafka.brokers is broker.listen), the project-local ClickHouse (when
clickhouse.local is true), the migrations, and the archiver, processor, pager
and shipper. Progress and alerts go to stdout, logs to --log-file.
Ctrl-C stops everything, flushing what is in flight.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			if err := os.MkdirAll(filepath.Dir(logFile), 0o750); err != nil {
				return fmt.Errorf("--log-file: %w", err)
			}
			lf, err := os.OpenFile(logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
			if err != nil {
				return fmt.Errorf("--log-file: %w", err)
			}
			defer lf.Close()
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			return Up(ctx, cfg, cmd.OutOrStdout(), lf)
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().StringVar(&logFile, "log-file", "var/log/vigil.log", "where the services' structured logs go")
	return cmd
}

// Up runs the whole stack until ctx ends. Progress lines and alerts go to
// out; logs go to logs.
func Up(ctx context.Context, cfg config.Config, out, logs io.Writer) error {
	logger := telemetry.NewLogger(logs, cfg.Log.Format, cfg.Log.Level)
	say := func(format string, args ...any) { fmt.Fprintf(out, "vigil: "+format+"\n", args...) }
	for _, in := range cfg.Shipper.Files {
		for _, p := range in.Paths {
			if dir := filepath.Dir(p); !filepath.IsAbs(p) && !strings.ContainsAny(dir, "*?[") {
				if err := os.MkdirAll(dir, 0o750); err != nil {
					return fmt.Errorf("create %s: %w", dir, err)
				}
			}
		}
	}

	var comps []service.Named
	if slices.Equal(cfg.Kafka.Brokers, []string{cfg.Broker.Listen}) {
		b := broker.New(cfg.Broker, cfg.Kafka.Partitions, logger.With("service", "broker"))
		comps = append(comps, announce("broker", b, out, "embedded broker on %s (data in %s)", cfg.Broker.Listen, cfg.Broker.DataDir))
	} else {
		say("using Kafka at %s", strings.Join(cfg.Kafka.Brokers, ","))
	}
	if cfg.ClickHouse.Local {
		ch, err := newLocalClickHouse(cfg.ClickHouse, out)
		if err != nil {
			return err
		}
		comps = append(comps, service.Named{Name: "clickhouse", Component: ch})
	} else {
		say("using ClickHouse at %s", strings.Join(cfg.ClickHouse.Addr, ","))
	}
	comps = append(comps, announce("migrate", &migrator{cfg: cfg.ClickHouse, logger: logger}, out,
		"ClickHouse schema up to date in database %s", cfg.ClickHouse.Database))

	reg := telemetry.NewRegistry()
	tel := telemetry.NewServer(cfg.Telemetry.Listen, reg, logger)
	if cfg.Telemetry.Listen != "" {
		comps = append(comps, announce("telemetry", tel, out, "metrics on http://%s/metrics", cfg.Telemetry.Listen))
	}
	deps := service.Deps{Config: cfg, Logger: logger, Registry: reg, Ready: tel.AddReadyCheck}
	arch, err := archiver.New(withService(deps, "archiver"))
	if err != nil {
		return err
	}
	proc, err := processor.New(withService(deps, "processor"))
	if err != nil {
		return err
	}
	pg, err := pager.New(withService(deps, "pager"), pager.WithOutput(out))
	if err != nil {
		return err
	}
	ship, err := shipper.New(withService(deps, "shipper"))
	if err != nil {
		return err
	}
	comps = append(comps,
		announce("archiver", arch, out, "archiver writing %s, %s and %s to ClickHouse",
			cfg.Kafka.Topics.Events, cfg.Kafka.Topics.Scores, cfg.Kafka.Topics.Alerts),
		service.Named{Name: "retention", Component: archiver.NewRetention(withService(deps, "archiver"))},
		announce("processor", proc, out, "processor scoring failed logins per source IP"),
		announce("pager", pg, out, "%s", pagerSummary(cfg.Pager)),
		announce("shipper", ship, out, "shipper following %s", describeInputs(cfg.Shipper.Files)),
		announce("summary", noop{}, out, "%s", summary(cfg)),
	)
	err = service.Run(ctx, logger, comps...)
	if err != nil {
		say("stopped with errors: %v", err)
		return err
	}
	say("stopped cleanly")
	return nil
}

func pagerSummary(c config.PagerConfig) string {
	if len(c.Receivers) == 0 {
		return "pager printing alerts here (no receivers configured)"
	}
	names := make([]string, len(c.Receivers))
	for i, r := range c.Receivers {
		names[i] = r.Name + " (" + r.Type + ")"
	}
	return "pager delivering alerts to " + strings.Join(names, ", ") + " and printing them here"
}

func withService(d service.Deps, name string) service.Deps {
	d.Logger = d.Logger.With("service", name)
	return d
}

func describeInputs(files []config.FileInput) string {
	var parts []string
	for _, f := range files {
		parts = append(parts, strings.Join(f.Paths, ", "))
	}
	return strings.Join(parts, "; ")
}

func summary(cfg config.Config) string {
	port := "9000"
	if _, p, err := net.SplitHostPort(cfg.ClickHouse.Addr[0]); err == nil {
		port = p
	}
	var b strings.Builder
	b.WriteString("ready. Where to look:\n")
	fmt.Fprintf(&b, "  ingest:  copy log files into var/inbox/ (also followed: %s)\n", describeInputs(cfg.Shipper.Files))
	fmt.Fprintf(&b, "  events:  clickhouse-client --port %s -q \"SELECT source, outcome, count() FROM %s.events FINAL GROUP BY source, outcome\"\n", port, cfg.ClickHouse.Database)
	fmt.Fprintf(&b, "  alerts:  printed below as they fire; stored in %s.alerts; on Kafka: kcat -b %s -t %s -C\n",
		cfg.ClickHouse.Database, cfg.Kafka.Brokers[0], cfg.Kafka.Topics.Alerts)
	b.WriteString("  queries: vigil query --list, e.g. vigil query ip-activity --param ip=203.0.113.7 --param from=-7d\n")
	if cfg.Telemetry.Listen != "" {
		fmt.Fprintf(&b, "  health:  http://%s/metrics  http://%s/readyz\n", cfg.Telemetry.Listen, cfg.Telemetry.Listen)
	}
	b.WriteString("  Ctrl-C stops everything.")
	return b.String()
}

// announced prints a line once its component has started.
type announced struct {
	service.Component
	out  io.Writer
	line string
}

func announce(name string, c service.Component, out io.Writer, format string, args ...any) service.Named {
	return service.Named{Name: name, Component: &announced{Component: c, out: out, line: fmt.Sprintf(format, args...)}}
}

func (a *announced) Start(ctx context.Context) error {
	if err := a.Component.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(a.out, "vigil: %s\n", a.line)
	return nil
}

type noop struct{}

func (noop) Start(context.Context) error    { return nil }
func (noop) Shutdown(context.Context) error { return nil }

// migrator applies the migrations when it starts.
type migrator struct {
	cfg    config.ClickHouseConfig
	logger *slog.Logger
}

func (m *migrator) Start(ctx context.Context) error {
	if err := store.WaitReady(ctx, m.cfg, m.logger); err != nil {
		return err
	}
	_, err := store.Migrate(ctx, m.cfg, m.logger)
	return err
}

func (m *migrator) Shutdown(context.Context) error { return nil }

// localClickHouse starts the project-local server with the deploy script,
// and stops it again on shutdown if it was not running before.
type localClickHouse struct {
	script string
	env    []string
	out    io.Writer
	ours   bool
}

func newLocalClickHouse(cfg config.ClickHouseConfig, out io.Writer) (*localClickHouse, error) {
	if _, err := os.Stat(clickhouseScript); err != nil {
		return nil, fmt.Errorf("clickhouse.local is true but %s is not here (run from the repository root, or set clickhouse.local=false and clickhouse.addr): %w", clickhouseScript, err)
	}
	host, port, err := net.SplitHostPort(cfg.Addr[0])
	if err != nil {
		return nil, fmt.Errorf("clickhouse.addr: %w", err)
	}
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, fmt.Errorf("clickhouse.data_dir: %w", err)
	}
	return &localClickHouse{
		script: clickhouseScript,
		env: append(os.Environ(),
			"VIGIL_CH_DIR="+dir, "VIGIL_CH_HOST="+host, "VIGIL_CH_TCP_PORT="+port,
			fmt.Sprintf("VIGIL_CH_HTTP_PORT=%d", cfg.HTTPPort)),
		out: out,
	}, nil
}

func (l *localClickHouse) run(ctx context.Context, verb string) error {
	cmd := exec.CommandContext(ctx, "bash", l.script, verb)
	cmd.Env = l.env
	cmd.Stdout, cmd.Stderr = l.out, l.out
	return cmd.Run()
}

func (l *localClickHouse) Start(ctx context.Context) error {
	if err := l.run(ctx, "status"); err == nil {
		return nil // already running: leave it running on shutdown too
	}
	// Ours from here on: a start that fails half way (a server that came
	// up but did not answer in time) is stopped again on shutdown.
	l.ours = true
	if err := l.run(ctx, "start"); err != nil {
		return fmt.Errorf("%s start: %w", l.script, err)
	}
	return nil
}

func (l *localClickHouse) Shutdown(ctx context.Context) error {
	if !l.ours {
		return nil
	}
	// A fresh context: the one Start ran under may be the cancelled one.
	if err := l.run(context.WithoutCancel(ctx), "stop"); err != nil {
		return fmt.Errorf("%s stop: %w", l.script, err)
	}
	return nil
}
