package vigil

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/testkit"
)

// add, list and expire against a broker: what one command writes, the
// next one reads.
func TestSilenceCommands(t *testing.T) {
	k := testkit.Broker(t)
	set := []string{"--set", "kafka.brokers=" + k.Brokers[0]}
	args := func(a ...string) []string { return append(a, set...) }

	out, err := run(t, args("silence", "add", "-m", "team=db", "--matcher", "severity=~high|critical",
		"--duration", "2h", "--reason", "database upgrade", "--author", "alice")...)
	require.NoError(t, err, out)
	id := strings.Fields(out)[0]
	require.Regexp(t, `^[0-9a-f]{32}$`, id)
	require.Contains(t, out, "silenced {team=db, severity=~high|critical}")

	out, err = run(t, args("silence", "list")...)
	require.NoError(t, err, out)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 2, out)
	require.Regexp(t, `^ID\s+STATE\s+STARTS\s+ENDS\s+CREATED BY\s+MATCHERS\s+REASON$`, lines[0])
	require.Regexp(t, `^`+id+`\s+active\s+\S+\s+\S+\s+alice\s+\{team=db, severity=~high\|critical\}\s+database upgrade$`, lines[1])

	out, err = run(t, args("silence", "list", "--output", "json")...)
	require.NoError(t, err, out)
	var got struct {
		ID       string    `json:"id"`
		State    string    `json:"state"`
		Matchers []string  `json:"matchers"`
		StartsAt time.Time `json:"starts_at"`
		EndsAt   time.Time `json:"ends_at"`
		Reason   string    `json:"reason"`
	}
	require.NoError(t, json.Unmarshal([]byte(out), &got))
	require.Equal(t, id, got.ID)
	require.Equal(t, "active", got.State)
	require.Equal(t, []string{"team=db", "severity=~high|critical"}, got.Matchers)
	require.Equal(t, 2*time.Hour, got.EndsAt.Sub(got.StartsAt))

	out, err = run(t, args("silence", "expire", id)...)
	require.NoError(t, err, out)
	require.Contains(t, out, "expired silence "+id)
	out, err = run(t, args("silence", "list")...)
	require.NoError(t, err, out)
	require.Equal(t, 1, len(strings.Split(strings.TrimSpace(out), "\n")), "an expired silence is not listed:\n%s", out)
	out, err = run(t, args("silence", "list", "--all")...)
	require.NoError(t, err, out)
	require.Regexp(t, id+`\s+expired`, out)
	out, err = run(t, args("silence", "expire", id)...)
	require.NoError(t, err, out)
	require.Contains(t, out, "already ended")

	_, err = run(t, args("silence", "expire", "0123456789abcdef")...)
	require.ErrorContains(t, err, "no such silence: 0123456789abcdef")
}

// Bad flags fail before anything connects (no broker runs here), saying
// which flag is wrong.
func TestSilenceAddRejects(t *testing.T) {
	base := []string{"silence", "add", "--set", "kafka.brokers=127.0.0.1:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no matcher", []string{"-d", "1h", "-r", "x"}, "--matcher: at least one"},
		{"bad matcher", []string{"-m", "team", "-d", "1h", "-r", "x"}, `--matcher: bad matcher "team"`},
		{"bad regexp", []string{"-m", "team=~(", "-d", "1h", "-r", "x"}, "is not a regular expression"},
		{"no end", []string{"-m", "team=db", "-r", "x"}, "--duration or --until"},
		{"both ends", []string{"-m", "team=db", "-d", "1h", "--until", "2099-01-01T00:00:00Z", "-r", "x"}, "not both"},
		{"bad duration", []string{"-m", "team=db", "-d", "soon", "-r", "x"}, `--duration: "soon" is not a duration`},
		{"negative duration", []string{"-m", "team=db", "-d", "-1h", "-r", "x"}, "must be positive"},
		{"bad days", []string{"-m", "team=db", "-d", "xd", "-r", "x"}, `"xd" is not a duration`},
		{"bad until", []string{"-m", "team=db", "--until", "tomorrow", "-r", "x"}, "--until: \"tomorrow\" is not an RFC 3339 time"},
		{"until in the past", []string{"-m", "team=db", "--until", "2001-01-01T00:00:00Z", "-r", "x"}, "is not after the start"},
		{"bad start", []string{"-m", "team=db", "-d", "1h", "--starts", "now", "-r", "x"}, "--starts"},
		{"ended already", []string{"-m", "team=db", "-d", "1h", "--starts", "2001-01-01T00:00:00Z", "-r", "x"}, "which has passed"},
		{"no reason", []string{"-m", "team=db", "-d", "1h"}, "--reason"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := run(t, append(append([]string{}, base...), tt.args...)...)
			require.ErrorContains(t, err, tt.want)
		})
	}
	_, err := run(t, "silence", "list", "--output", "yaml")
	require.ErrorContains(t, err, "--output")
	_, err = run(t, "silence", "expire")
	require.Error(t, err)
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{"90m": 90 * time.Minute, "2h30m": 150 * time.Minute, "3d": 72 * time.Hour, "1d": 24 * time.Hour} {
		got, err := parseDuration(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, in := range []string{"", "d", "0", "0d", "-2d", "1w", "1.5d"} {
		_, err := parseDuration(in)
		require.Error(t, err, in)
	}
}
