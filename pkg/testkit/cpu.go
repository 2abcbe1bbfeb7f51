package testkit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// CPUSeconds is the CPU time (user and system) process pid has used, from
// /proc/pid/stat.
func CPUSeconds(tb testing.TB, pid int) float64 {
	tb.Helper()
	data, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	require.NoError(tb, err)
	// Fields after the command name, which ends at the last ')': utime
	// and stime are the 12th and 13th, in clock ticks (100 per second).
	f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
	ut, err := strconv.ParseFloat(f[11], 64)
	require.NoError(tb, err)
	st, err := strconv.ParseFloat(f[12], 64)
	require.NoError(tb, err)
	return (ut + st) / 100
}

// ProcessesNamed returns the pids of the processes whose command name
// (/proc/pid/comm, at most 15 bytes) is name.
func ProcessesNamed(tb testing.TB, name string) []int {
	tb.Helper()
	dirs, err := os.ReadDir("/proc")
	require.NoError(tb, err)
	var pids []int
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		if err == nil && strings.TrimSpace(string(comm)) == name {
			pids = append(pids, pid)
		}
	}
	return pids
}
