package vigil

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/vigil-soc/vigil/pkg/series"
	"github.com/vigil-soc/vigil/pkg/service"
)

// backtestOptions are the flags of vigil backtest.
type backtestOptions struct {
	Config         service.Options
	Input          string
	Output         string
	Profile        string
	FromClickHouse bool
	From, To       string
	Tenant         string
	JSON           bool
}

func backtestCommand() *cobra.Command {
	var opts backtestOptions
	cmd := &cobra.Command{
		Use:   "backtest (--input FILE | --from-clickhouse --from T) [--output FILE]",
		Short: "Score a recorded metric series (timestamp,value CSV) or events offline, as the detectors would have",
		Long: `Score recorded data offline and write one anomaly score per input row.

CSV mode (a .csv input, or one whose header starts with timestamp,value):
the input is one metric series, a header naming the columns timestamp
(YYYY-MM-DD HH:MM:SS, UTC) and value, then one row per observation, LF or
CRLF. Each row is scored in file order by the default metric detector
(pkg/series), causally: a row's score depends only on it and the rows
before it. The output is timestamp,value,anomaly_score, one row per input
row in the same order, timestamp and value exactly as in the input, the
score in [0,1]. A row that cannot be read is written with score 0 and
reported on stderr.

Any other input is events mode: envelope events, one JSON object per line
(as on vigil.events), replayed through the configured profiles (only
--profile when given) with the clock taken from the events; it prints what
would have alerted and, per profile, the entity-windows scored and the
alerts (--json: one alert per line). --from-clickhouse replays the stored
events of --from..--to (UTC, YYYY-MM-DD HH:MM:SS; --to defaults to now)
instead of --input, optionally of one --tenant.

--output is written atomically (a temporary file renamed into place); "-"
or no --output writes to stdout. A progress bar shows on a terminal.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBacktest(cmd, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Input, "input", "", `file to score ("-" for stdin)`)
	f.StringVar(&opts.Output, "output", "-", `file to write the scores to ("-" for stdout)`)
	f.StringVar(&opts.Profile, "profile", "", "detection profile to replay events through (events mode)")
	f.BoolVar(&opts.FromClickHouse, "from-clickhouse", false, "read the events from ClickHouse instead of --input (events mode)")
	f.StringVar(&opts.From, "from", "", "with --from-clickhouse: first event time, YYYY-MM-DD HH:MM:SS UTC")
	f.StringVar(&opts.To, "to", "", "with --from-clickhouse: end of the range (exclusive), default now")
	f.StringVar(&opts.Tenant, "tenant", "", "with --from-clickhouse: only this tenant's events")
	f.BoolVar(&opts.JSON, "json", false, "events mode: print the alerts as JSON lines")
	opts.Config.Register(f)
	return cmd
}

func runBacktest(cmd *cobra.Command, opts backtestOptions) error {
	if opts.FromClickHouse {
		return writeOutput(cmd, opts.Output, func(w io.Writer) error {
			return backtestEvents(cmd, strings.NewReader(""), w, opts)
		})
	}
	if opts.Input == "" {
		return errors.New("--input: required (or --from-clickhouse)")
	}
	var in io.Reader
	var size int64 = -1
	if opts.Input == "-" {
		in = cmd.InOrStdin()
	} else {
		f, err := os.Open(opts.Input)
		if err != nil {
			return fmt.Errorf("--input: %w", err)
		}
		defer f.Close()
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			size = fi.Size()
		}
		in = f
	}
	br := bufio.NewReaderSize(in, 64<<10)
	progress, done := backtestProgress(size)
	if !isSeriesCSV(opts.Input, br) {
		defer done()
		return writeOutput(cmd, opts.Output, func(w io.Writer) error {
			return backtestEvents(cmd, &countingReader{r: br, progress: progress}, w, opts)
		})
	}

	start := time.Now()
	var st series.Stats
	err := writeOutput(cmd, opts.Output, func(w io.Writer) error {
		var err error
		st, err = series.ScoreCSV(br, w, series.New(series.DefaultConfig()), progress)
		return err
	})
	done()
	if err != nil {
		return fmt.Errorf("backtest %s: %w", opts.Input, err)
	}
	reportBacktest(cmd.ErrOrStderr(), st, time.Since(start))
	return nil
}

// isSeriesCSV tells CSV mode from events mode: a .csv name, or a first
// line that starts with the timestamp,value header.
func isSeriesCSV(name string, br *bufio.Reader) bool {
	if strings.EqualFold(filepath.Ext(name), ".csv") {
		return true
	}
	head, _ := br.Peek(64)
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	return bytes.HasPrefix(bytes.ToLower(head), []byte("timestamp,value"))
}

// writeOutput runs write on stdout for "-", or on a temporary file next to
// path that replaces path only once write succeeded.
func writeOutput(cmd *cobra.Command, path string, write func(io.Writer) error) error {
	if path == "-" || path == "" {
		return write(cmd.OutOrStdout())
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("--output: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}

// backtestProgress is a progress bar over the bytes read when stderr is a
// terminal, and nothing otherwise.
func backtestProgress(size int64) (func(rows int, n int64), func()) {
	if !term.IsTerminal(int(os.Stderr.Fd())) {
		return nil, func() {}
	}
	bar := progressbar.NewOptions64(size,
		progressbar.OptionSetWriter(os.Stderr),
		progressbar.OptionShowBytes(true),
		progressbar.OptionSetDescription("scoring"),
		progressbar.OptionThrottle(100*time.Millisecond),
		progressbar.OptionClearOnFinish())
	return func(_ int, n int64) { _ = bar.Set64(n) }, func() { _ = bar.Finish() }
}

func reportBacktest(w io.Writer, st series.Stats, took time.Duration) {
	fmt.Fprintf(w, "scored %d rows in %.1fs: %d at or above %.2f\n", st.Rows, took.Seconds(), st.Alerts, series.DefaultConfig().Threshold)
	if st.Bad > 0 {
		fmt.Fprintf(w, "warning: %d row(s) could not be read and were written with anomaly_score 0; the first, line %d: %s\n",
			st.Bad, st.FirstBadLine, st.FirstBadReason)
	}
	if st.OutOfOrder > 0 {
		fmt.Fprintf(w, "warning: %d row(s) are dated before the row above them (the first at line %d); scored in file order\n",
			st.OutOfOrder, st.FirstOutOfOrderLine)
	}
}

// countingReader reports the bytes read so far to progress.
type countingReader struct {
	r        io.Reader
	n        int64
	progress func(rows int, n int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.progress != nil {
		c.progress(0, c.n)
	}
	return n, err
}
