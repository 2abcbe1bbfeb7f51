package vigil

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigil-soc/vigil/pkg/service"
	"github.com/vigil-soc/vigil/pkg/telemetry"
	"github.com/vigil-soc/vigil/services/shipper"
)

func shipCommand() *cobra.Command {
	var opts service.Options
	var format string
	cmd := &cobra.Command{
		Use:   "ship FILE...",
		Short: "Publish archived log files (plain or .gz) to Kafka once, and exit when every line is acknowledged",
		Long: `Read every line of the files (plain or gzip-compressed, told apart by their
content), parse it as --format, publish the events to kafka.topics.events,
and exit once Kafka acknowledged all of them. A progress bar shows on a
terminal. Event ids come from each file's content, so shipping the same file
again gives the same ids and the copies are removed downstream.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			cfg, err := opts.Load()
			if err != nil {
				return err
			}
			logger := telemetry.NewLogger(os.Stderr, cfg.Log.Format, "warn").With("service", "ship")
			ctx, stop := signalContext(cmd.Context())
			defer stop()
			bo := shipper.BackfillOptions{Format: format}
			var bar *progressbar.ProgressBar
			if term.IsTerminal(int(os.Stderr.Fd())) {
				bar = progressbar.NewOptions64(-1,
					progressbar.OptionSetWriter(os.Stderr),
					progressbar.OptionShowBytes(true),
					progressbar.OptionSetDescription("shipping"),
					progressbar.OptionThrottle(100*time.Millisecond),
					progressbar.OptionClearOnFinish())
				bo.Progress = func(read, total int64) {
					bar.ChangeMax64(total)
					_ = bar.Set64(read)
				}
			}
			start := time.Now()
			st, err := shipper.Backfill(ctx, cfg, logger, paths, bo)
			if bar != nil {
				_ = bar.Finish()
			}
			if err != nil {
				return err
			}
			secs := time.Since(start).Seconds()
			fmt.Fprintf(cmd.OutOrStdout(), "shipped %d lines from %d file(s) in %.1fs (%.0f lines/s): %d kept raw (no parser matched), %d truncated; all acknowledged by Kafka\n",
				st.Lines, st.Files, secs, float64(st.Lines)/secs, st.ParseErrors, st.Truncated)
			return nil
		},
	}
	opts.Register(cmd.Flags())
	cmd.Flags().StringVar(&format, "format", "auto", "format of the lines, as shipper.files[].format")
	return cmd
}
