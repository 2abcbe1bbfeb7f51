package vigil

import (
	"io"

	"github.com/spf13/cobra"
)

// backtestEvents is the events mode of vigil backtest: it replays the
// NDJSON events read from in (or, with opts.FromClickHouse, the stored
// events) through the detection profile opts.Profile and writes the scores
// to out.
func backtestEvents(cmd *cobra.Command, in io.Reader, out io.Writer, opts backtestOptions) error {
	_, _, _, _ = cmd, in, out, opts
	return errEventsMode
}
