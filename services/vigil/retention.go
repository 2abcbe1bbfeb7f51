package vigil

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/telemetry"
)

func retentionCommand() *cobra.Command {
	var opts service.Options
	var dryRun bool
	cmd := &cobra.Command{
		Use:   "retention",
		Short: "Drop the day partitions older than clickhouse.retention allows, once (the archiver does it periodically)",
		Long: `Drop, once, every day partition of events, scores, alerts and the rollups
that is wholly older than its clickhouse.retention.*_days (0 keeps a table
forever). Today's partition is never dropped. --dry-run lists what would go.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			r := cfg.ClickHouse.Retention
			if !r.Enabled() {
				fmt.Fprintln(out, "retention is off: clickhouse.retention.*_days are all 0, every table is kept forever")
				return nil
			}
			logger := telemetry.NewLogger(os.Stderr, cfg.Log.Format, cfg.Log.Level).With("service", "retention")
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			if err := store.WaitReady(ctx, cfg.ClickHouse, logger); err != nil {
				return err
			}
			conn, err := store.Open(cfg.ClickHouse)
			if err != nil {
				return err
			}
			defer conn.Close()
			plan := store.RetentionPlan(r)
			for _, k := range plan {
				keep := "forever"
				if k.Days > 0 {
					keep = fmt.Sprintf("%d day(s)", k.Days)
				}
				fmt.Fprintf(out, "%-24s keeps %s\n", k.Table, keep)
			}
			dropped, err := store.EnforceRetention(ctx, conn, cfg.ClickHouse.Database, plan, time.Now(), dryRun)
			verb := "dropped"
			if dryRun {
				verb = "would drop"
			}
			for _, p := range dropped {
				fmt.Fprintf(out, "%s %s partition %s (%d rows)\n", verb, p.Table, p.ID(), p.Rows)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s %d partition(s) in database %s\n", verb, len(dropped), cfg.ClickHouse.Database)
			return nil
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be dropped, drop nothing")
	return cmd
}
