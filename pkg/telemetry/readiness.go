package telemetry

import (
	"errors"
	"sync"
)

// Readiness is a component's answer on /readyz: nil when ready, else why
// not. It starts as "starting". Safe for concurrent use.
type Readiness struct {
	mu  sync.Mutex
	err error
}

// NewReadiness returns a readiness that says "starting".
func NewReadiness() *Readiness { return &Readiness{err: errors.New("starting")} }

// Set records why the component is not ready, or nil when it is.
func (r *Readiness) Set(err error) {
	r.mu.Lock()
	r.err = err
	r.mu.Unlock()
}

// Check is the ReadyFunc to register with Server.AddReadyCheck.
func (r *Readiness) Check() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}
