package backoff

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestRetrySucceedsAfterFailures(t *testing.T) {
	calls := 0
	ok := Retry(context.Background(), Policy{Initial: time.Millisecond, Max: 4 * time.Millisecond}, quiet, "op",
		func(context.Context) error {
			calls++
			if calls < 4 {
				return errors.New("not yet")
			}
			return nil
		})
	require.True(t, ok)
	require.Equal(t, 4, calls)
}

func TestRetryStopsWhenContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	ok := Retry(ctx, Policy{Initial: time.Hour, Max: time.Hour}, quiet, "op", func(context.Context) error {
		calls++
		cancel()
		return errors.New("down")
	})
	require.False(t, ok)
	require.Equal(t, 1, calls, "no try after the context ended, and no hour-long wait")
}

func TestSleep(t *testing.T) {
	require.True(t, Sleep(context.Background(), time.Millisecond))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.False(t, Sleep(ctx, time.Hour))
}

func TestPolicyWait(t *testing.T) {
	p := Policy{Initial: 100 * time.Millisecond, Max: time.Second}
	for attempt, want := range []time.Duration{100 * time.Millisecond, 200 * time.Millisecond, 400 * time.Millisecond, 800 * time.Millisecond, time.Second, time.Second} {
		require.Equal(t, want, p.Wait(attempt), "attempt %d", attempt)
	}
	require.Equal(t, time.Second, p.Wait(1000), "no overflow")
}
