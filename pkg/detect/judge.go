package detect

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/score"
)

// populationPrior is what a count is judged against before anything at all
// has been seen: about one per window, over-dispersed (variance 4), so a
// cold start alerts only on counts far beyond what one entity normally has.
var populationPrior = expectation{mean: 1, variance: 4}

// learnGuard is the anomaly score from which a window is learned from only
// slowly and not added to the population.
const learnGuard = 0.99

// judgement is how one value compares with its baseline.
type judgement struct {
	anomaly     float64
	ex          expectation
	method      string
	established bool // the baseline is the entity's own or a warmed-up population's
	// priorOnly: judged against the population's prior alone (no
	// warmed-up population, too few peers). Such a verdict pages.
	priorOnly bool
	// unjudged: nothing to judge against yet (a measurement while the
	// population warms up, with fewer than minPeers peers).
	unjudged bool
}

// tail returns the probability, under ex, of a value at least as extreme
// as x in the feature's direction: a count model (Poisson, or negative
// binomial when over-dispersed) for counts, a normal tail otherwise.
func (f *feature) tail(x float64, ex expectation) (p float64, name string) {
	if f.counts() {
		mean, v := countModel(ex)
		if f.low {
			return countLowTail(x, mean, v), "count_low_tail"
		}
		return countTail(x, mean, v), "count_tail"
	}
	z := (x - ex.mean) / normalSD(ex)
	if f.low {
		return normalUpper(-z), "normal_low_tail"
	}
	return normalUpper(z), "normal_tail"
}

// spread is the standard deviation of the model tail judges a value
// under ex with.
func (f *feature) spread(ex expectation) float64 {
	if f.counts() {
		_, v := countModel(ex)
		return math.Sqrt(v)
	}
	return normalSD(ex)
}

// countModel is the mean and variance a count is judged with under ex.
func countModel(ex expectation) (mean, variance float64) {
	mean = math.Max(ex.mean, 0.1)
	return mean, math.Max(ex.variance, mean)
}

// normalSD is the standard deviation a measurement is judged with under ex.
func normalSD(ex expectation) float64 {
	return math.Max(math.Sqrt(math.Max(ex.variance, 0)), math.Max(0.1*math.Abs(ex.mean), 1e-9))
}

// judge scores x, feature i of entity ent (nil when it has no state) in
// the window starting at start, without changing any state. peers, when not nil, summarise every
// entity's value in the same window: while the population warms up, a
// value is judged against both the prior and its peers, and the milder
// verdict stands, so a busy first window does not page for everyone.
func (p *profile) judge(f *feature, i int, ent *entity, start time.Time, x float64, peers *expectation) judgement {
	warm := uint64(p.cfg.Warmup)
	var j judgement
	if ent != nil && ent.bases[i].samples() >= warm {
		j = judgement{ex: ent.bases[i].expect(start), method: ent.bases[i].method(), established: true}
	} else if f.low {
		return judgement{method: "warming_up"}
	} else if f.pop.samples() >= warm {
		j = judgement{ex: f.pop.baseline(), method: MethodPopulation, established: true}
	} else if f.counts() {
		j = judgement{ex: populationPrior, method: MethodPopulation, priorOnly: true}
	} else if peers == nil || peers.samples < minPeers {
		return judgement{method: "warming_up", unjudged: true}
	} else {
		j = judgement{ex: *peers, method: MethodPeers}
		peers = nil
	}
	pv, tailName := f.tail(x, j.ex)
	j.anomaly = 1 - pv
	if !j.established && peers != nil && peers.samples >= minPeers {
		if pp, _ := f.tail(x, *peers); 1-pp < j.anomaly {
			j.anomaly, j.ex, j.method, j.priorOnly = 1-pp, *peers, MethodPeers, false
		}
	}
	j.method = methodName(j.method, tailName)
	return j
}

// methodNames holds "baseline/tail" strings, so judging a value does not
// build one.
var methodNames = map[[2]string]string{}

func init() {
	for _, b := range []string{"ewma", "median_mad", "seasonal_hour_of_week", MethodPopulation, MethodPeers} {
		for _, t := range []string{"count_tail", "count_low_tail", "normal_tail", "normal_low_tail"} {
			methodNames[[2]string{b, t}] = b + "/" + t
		}
	}
}

func methodName(base, tail string) string {
	if m, ok := methodNames[[2]string{base, tail}]; ok {
		return m
	}
	return base + "/" + tail
}

// fitsPeers reports whether x does not stand out from the other values of
// its window, summarised by peers: at least three of them, as no value
// stands out from the midpoint of two.
func fitsPeers(f *feature, x float64, peers *expectation) bool {
	if peers == nil || peers.samples < 3 {
		return false
	}
	pv, _ := f.tail(x, *peers)
	return 1-pv < learnGuard
}

// minPeers is the fewest entities in a window for its peers to count.
const minPeers = 5

// peersOf summarises feature i over a window's entities robustly: the
// median, and the MAD scaled to a standard deviation. Values are judged
// against peers only from minPeers of them on; fewer, from three, still
// tell whether a value stands out from the others in its window
// (fitsPeers).
func peersOf(w *window, f *feature, i int) *expectation {
	xs := make([]float64, 0, w.len())
	for k := range w.len() {
		if x, ok := f.value(w.at(k).acc(i)); ok {
			xs = append(xs, x)
		}
	}
	if len(xs) < 3 {
		return &expectation{samples: uint64(len(xs))}
	}
	med := median(xs)
	dev := make([]float64, len(xs))
	for k, x := range xs {
		dev[k] = math.Abs(x - med)
	}
	sd := 1.4826 * median(dev)
	return &expectation{mean: med, variance: sd * sd, samples: uint64(len(xs))}
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	m := len(xs) / 2
	if len(xs)%2 == 1 {
		return xs[m]
	}
	return (xs[m-1] + xs[m]) / 2
}

// newEntity returns the state of a new entity, or nil when the profile is
// at its cap.
func (p *profile) newEntity(h uint64, start time.Time) *entity {
	if len(p.entities) >= p.maxEntities {
		p.stats.Overflow++
		return nil
	}
	ent := p.newEntityState(start.UnixNano() - p.step)
	p.entities[h] = ent
	return ent
}

// close judges every entity of a closed window, publishes its scores and
// alerts, and learns from it.
func (p *profile) close(w *window, out *Output) {
	peers := make([]*expectation, len(p.feats))
	learned := make([][]float64, len(p.feats))
	for i, f := range p.feats {
		if !f.low && f.pop.samples() < uint64(p.cfg.Warmup) {
			peers[i] = peersOf(w, f, i)
		}
		if !f.low {
			learned[i] = make([]float64, 0, w.len())
		}
	}
	out.Scores = slices.Grow(out.Scores, w.len())
	// A batch of cells is copied out, their entities looked up, and the
	// memory judging them reads first touched (the cell's names, the
	// entity's state), before any of them is judged (which adds no entity
	// but its own): reads that do not wait for one another, so the
	// processor overlaps their misses of the cache instead of taking them
	// one after another.
	var (
		cells [closeBatch]cell
		ents  [closeBatch]*entity
	)
	for keys := sorted(w, &p.keyBufs); len(keys) > 0; {
		batch := keys[:min(closeBatch, len(keys))]
		keys = keys[len(batch):]
		var touched byte
		for j, k := range batch {
			cells[j], ents[j] = *w.at(k.at), p.entities[k.hash]
			touched ^= firstByte(cells[j].tenant) ^ firstByte(cells[j].entity)
			if ents[j] != nil {
				touched ^= byte(ents[j].last)
			}
		}
		runtime.KeepAlive(touched) // the reads are what is wanted, not their value
		for j, k := range batch {
			c, h, ent := &cells[j], k.hash, ents[j]
			if ent == nil {
				ent = p.newEntity(h, w.start)
				if ent != nil && p.low {
					ent.low = &lowEntity{tenant: c.tenant, name: c.entity}
				}
			}
			if ent != nil && ent.low != nil {
				ent.low.seen = w.start.UnixNano()
			}
			p.closeCell(w.start, h, c, ent, peers, learned, out)
		}
	}
	if p.low {
		p.closeAbsent(w, out)
	}
	for i, f := range p.feats {
		for _, x := range learned[i] {
			f.pop.add(x)
		}
	}
}

// firstByte is s[0], 0 when s is empty.
func firstByte(s string) byte {
	if s == "" {
		return 0
	}
	return s[0]
}

// closeBatch is how many cells close looks the entities of up at a time.
const closeBatch = 32

// closeCell judges and learns one entity's features in one window.
func (p *profile) closeCell(start time.Time, h uint64, c *cell, ent *entity, peers []*expectation, learned [][]float64, out *Output) {
	if ent != nil {
		// Windows since the entity was last seen had no events: zero for
		// counts and sums.
		if gap := (start.UnixNano()-ent.last)/p.step - 1; gap > 0 {
			from := time.Unix(0, ent.last+p.step).UTC()
			for i, f := range p.feats {
				if f.zeroWhenAbsent() {
					skipEmpty(ent.bases[i], gap, from, p.cfg.Window, f.cfg.Alpha)
				}
			}
		}
		ent.last = start.UnixNano()
	}
	var worst *score.Score
	for i, f := range p.feats {
		switch f.kind {
		case kindFirstSeen:
			p.closeNovel(start, c, c.acc(i), ent, f, out)
			continue
		case kindHourOfWeek:
			if s, bad := p.closeActivity(start, c, c.acc(i), ent, f); s != nil {
				out.Scores = append(out.Scores, *s)
				if bad && (worst == nil || s.AnomalyScore > worst.AnomalyScore) {
					worst = s
				}
			}
			continue
		}
		x, ok := f.value(c.acc(i))
		if !ok {
			continue
		}
		j := p.judge(f, i, ent, start, x, peers[i])
		s := p.score(c.tenant, c.entity, start, f, x, j)
		out.Scores = append(out.Scores, s)
		if p.anomalous(f, j.anomaly, x) && (worst == nil || s.AnomalyScore > worst.AnomalyScore) {
			worst = &out.Scores[len(out.Scores)-1]
		}
		if !p.anomalous(f, j.anomaly, x) && j.anomaly >= p.cfg.ResolveThreshold {
			p.warm(h, start)
		}
		suspicious := j.anomaly >= learnGuard
		if ent != nil {
			ent.bases[i].learn(x, start, f.cfg.Alpha, suspicious)
		}
		// Without a baseline to judge by (the prior alone, or nothing
		// yet), a value joins the population only when it does not stand
		// out from its peers in the window: with nothing learned yet, a
		// few entities that are all busy would otherwise look anomalous
		// for ever, while one that bursts among quiet ones must not widen
		// the baseline the next ones are judged by. Its own baseline still
		// learns it (slowly, when the prior found it anomalous), so a
		// burst judged so is not taken as the entity's normal.
		join := !suspicious
		if j.unjudged || j.priorOnly && suspicious {
			join = fitsPeers(f, x, peers[i])
		}
		if join && !f.low {
			learned[i] = append(learned[i], x)
		}
	}
	if worst != nil {
		p.raise(h, c.tenant, c.entity, start, *worst, &out.Alerts)
	}
}

// closeAbsent judges, for features judged low, every entity with history
// that had no events in the window: its value there is zero.
func (p *profile) closeAbsent(w *window, out *Output) {
	var hs []uint64
	for h, ent := range p.entities {
		if w.cell(h) == nil && ent.last < w.start.UnixNano() {
			hs = append(hs, h)
		}
	}
	slices.SortFunc(hs, func(a, b uint64) int {
		la, lb := p.entities[a].low, p.entities[b].low
		return strings.Compare(la.tenant+"\x00"+la.name, lb.tenant+"\x00"+lb.name)
	})
	empty := make([][]float64, len(p.feats))
	for _, h := range hs {
		ent := p.entities[h]
		c := p.newCell(h, ent.low.tenant, ent.low.name)
		p.closeCell(w.start, h, &c, ent, make([]*expectation, len(p.feats)), empty, out)
	}
}

// closeActivity judges an entity's activity in a window by the rarity of
// its hour of the week for the entity, then learns it.
func (p *profile) closeActivity(start time.Time, c *cell, a *acc, ent *entity, f *feature) (*score.Score, bool) {
	if a.n == 0 || ent == nil {
		return nil, false
	}
	j := judgement{method: "hour_of_week_rarity", ex: expectation{samples: ent.act.Samples, season: seasonName(hourOfWeek(start))}}
	if ent.act.Samples >= uint64(p.cfg.Warmup) {
		j.anomaly, j.ex.mean = ent.act.rarity(start)
		j.established = true
	}
	ent.act.learn(start)
	s := p.score(c.tenant, c.entity, start, f, a.n, j)
	s.Explanation.Spread = 0
	return &s, j.established && p.anomalous(f, j.anomaly, a.n)
}

// closeNovel judges each value an entity used in a window: one never seen
// for it before is as anomalous as the entity's history makes a new value
// unlikely (see novelty).
func (p *profile) closeNovel(start time.Time, c *cell, a *acc, ent *entity, f *feature, out *Output) {
	if ent == nil || len(a.values) == 0 {
		return
	}
	values := make([]string, 0, len(a.values))
	for v := range a.values {
		values = append(values, v)
	}
	slices.Sort(values)
	n := ent.nov
	pNew := n.pNew()
	for _, v := range values {
		name := c.entity + "|" + v
		ph := entityHash(c.tenant, name)
		j := judgement{method: "first_seen_good_turing", ex: expectation{mean: pNew, samples: uint64(n.Windows)}}
		observed := 0.0
		switch p.pairs[ph] {
		case 0:
			if len(p.pairs) >= p.maxEntities {
				p.stats.Overflow++
				continue
			}
			observed = 1
			p.pairs[ph] = 1
			n.Distinct++
			n.Once++
			if n.Windows >= uint32(p.cfg.Warmup) {
				j.anomaly, j.established = 1-pNew, true
			}
		case 1:
			p.pairs[ph] = 2
			n.Once--
		}
		s := p.score(c.tenant, name, start, f, observed, j)
		out.Scores = append(out.Scores, s)
		if j.established && p.anomalous(f, j.anomaly, observed) {
			p.raise(ph, c.tenant, name, start, s, &out.Alerts)
		}
	}
	n.Windows++
}

func (p *profile) score(tenant, entity string, start time.Time, f *feature, x float64, j judgement) score.Score {
	spread := f.spread(j.ex)
	return score.Score{
		Version:      1,
		ID:           score.ID(tenant, f.idName, entity, start),
		Tenant:       tenant,
		Profile:      p.cfg.Name,
		Entity:       entity,
		EntityField:  p.entityName,
		WindowStart:  start,
		WindowEnd:    start.Add(p.cfg.Window),
		AnomalyScore: j.anomaly,
		Explanation: score.Explanation{
			Feature:  f.cfg.Name,
			Observed: x,
			Expected: j.ex.mean,
			Spread:   spread,
			Samples:  j.ex.samples,
			Season:   j.ex.season,
			Method:   j.method,
		},
	}
}

// title is a profile's name as words: "Brute force".
func title(name string) string {
	s := strings.ReplaceAll(name, "_", " ")
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// num formats a value compactly: 46, 0.25, 1.2e+08.
func num(x float64) string { return fmt.Sprintf("%.3g", x) }

// columns maps event fields to the events table's columns.
var columns = map[string]string{
	"tenant": "tenant", "event.dataset": "source", "host.name": "host", "event.category": "category",
	"event.action": "action", "event.outcome": "outcome", "source.ip": "src_ip", "source.port": "src_port",
	"destination.ip": "dst_ip", "destination.port": "dst_port", "user.name": "user", "network.protocol": "protocol",
}

// forensicQuery is the SQL for the events behind an alert: the entity's
// events from an hour before its window to an hour after. Key fields with
// a prefix length (a subnet) and labels are left out of the filter.
func (p *profile) forensicQuery(tenant, entity string, from, to time.Time) string {
	conds := []string{"tenant = '" + sqlQuote(tenant) + "'"}
	fields := strings.Split(p.entityName, "|")
	values := strings.SplitN(entity, "|", len(fields))
	for i, f := range fields {
		col, ok := columns[f]
		if !ok || i >= len(values) {
			continue
		}
		conds = append(conds, col+" = '"+sqlQuote(values[i])+"'")
	}
	return fmt.Sprintf("SELECT timestamp, host, user, src_ip, dst_ip, dst_port, action, outcome, message FROM events FINAL "+
		"WHERE %s AND timestamp BETWEEN '%s' AND '%s' ORDER BY timestamp",
		strings.Join(conds, " AND "),
		from.Add(-time.Hour).UTC().Format(time.DateTime), to.Add(time.Hour).UTC().Format(time.DateTime))
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
