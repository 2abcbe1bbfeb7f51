package evalset

import (
	"cmp"
	"fmt"
	"io"
	"math"
	"slices"
	"text/tabwriter"
	"time"
)

// Targets every profile must meet.
const (
	TargetRecall      = 0.9 // at least
	TargetFalsePer10k = 1.0 // false alerts per 10,000 entity-windows, at most
)

// Alert is what scoring needs of one of the engine's alerts.
type Alert struct {
	Profile string
	// Tenant is the alert's organization; empty means the labels' tenant.
	Tenant string
	Entity string
	// Time is when the alert was first raised (or its incident first seen),
	// in event time.
	Time time.Time
}

// Scoring says how alerts are matched to labels. An alert matches a label
// when tenant, profile and entity agree (the label's own profile, or one in
// its Also map with that profile's entity) and its time lies in
// [Start − one window, End + GraceWindows windows]: an engine may stamp an
// alert with the start of the window that fired, and may need a window or
// two after the activity ends to close it.
type Scoring struct {
	// Windows is the engine's window length per profile; profiles missing
	// from it use DefaultWindow.
	Windows map[string]time.Duration
	// DefaultWindow is 5 minutes in DefaultScoring.
	DefaultWindow time.Duration
	// GraceWindows is 2 in DefaultScoring.
	GraceWindows int
}

// DefaultScoring matches with 5-minute windows and a grace of two windows.
func DefaultScoring() Scoring {
	return Scoring{DefaultWindow: 5 * time.Minute, GraceWindows: 2}
}

func (s Scoring) window(profile string) time.Duration {
	if w, ok := s.Windows[profile]; ok {
		return w
	}
	return s.DefaultWindow
}

// ProfileReport is the scoring of one profile (or of all, in Report.Total).
type ProfileReport struct {
	Profile string
	// Incidents is the number of attacks labelled for the profile; Detected,
	// how many of them an alert of the profile matched.
	Incidents, Detected int
	// Recall is Detected / Incidents, NaN without incidents.
	Recall float64
	// Alerts is every alert of the profile in the evaluation period. Each
	// is exactly one of: True (the first on an attack labelled for the
	// profile), Also (the first on an attack of another profile whose Also
	// names this one), Benign (the first on benign activity the profile
	// rightly flags), Repeats (a further alert on a label already matched),
	// False (no label).
	Alerts, True, Also, Benign, Repeats, False int
	// OnBursts is how many of the false alerts fell on a benign burst.
	OnBursts int
	// Windows is the entity-windows the engine scored (from Evaluate's
	// argument); FalsePer10k is False per 10,000 of them (+Inf when alerts
	// were false and no windows were given).
	Windows     int64
	FalsePer10k float64
	// Precision is (True + Also) / (True + Also + False), NaN with none.
	Precision float64
	// TTDMedian and TTD90 are the median and 90th percentile (nearest rank)
	// of the time from an attack's start to its first matching alert (0 for
	// an alert stamped before the start), over the detected attacks.
	TTDMedian, TTD90 time.Duration
	// RecallOK and FalseOK say whether the targets hold; a profile without
	// incidents meets the recall target.
	RecallOK, FalseOK bool
}

// OK says whether both targets hold.
func (p ProfileReport) OK() bool { return p.RecallOK && p.FalseOK }

// Report is the scoring of an engine's alerts against the labels.
type Report struct {
	// Profiles in the order of Profiles(), then any others by name.
	Profiles []ProfileReport
	// Total sums the profiles: recall over all incidents, the false rate
	// over all windows, time to detect over all detections.
	Total ProfileReport
	// Ignored counts alerts raised before the evaluation period.
	Ignored int
}

// OK says whether every profile meets both targets.
func (r Report) OK() bool {
	for _, p := range r.Profiles {
		if !p.OK() {
			return false
		}
	}
	return true
}

// Evaluate scores alerts against labels with DefaultScoring. windows maps a
// profile to the number of entity-windows the engine scored for it in the
// evaluation period.
func Evaluate(labels Labels, alerts []Alert, windows map[string]int64) Report {
	return DefaultScoring().Evaluate(labels, alerts, windows)
}

// match is how an alert relates to a label; lower is preferred.
type match int

const (
	matchOwn match = iota
	matchAlso
	matchBenign
	matchNone
)

type labelKey struct{ tenant, profile, entity string }

// Evaluate scores alerts against labels. See the package Evaluate.
func (s Scoring) Evaluate(labels Labels, alerts []Alert, windows map[string]int64) Report {
	// Index every (profile, entity) a label may be alerted as.
	index := map[labelKey][]int{}
	for i, l := range labels.Incidents {
		index[labelKey{l.Tenant, l.Profile, l.Entity}] = append(index[labelKey{l.Tenant, l.Profile, l.Entity}], i)
		for p, e := range l.Also {
			index[labelKey{l.Tenant, p, e}] = append(index[labelKey{l.Tenant, p, e}], i)
		}
	}
	bursts := map[labelKey][]int{}
	for i, l := range labels.Bursts {
		bursts[labelKey{l.Tenant, l.Profile, l.Entity}] = append(bursts[labelKey{l.Tenant, l.Profile, l.Entity}], i)
		for p, e := range l.Also {
			bursts[labelKey{l.Tenant, p, e}] = append(bursts[labelKey{l.Tenant, p, e}], i)
		}
	}
	stats := map[string]*ProfileReport{}
	ttds := map[string][]time.Duration{}
	get := func(p string) *ProfileReport {
		if stats[p] == nil {
			stats[p] = &ProfileReport{Profile: p}
		}
		return stats[p]
	}
	for _, p := range Profiles() {
		get(p)
	}
	for _, l := range labels.Incidents {
		if !l.Benign {
			get(l.Profile).Incidents++
		}
	}
	for p, n := range windows {
		get(p).Windows = n
	}

	sorted := slices.Clone(alerts)
	slices.SortStableFunc(sorted, func(a, b Alert) int { return a.Time.Compare(b.Time) })
	matched := map[[2]any]bool{} // (label index, profile) already matched
	var report Report
	for _, a := range sorted {
		if a.Time.Before(labels.EvalStart) {
			report.Ignored++
			continue
		}
		a.Tenant = cmp.Or(a.Tenant, labels.Tenant)
		ps := get(a.Profile)
		ps.Alerts++
		w := s.window(a.Profile)
		within := func(l Label) bool {
			return !a.Time.Before(l.Start.Add(-w)) && !a.Time.After(l.End.Add(time.Duration(s.GraceWindows)*w))
		}
		best, bestHow, bestNew := -1, matchNone, false
		for _, i := range index[labelKey{a.Tenant, a.Profile, a.Entity}] {
			l := labels.Incidents[i]
			if !within(l) {
				continue
			}
			how := matchAlso
			switch {
			case l.Benign:
				how = matchBenign
			case l.Profile == a.Profile && l.Entity == a.Entity:
				how = matchOwn
			}
			isNew := !matched[[2]any{i, a.Profile}]
			// Prefer the closest kind of match, then a label not yet matched.
			if how < bestHow || how == bestHow && isNew && !bestNew {
				best, bestHow, bestNew = i, how, isNew
			}
		}
		switch {
		case bestHow == matchNone:
			ps.False++
			for _, i := range bursts[labelKey{a.Tenant, a.Profile, a.Entity}] {
				if within(labels.Bursts[i]) {
					ps.OnBursts++
					break
				}
			}
		case !bestNew:
			ps.Repeats++
		default:
			matched[[2]any{best, a.Profile}] = true
			switch bestHow {
			case matchOwn:
				ps.True++
				ps.Detected++
				ttds[a.Profile] = append(ttds[a.Profile], max(0, a.Time.Sub(labels.Incidents[best].Start)))
			case matchAlso:
				ps.Also++
			case matchBenign:
				ps.Benign++
			}
		}
	}

	names := Profiles()
	var extra []string
	for p := range stats {
		if !slices.Contains(names, p) {
			extra = append(extra, p)
		}
	}
	slices.Sort(extra)
	total := ProfileReport{Profile: "total"}
	var all []time.Duration
	for _, p := range append(names, extra...) {
		ps := stats[p]
		finish(ps, ttds[p])
		report.Profiles = append(report.Profiles, *ps)
		total.Incidents += ps.Incidents
		total.Detected += ps.Detected
		total.Alerts += ps.Alerts
		total.True += ps.True
		total.Also += ps.Also
		total.Benign += ps.Benign
		total.Repeats += ps.Repeats
		total.False += ps.False
		total.OnBursts += ps.OnBursts
		total.Windows += ps.Windows
		all = append(all, ttds[p]...)
	}
	finish(&total, all)
	total.RecallOK, total.FalseOK = report.OK(), report.OK()
	report.Total = total
	return report
}

// finish computes the ratios, times to detect and verdicts from the counts.
func finish(p *ProfileReport, ttd []time.Duration) {
	p.Recall = ratio(p.Detected, p.Incidents)
	p.Precision = ratio(p.True+p.Also, p.True+p.Also+p.False)
	switch {
	case p.False == 0:
		p.FalsePer10k = 0
	case p.Windows == 0:
		p.FalsePer10k = math.Inf(1)
	default:
		p.FalsePer10k = float64(p.False) * 1e4 / float64(p.Windows)
	}
	slices.Sort(ttd)
	p.TTDMedian, p.TTD90 = quantile(ttd, 0.5), quantile(ttd, 0.9)
	p.RecallOK = p.Incidents == 0 || p.Recall >= TargetRecall
	p.FalseOK = p.FalsePer10k <= TargetFalsePer10k
}

func ratio(a, b int) float64 {
	if b == 0 {
		return math.NaN()
	}
	return float64(a) / float64(b)
}

// quantile is the nearest-rank q-quantile of sorted d (0 when empty).
func quantile(d []time.Duration, q float64) time.Duration {
	if len(d) == 0 {
		return 0
	}
	return d[max(0, int(math.Ceil(q*float64(len(d))))-1)]
}

// Table prints the report as an aligned table, one row per profile and a
// totals row.
func (r Report) Table(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\tincidents\tdetected\trecall\talerts\ttrue\talso\tbenign\trepeats\tfalse\ton_bursts\twindows\tfalse/10k\tprecision\tttd_p50\tttd_p90\tok\t")
	for _, p := range append(slices.Clone(r.Profiles), r.Total) {
		ok := "yes"
		if !p.OK() {
			ok = "NO"
		}
		ttd50, ttd90 := "-", "-"
		if p.Detected > 0 {
			ttd50, ttd90 = p.TTDMedian.Round(time.Second).String(), p.TTD90.Round(time.Second).String()
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t\n",
			p.Profile, p.Incidents, p.Detected, fixed(p.Recall, 2), p.Alerts, p.True, p.Also, p.Benign, p.Repeats,
			p.False, p.OnBursts, p.Windows, fixed(p.FalsePer10k, 2), fixed(p.Precision, 2), ttd50, ttd90, ok)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if r.Ignored > 0 {
		_, err := fmt.Fprintf(w, "alerts raised before the evaluation period (not scored): %d\n", r.Ignored)
		return err
	}
	return nil
}

// fixed formats x with the given decimals, "-" for NaN.
func fixed(x float64, decimals int) string {
	if math.IsNaN(x) {
		return "-"
	}
	if math.IsInf(x, 1) {
		return "inf"
	}
	return fmt.Sprintf("%.*f", decimals, x)
}
