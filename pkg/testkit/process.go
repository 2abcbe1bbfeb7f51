package testkit

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Process is a service binary a test runs as a process of its own, its
// output appended to Log across restarts.
type Process struct {
	t    testing.TB
	bin  string
	args []string
	Log  string
	cmd  *exec.Cmd
}

// StartProcess starts bin with args, its output going to log, and stops
// it (SIGTERM) at the end of the test.
func StartProcess(t testing.TB, bin, log string, args ...string) *Process {
	p := NewProcess(t, bin, log, args...)
	p.Start()
	return p
}

// NewProcess returns bin with args, not started, stopped at the end of the
// test if running.
func NewProcess(t testing.TB, bin, log string, args ...string) *Process {
	p := &Process{t: t, bin: bin, args: args, Log: log}
	t.Cleanup(func() { p.Stop(30 * time.Second) })
	return p
}

// Start starts the process (again).
func (p *Process) Start() {
	f, err := os.OpenFile(p.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	require.NoError(p.t, err)
	defer f.Close()
	p.cmd = exec.Command(p.bin, p.args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	require.NoError(p.t, p.cmd.Start())
}

// Kill9 kills the process with SIGKILL: no shutdown, no flush.
func (p *Process) Kill9() {
	require.NoError(p.t, p.cmd.Process.Kill())
	_ = p.cmd.Wait()
}

// Stop sends SIGTERM and waits up to timeout before it kills the process;
// false when it had to. True at once when it is not running.
func (p *Process) Stop(timeout time.Duration) bool {
	return p.signalAndWait(syscall.SIGTERM, timeout)
}

// Quit sends SIGQUIT, on which a Go program writes the stack of every
// goroutine to its output (so to Log) and exits: what a hung process was
// waiting for. Waits up to 10 s before it kills the process.
func (p *Process) Quit() {
	p.signalAndWait(syscall.SIGQUIT, 10*time.Second)
}

// signalAndWait sends sig and waits up to timeout for the process to end,
// then kills it; false when it had to. True at once when it is not running.
func (p *Process) signalAndWait(sig syscall.Signal, timeout time.Duration) bool {
	if p.cmd == nil || p.cmd.ProcessState != nil {
		return true
	}
	_ = p.cmd.Process.Signal(sig)
	done := make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(timeout):
		_ = p.cmd.Process.Kill()
		<-done
		return false
	}
}

// Pid is the running process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// ExitCode is the exit code of the process once it ended.
func (p *Process) ExitCode() int { return p.cmd.ProcessState.ExitCode() }
