package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/telemetry"
)

// Component is anything with a lifecycle. Shutdown must be safe before
// Start, honour its context, and flush what the component holds.
type Component interface {
	Start(ctx context.Context) error
	Shutdown(ctx context.Context) error
}

// Named pairs a component with a name for logs.
type Named struct {
	Name string
	Component
}

// Deps is what a service is built from.
type Deps struct {
	Config   config.Config
	Logger   *slog.Logger
	Registry prometheus.Registerer
	// Ready registers a readiness check on /readyz.
	Ready func(name string, f telemetry.ReadyFunc)
}

// Options are the configuration flags every command takes.
type Options struct {
	ConfigFile string
	Set        []string
}

// Register adds -c/--config and --set to fs.
func (o *Options) Register(fs *pflag.FlagSet) {
	fs.StringVarP(&o.ConfigFile, "config", "c", "", "YAML configuration file (default: built-in defaults)")
	fs.StringArrayVar(&o.Set, "set", nil, "override a configuration key, e.g. --set kafka.brokers=host:9092 (repeatable)")
}

// Load loads and validates the configuration.
func (o *Options) Load() (config.Config, error) {
	return config.Load(config.Source{File: o.ConfigFile, Set: o.Set})
}

// ShutdownTimeout bounds a whole shutdown.
const ShutdownTimeout = 30 * time.Second

// Command returns the cobra command that runs one service alone: it loads
// the configuration, starts telemetry, builds the service's components with
// build, starts them in order, and on SIGINT or SIGTERM shuts them down in
// reverse order.
func Command(use, short string, build func(Deps) ([]Named, error)) *cobra.Command {
	var opts Options
	cmd := &cobra.Command{
		Use:           use,
		Short:         short,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			logger := telemetry.NewLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level).With("service", use)
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return RunWithTelemetry(ctx, cfg, logger, build)
		},
	}
	opts.Register(cmd.Flags())
	return cmd
}

// RunWithTelemetry starts the telemetry server, builds the components and
// runs them until ctx ends.
func RunWithTelemetry(ctx context.Context, cfg config.Config, logger *slog.Logger, build func(Deps) ([]Named, error)) error {
	reg := telemetry.NewRegistry()
	tel := telemetry.NewServer(cfg.Telemetry.Listen, reg, logger)
	deps := Deps{Config: cfg, Logger: logger, Registry: reg, Ready: tel.AddReadyCheck}
	comps, err := build(deps)
	if err != nil {
		return err
	}
	all := comps
	if cfg.Telemetry.Listen != "" {
		all = append([]Named{{Name: "telemetry", Component: tel}}, comps...)
	}
	return Run(ctx, logger, all...)
}

// Run starts comps in order, waits until ctx ends, then shuts them down in
// reverse order within ShutdownTimeout. A component that fails to start
// stops the ones already started.
func Run(ctx context.Context, logger *slog.Logger, comps ...Named) error {
	started := 0
	var startErr error
	for _, c := range comps {
		started++ // a failed Start may have acquired something; Shutdown releases it
		if err := c.Start(ctx); err != nil {
			startErr = fmt.Errorf("start %s: %w", c.Name, err)
			break
		}
	}
	if startErr == nil {
		logger.Info("started", "components", len(comps))
		<-ctx.Done()
		logger.Info("shutting down")
	}
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	var errs []error
	for i := started - 1; i >= 0; i-- {
		if err := comps[i].Shutdown(sctx); err != nil {
			errs = append(errs, fmt.Errorf("shutdown %s: %w", comps[i].Name, err))
		}
	}
	return errors.Join(append([]error{startErr}, errs...)...)
}

// Execute runs a root command and turns an error into exit status 1 with
// the error on stderr. It is for main functions only.
func Execute(cmd *cobra.Command) int {
	if err := cmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		return 1
	}
	return 0
}
