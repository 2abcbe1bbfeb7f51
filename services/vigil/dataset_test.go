package vigil

import (
	"bufio"
	"io"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/detect"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
	"github.com/vigil-soc/vigil/services/shipper/parse"
)

// datasetPath returns a file under ../shared/datasets (beside the
// repository), or skips when this clone has none.
func datasetPath(t *testing.T, rel string) string {
	t.Helper()
	p := filepath.Join("..", "..", "..", "shared", "datasets", rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("dataset %s not present", rel)
	}
	return p
}

// The real sshd log: its three brute-forcing sources alert, and at most a
// handful of others do.
func TestOpenSSHDatasetAlerts(t *testing.T) {
	f, err := os.Open(datasetPath(t, "loghub/OpenSSH_2k.log"))
	require.NoError(t, err)
	defer f.Close()
	p, err := parse.New("auto")
	require.NoError(t, err)
	d, err := detect.New(config.Default().Processor.ActiveProfiles(), detect.OptionsFrom(config.Default().Processor))
	require.NoError(t, err)
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	sc := bufio.NewScanner(f)
	var alerted []string
	var offset int64
	for sc.Scan() {
		ev, _ := p.Parse(parse.Input{Tenant: "default", Host: "h", Origin: "o", Offset: offset, Line: sc.Bytes(), Now: now})
		offset += int64(len(sc.Bytes()) + 1)
		require.Empty(t, ev.ParseError, "line %q", sc.Text())
		// One partition per IP, as the shipper's keying gives.
		d.Observe(ev, detect.Position{Partition: int(hash(ev.SrcIP) % 6), Offset: offset}, now)
		out := d.Advance(now)
		for _, s := range out.Scores {
			if s.Explanation.Observed >= 10 {
				t.Logf("%s %s obs=%.0f exp=%.1f sd=%.1f n=%d %s score=%.7f", s.WindowStart.Format("15:04"), s.Entity, s.Explanation.Observed, s.Explanation.Expected, s.Explanation.Spread, s.Explanation.Samples, s.Explanation.Method, s.AnomalyScore)
			}
		}
		alerted = append(alerted, bruteForcers(t, out.Alerts)...)
	}
	alerted = append(alerted, bruteForcers(t, d.Flush().Alerts)...)
	sort.Strings(alerted)
	t.Logf("alerted: %v", alerted)
	require.Contains(t, alerted, "183.62.140.253")
	require.Contains(t, alerted, "187.141.143.180")
	require.Contains(t, alerted, "103.99.0.122")
	require.LessOrEqual(t, len(alerted), 6, "no more than a handful besides the three brute-forcers")
}

// bruteForcers returns the entities of the brute_force alerts, and logs
// every alert.
func bruteForcers(t *testing.T, alerts []alert.Alert) []string {
	var ips []string
	for _, a := range alerts {
		t.Logf("alert %s", a.Summary)
		if a.Profile == "brute_force" && a.Status == alert.StatusFiring {
			ips = append(ips, a.Entity)
		}
	}
	return ips
}

func hash(s string) uint32 {
	var h uint32 = 2166136261
	for i := 0; i < len(s); i++ {
		h = (h ^ uint32(s[i])) * 16777619
	}
	return h
}

// The Zeek log of an Nmap client scanning three networks: replayed through
// every profile, the scanner is flagged for port or host scanning (and
// nothing else is flagged). The log has one client, so everything is
// judged against the population's prior and the window's peers.
func TestZeekPortScanDatasetAlerts(t *testing.T) {
	f, err := os.Open(datasetPath(t, "stratosphere/002-zeek-scenario-port-scanning/conn.log"))
	require.NoError(t, err)
	defer f.Close()
	p, err := parse.New("zeek")
	require.NoError(t, err)
	d, err := detect.New(config.Default().Processor.ActiveProfiles(), detect.OptionsFrom(config.Default().Processor))
	require.NoError(t, err)
	now := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	var evs []*event.Event
	sc := bufio.NewScanner(f)
	var offset int64
	for sc.Scan() {
		ev, _ := p.Parse(parse.Input{Tenant: "default", Host: "zeek", Origin: "o", Offset: offset, Line: sc.Bytes(), Now: now})
		offset += int64(len(sc.Bytes()) + 1)
		require.Empty(t, ev.ParseError, "line %q", sc.Text())
		evs = append(evs, ev)
	}
	testkit.SortByTime(evs)
	i := 0
	byProfile := map[string][]string{}
	require.NoError(t, d.Replay(func() (*event.Event, error) {
		if i == len(evs) {
			return nil, io.EOF
		}
		i++
		return evs[i-1], nil
	}, func(out detect.Output) error {
		for _, a := range out.Alerts {
			if a.Status == alert.StatusFiring {
				t.Logf("alert %s", a.Summary)
				byProfile[a.Profile] = append(byProfile[a.Profile], a.Entity)
			}
		}
		return nil
	}))
	scans := append(byProfile["port_scan"], byProfile["host_scan"]...)
	require.Contains(t, scans, "172.16.1.11")
	for profile, entities := range byProfile {
		for _, e := range entities {
			require.Equal(t, "172.16.1.11", e, "%s flagged another entity", profile)
		}
	}
}
