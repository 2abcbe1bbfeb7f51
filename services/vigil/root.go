package vigil

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

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

// Root returns the vigil command with every subcommand.
func Root() *cobra.Command {
	root := &cobra.Command{
		Use:           "vigil",
		Short:         "Vigil: streaming security analytics — baselines, anomaly scores and alerts over audit logs",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		upCommand(),
		brokerCommand(),
		migrateCommand(),
		configCommand(),
		shipper.Command(),
		processor.Command(),
		archiver.Command(),
		pager.Command(),
	)
	return root
}

func brokerCommand() *cobra.Command {
	var opts service.Options
	cmd := &cobra.Command{
		Use:   "broker",
		Short: "Run the embedded Kafka-protocol broker (broker.listen, data in broker.data_dir)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			logger := telemetry.NewLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level).With("service", "broker")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			b := broker.New(cfg.Broker, cfg.Kafka.Partitions, logger)
			return service.Run(ctx, logger, service.Named{Name: "broker", Component: b})
		},
	}
	opts.Register(cmd.Flags())
	return cmd
}

func migrateCommand() *cobra.Command {
	var opts service.Options
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded ClickHouse migrations (safe to run again)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			logger := telemetry.NewLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level).With("service", "migrate")
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if err := store.WaitReady(ctx, cfg.ClickHouse, logger); err != nil {
				return err
			}
			applied, err := store.Migrate(ctx, cfg.ClickHouse, logger)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "database %s: %d migration(s) applied, schema up to date\n", cfg.ClickHouse.Database, len(applied))
			return nil
		},
	}
	opts.Register(cmd.Flags())
	return cmd
}

func configCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Validate or print configuration"}
	var opts service.Options
	validate := &cobra.Command{
		Use:   "validate",
		Short: "Check a configuration (with environment and --set overrides); exit 1 naming every bad key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := opts.Load(); err != nil {
				return err
			}
			src := opts.ConfigFile
			if src == "" {
				src = "built-in defaults"
			}
			fmt.Fprintf(cmd.OutOrStdout(), "configuration OK (%s)\n", src)
			return nil
		},
	}
	opts.Register(validate.Flags())
	defaults := &cobra.Command{
		Use:   "defaults",
		Short: "Print the full default configuration, documented",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := cmd.OutOrStdout().Write(config.DefaultsYAML)
			return err
		},
	}
	cmd.AddCommand(validate, defaults)
	return cmd
}

// signalContext is the context of a long-running command: cancelled by
// SIGINT or SIGTERM.
func signalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}
