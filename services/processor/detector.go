package processor

import (
	"fmt"
	"math"
	"net/url"
	"sort"
	"strconv"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
)

// Profile and feature names this detector reports.
const (
	ProfileBruteForce = "brute_force"
	FeatureFailures   = "failed_logins"
	EntityField       = "source.ip"
)

// Scoring methods, as reported in explanations.
const (
	MethodOwn        = "count_tail_ewma"
	MethodPopulation = "count_tail_population"
	MethodPeers      = "count_tail_peers"
)

// populationPrior is what an IP is judged against before anything at all
// has been seen: about one failure per window, over-dispersed (variance 4),
// so a cold start alerts only on counts far beyond what one IP normally
// fails.
var populationPrior = ewma{Mean: 1, Var: 4}

// maxClockSkew is how far ahead of this machine's clock an event may be
// dated and still count.
const maxClockSkew = 10 * time.Minute

// learnGuard is the anomaly score from which a window is learned from only
// slowly (see close).
const learnGuard = 0.99

// Position is where an event was read: a partition and its offset.
type Position struct {
	Partition int
	Offset    int64
}

// Detector counts failed logins per tenant and source IP in tumbling
// event-time windows and scores each closed window.
//
// Events arrive keyed by source IP, so all of one IP's events come through
// one partition. Windows and the watermark are therefore kept per
// partition: a partition read ahead of another never makes the other's
// events late, and a partition's offsets are held back only by its own open
// windows. Baselines are per IP; the population baseline is shared.
//
// It is not safe for concurrent use; the processor drives it from one
// goroutine.
type Detector struct {
	cfg config.BruteForceConfig

	parts    map[int]*partition
	entities map[entityKey]*entity
	pop      *population

	stats Stats
	// early holds alerts raised before their window closed, for Advance.
	early []alert.Alert
}

// partition is the windowing state of one input partition.
type partition struct {
	windows   map[int64]*window // by window start, unix nanoseconds
	maxEvent  time.Time         // newest event time seen
	closedTo  time.Time         // every window ending at or before this is closed
	lastEvent time.Time         // wall clock of the newest accepted event
	open      map[entityKey]*incident
	seen      *recentIDs
}

// Stats counts what the detector did, for metrics.
type Stats struct {
	Counted, Ignored, Late, Future, Duplicate, Overflow uint64
}

type entityKey struct{ tenant, ip string }

type entity struct {
	base       ewma
	lastWindow int64 // start of the last window it was scored in
}

type incident struct {
	firstSeen  time.Time
	lastWindow time.Time // start of the newest anomalous window
	count      int
}

type window struct {
	start  time.Time
	counts map[entityKey]*cell
	// minOffset is the lowest offset of an event held here.
	minOffset int64
}

// cell is one entity's count in one window.
type cell struct {
	n float64
	// nextCheck is the count at which the open window is next judged for
	// an early alert.
	nextCheck float64
}

// NewDetector returns a detector with empty state.
func NewDetector(cfg config.BruteForceConfig) *Detector {
	return &Detector{
		cfg:      cfg,
		parts:    map[int]*partition{},
		entities: map[entityKey]*entity{},
		pop:      newPopulation(),
	}
}

// Relevant reports whether e counts towards the baseline: a failed
// authentication with a source IP.
func Relevant(e *event.Event) bool {
	return e.Category == event.CategoryAuthentication && e.Outcome == event.OutcomeFailure && e.SrcIP != ""
}

// maxRepeat caps what one repeated line counts for: the count is
// attacker-controlled text.
const maxRepeat = 10_000

// weight is how many failures e stands for: a syslog "message repeated N
// times" line stands for N.
func weight(e *event.Event) float64 {
	if n, err := strconv.Atoi(e.Attrs["vigil.repeat"]); err == nil && n > 1 {
		return float64(min(n, maxRepeat))
	}
	return 1
}

// Observe adds e, read at pos, to its window. It reports false when e does
// not count (irrelevant or late); such an event holds back no offset.
func (d *Detector) Observe(e *event.Event, pos Position, now time.Time) bool {
	if !Relevant(e) {
		d.stats.Ignored++
		return false
	}
	part := d.parts[pos.Partition]
	if part == nil {
		part = &partition{windows: map[int64]*window{}, open: map[entityKey]*incident{}, seen: newRecentIDs(recentIDsPerPartition)}
		d.parts[pos.Partition] = part
	}
	if part.seen.seenBefore(e.ID) {
		// A line the shipper sent again after a crash: counted once.
		d.stats.Duplicate++
		return false
	}
	ts := e.Timestamp
	if ts.After(now.Add(maxClockSkew)) {
		// A clock far ahead would hold the partition's windows open (and
		// its offsets uncommitted) until that time: not counted.
		d.stats.Future++
		return false
	}
	start := ts.Truncate(d.cfg.Window)
	if !start.Add(d.cfg.Window).After(part.closedTo) {
		d.stats.Late++
		return false
	}
	w := part.windows[start.UnixNano()]
	if w == nil {
		w = &window{start: start, counts: map[entityKey]*cell{}, minOffset: pos.Offset}
		part.windows[start.UnixNano()] = w
	}
	k := entityKey{e.Tenant, e.SrcIP}
	c := w.counts[k]
	if c == nil {
		c = &cell{nextCheck: float64(d.cfg.MinCount)}
		w.counts[k] = c
	}
	c.n += weight(e)
	w.minOffset = min(w.minOffset, pos.Offset)
	if ts.After(part.maxEvent) {
		part.maxEvent = ts
	}
	part.lastEvent = now
	d.stats.Counted++
	if c.n >= c.nextCheck {
		c.nextCheck = math.Ceil(c.n * earlyStep)
		d.judgeEarly(part, w, k, c.n)
	}
	return true
}

// earlyStep spaces the early checks of an open window: each at 25% more
// failures than the last, so a flood costs a handful of checks.
const earlyStep = 1.25

// judgeEarly raises an alert before the window closes when the failures
// counted so far are already anomalous: a count only grows, so the closed
// window will be at least as anomalous. Only an established baseline (the
// entity's own, or a warmed-up population) may fire early; during cold start
// the peers of the closed window have a say first.
func (d *Detector) judgeEarly(part *partition, w *window, k entityKey, n float64) {
	if inc := part.open[k]; inc != nil && !d.resolvedBy(inc, w.start) {
		return
	}
	j := d.judge(k, w.start, n, nil)
	if !j.established || !d.anomalous(j.anomaly, n) {
		return
	}
	inc := &incident{firstSeen: w.start, lastWindow: w.start, count: 1}
	part.open[k] = inc
	d.early = append(d.early, d.alert(k, inc, d.score(k, w.start, n, j)))
}

// Output is what closing windows produced.
type Output struct {
	Scores []score.Score
	Alerts []alert.Alert
}

// Advance returns the alerts raised early since the last call, and closes,
// in every partition, each window the partition's watermark (its newest
// event time minus the allowed lateness) has passed. A partition that has
// had no event for IdleFlush of wall-clock time also closes each window that
// ended more than the lateness ago by the wall clock. Windows close oldest
// first within a partition.
func (d *Detector) Advance(now time.Time) Output {
	out := Output{Alerts: d.early}
	d.early = nil
	ids := make([]int, 0, len(d.parts))
	for id := range d.parts {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	for _, id := range ids {
		d.advance(d.parts[id], now, &out)
	}
	return out
}

func (d *Detector) advance(part *partition, now time.Time, out *Output) {
	watermark := part.maxEvent.Add(-d.cfg.Lateness)
	if len(part.windows) > 0 && now.Sub(part.lastEvent) >= d.cfg.IdleFlush {
		// Idle: close what the wall clock says can no longer receive
		// events (its end is more than the lateness ago), which for a
		// replay of old logs is every open window.
		idle := part.maxEvent.Add(d.cfg.Window)
		if wall := now.Add(-d.cfg.Lateness); wall.Before(idle) {
			idle = wall
		}
		if idle.After(watermark) {
			watermark = idle
		}
	}
	var starts []int64
	for s, w := range part.windows {
		if !w.start.Add(d.cfg.Window).After(watermark) {
			starts = append(starts, s)
		}
	}
	sort.Slice(starts, func(i, j int) bool { return starts[i] < starts[j] })
	for _, s := range starts {
		d.close(part, part.windows[s], out)
		delete(part.windows, s)
	}
	if end := watermark.Truncate(d.cfg.Window); end.After(part.closedTo) {
		part.closedTo = end
	}
	// An incident resolves once ResolveWindows windows after its last
	// anomalous one have closed, whether or not its IP was seen in them.
	for k, inc := range part.open {
		if d.resolvedBy(inc, part.closedTo) {
			delete(part.open, k)
		}
	}
}

// resolvedBy reports whether inc is over by t: ResolveWindows windows
// after its last anomalous one have passed.
func (d *Detector) resolvedBy(inc *incident, t time.Time) bool {
	return !t.Before(inc.lastWindow.Add(time.Duration(d.cfg.ResolveWindows+1) * d.cfg.Window))
}

// LowWater returns, per partition, the lowest offset still held by an open
// window. Offsets below it are fully accounted for.
func (d *Detector) LowWater() map[int]int64 {
	low := map[int]int64{}
	for id, part := range d.parts {
		for _, w := range part.windows {
			if cur, ok := low[id]; !ok || w.minOffset < cur {
				low[id] = w.minOffset
			}
		}
	}
	return low
}

// Stats returns the counters so far.
func (d *Detector) Stats() Stats { return d.stats }

// Entities is the number of IPs with a baseline.
func (d *Detector) Entities() int { return len(d.entities) }

// OpenWindows is the number of windows not yet closed.
func (d *Detector) OpenWindows() int {
	n := 0
	for _, part := range d.parts {
		n += len(part.windows)
	}
	return n
}

// judgement is how one count compares with its baseline.
type judgement struct {
	anomaly     float64
	base        ewma // the baseline used, as of the judged window
	variance    float64
	method      string
	established bool // the baseline is the entity's own or a warmed-up population's
}

// judge scores observed failures of k in the window starting at start. It
// does not change any state. peers, when not nil, are the counts of every
// entity in the same window: while the population baseline warms up, a
// count is judged against both the prior and its peers, and the milder
// verdict stands, so a busy first minute does not page for everyone.
func (d *Detector) judge(k entityKey, start time.Time, observed float64, peers *peerStats) judgement {
	j := judgement{base: d.pop.baseline(), method: MethodPopulation, established: true}
	if j.base.Samples == 0 || j.base.Samples < uint64(d.cfg.Warmup) {
		j.base, j.established = populationPrior, false
	}
	if ent := d.entities[k]; ent != nil {
		own := ent.base
		own.skip((start.UnixNano()-ent.lastWindow)/int64(d.cfg.Window)-1, d.cfg.Alpha)
		if own.Samples >= uint64(d.cfg.Warmup) {
			j.base, j.method, j.established = own, MethodOwn, true
		}
	}
	j.anomaly, j.variance = tailScore(observed, j.base)
	if !j.established && peers != nil && peers.n >= minPeers {
		if a, v := tailScore(observed, peers.base); a < j.anomaly {
			j.anomaly, j.variance, j.base, j.method = a, v, peers.base, MethodPeers
		}
	}
	return j
}

// tailScore is 1 minus the probability of at least observed under base.
func tailScore(observed float64, base ewma) (anomaly, variance float64) {
	expected := math.Max(base.Mean, 0.1)
	variance = math.Max(base.Var, expected)
	return 1 - countTail(observed, expected, variance), variance
}

func (d *Detector) anomalous(anomaly, observed float64) bool {
	return anomaly >= d.cfg.Threshold && observed >= float64(d.cfg.MinCount)
}

// minPeers is the fewest entities in a window for its peers to count.
const minPeers = 5

// peerStats summarises the counts of one window robustly: the median, and
// the MAD scaled to a standard deviation.
type peerStats struct {
	n    int
	base ewma
}

func peersOf(w *window) *peerStats {
	xs := make([]float64, 0, len(w.counts))
	for _, c := range w.counts {
		xs = append(xs, c.n)
	}
	if len(xs) < minPeers {
		return &peerStats{n: len(xs)}
	}
	med := median(xs)
	dev := make([]float64, len(xs))
	for i, x := range xs {
		dev[i] = math.Abs(x - med)
	}
	sd := 1.4826 * median(dev)
	return &peerStats{n: len(xs), base: ewma{Mean: med, Var: sd * sd, Samples: uint64(len(xs))}}
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

func (d *Detector) score(k entityKey, start time.Time, observed float64, j judgement) score.Score {
	return score.Score{
		Version:      1,
		ID:           score.ID(k.tenant, ProfileBruteForce, k.ip, start),
		Tenant:       k.tenant,
		Profile:      ProfileBruteForce,
		Entity:       k.ip,
		EntityField:  EntityField,
		WindowStart:  start,
		WindowEnd:    start.Add(d.cfg.Window),
		AnomalyScore: j.anomaly,
		Explanation: score.Explanation{
			Feature:  FeatureFailures,
			Observed: observed,
			Expected: j.base.Mean,
			Spread:   math.Sqrt(j.variance),
			Samples:  j.base.Samples,
			Method:   j.method,
		},
	}
}

func (d *Detector) close(part *partition, w *window, out *Output) {
	keys := make([]entityKey, 0, len(w.counts))
	for k := range w.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].tenant != keys[j].tenant {
			return keys[i].tenant < keys[j].tenant
		}
		return keys[i].ip < keys[j].ip
	})
	var peers *peerStats
	if d.pop.baseline().Samples < uint64(d.cfg.Warmup) {
		peers = peersOf(w)
	}
	// Every entity of the window is judged against the population as it
	// was before the window; the window's counts join it afterwards.
	var learned []float64
	defer func() {
		for _, x := range learned {
			d.pop.add(x)
		}
	}()
	step := int64(d.cfg.Window)
	for _, k := range keys {
		observed := w.counts[k].n
		j := d.judge(k, w.start, observed, peers)
		s := d.score(k, w.start, observed, j)
		out.Scores = append(out.Scores, s)
		anomalous := d.anomalous(j.anomaly, observed)

		ent := d.entities[k]
		if ent == nil && len(d.entities) < d.cfg.MaxEntities {
			ent = &entity{lastWindow: w.start.UnixNano() - step}
			d.entities[k] = ent
		} else if ent == nil {
			d.stats.Overflow++
		}
		// Suspicious windows (scoring learnGuard or more, alerting or not)
		// are learned from by the entity at a tenth of the weight and
		// without counting as samples, so an attack does not become the
		// baseline it is judged against, while a lasting change is still
		// adopted slowly. The population does not learn them at all. While
		// it warms up the verdict is the milder of the prior's and the
		// peers', so a busy but even first minute is learned, a lone flood
		// is not.
		learn := func(b *ewma) { b.update(observed, d.cfg.Alpha) }
		if j.anomaly >= learnGuard {
			learn = func(b *ewma) { b.nudge(observed, d.cfg.Alpha/10) }
		}
		if ent != nil {
			ent.base.skip((w.start.UnixNano()-ent.lastWindow)/step-1, d.cfg.Alpha)
			ent.lastWindow = w.start.UnixNano()
			learn(&ent.base)
		}
		if j.anomaly < learnGuard {
			learned = append(learned, observed)
		}

		if !anomalous {
			continue
		}
		if inc := part.open[k]; inc == nil || d.resolvedBy(inc, w.start) {
			inc = &incident{firstSeen: w.start, lastWindow: w.start, count: 1}
			part.open[k] = inc
			out.Alerts = append(out.Alerts, d.alert(k, inc, s))
		} else if inc.lastWindow != w.start { // an early alert may have counted this window
			inc.count++
			inc.lastWindow = w.start
		}
	}
}

func (d *Detector) alert(k entityKey, inc *incident, s score.Score) alert.Alert {
	key := alert.DedupKey(k.tenant, ProfileBruteForce, k.ip)
	x := s.Explanation
	from := s.WindowStart.Add(-time.Hour).UTC().Format(time.DateTime)
	to := s.WindowEnd.Add(time.Hour).UTC().Format(time.DateTime)
	query := fmt.Sprintf("SELECT timestamp, host, user, action, outcome, message FROM events FINAL "+
		"WHERE tenant = '%s' AND src_ip = '%s' AND timestamp BETWEEN '%s' AND '%s' ORDER BY timestamp",
		sqlQuote(k.tenant), sqlQuote(k.ip), from, to)
	return alert.Alert{
		Version:  1,
		ID:       alert.ID(key, inc.firstSeen, alert.StatusFiring),
		DedupKey: key,
		Status:   alert.StatusFiring,
		Severity: d.cfg.Severity,
		Summary: fmt.Sprintf("Brute force from %s: %.0f failed logins in %s (expected %.1f ± %.1f)",
			k.ip, x.Observed, d.cfg.Window, x.Expected, x.Spread),
		Tenant:       k.tenant,
		Profile:      ProfileBruteForce,
		Entity:       k.ip,
		EntityField:  EntityField,
		FirstSeen:    inc.firstSeen,
		LastSeen:     s.WindowEnd,
		Count:        inc.count,
		AnomalyScore: s.AnomalyScore,
		Explanation:  x,
		Links: alert.Links{
			Dashboard: "/d/vigil-entity/vigil-entity?var-entity=" + url.QueryEscape(k.ip) + "&var-tenant=" + url.QueryEscape(k.tenant),
			Query:     query,
		},
	}
}

func sqlQuote(s string) string {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '\'' || s[i] == '\\' {
			out = append(out, '\\')
		}
		out = append(out, s[i])
	}
	return string(out)
}
