package detect

import (
	"cmp"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
)

// maxClockSkew is how far ahead of this machine's clock an event may be
// dated and still count.
const maxClockSkew = 10 * time.Minute

// Position is where an event was read: a partition and its offset.
type Position struct {
	Partition int
	Offset    int64
}

// Options are the engine-wide settings.
type Options struct {
	// Lateness is how long after a window ends its events are accepted.
	Lateness time.Duration
	// IdleFlush: when no partition has had an event for this long (wall
	// clock), windows are closed by the wall clock.
	IdleFlush time.Duration
	// MaxEntities caps the entities each profile keeps a baseline for.
	MaxEntities int
	// EntityTTL: an entity whose last window with events started more than
	// this before its profile's newest closed window is forgotten, unless
	// an incident of it is firing (see config.ProcessorConfig.EntityTTL);
	// 0 keeps entities.
	EntityTTL time.Duration
	// Dedup is how redelivered events are recognised. Default DedupIDs.
	Dedup DedupMode
	// ExplicitIdle: a partition stops holding the watermark back only while
	// Progress marks it idle, never because IdleFlush of wall clock passed
	// without its events; windows are closed by the wall clock only while
	// every partition (at least one) is marked idle. For partitions fed by
	// upstream tasks, which know when they have nothing to send. Default
	// false.
	ExplicitIdle bool
	// NoEarlyAlerts: alerts are raised only when windows close. For
	// engines whose events come from several upstream partitions in no
	// fixed order, where an early alert would be judged against whichever
	// windows happened to be closed by then. Default false.
	NoEarlyAlerts bool
}

// DedupMode is how the engine recognises an event delivered again.
type DedupMode int

// Dedup modes.
const (
	// DedupIDs remembers each partition's DefaultRecentIDs most recent
	// event ids (of events some profile counts): an id seen again is a
	// duplicate. For input that a crashed shipper may have sent twice.
	DedupIDs DedupMode = iota
	// DedupNone checks nothing: the caller removes duplicates.
	DedupNone
	// DedupOffsets takes each partition's offsets to only grow: an event
	// at or below the highest offset observed on its partition is a
	// redelivery (an event counted as Future is not observed, and is
	// judged again when delivered again). No ids are kept. For input read
	// again from a committed position, as after a restore.
	DedupOffsets
)

func (m DedupMode) String() string {
	switch m {
	case DedupIDs:
		return "ids"
	case DedupNone:
		return "none"
	case DedupOffsets:
		return "offsets"
	}
	return "DedupMode(" + strconv.Itoa(int(m)) + ")"
}

// OptionsFrom returns the options of a processor configuration.
func OptionsFrom(c config.ProcessorConfig) Options {
	return Options{Lateness: c.Lateness, IdleFlush: c.IdleFlush, MaxEntities: c.MaxEntities, EntityTTL: c.EntityTTL}
}

// Engine runs profiles over a stream of events. Events may come from
// several input partitions (each with its own event-time progress); the
// engine's watermark is the slowest active partition's newest event time
// minus the lateness, so a partition read ahead of another never makes the
// other's events late. Windows close when the watermark passes their end.
//
// It is not safe for concurrent use.
type Engine struct {
	opts     Options
	profiles []*profile
	parts    map[int]*lane
	stats    Stats
	// early holds alerts raised before their window closed, for Advance.
	early  []alert.Alert
	report restoreReport
	// due is the earliest watermark at which Advance has anything to do
	// outside idle mode (derived from the profiles' closedTo; zero: now).
	due time.Time
}

// lane is one input partition's progress.
type lane struct {
	maxEvent  time.Time  // newest event time seen
	lastWall  time.Time  // wall clock of the newest event
	seen      *RecentIDs // DedupIDs
	offset    int64      // DedupOffsets: the highest offset observed, when hasOffset
	hasOffset bool
	idle      bool // ExplicitIdle: marked idle by Progress
}

func (e *Engine) newLane(now time.Time) *lane {
	ln := &lane{lastWall: now}
	if e.opts.Dedup == DedupIDs {
		ln.seen = NewRecentIDs(DefaultRecentIDs)
	}
	return ln
}

// Stats counts what the engine did with the events it was given.
type Stats struct {
	// Counted by at least one profile; Ignored by all; Late for every
	// profile that matched; Future: dated beyond the allowed clock skew;
	// Duplicate: delivered again (see DedupMode).
	Counted, Ignored, Late, Future, Duplicate uint64
}

// Output is what Advance produced.
type Output struct {
	Scores []score.Score
	Alerts []alert.Alert
}

// New compiles profiles into an engine with empty state.
func New(profiles []config.ProfileConfig, opts Options) (*Engine, error) {
	e := &Engine{opts: opts, parts: map[int]*lane{}}
	for _, pc := range profiles {
		p, err := compile(pc, opts)
		if err != nil {
			return nil, err
		}
		e.profiles = append(e.profiles, p)
	}
	return e, nil
}

// Profiles names the profiles the engine runs, in order.
func (e *Engine) Profiles() []string {
	names := make([]string, len(e.profiles))
	for i, p := range e.profiles {
		names[i] = p.cfg.Name
	}
	return names
}

// Key returns the entity ev stands for in the first profile, in order,
// that matches it and whose key fields it has; ok is false when there is
// none. An engine whose profiles share one KeySpec names every event's
// entity alike in each profile, so the entity can partition its input.
func (e *Engine) Key(ev *event.Event) (entity string, ok bool) {
	for _, p := range e.profiles {
		if !p.match.match(ev) {
			continue
		}
		if name, _, ok := p.entityOf(ev); ok {
			return name, true
		}
	}
	return "", false
}

// Expect tells the engine which input partitions it reads, before their
// first event: until a partition has had an event, or has stayed without
// one for IdleFlush from now (with ExplicitIdle: until Progress marks it
// idle), it holds the watermark back, so events from a partition read
// later than the others are not taken for late.
func (e *Engine) Expect(partitions []int, now time.Time) {
	for _, id := range partitions {
		e.lane(id, now)
	}
}

// lane returns the lane of an input partition, added when new.
func (e *Engine) lane(partition int, now time.Time) *lane {
	ln := e.parts[partition]
	if ln == nil {
		ln = e.newLane(now)
		e.parts[partition] = ln
	}
	return ln
}

// Progress reports that the upstream of input partition partition has
// read up to eventTime, and whether it is idle (has nothing more to send
// for now), at wall-clock time now; the partition is added when it is new.
// Its newest event time becomes eventTime when that is newer. With
// ExplicitIdle the idle mark decides whether the partition holds the
// watermark back (an event observed on it clears the mark); without, the
// call counts as activity, as an event would.
func (e *Engine) Progress(partition int, eventTime time.Time, idle bool, now time.Time) {
	ln := e.lane(partition, now)
	if eventTime.After(ln.maxEvent) {
		ln.maxEvent = eventTime
	}
	ln.lastWall = now
	ln.idle = idle
}

// maxRepeat caps what one repeated line counts for: the count is
// attacker-controlled text.
const maxRepeat = 10_000

// weight is how many events e stands for: a syslog "message repeated N
// times" line stands for N.
func weight(e *event.Event) float64 {
	s := e.Attrs["vigil.repeat"]
	if s == "" {
		return 1 // most events: no parse, and no error built for nothing
	}
	if n, err := strconv.Atoi(s); err == nil && n > 1 {
		return float64(min(n, maxRepeat))
	}
	return 1
}

// Result is what became of one observed event.
type Result int

// Results of Observe.
const (
	Counted Result = iota
	Ignored
	Late
	Future
	Duplicate
)

// Observe adds ev, read at pos, to the open window of every profile it
// matches.
func (e *Engine) Observe(ev *event.Event, pos Position, now time.Time) Result {
	ts := ev.Timestamp
	if ts.After(now.Add(maxClockSkew)) {
		// A clock far ahead would hold windows open (and offsets
		// uncommitted) until that time: not counted.
		e.stats.Future++
		return Future
	}
	ln := e.lane(pos.Partition, now)
	if e.opts.Dedup == DedupOffsets {
		if ln.hasOffset && pos.Offset <= ln.offset {
			e.stats.Duplicate++
			return Duplicate
		}
		ln.offset, ln.hasOffset = pos.Offset, true
	}
	if ts.After(ln.maxEvent) {
		ln.maxEvent = ts
	}
	ln.lastWall = now
	ln.idle = false
	matched, counted := false, false
	dupChecked := false
	w := 1.0
	for _, p := range e.profiles {
		if !p.match.match(ev) {
			continue
		}
		name, h, ok := p.entityOf(ev)
		if !ok {
			continue // without the key fields the profile has no entity to count it for
		}
		if !dupChecked {
			dupChecked = true
			if ln.seen != nil && ln.seen.SeenBefore(ev.ID) {
				// A line the shipper sent again after a crash: counted once.
				e.stats.Duplicate++
				return Duplicate
			}
			w = weight(ev)
		}
		matched = true
		if e.observe(p, ev, pos, w, name, h) {
			counted = true
		}
	}
	switch {
	case counted:
		e.stats.Counted++
		return Counted
	case matched:
		e.stats.Late++
		return Late
	}
	e.stats.Ignored++
	return Ignored
}

// observe adds ev, of entity name (hash h), to p; false when it is late
// for p.
func (e *Engine) observe(p *profile, ev *event.Event, pos Position, w float64, name string, h uint64) bool {
	start := ev.Timestamp.UnixNano()
	start -= mod(start, p.step)
	if start+p.step <= p.closedTo.UnixNano() {
		p.stats.Late++
		return false
	}
	win := p.windows[start]
	if win == nil {
		win = &window{start: time.Unix(0, start).UTC(), cells: p.newCellIndex(), minOffset: map[int]int64{}}
		p.windows[start] = win
	}
	if off, held := win.minOffset[pos.Partition]; !held || pos.Offset < off {
		win.minOffset[pos.Partition] = pos.Offset
	}
	c := win.cell(h)
	if c == nil {
		// The cell outlives ev, whose strings may point into a buffer
		// the caller reuses: it keeps copies.
		c = win.add(p.newCell(h, strings.Clone(ev.Tenant), strings.Clone(name)), &p.spare)
	}
	for i, f := range p.feats {
		f.add(c.acc(i), ev, w)
	}
	if ev.Timestamp.After(p.maxEvent) {
		p.maxEvent = ev.Timestamp
	}
	p.stats.Counted++
	if !e.opts.NoEarlyAlerts {
		e.judgeEarly(p, win, h, c)
	}
	return true
}

// maxWindowHint bounds the entities a new window is sized for up front
// (from the last window closed).
const maxWindowHint = 1 << 21

// mod is the non-negative remainder of a / b.
func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// earlyStep spaces the early checks of an open window: each at 25% more
// than the last, so a flood costs a handful of checks.
const earlyStep = 1.25

// judgeEarly raises an alert before the window closes when a feature that
// only grows is anomalous already: the closed window will be at least as
// anomalous. Only an established baseline (the entity's own, or a
// warmed-up population) may fire early; during cold start the peers of the
// closed window have a say first.
func (e *Engine) judgeEarly(p *profile, w *window, h uint64, c *cell) {
	for i, f := range p.feats {
		if !f.grows() {
			continue
		}
		x := f.soFar(c.acc(i))
		if x < c.nextCheck {
			continue
		}
		c.nextCheck = math.Ceil(x * earlyStep)
		if inc := p.open[h]; inc != nil && inc.firing() || p.suppressed(w.start) {
			return // updated, or counted as suppressed, when the window closes
		}
		j := p.judge(f, i, p.entities[h], w.start, x, nil)
		if !j.established || !p.anomalous(f, j.anomaly, x) {
			continue
		}
		p.raise(h, c.tenant, c.entity, w.start, p.score(c.tenant, c.entity, w.start, f, x, j), &e.early)
		return
	}
}

// Advance returns the alerts raised early since the last call, and closes
// every window the watermark has passed, oldest first per profile. When
// no partition has had an event for IdleFlush of wall-clock time (with
// ExplicitIdle: when every partition is marked idle), windows
// that ended more than the lateness ago by the wall clock close too; for a
// replay of old logs that is every open window.
func (e *Engine) Advance(now time.Time) Output {
	var out Output
	e.AdvanceInto(now, &out)
	return out
}

// AdvanceInto is Advance appending to out's alerts and scores: a caller
// that publishes them and reuses out's slices allocates nothing per
// window closed.
func (e *Engine) AdvanceInto(now time.Time, out *Output) {
	e.takeEarly(out)
	wm, idle := e.watermark(now)
	if !idle && wm.Before(e.due) {
		return // no profile has a window to close or its closedTo to move
	}
	for _, p := range e.profiles {
		pwm := wm
		if idle {
			// Close what can no longer receive events: for a replay, every
			// window up to the newest event's.
			pwm = p.maxEvent.Add(p.cfg.Window)
			if wall := now.Add(-e.opts.Lateness); wall.Before(pwm) {
				pwm = wall
			}
		}
		p.advance(pwm, out)
	}
	// Every open window starts at or after its profile's closedTo, so the
	// watermark must pass closedTo + window before a profile has anything
	// to do.
	e.due = time.Time{}
	for i, p := range e.profiles {
		if d := p.closedTo.Add(p.cfg.Window); i == 0 || d.Before(e.due) {
			e.due = d
		}
	}
}

// takeEarly moves the alerts raised early into out.
func (e *Engine) takeEarly(out *Output) {
	out.Alerts = append(out.Alerts, e.early...)
	e.early = nil
}

// watermark is the slowest active partition's newest event time minus the
// lateness; idle is true when every partition has been idle for IdleFlush
// (with ExplicitIdle: when there is a partition and every one is marked
// idle).
func (e *Engine) watermark(now time.Time) (wm time.Time, idle bool) {
	first := true
	for _, ln := range e.parts {
		if e.opts.ExplicitIdle && ln.idle || !e.opts.ExplicitIdle && now.Sub(ln.lastWall) >= e.opts.IdleFlush {
			continue
		}
		t := ln.maxEvent.Add(-e.opts.Lateness)
		if ln.maxEvent.IsZero() {
			t = time.Time{} // expected, nothing read yet: holds everything
		}
		if first || t.Before(wm) {
			wm, first = t, false
		}
	}
	if e.opts.ExplicitIdle {
		return wm, first && len(e.parts) > 0
	}
	return wm, first
}

// Flush closes every open window, as at the end of a replay.
func (e *Engine) Flush() Output {
	var out Output
	e.FlushInto(&out)
	return out
}

// FlushInto is Flush appending to out's alerts and scores.
func (e *Engine) FlushInto(out *Output) {
	e.takeEarly(out)
	for _, p := range e.profiles {
		p.advance(p.maxEvent.Add(p.cfg.Window), out)
	}
}

// LowWater returns, per partition, the lowest offset still held by an open
// window of any profile. Offsets below it are fully accounted for.
func (e *Engine) LowWater() map[int]int64 {
	low := map[int]int64{}
	for _, p := range e.profiles {
		for _, w := range p.windows {
			for part, off := range w.minOffset {
				if cur, ok := low[part]; !ok || off < cur {
					low[part] = off
				}
			}
		}
	}
	return low
}

// Stats returns the engine's counters so far.
func (e *Engine) Stats() Stats { return e.stats }

// ProfileStats returns each profile's counters, by name.
func (e *Engine) ProfileStats() map[string]ProfileStats {
	m := make(map[string]ProfileStats, len(e.profiles))
	for _, p := range e.profiles {
		m[p.cfg.Name] = p.stats
	}
	return m
}

// Entities returns how many entities each profile keeps state for.
func (e *Engine) Entities() map[string]int {
	m := make(map[string]int, len(e.profiles))
	for _, p := range e.profiles {
		m[p.cfg.Name] = len(p.entities)
	}
	return m
}

// OpenWindows is the number of windows not yet closed, over all profiles.
func (e *Engine) OpenWindows() int {
	n := 0
	for _, p := range e.profiles {
		n += len(p.windows)
	}
	return n
}

func (p *profile) advance(watermark time.Time, out *Output) {
	end := watermark.UnixNano()
	end -= mod(end, p.step)
	var starts []int64
	for s, w := range p.windows {
		if !w.start.Add(p.cfg.Window).After(watermark) {
			starts = append(starts, s)
		}
	}
	if p.low && !p.closedTo.IsZero() && end > p.closedTo.UnixNano() {
		// Windows in which nothing at all was counted still exist for
		// entities judged low: a silent source is silent everywhere.
		for s := max(p.closedTo.UnixNano(), end-maxEmptyWindows*p.step); s < end; s += p.step {
			if p.windows[s] == nil {
				starts = append(starts, s)
			}
		}
	}
	slices.Sort(starts)
	// One window at a time, in time order, each followed by what its end
	// decides (incidents resolved, entities expired): the outcome does not
	// depend on how far the watermark moved in one call.
	for _, s := range starts {
		w := p.windows[s]
		if w == nil {
			w = &window{start: time.Unix(0, s).UTC()}
		} else {
			p.lastSize = w.len()
			delete(p.windows, s)
		}
		p.close(w, out)
		p.recycle(w)
		if t := w.start.Add(p.cfg.Window); t.After(p.closedTo) {
			p.closedTo = t
		}
		p.resolve(out)
		p.expire()
	}
	if t := time.Unix(0, end).UTC(); t.After(p.closedTo) {
		p.closedTo = t
	}
	p.resolve(out)
	p.expire()
}

// recycle empties the chunks of a closed window's cells into p.spare,
// keeping at most as many as the window had, and its index into
// p.spareIndex unless it was mostly empty: a window reuses the memory of the one before instead of
// allocating its own, which the collector would have to free.
func (p *profile) recycle(w *window) {
	for _, chunk := range w.chunks {
		if cap(chunk) < cellChunk || len(p.spare) >= len(w.chunks) {
			continue
		}
		clear(chunk) // no string or set of the window outlives it
		p.spare = append(p.spare, chunk[:0])
	}
	if len(p.spare) > len(w.chunks) {
		clear(p.spare[len(w.chunks):])
		p.spare = p.spare[:len(w.chunks)]
	}
	w.chunks = nil
	if w.n*8 >= len(w.cells.slots) && p.spareIndex.slots == nil {
		clear(w.cells.slots)
		p.spareIndex, w.cells = w.cells, cellIndex{}
	}
}

// newCellIndex returns the index of a new window's cells: the spare one
// when there is, else one sized for the last window closed.
func (p *profile) newCellIndex() cellIndex {
	if x := p.spareIndex; x.slots != nil {
		p.spareIndex = cellIndex{}
		return x
	}
	return newCellIndex(min(p.lastSize, maxWindowHint))
}

// sweepsPerTTL is how often, per EntityTTL of event time, a profile looks
// for entities to forget.
const sweepsPerTTL = 16

// expire forgets the entities whose last window with events started more
// than the TTL before closedTo, with their resolved incidents, unless an
// incident of theirs is firing. It looks at every entity, so only once per
// TTL/sweepsPerTTL of event time: an entity is forgotten within that much
// after its TTL.
func (p *profile) expire() {
	now := p.closedTo.UnixNano()
	if p.ttl <= 0 || p.closedTo.IsZero() || now < p.nextSweep {
		return
	}
	p.nextSweep = now + max(p.ttl/sweepsPerTTL, p.step)
	before := now - p.ttl
	for h, ent := range p.entities {
		if ent.lastSeen() >= before {
			continue
		}
		if inc := p.open[h]; inc != nil {
			if inc.firing() {
				continue
			}
			delete(p.open, h)
		}
		delete(p.entities, h)
		p.stats.Evicted++
	}
}

// maxEmptyWindows bounds the empty windows closed in one step for a
// profile judged low, after a long gap in the stream.
const maxEmptyWindows = 1008

// anomalous reports whether a judged value alerts.
func (p *profile) anomalous(f *feature, anomaly, x float64) bool {
	if anomaly < p.cfg.Threshold {
		return false
	}
	if f.low {
		return p.cfg.MinValue == 0 || x <= p.cfg.MinValue
	}
	return x >= p.cfg.MinValue
}

func (p *profile) newCell(h uint64, tenant, entity string) cell {
	c := cell{hash: h, tenant: tenant, entity: entity, nextCheck: math.Max(p.cfg.MinValue, 1)}
	if len(p.feats) > 1 {
		c.more = make([]acc, len(p.feats)-1)
	}
	return c
}

// sorted returns the keys of the window's cells ordered by entity hash: an
// order that does not depend on the order events came in, so a replay of
// the same events learns and scores alike however its partitions
// interleaved. The keys are in one of bufs, grown to fit, which are kept
// for the next window.
func sorted(w *window, bufs *[2][]cellKey) []cellKey {
	for i := range bufs {
		if cap(bufs[i]) < w.len() {
			bufs[i] = make([]cellKey, w.len())
		}
	}
	keys := bufs[0][:w.len()]
	for i := range keys {
		keys[i] = cellKey{hash: w.at(i).hash, at: i}
	}
	return sortKeys(keys, bufs[1][:w.len()])
}

// cellKey is a cell's entity hash and its position in its window.
type cellKey struct {
	hash uint64
	at   int
}

// radixMin is the fewest keys sortKeys sorts by radix; fewer are compared.
const radixMin = 256

// sortKeys orders keys by hash, which are distinct, and returns them
// (in keys or in tmp, of the same length): a least significant digit
// radix sort, a byte per pass, where a comparison sort would make n·log n
// calls to compare. A pass in which every key has the same byte is skipped.
func sortKeys(keys, tmp []cellKey) []cellKey {
	if len(keys) < radixMin {
		slices.SortFunc(keys, func(a, b cellKey) int { return cmp.Compare(a.hash, b.hash) })
		return keys
	}
	var counts [8][256]int
	for _, k := range keys {
		for d := range counts {
			counts[d][byte(k.hash>>(8*d))]++
		}
	}
	for d := range counts {
		c := &counts[d]
		if c[byte(keys[0].hash>>(8*d))] == len(keys) {
			continue
		}
		sum := 0
		for b, n := range c {
			c[b], sum = sum, sum+n
		}
		for _, k := range keys {
			b := byte(k.hash >> (8 * d))
			tmp[c[b]] = k
			c[b]++
		}
		keys, tmp = tmp, keys
	}
	return keys
}
