package service_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/service"
)

func TestLoopStopBeforeGo(t *testing.T) {
	var l service.Loop
	started, err := l.Stop(context.Background())
	require.NoError(t, err)
	require.False(t, started)
}

func TestLoopStopCancelsAndWaits(t *testing.T) {
	var l service.Loop
	finished := make(chan struct{})
	l.Go(func(ctx context.Context) {
		<-ctx.Done()
		close(finished)
	})
	require.False(t, l.Stopping())
	started, err := l.Stop(context.Background())
	require.NoError(t, err)
	require.True(t, started)
	require.True(t, l.Stopping())
	select {
	case <-finished:
	default:
		t.Fatal("Stop returned before the loop did")
	}
	started, err = l.Stop(context.Background())
	require.NoError(t, err)
	require.False(t, started, "a second Stop is a no-op")
}

func TestLoopStopHonoursItsContext(t *testing.T) {
	var l service.Loop
	release := make(chan struct{})
	defer close(release)
	l.Go(func(context.Context) { <-release }) // ignores cancellation
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, err := l.Stop(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}
