package testkit_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestCPUSecondsGrowsWithWork(t *testing.T) {
	before := testkit.CPUSeconds(t, os.Getpid())
	deadline := time.Now().Add(5 * time.Second)
	x := 0
	for testkit.CPUSeconds(t, os.Getpid()) < before+0.05 {
		require.True(t, time.Now().Before(deadline), "CPU time did not grow while working")
		for i := range 1_000_000 {
			x += i
		}
	}
	require.NotZero(t, x)
}

func TestProcessesNamedFindsThisProcess(t *testing.T) {
	comm, err := os.ReadFile(filepath.Join("/proc", "self", "comm"))
	require.NoError(t, err)
	require.Contains(t, testkit.ProcessesNamed(t, strings.TrimSpace(string(comm))), os.Getpid())
	require.Empty(t, testkit.ProcessesNamed(t, "no-such-process"))
}
