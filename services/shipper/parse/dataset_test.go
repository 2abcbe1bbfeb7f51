package parse

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// The datasets (loghub, stratosphere) live next to the repository on the
// team's machines (../shared/datasets, or where VIGIL_DATASETS says) and
// are not part of it: their licences are not the project's. The tests read
// them when they are there and skip otherwise.
func datasetsDir() string {
	if d := os.Getenv("VIGIL_DATASETS"); d != "" {
		return d
	}
	return filepath.Join("..", "..", "..", "..", "shared", "datasets")
}

var loghubDir = filepath.Join(datasetsDir(), "loghub")

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

// parseAll runs lines through a fresh parser of format and checks every
// event; it returns the events, and fails the test for a line kept raw.
func parseAll(t *testing.T, format, origin string, lines []fixtureLine) []*event.Event {
	t.Helper()
	p, err := New(format)
	require.NoError(t, err)
	evs := make([]*event.Event, 0, len(lines))
	for i, l := range lines {
		in := fixtureInput(origin, l)
		ev, ok := p.Parse(in)
		require.True(t, ok)
		checkEvent(t, in, ev)
		require.Empty(t, ev.ParseError, "%s line %d: %s", origin, i+1, l.line)
		require.NotEqual(t, FormatRaw, ev.Source, "%s line %d: %s", origin, i+1, l.line)
		evs = append(evs, ev)
	}
	return evs
}

// tally counts events by dataset/action/outcome, for the test log.
func tally(evs []*event.Event) map[string]int {
	m := map[string]int{}
	for _, ev := range evs {
		m[ev.Source+"/"+ev.Action+"/"+ev.Outcome]++
	}
	return m
}

// TestDatasetSyslog reads the whole-host syslog with the syslog format:
// every line is understood, the sshd and su lines as such.
func TestDatasetSyslog(t *testing.T) {
	for _, name := range []string{"Linux_2k.log", "OpenSSH_2k.log"} {
		t.Run(name, func(t *testing.T) {
			lines := readDataset(t, name)
			for _, format := range []string{FormatSyslog, FormatAuto} {
				evs := parseAll(t, format, "loghub:"+name, lines)
				for i, ev := range evs {
					line := string(lines[i].line)
					switch {
					case strings.Contains(line, " sshd["), strings.Contains(line, " sshd(pam_unix)["):
						require.Equal(t, FormatSSHD, ev.Source, "line %d: %s", i+1, line)
					case strings.Contains(line, " su(pam_unix)["):
						require.Equal(t, DatasetSu, ev.Source, "line %d: %s", i+1, line)
						require.NotEmpty(t, ev.User, "line %d: %s", i+1, line)
					}
				}
				t.Logf("%s: %d lines, 0 unparsed; %v", format, len(evs), tally(evs))
			}
		})
	}
}

// TestDatasetApache reads an Apache 2.2 error log: every line is an
// apache event, client addresses read, forbidden directories failures.
func TestDatasetApache(t *testing.T) {
	lines := readDataset(t, "Apache_2k.log")
	for _, format := range []string{FormatApache, FormatAuto} {
		evs := parseAll(t, format, "loghub:Apache_2k.log", lines)
		denied := 0
		for i, ev := range evs {
			require.Equal(t, FormatApache, ev.Source)
			if m := ipv4InLine.FindStringSubmatch(string(lines[i].line)); m != nil {
				require.Equal(t, m[1], ev.SrcIP, "line %d", i+1)
			}
			if strings.Contains(string(lines[i].line), "Directory index forbidden") {
				require.Equal(t, ActionHTTPAccessDenied, ev.Action)
				require.Equal(t, event.OutcomeFailure, ev.Outcome)
				denied++
			}
		}
		require.Positive(t, denied)
		t.Logf("%s: %d lines, 0 unparsed; %v", format, len(evs), tally(evs))
	}
}

// TestDatasetZeek reads the stratosphere Zeek logs, TSV and JSON, with the
// zeek format (and the JSON ones with auto): every line is understood, and
// each record's addresses, ports and ssh outcome match its columns as read
// here independently.
func TestDatasetZeek(t *testing.T) {
	dir := filepath.Join(datasetsDir(), "stratosphere")
	files, _ := filepath.Glob(filepath.Join(dir, "*", "*.log"))
	if len(files) == 0 {
		t.Skipf("no Zeek logs under %s", dir)
	}
	for _, file := range files {
		name := filepath.Base(filepath.Dir(file)) + "/" + filepath.Base(file)
		t.Run(name, func(t *testing.T) {
			lines := readFixture(t, file)
			formats := []string{FormatZeek}
			if len(lines) > 0 && looksJSON(lines[0].line) {
				formats = append(formats, FormatAuto)
			}
			for _, format := range formats {
				evs := parseAll(t, format, "stratosphere:"+name, lines)
				var fields []string
				records := 0
				for i, ev := range evs {
					line := string(lines[i].line)
					require.Equal(t, FormatZeek, ev.Source, "line %d", i+1)
					if f, ok := strings.CutPrefix(line, "#fields\t"); ok {
						fields = strings.Split(f, "\t")
					}
					if strings.HasPrefix(line, "#") {
						require.Equal(t, ActionLogHeader, ev.Action)
						continue
					}
					records++
					want := zeekColumns(t, fields, line)
					require.Equal(t, want["id.orig_h"], ev.SrcIP, "line %d", i+1)
					require.Equal(t, want["id.resp_h"], ev.DstIP, "line %d", i+1)
					require.Equal(t, want["id.orig_p"], strconv.Itoa(int(ev.SrcPort)), "line %d", i+1)
					require.Equal(t, want["id.resp_p"], strconv.Itoa(int(ev.DstPort)), "line %d", i+1)
					switch want["auth_success"] {
					case "T", "true":
						require.Equal(t, event.OutcomeSuccess, ev.Outcome, "line %d", i+1)
					case "F", "false":
						require.Equal(t, event.OutcomeFailure, ev.Outcome, "line %d", i+1)
					}
					if _, ok := want["conn_state"]; ok {
						require.Equal(t, ActionNetworkFlow, ev.Action)
						require.Equal(t, want["conn_state"], ev.Attrs["zeek.conn_state"])
					}
				}
				require.Positive(t, records)
				t.Logf("%s: %d lines, %d records, 0 unparsed; %v", format, len(evs), records, tally(evs))
			}
		})
	}
}

// zeekColumns reads a Zeek line's columns the simple way: TSV by the
// #fields header, JSON through encoding/json.
func zeekColumns(t *testing.T, fields []string, line string) map[string]string {
	t.Helper()
	m := map[string]string{}
	if strings.HasPrefix(line, "{") {
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &obj))
		for k, v := range obj {
			switch v := v.(type) {
			case string:
				m[k] = v
			case float64:
				m[k] = strconv.FormatFloat(v, 'f', -1, 64)
			case bool:
				m[k] = strconv.FormatBool(v)
			}
		}
		return m
	}
	values := strings.Split(line, "\t")
	require.Len(t, values, len(fields))
	for i, f := range fields {
		m[f] = values[i]
	}
	return m
}
