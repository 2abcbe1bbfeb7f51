package vigil

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
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
		retentionCommand(),
		queryCommand(),
		configCommand(),
		silenceCommand(),
		shipper.Command(),
		shipCommand(),
		backtestCommand(),
		evalCommand(),
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
	var render string
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the embedded ClickHouse migrations (safe to run again)",
		Long: `Apply the embedded ClickHouse migrations not yet recorded in schema_migrations,
rendered for the server's version: extras the server has (LowCardinality,
codecs, data-skipping indexes) are switched on, and recorded per migration.
--render VERSION prints the migrations as a server of that version would
run them, without connecting.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if render != "" {
				return renderMigrations(cmd.OutOrStdout(), render)
			}
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
			rep, err := store.Migrate(ctx, cfg.ClickHouse, logger)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "ClickHouse %s, extras available: %s\n", rep.Server, listOrNone(rep.Extras))
			for _, a := range rep.Applied {
				fmt.Fprintf(out, "applied %s (extras used: %s)\n", a.Name, listOrNone(a.Extras))
			}
			fmt.Fprintf(out, "database %s: %d migration(s) applied, schema up to date\n", cfg.ClickHouse.Database, len(rep.Applied))
			return nil
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().StringVar(&render, "render", "", "print the migrations as a server of this version (e.g. 24.8) runs them, and exit")
	return cmd
}

func renderMigrations(w io.Writer, version string) error {
	v, err := store.ParseVersion(version)
	if err != nil {
		return fmt.Errorf("--render: %w", err)
	}
	ms, err := store.Migrations()
	if err != nil {
		return err
	}
	on := store.ExtrasFor(v)
	for _, m := range ms {
		stmts, used, err := store.Render(m.SQL, on)
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.Name, err)
		}
		fmt.Fprintf(w, "-- %s on ClickHouse %s (extras used: %s)\n", m.Name, v, listOrNone(used))
		for _, s := range stmts {
			fmt.Fprintf(w, "%s;\n\n", s)
		}
	}
	return nil
}

func listOrNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
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
