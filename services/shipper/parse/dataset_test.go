package parse

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// The loghub datasets live next to the repository on the team's machines
// (../shared/datasets) and are not part of it: their licence is not the
// project's. The tests read them when they are there and skip otherwise.
var loghubDir = filepath.Join("..", "..", "..", "..", "shared", "datasets", "loghub")

func readDataset(t *testing.T, name string) []fixtureLine {
	t.Helper()
	path := filepath.Join(loghubDir, name)
	if _, err := os.Stat(path); err != nil {
		t.Skipf("dataset %s not present: %v", path, err)
	}
	return readFixture(t, path)
}

// ipv4InLine finds an IPv4 address standing as a word of its own (not the
// start of a host name such as 1.2.3.4.dsl.example.net).
var ipv4InLine = regexp.MustCompile(`(?:^|[\s\[=(])(\d{1,3}(?:\.\d{1,3}){3})(?:$|[\s\]:,)])`)

func TestDatasetOpenSSH(t *testing.T) {
	lines := readDataset(t, "OpenSSH_2k.log")
	p, err := New(FormatAuto)
	require.NoError(t, err)
	var failedPassword, accepted int
	actions := map[string]int{}
	for i, l := range lines {
		in := fixtureInput("loghub:OpenSSH_2k.log", l)
		ev, _ := p.Parse(in)
		checkEvent(t, in, ev)
		require.Equal(t, FormatSSHD, ev.Source, "line %d: %s (%s)", i+1, l.line, ev.ParseError)
		actions[ev.Action]++
		msg := string(l.line)
		if strings.Contains(msg, "Failed password") && ev.Outcome == event.OutcomeFailure && ev.Action == ActionSSHLogin {
			failedPassword++
		}
		if ev.Action == ActionSSHLogin && ev.Outcome == event.OutcomeSuccess {
			accepted++
		}
		if m := ipv4InLine.FindStringSubmatch(msg); m != nil {
			require.Equal(t, m[1], ev.SrcIP, "line %d: %s", i+1, msg)
		}
	}
	t.Logf("%d lines, actions: %v", len(lines), actions)
	require.Equal(t, 520, failedPassword)
	require.Equal(t, 1, accepted)
}

// TestDatasetLinux checks the sshd lines of a whole-host syslog (old Red Hat
// "sshd(pam_unix)" tags), and that the other programs' lines are not taken
// for sshd.
func TestDatasetLinux(t *testing.T) {
	lines := readDataset(t, "Linux_2k.log")
	var sshdLines, parsed, other, withIP int
	actions := map[string]int{}
	for i, l := range lines {
		in := fixtureInput("loghub:Linux_2k.log", l)
		ev, ok := SSHD{}.Parse(in)
		isSSHD := strings.Contains(string(l.line), " sshd")
		if !isSSHD {
			require.False(t, ok, "line %d: %s", i+1, l.line)
			continue
		}
		sshdLines++
		require.True(t, ok, "line %d: %s", i+1, l.line)
		checkEvent(t, in, ev)
		parsed++
		actions[ev.Action+"/"+ev.Outcome]++
		if ev.Action == ActionSSHOther {
			other++
		}
		if ev.SrcIP != "" {
			withIP++
		}
		if m := ipv4InLine.FindStringSubmatch(string(l.line)); m != nil {
			require.Equal(t, m[1], ev.SrcIP, "line %d: %s", i+1, l.line)
		}
	}
	t.Logf("%d sshd lines of %d, %d parsed, %d ssh_other, %d with source.ip; actions: %v",
		sshdLines, len(lines), parsed, other, withIP, actions)
	require.Positive(t, sshdLines)
}
