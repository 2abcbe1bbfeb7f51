package service

import (
	"context"
	"fmt"
	"sync"
)

// Loop is the background goroutine of a component: started once by Go,
// stopped by Stop. The zero value is ready to use; Stop before Go is a
// no-op.
type Loop struct {
	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// Go runs run in a goroutine with a context that Stop cancels.
func (l *Loop) Go(run func(ctx context.Context)) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	l.mu.Lock()
	l.cancel, l.done = cancel, done
	l.mu.Unlock()
	go func() {
		defer close(done)
		run(ctx)
	}()
}

// Stop cancels the loop's context and waits until run returns or ctx ends.
// It reports whether a loop had been started.
func (l *Loop) Stop(ctx context.Context) (bool, error) {
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.cancel = nil
	l.mu.Unlock()
	if cancel == nil {
		return false, nil
	}
	cancel()
	select {
	case <-done:
		return true, nil
	case <-ctx.Done():
		return true, fmt.Errorf("waiting for the loop to stop: %w", ctx.Err())
	}
}

// Stopping reports whether Stop has been called since the last Go.
func (l *Loop) Stopping() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.done != nil && l.cancel == nil
}
