package evalset

import (
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2025, 3, 10, 0, 0, 0, 0, time.UTC)

func after(d time.Duration) time.Time { return t0.Add(d) }

// fixture: two brute forces, a spray (also a brute force), a traveller's
// benign first login (also a new subnet), a port scan; a mistype burst.
func fixture() Labels {
	l := func(profile, entity string, from, to time.Duration, also map[string]string) Label {
		return Label{Profile: profile, Tenant: "default", Entity: entity, Start: after(from), End: after(to), Kind: profile, Also: also}
	}
	travel := l(ProfileNewUserSource, "ana|198.18.1.1", 5*time.Hour, 5*time.Hour, map[string]string{ProfileNewUserSubnet: "ana|198.18.1.0/24"})
	travel.Benign, travel.Kind = true, "travel"
	return Labels{
		Tenant: "default", Start: t0.Add(-7 * 24 * time.Hour), EvalStart: t0, End: t0.Add(7 * 24 * time.Hour),
		Incidents: []Label{
			l(ProfileBruteForce, "A", time.Hour, 90*time.Minute, nil),
			l(ProfileBruteForce, "B", 2*time.Hour, 130*time.Minute, nil),
			l(ProfilePasswordSpraying, "C", 3*time.Hour, 4*time.Hour, map[string]string{ProfileBruteForce: "C"}),
			travel,
			l(ProfilePortScan, "D", 6*time.Hour, 380*time.Minute, nil),
		},
		Bursts: []Label{l(ProfileBruteForce, "M", 7*time.Hour, 7*time.Hour+time.Minute, nil)},
	}
}

func alert(profile, entity string, at time.Duration) Alert {
	return Alert{Profile: profile, Tenant: "default", Entity: entity, Time: after(at)}
}

// mixed is every kind of outcome at once.
var mixed = []Alert{
	alert(ProfileBruteForce, "A", time.Hour+2*time.Minute),                               // true, 2m to detect
	alert(ProfileBruteForce, "A", time.Hour+20*time.Minute),                              // repeat
	alert(ProfileBruteForce, "A", 99*time.Minute),                                        // repeat, within the grace of 2×5m
	alert(ProfileBruteForce, "A", 101*time.Minute),                                       // false: after the grace
	alert(ProfileBruteForce, "C", 3*time.Hour+5*time.Minute),                             // also: the spray is a burst of failures
	alert(ProfilePasswordSpraying, "C", 3*time.Hour+30*time.Minute),                      // true, 30m
	alert(ProfileNewUserSource, "ana|198.18.1.1", 5*time.Hour),                           // benign
	alert(ProfileNewUserSubnet, "ana|198.18.1.0/24", 5*time.Hour),                        // benign, through also
	alert(ProfileBruteForce, "M", 7*time.Hour),                                           // false, on a burst
	alert(ProfileBruteForce, "B", 2*time.Hour-3*time.Minute),                             // true: stamped within a window before
	alert(ProfileBruteForce, "A", -time.Hour),                                            // before the evaluation: ignored
	{Profile: ProfilePortScan, Tenant: "other", Entity: "D", Time: after(6 * time.Hour)}, // false: another tenant
	alert("dns_tunnel", "E", 8*time.Hour),                                                // false, in a profile without windows
}

var mixedWindows = map[string]int64{ProfileBruteForce: 10000, ProfilePasswordSpraying: 5000, ProfilePortScan: 20000, ProfileNewUserSource: 100}

// row prints every figure of p, NaN as "-".
func row(p ProfileReport) string {
	f := func(x float64) string {
		if math.IsNaN(x) {
			return "-"
		}
		return fmt.Sprintf("%.4g", x)
	}
	return fmt.Sprintf("inc=%d det=%d rec=%s alerts=%d true=%d also=%d benign=%d rep=%d false=%d bursts=%d win=%d f10k=%s prec=%s ttd=%s/%s ok=%v/%v",
		p.Incidents, p.Detected, f(p.Recall), p.Alerts, p.True, p.Also, p.Benign, p.Repeats, p.False, p.OnBursts, p.Windows,
		f(p.FalsePer10k), f(p.Precision), p.TTDMedian, p.TTD90, p.RecallOK, p.FalseOK)
}

func TestEvaluate(t *testing.T) {
	tests := []struct {
		name    string
		scoring Scoring
		alerts  []Alert
		windows map[string]int64
		extra   []Label           // incidents added to the fixture's
		want    map[string]string // profile → row; "total" for the totals
		ignored int
		ok      bool
	}{
		{
			name: "no alerts", scoring: DefaultScoring(), windows: mixedWindows,
			want: map[string]string{
				ProfileBruteForce:    "inc=2 det=0 rec=0 alerts=0 true=0 also=0 benign=0 rep=0 false=0 bursts=0 win=10000 f10k=0 prec=- ttd=0s/0s ok=false/true",
				ProfileNewUserSource: "inc=0 det=0 rec=- alerts=0 true=0 also=0 benign=0 rep=0 false=0 bursts=0 win=100 f10k=0 prec=- ttd=0s/0s ok=true/true",
				"total":              "inc=4 det=0 rec=0 alerts=0 true=0 also=0 benign=0 rep=0 false=0 bursts=0 win=35100 f10k=0 prec=- ttd=0s/0s ok=false/false",
			},
		},
		{
			name: "every attack once", scoring: DefaultScoring(), windows: mixedWindows,
			alerts: []Alert{
				alert(ProfileBruteForce, "A", time.Hour+time.Minute),
				{Profile: ProfileBruteForce, Entity: "B", Time: after(2*time.Hour + 4*time.Minute)}, // no tenant: the labels'
				alert(ProfilePasswordSpraying, "C", 3*time.Hour+10*time.Minute),
				alert(ProfilePortScan, "D", 6*time.Hour+30*time.Minute), // 10m after the end: within the grace
			},
			want: map[string]string{
				ProfileBruteForce:       "inc=2 det=2 rec=1 alerts=2 true=2 also=0 benign=0 rep=0 false=0 bursts=0 win=10000 f10k=0 prec=1 ttd=1m0s/4m0s ok=true/true",
				ProfilePasswordSpraying: "inc=1 det=1 rec=1 alerts=1 true=1 also=0 benign=0 rep=0 false=0 bursts=0 win=5000 f10k=0 prec=1 ttd=10m0s/10m0s ok=true/true",
				ProfilePortScan:         "inc=1 det=1 rec=1 alerts=1 true=1 also=0 benign=0 rep=0 false=0 bursts=0 win=20000 f10k=0 prec=1 ttd=30m0s/30m0s ok=true/true",
				"total":                 "inc=4 det=4 rec=1 alerts=4 true=4 also=0 benign=0 rep=0 false=0 bursts=0 win=35100 f10k=0 prec=1 ttd=4m0s/30m0s ok=true/true",
			},
			ok: true,
		},
		{
			name: "mixed", scoring: DefaultScoring(), alerts: mixed, windows: mixedWindows, ignored: 1,
			want: map[string]string{
				ProfileBruteForce:       "inc=2 det=2 rec=1 alerts=7 true=2 also=1 benign=0 rep=2 false=2 bursts=1 win=10000 f10k=2 prec=0.6 ttd=0s/2m0s ok=true/false",
				ProfilePasswordSpraying: "inc=1 det=1 rec=1 alerts=1 true=1 also=0 benign=0 rep=0 false=0 bursts=0 win=5000 f10k=0 prec=1 ttd=30m0s/30m0s ok=true/true",
				ProfilePortScan:         "inc=1 det=0 rec=0 alerts=1 true=0 also=0 benign=0 rep=0 false=1 bursts=0 win=20000 f10k=0.5 prec=0 ttd=0s/0s ok=false/true",
				ProfileNewUserSource:    "inc=0 det=0 rec=- alerts=1 true=0 also=0 benign=1 rep=0 false=0 bursts=0 win=100 f10k=0 prec=- ttd=0s/0s ok=true/true",
				ProfileNewUserSubnet:    "inc=0 det=0 rec=- alerts=1 true=0 also=0 benign=1 rep=0 false=0 bursts=0 win=0 f10k=0 prec=- ttd=0s/0s ok=true/true",
				"dns_tunnel":            "inc=0 det=0 rec=- alerts=1 true=0 also=0 benign=0 rep=0 false=1 bursts=0 win=0 f10k=+Inf prec=0 ttd=0s/0s ok=true/false",
				"total":                 "inc=4 det=3 rec=0.75 alerts=12 true=3 also=1 benign=2 rep=2 false=4 bursts=1 win=35100 f10k=1.14 prec=0.5 ttd=2m0s/30m0s ok=false/false",
			},
		},
		{
			name: "one-minute windows shorten the grace", alerts: mixed, windows: mixedWindows, ignored: 1,
			scoring: Scoring{Windows: map[string]time.Duration{ProfileBruteForce: time.Minute}, DefaultWindow: 5 * time.Minute, GraceWindows: 2},
			want: map[string]string{
				// The alert 9m after A's end is now false, and B's alert 3m
				// before its start (more than a window early) too.
				ProfileBruteForce: "inc=2 det=1 rec=0.5 alerts=7 true=1 also=1 benign=0 rep=1 false=4 bursts=1 win=10000 f10k=4 prec=0.3333 ttd=2m0s/2m0s ok=false/false",
			},
		},
		{
			name: "two incidents on one entity are two detections", scoring: DefaultScoring(),
			windows: map[string]int64{ProfileBruteForce: 10000},
			extra:   []Label{{Profile: ProfileBruteForce, Tenant: "default", Entity: "A", Start: after(5 * time.Hour), End: after(5*time.Hour + 10*time.Minute)}},
			alerts: []Alert{
				alert(ProfileBruteForce, "A", time.Hour+5*time.Minute),
				alert(ProfileBruteForce, "A", 5*time.Hour+5*time.Minute),
			},
			want: map[string]string{
				ProfileBruteForce: "inc=3 det=2 rec=0.6667 alerts=2 true=2 also=0 benign=0 rep=0 false=0 bursts=0 win=10000 f10k=0 prec=1 ttd=5m0s/5m0s ok=false/true",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			labels := fixture()
			labels.Incidents = append(labels.Incidents, tt.extra...)
			r := tt.scoring.Evaluate(labels, tt.alerts, tt.windows)
			got := map[string]string{"total": row(r.Total)}
			for _, p := range r.Profiles {
				got[p.Profile] = row(p)
			}
			for profile, want := range tt.want {
				require.Equal(t, want, got[profile], profile)
			}
			require.Equal(t, tt.ignored, r.Ignored)
			require.Equal(t, tt.ok, r.OK())
			// Every alert in the period is exactly one kind.
			for _, p := range append(r.Profiles, r.Total) {
				require.Equal(t, p.Alerts, p.True+p.Also+p.Benign+p.Repeats+p.False, p.Profile)
			}
		})
	}
}

func TestEvaluateListsProfilesInOrder(t *testing.T) {
	r := Evaluate(fixture(), mixed, mixedWindows)
	var names []string
	for _, p := range r.Profiles {
		names = append(names, p.Profile)
	}
	require.Equal(t, append(Profiles(), "dns_tunnel"), names)
}

func TestReportTable(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Evaluate(fixture(), mixed, mixedWindows).Table(&buf))
	golden := filepath.Join("testdata", "table.golden")
	if *update {
		require.NoError(t, os.WriteFile(golden, buf.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	require.Equal(t, string(want), buf.String())
}
