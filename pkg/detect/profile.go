package detect

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
)

// Method names, as reported in explanations: the baseline and the tail.
const (
	MethodPopulation = "population"
	MethodPeers      = "peers"
)

// featureKind tells how a feature is accumulated and judged.
type featureKind int

const (
	kindCount featureKind = iota
	kindSum
	kindMean
	kindMax
	kindDistinct
	kindFailureRatio
	kindFirstSeen
	kindHourOfWeek
)

var kindNames = map[string]featureKind{
	"count": kindCount, "sum": kindSum, "mean": kindMean, "max": kindMax, "distinct": kindDistinct,
	"failure_ratio": kindFailureRatio, "first_seen": kindFirstSeen, "hour_of_week": kindHourOfWeek,
}

// feature is one compiled feature of a profile.
type feature struct {
	cfg   config.FeatureConfig
	kind  featureKind
	num   numGetter // sum, mean, max
	field getter    // distinct, first_seen
	low   bool      // judged low (too little is anomalous)
	pop   *population
	// idName is "profile/feature", what a score id names the feature by.
	idName string
}

// counts reports whether the feature is a count (judged with a count
// model) rather than a measurement (judged with a normal tail).
func (f *feature) counts() bool { return f.kind == kindCount || f.kind == kindDistinct }

// zeroWhenAbsent reports whether a window without the entity's events has
// the value 0 (counts and sums) rather than none (means and ratios).
func (f *feature) zeroWhenAbsent() bool {
	switch f.kind {
	case kindCount, kindSum, kindMax, kindDistinct:
		return true
	}
	return false
}

// grows reports whether the value can only grow while a window is open,
// so an open window that is anomalous already may alert early.
func (f *feature) grows() bool {
	return !f.low && (f.kind == kindCount || f.kind == kindSum || f.kind == kindMax || f.kind == kindDistinct)
}

func (f *feature) newBaseline() baseline {
	switch {
	case f.cfg.Baseline == "median_mad":
		return &medianMAD{}
	case f.cfg.Baseline == "seasonal":
		return &seasonal{}
	}
	return &ewma{}
}

// profile is one compiled profile with its state.
type profile struct {
	cfg        config.ProfileConfig
	match      matcher
	key        []getter
	entityName string // the key fields joined by |
	feats      []*feature
	low        bool  // some feature is judged low: absent entities are judged too
	step       int64 // window length in nanoseconds
	// fingerprint identifies the profile's state in snapshots.
	fingerprint uint64

	windows  map[int64]*window // open windows by start (unix ns)
	lastSize int               // entities in the last window closed, to size the next
	// spare holds the emptied chunks of closed windows' cells, for new
	// windows: at most as many as the last window closed had.
	spare      [][]cell
	spareIndex cellIndex    // a closed window's emptied index, for a new one
	keyBufs    [2][]cellKey // for sorting the cells of a closing window
	closedTo   time.Time    // every window ending at or before this is closed
	maxEvent   time.Time    // newest event time counted
	entities   map[uint64]*entity
	open       map[uint64]*incident
	pairs      pairSeen // first_seen only
	suppress   []config.Suppression
	// maxEntities caps entities (and, for first_seen, pairs) with state.
	maxEntities int
	ttl         int64 // EntityTTL in nanoseconds; 0 keeps entities
	nextSweep   int64 // closedTo (unix ns) from which expire looks again
	stats       ProfileStats
}

// entity is one entity's state: the start of the last window it was
// learned in, and a baseline per feature.
type entity struct {
	last  int64
	bases []baseline
	act   *activity  // hour_of_week
	nov   *novelty   // first_seen
	low   *lowEntity // profiles judged low only
}

// newEntityState returns the state of a new entity whose last window
// started at last: a baseline per feature, or the activity or novelty kept
// instead.
func (p *profile) newEntityState(last int64) *entity {
	if len(p.feats) == 1 {
		if ent := p.feats[0].newSoleEntity(); ent != nil {
			ent.last = last
			return ent
		}
	}
	ent := &entity{last: last, bases: make([]baseline, len(p.feats))}
	for i, f := range p.feats {
		switch f.kind {
		case kindHourOfWeek:
			ent.act = &activity{}
		case kindFirstSeen:
			ent.nov = &novelty{}
		default:
			ent.bases[i] = f.newBaseline()
		}
	}
	return ent
}

// newSoleEntity returns the state of a new entity of a profile whose only
// feature is f, allocated as one object with its baseline; nil when f
// keeps no baseline.
func (f *feature) newSoleEntity() *entity {
	switch {
	case f.kind == kindHourOfWeek || f.kind == kindFirstSeen:
		return nil
	case f.cfg.Baseline == "median_mad":
		return newWithBase[medianMAD]()
	case f.cfg.Baseline == "seasonal":
		return newWithBase[seasonal]()
	}
	return newWithBase[ewma]()
}

// withBase is an entity with its only baseline, in one allocation: one
// object for the collector, and one place in memory to read when the
// entity is judged.
type withBase[B any, PB interface {
	*B
	baseline
}] struct {
	ent  entity
	one  [1]baseline
	base B
}

func newWithBase[B any, PB interface {
	*B
	baseline
}]() *entity {
	x := &withBase[B, PB]{}
	x.one[0] = PB(&x.base)
	x.ent.bases = x.one[:]
	return &x.ent
}

// lowEntity is what a profile judged low keeps of an entity to judge it in
// windows it is absent from, and the start of the last window it had
// events in (last counts the windows it was judged absent in too).
type lowEntity struct {
	tenant, name string
	seen         int64
}

// lastSeen is the start of the entity's last window with events.
func (ent *entity) lastSeen() int64 {
	if ent.low != nil {
		return ent.low.seen
	}
	return ent.last
}

// ProfileStats counts what one profile did.
type ProfileStats struct {
	// Counted events; Late events (their window had closed); Overflow:
	// entity-windows beyond the entity cap; Suppressed incidents (in a
	// suppression window); Flaps: incidents reopened soon after resolving;
	// Evicted: entities forgotten after EntityTTL without events.
	Counted, Late, Overflow, Suppressed, Flaps, Evicted uint64
}

func compile(pc config.ProfileConfig, opts Options) (*profile, error) {
	m, err := newMatcher(pc.Match)
	if err != nil {
		return nil, fmt.Errorf("profile %s: %w", pc.Name, err)
	}
	p := &profile{
		cfg: pc, match: m, entityName: strings.Join(pc.Key, "|"), step: int64(pc.Window), fingerprint: fingerprint(pc),
		windows: map[int64]*window{}, entities: map[uint64]*entity{}, open: map[uint64]*incident{}, maxEntities: opts.MaxEntities, ttl: int64(opts.EntityTTL),
	}
	for _, sc := range pc.Suppress {
		sp, err := config.ParseSuppress(sc)
		if err != nil {
			return nil, fmt.Errorf("profile %s: suppress: %w", pc.Name, err)
		}
		p.suppress = append(p.suppress, sp)
	}
	for _, k := range pc.Key {
		g, err := fieldGetter(k)
		if err != nil {
			return nil, fmt.Errorf("profile %s: key: %w", pc.Name, err)
		}
		p.key = append(p.key, g)
	}
	for _, fc := range pc.Features {
		f := &feature{cfg: fc, kind: kindNames[fc.Kind], low: fc.Direction == "low", pop: newPopulation(), idName: pc.Name + "/" + fc.Name}
		switch f.kind {
		case kindSum, kindMean, kindMax:
			if f.num, err = numericGetter(fc.Field); err != nil {
				return nil, fmt.Errorf("profile %s: feature %s: %w", pc.Name, fc.Name, err)
			}
		case kindDistinct, kindFirstSeen:
			if f.field, err = fieldGetter(fc.Field); err != nil {
				return nil, fmt.Errorf("profile %s: feature %s: %w", pc.Name, fc.Name, err)
			}
		}
		if f.kind == kindFirstSeen {
			p.pairs = pairSeen{}
			p.entityName += "|" + fc.Field
		}
		p.feats = append(p.feats, f)
		p.low = p.low || f.low
	}
	return p, nil
}

// KeySpec is the canonical text of a profile's key: its fields in order,
// joined by "+", each IP field with its prefix length as written by
// config.SplitKeyField (e.g. "user.name+source.ip/24"). Profiles with the
// same KeySpec name the entity of any event alike.
func KeySpec(pc config.ProfileConfig) string {
	parts := make([]string, len(pc.Key))
	for i, k := range pc.Key {
		name, bits := config.SplitKeyField(k)
		parts[i] = name
		if bits >= 0 {
			parts[i] += "/" + strconv.Itoa(bits)
		} else if bits < -1 {
			parts[i] = k
		}
	}
	return strings.Join(parts, "+")
}

// entityOf returns e's entity (the key fields joined by |) and its hash,
// or ok false when e lacks a key field.
func (p *profile) entityOf(e *event.Event) (name string, hash uint64, ok bool) {
	if len(p.key) == 1 {
		v, ok := p.key[0](e)
		if !ok {
			return "", 0, false
		}
		return v, entityHash(e.Tenant, v), true
	}
	parts := make([]string, len(p.key))
	for i, g := range p.key {
		v, ok := g(e)
		if !ok {
			return "", 0, false
		}
		parts[i] = v
	}
	name = strings.Join(parts, "|")
	return name, entityHash(e.Tenant, name), true
}

// entityHash identifies an entity of a tenant in maps and checkpoints.
func entityHash(tenant, entity string) uint64 {
	var buf [128]byte
	if len(tenant)+1+len(entity) > len(buf) {
		d := xxhash.New()
		_, _ = d.WriteString(tenant)
		_, _ = d.Write([]byte{0})
		_, _ = d.WriteString(entity)
		return d.Sum64()
	}
	b := append(append(append(buf[:0], tenant...), 0), entity...)
	return xxhash.Sum64(b)
}

// window is one open window of a profile.
type window struct {
	start time.Time
	// cells holds each entity's cell position, by hash.
	cells cellIndex
	// chunks hold the cells in the order they came, cellChunk to a chunk
	// (the last may hold fewer): a window that grows copies at most the
	// first chunk.
	chunks [][]cell
	n      int // cells
	// minOffset is, per input partition, the lowest offset of an event
	// counted here.
	minOffset map[int]int64
}

// cellChunk is how many cells a window allocates at a time.
const cellChunk = 4096

// len is the number of cells.
func (w *window) len() int { return w.n }

// at returns the cell at position i, in the order cells were added.
func (w *window) at(i int) *cell { return &w.chunks[i/cellChunk][i%cellChunk] }

// add adds c, of an entity the window has no cell for, and returns it,
// taking a new chunk from spare when it has one. The pointer is valid until
// the next add.
func (w *window) add(c cell, spare *[][]cell) *cell {
	last := len(w.chunks) - 1
	if last < 0 || len(w.chunks[last]) == cellChunk {
		var chunk []cell
		if n := len(*spare); n > 0 {
			chunk, *spare = (*spare)[n-1], (*spare)[:n-1]
		} else if last >= 0 {
			// Only the first chunk grows as cells come, so that a small
			// window stays small.
			chunk = make([]cell, 0, cellChunk)
		}
		w.chunks = append(w.chunks, chunk)
		last++
	}
	w.chunks[last] = append(w.chunks[last], c)
	w.index(c.hash, w.n)
	w.n++
	return &w.chunks[last][len(w.chunks[last])-1]
}

// cell is one entity's features in one window. It is kept by value, in
// window.chunks: it holds no pointer to itself.
type cell struct {
	hash           uint64
	tenant, entity string
	first          acc     // the first feature's
	more           []acc   // the other features', for a profile with several
	nextCheck      float64 // value at which the open window is next judged early
}

// acc returns the accumulator of feature i.
func (c *cell) acc(i int) *acc {
	if i == 0 {
		return &c.first
	}
	return &c.more[i-1]
}

// acc accumulates one feature in one window.
type acc struct {
	n, sum, max, fail float64
	set               *distinctSet
	values            map[string]struct{} // first_seen: the values seen
}

// add accumulates e (standing for weight events) into a.
func (f *feature) add(a *acc, e *event.Event, weight float64) {
	a.n += weight
	if e.Outcome == event.OutcomeFailure {
		a.fail += weight
	}
	switch f.kind {
	case kindSum, kindMean:
		a.sum += f.num(e) * weight
	case kindMax:
		a.max = math.Max(a.max, f.num(e))
	case kindDistinct:
		if v, ok := f.field(e); ok {
			if a.set == nil {
				a.set = &distinctSet{}
			}
			a.set.add(v)
		}
	case kindFirstSeen:
		if v, ok := f.field(e); ok {
			if a.values == nil {
				a.values = map[string]struct{}{}
			}
			if _, ok := a.values[v]; !ok && len(a.values) < maxNovelPerWindow {
				a.values[strings.Clone(v)] = struct{}{} // v may point into a reused buffer
			}
		}
	}
}

// maxNovelPerWindow bounds the values first_seen keeps per entity and
// window (an entity using thousands of addresses in a window is a scan,
// for other profiles to see).
const maxNovelPerWindow = 64

// soFar is the feature's value in an open window as an early check sees
// it: value, but a sketched distinct count as of the sketch's last batch.
func (f *feature) soFar(a *acc) float64 {
	if f.kind == kindDistinct && a.set != nil {
		return float64(a.set.counted())
	}
	x, _ := f.value(a)
	return x
}

// value is the feature's value in a window; ok is false when the window
// has none (a mean or ratio of no events).
func (f *feature) value(a *acc) (v float64, ok bool) {
	switch f.kind {
	case kindCount, kindHourOfWeek:
		return a.n, true
	case kindSum:
		return a.sum, true
	case kindMax:
		return a.max, true
	case kindMean:
		if a.n == 0 {
			return 0, false
		}
		return a.sum / a.n, true
	case kindDistinct:
		if a.set == nil {
			return 0, true
		}
		return float64(a.set.count()), true
	case kindFailureRatio:
		if a.n == 0 {
			return 0, false
		}
		return a.fail / a.n, true
	}
	return 0, false
}
