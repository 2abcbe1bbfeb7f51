// Package backoff retries an operation with exponential backoff until it
// succeeds or its context ends, and waits on a context: the one retry loop
// every Vigil service uses, so none of them spins or sleeps through a
// shutdown.
package backoff

import (
	"context"
	"log/slog"
	"time"
)

// Policy says how long to wait between tries.
type Policy struct {
	// Initial is the first wait; each later wait doubles, up to Max.
	Initial time.Duration
	Max     time.Duration
}

// Wait is the wait after the attempt-th failure in a row (0 for the
// first): Initial doubled attempt times, at most Max.
func (p Policy) Wait(attempt int) time.Duration {
	w := p.Initial
	for range attempt {
		if w >= p.Max {
			break
		}
		w = min(2*w, p.Max)
	}
	return w
}

// Retry calls f until it returns nil or ctx ends, waiting between tries as
// p says and logging each retry (what failed, the error, the next wait) at
// warn level. It reports whether f succeeded.
func Retry(ctx context.Context, p Policy, logger *slog.Logger, what string, f func(context.Context) error) bool {
	for attempt := 0; ; attempt++ {
		err := f(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		wait := p.Wait(attempt)
		logger.Warn("retrying", "what", what, "err", err.Error(), "retry_in", wait.String())
		if !Sleep(ctx, wait) {
			return false
		}
	}
}

// Sleep waits for d or until ctx ends, and reports whether it waited the
// whole time.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
