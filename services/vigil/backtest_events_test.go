package vigil

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// A replay of failed logins with one burst finds the burst, and only it;
// a line that is not an event is counted, not fatal.
func TestReplayEventsFindsTheBurst(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	evs := testkit.FailedLogins{Background: 30, Minutes: 60, BurstIP: "203.0.113.7", BurstAt: 40, BurstSize: 200}.Events(start, 5)
	testkit.SortByTime(evs)
	var in bytes.Buffer
	for i, e := range evs {
		b, err := event.Encode(e)
		require.NoError(t, err)
		in.Write(b)
		in.WriteByte('\n')
		if i == 10 {
			in.WriteString("{not an event\n")
		}
	}
	cfg := config.Default().Processor
	profiles, err := selectProfiles(cfg, "brute_force")
	require.NoError(t, err)
	var bad badLines
	res, err := replayEvents(profiles, detect.OptionsFrom(cfg), ndjsonEvents(&in, &bad))
	require.NoError(t, err)
	require.Equal(t, len(evs), res.Events)
	require.Equal(t, 1, bad.N)
	require.Contains(t, bad.First, "line 12:")
	require.Len(t, res.Alerts, 1)
	require.Equal(t, "203.0.113.7", res.Alerts[0].Entity)
	require.Equal(t, start.Add(40*time.Minute), res.Alerts[0].FirstSeen)

	var out bytes.Buffer
	require.NoError(t, writeEventsBacktest(&out, res, profiles, false))
	require.Contains(t, out.String(), "brute_force  high")
	require.Regexp(t, `brute_force\s+\d+\s+1\n`, out.String())

	_, err = selectProfiles(cfg, "nope")
	require.ErrorContains(t, err, `no active profile "nope"`)
	require.True(t, strings.Contains(err.Error(), "password_spraying"))
}
