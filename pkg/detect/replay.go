package detect

import (
	"errors"
	"io"
	"time"

	"github.com/vigil-soc/vigil/pkg/event"
)

// replayAdvanceEvery is how many events a replay observes between two
// Advance calls.
const replayAdvanceEvery = 1024

// Replay runs a recorded stream through the engine as one partition, with
// the clock taken from the events themselves (the newest event time so
// far), so a replay of last month judges last month's windows exactly as a
// live run would have. next returns the events in order and io.EOF at the
// end; emit receives each Output. After the last event every open window
// is closed.
func (e *Engine) Replay(next func() (*event.Event, error), emit func(Output) error) error {
	var clock time.Time
	var offset int64
	for {
		ev, err := next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if ev.Timestamp.After(clock) {
			clock = ev.Timestamp
		}
		e.Observe(ev, Position{Offset: offset}, clock)
		offset++
		if offset%replayAdvanceEvery == 0 {
			if err := emitIf(emit, e.Advance(clock)); err != nil {
				return err
			}
		}
	}
	if err := emitIf(emit, e.Advance(clock)); err != nil {
		return err
	}
	return emitIf(emit, e.Flush())
}

func emitIf(emit func(Output) error, out Output) error {
	if len(out.Scores) == 0 && len(out.Alerts) == 0 {
		return nil
	}
	return emit(out)
}
