//go:build race

// This test only runs under the race detector (go test -race): without it,
// the bug it looks for shows up as "fatal error: concurrent map read and map
// write", which kills the whole test binary instead of failing one test.

package telemetry_test

import (
	"fmt"
	"net/http"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

// A component may register its readiness check while the server is already
// answering /readyz (for example from its own Start, which runs after the
// telemetry server started).
func TestAddReadyCheckWhileServing(t *testing.T) {
	s := start(t, prometheus.NewRegistry())
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			s.AddReadyCheck(fmt.Sprintf("c%d", i%50), okCheck)
		}
	}()
	for range 50 {
		code, _ := get(t, s, "/readyz")
		require.Equal(t, http.StatusOK, code)
	}
	close(done)
	wg.Wait()
}
