package vigil

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// ndjson encodes evs one per line, with the line bad after the event at
// index badAfter.
func ndjson(t *testing.T, evs []*event.Event, badAfter int, bad string) *bytes.Buffer {
	t.Helper()
	var in bytes.Buffer
	for i, e := range evs {
		b, err := event.Encode(e)
		require.NoError(t, err)
		in.Write(b)
		in.WriteByte('\n')
		if i == badAfter {
			in.WriteString(bad + "\n")
		}
	}
	return &in
}

// A replay of failed logins with one burst finds the burst, and only it;
// a line that is not an event is counted, not fatal.
func TestReplayEventsFindsTheBurst(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	evs := testkit.FailedLogins{Background: 30, Minutes: 60, BurstIP: "203.0.113.7", BurstAt: 40, BurstSize: 200}.Events(start, 5)
	testkit.SortByTime(evs)
	in := ndjson(t, evs, 10, "{not an event")
	cfg := config.Default().Processor
	profiles, err := selectProfiles(cfg, "brute_force")
	require.NoError(t, err)
	var bad badLines
	res, err := replayEvents(profiles, detect.OptionsFrom(cfg), ndjsonEvents(in, &bad))
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

// vigil backtest on an NDJSON file prints the alert and the per-profile
// table; --json prints the alerts as JSON lines.
func TestBacktestEventsCommand(t *testing.T) {
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	evs := testkit.FailedLogins{Background: 20, Minutes: 30, BurstIP: "203.0.113.7", BurstAt: 20, BurstSize: 400}.Events(start, 9)
	testkit.SortByTime(evs)
	in := ndjson(t, evs, len(evs)-1, "not json")
	path := filepath.Join(t.TempDir(), "events.ndjson")
	require.NoError(t, os.WriteFile(path, in.Bytes(), 0o600))

	out, errOut, err := backtest(t, "", "--input", path)
	require.NoError(t, err)
	require.Regexp(t, `2026-03-02 09:20:00\s+brute_force\s+high\s+203\.0\.113\.7`, out)
	require.Regexp(t, `silent_source\s+\d+\s+0`, out, "every active profile has a line")
	require.Contains(t, errOut, "1 line(s) are not events")

	out, _, err = backtest(t, "", "--input", path, "--profile", "brute_force", "--json")
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1)
	var a alert.Alert
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &a))
	require.Equal(t, "vigil/default/brute_force/203.0.113.7", a.DedupKey)
}

// --from-clickhouse replays the stored events of the range, one copy each
// (a duplicated row counts once), with their labels.
func TestBacktestFromClickHouse(t *testing.T) {
	ch := testkit.ClickHouse(t)
	start := time.Date(2025, 3, 5, 10, 0, 0, 0, time.UTC)
	evs := testkit.FailedLogins{Background: 20, Minutes: 30, BurstIP: "203.0.113.7", BurstAt: 20, BurstSize: 400}.Events(start, 3)
	rows := make([][]any, 0, len(evs)+1)
	for _, e := range evs {
		ts := e.Timestamp.Truncate(time.Second)
		rows = append(rows, []any{e.ID, ts, uint32(e.Timestamp.Sub(ts)), e.Tenant, e.Source, e.Category, e.Action, e.Outcome, e.SrcIP,
			[]string{"tag"}, []string{"x"}})
	}
	rows = append(rows, rows[len(rows)-1]) // a copy the archiver wrote twice
	testkit.Insert(t, ch, "events", "id, timestamp, timestamp_ns, tenant, source, category, action, outcome, src_ip, attr_keys, attr_values", rows...)
	conn := []string{"--set", "clickhouse.addr=" + ch.Addr[0], "--set", "clickhouse.database=" + ch.Database}

	out, errOut, err := backtest(t, "", append([]string{"--from-clickhouse", "--from", "2025-03-05 00:00:00", "--to", "2025-03-06 00:00:00",
		"--profile", "brute_force", "--json"}, conn...)...)
	require.NoError(t, err, errOut)
	require.Contains(t, errOut, fmt.Sprintf("replayed %d events", len(evs)))
	lines := strings.Split(strings.TrimSpace(out), "\n")
	require.Len(t, lines, 1, out)
	var a alert.Alert
	require.NoError(t, json.Unmarshal([]byte(lines[0]), &a))
	require.Equal(t, "203.0.113.7", a.Entity)
	require.Equal(t, start.Add(20*time.Minute), a.FirstSeen)

	_, errOut, err = backtest(t, "", append([]string{"--from-clickhouse", "--from", "2025-03-06 00:00:00", "--profile", "brute_force"}, conn...)...)
	require.NoError(t, err)
	require.Contains(t, errOut, "replayed 0 events")
}
