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

// Replayer feeds a recorded stream to the engine as one partition, with
// the clock taken from the events themselves (the newest event time so
// far), so a replay of last month judges last month's windows exactly as a
// live run would have.
type Replayer struct {
	e      *Engine
	clock  time.Time
	offset int64
	emit   func(Output) error
}

// NewReplayer returns a replayer that hands each Output to emit.
func (e *Engine) NewReplayer(emit func(Output) error) *Replayer {
	return &Replayer{e: e, emit: emit}
}

// Add observes the next event of the recording.
func (r *Replayer) Add(ev *event.Event) error {
	if ev.Timestamp.After(r.clock) {
		r.clock = ev.Timestamp
	}
	r.e.Observe(ev, Position{Offset: r.offset}, r.clock)
	r.offset++
	if r.offset%replayAdvanceEvery == 0 {
		return r.out(r.e.Advance(r.clock))
	}
	return nil
}

// Close closes every open window, as at the end of the recording.
func (r *Replayer) Close() error {
	if err := r.out(r.e.Advance(r.clock)); err != nil {
		return err
	}
	return r.out(r.e.Flush())
}

func (r *Replayer) out(o Output) error {
	if len(o.Scores) == 0 && len(o.Alerts) == 0 {
		return nil
	}
	return r.emit(o)
}

// Replay runs the events next returns (io.EOF at the end) through a
// Replayer and closes it.
func (e *Engine) Replay(next func() (*event.Event, error), emit func(Output) error) error {
	r := e.NewReplayer(emit)
	for {
		ev, err := next()
		if errors.Is(err, io.EOF) {
			return r.Close()
		}
		if err != nil {
			return err
		}
		if err := r.Add(ev); err != nil {
			return err
		}
	}
}
