package evalset

import (
	"bufio"
	"fmt"
	"io"

	"github.com/vigil-soc/vigil/pkg/event"
)

// WriteNDJSON generates cfg's events into w, one envelope JSON object a
// line (pkg/event's encoding), and returns the labels; `vigil backtest
// --input` replays such a file.
func WriteNDJSON(cfg Config, w io.Writer) (Labels, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	var buf []byte
	labels, err := Generate(cfg, func(e *event.Event) error {
		var err error
		if buf, err = event.AppendJSON(buf[:0], e); err != nil {
			return err
		}
		buf = append(buf, '\n')
		_, err = bw.Write(buf)
		return err
	})
	if err != nil {
		return labels, err
	}
	if err := bw.Flush(); err != nil {
		return labels, fmt.Errorf("evalset: write events: %w", err)
	}
	return labels, nil
}
