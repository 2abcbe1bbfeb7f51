package detect

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"time"

	"github.com/axiomhq/hyperloglog"
	"github.com/cespare/xxhash/v2"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/score"
)

// The snapshot format: stateMagic, the format version (uvarint), the
// engine's counters, partitions and early alerts, then each profile as its
// name, its fingerprint and its state, length-prefixed so that a profile
// the engine does not run, or runs changed, is skipped; last, the xxhash64
// of everything before it.
const (
	stateMagic   = "VGDS"
	stateVersion = 1
)

// Snapshot writes the engine's complete state: every partition's progress
// (not its wall clock), every profile's entities with their baselines, its
// open windows, incidents and population, the counters, and the alerts
// raised early that Advance has not returned yet. The same state always
// gives the same bytes; the engine is not changed. Restore reads it.
func (e *Engine) Snapshot(w io.Writer) error {
	size := 64
	for _, p := range e.profiles {
		size += 48 * (len(p.entities) + len(p.pairs)/4)
		for _, win := range p.windows {
			size += 32 * win.len()
		}
	}
	enc := &encoder{b: make([]byte, 0, size)}
	enc.b = append(enc.b, stateMagic...)
	enc.uvarint(stateVersion)
	e.encode(enc)
	enc.uvarint(uint64(len(e.profiles)))
	for _, p := range e.profiles {
		enc.str(p.cfg.Name)
		enc.fixed64(p.fingerprint)
		at := len(enc.b)
		enc.fixed64(0)
		if p.encode(enc); enc.err != nil {
			return fmt.Errorf("snapshot profile %s: %w", p.cfg.Name, enc.err)
		}
		binary.LittleEndian.PutUint64(enc.b[at:], uint64(len(enc.b)-at-8))
	}
	enc.fixed64(xxhash.Sum64(enc.b))
	if _, err := w.Write(enc.b); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	return nil
}

// Restore replaces the engine's state with the one Snapshot wrote, into an
// engine built by New with the same profiles and options; partitions
// restored count as active from now (their wall clock is not kept). A
// profile is restored when the snapshot has one of its name and
// fingerprint; otherwise it starts empty, and a profile of the snapshot
// the engine does not run is skipped: RestoreReport says which. On error
// the engine is unchanged; input that is not a snapshot this build reads
// (truncated, corrupt, of another format version) gives an error wrapping
// ErrCorruptSnapshot.
func (e *Engine) Restore(r io.Reader, now time.Time) error {
	data, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("restore detect state: read: %w", err)
	}
	if err := e.restore(data, now); err != nil {
		return fmt.Errorf("restore detect state: %w", err)
	}
	return nil
}

// RestoreReport says what the last Restore did with each profile: restored
// (from the snapshot), reset (the engine runs it but the snapshot had no
// state for it, or had state of another fingerprint: it starts empty), and
// dropped (the snapshot had it, the engine does not run it). All are empty
// before a Restore.
func (e *Engine) RestoreReport() (restored, reset, dropped []string) {
	return e.report.restored, e.report.reset, e.report.dropped
}

type restoreReport struct{ restored, reset, dropped []string }

func (e *Engine) restore(data []byte, now time.Time) error {
	if len(data) < len(stateMagic)+1+8 || string(data[:len(stateMagic)]) != stateMagic {
		return fmt.Errorf("not a detect state snapshot: %w", ErrCorruptSnapshot)
	}
	d := &decoder{b: data[:len(data)-8], off: len(stateMagic)}
	if v := d.uvarint(); d.err == nil && v != stateVersion {
		return fmt.Errorf("format version %d, this build reads %d: %w", v, stateVersion, ErrCorruptSnapshot)
	}
	if sum := binary.LittleEndian.Uint64(data[len(data)-8:]); sum != xxhash.Sum64(d.b) {
		return fmt.Errorf("checksum mismatch: %w", ErrCorruptSnapshot)
	}
	st := e.decodeEngine(d, now)
	if d.err != nil {
		return d.err
	}
	var rep restoreReport
	fresh := make([]*profile, len(e.profiles))
	seen := map[string]bool{}
	for n := d.count(1 + 8 + 8); n > 0 && d.err == nil; n-- {
		name := d.str()
		fp := d.fixed64()
		size := d.fixed64()
		if d.err == nil && size > uint64(d.left()) {
			d.fail("profile %s of %d bytes, %d left", name, size, d.left())
		}
		body := d.take(int(size))
		if d.err != nil {
			break
		}
		if seen[name] {
			return fmt.Errorf("profile %s twice: %w", name, ErrCorruptSnapshot)
		}
		seen[name] = true
		i := slices.IndexFunc(e.profiles, func(p *profile) bool { return p.cfg.Name == name })
		switch {
		case i < 0:
			rep.dropped = append(rep.dropped, name)
			continue
		case e.profiles[i].fingerprint != fp:
			continue
		}
		p, err := compile(e.profiles[i].cfg, e.opts)
		if err != nil {
			return err
		}
		pd := &decoder{b: body}
		p.decode(pd)
		pd.end()
		if pd.err != nil {
			return fmt.Errorf("profile %s: %w", name, pd.err)
		}
		fresh[i] = p
		rep.restored = append(rep.restored, name)
	}
	d.end()
	if d.err != nil {
		return d.err
	}
	for i, p := range fresh {
		if p == nil {
			var err error
			if p, err = compile(e.profiles[i].cfg, e.opts); err != nil {
				return err
			}
			rep.reset = append(rep.reset, p.cfg.Name)
		}
		e.profiles[i] = p
	}
	e.parts, e.stats, e.early, e.report = st.parts, st.stats, st.early, rep
	return nil
}

// fingerprint identifies what a profile's state means: which events it
// counts, per what key, over which windows, and which features with which
// baselines. Settings that only change how the state is judged and alerted
// on (warmup, thresholds, severity, resolution, suppression, labels, the
// features' names and learning rates, the description) are left out, so
// that tuning them keeps the baselines learned.
func fingerprint(pc config.ProfileConfig) uint64 {
	var e encoder
	strs := func(ss []string) {
		e.uvarint(uint64(len(ss)))
		for _, s := range ss {
			e.str(s)
		}
	}
	strs(pc.Match.Category)
	strs(pc.Match.Action)
	strs(pc.Match.Outcome)
	fields := slices.Sorted(maps.Keys(pc.Match.Fields))
	e.uvarint(uint64(len(fields)))
	for _, f := range fields {
		e.str(f)
		strs(pc.Match.Fields[f])
	}
	strs(pc.Key)
	e.varint(int64(pc.Window))
	e.uvarint(uint64(len(pc.Features)))
	for _, f := range pc.Features {
		strs([]string{f.Kind, f.Field, f.Baseline, f.Direction})
	}
	return xxhash.Sum64(e.b)
}

// engineState is the engine-wide part of a snapshot, decoded.
type engineState struct {
	parts map[int]*lane
	stats Stats
	early []alert.Alert
}

func (e *Engine) encode(enc *encoder) {
	for _, c := range []uint64{e.stats.Counted, e.stats.Ignored, e.stats.Late, e.stats.Future, e.stats.Duplicate} {
		enc.uvarint(c)
	}
	lanes := sortedEntries(e.parts)
	enc.uvarint(uint64(len(lanes)))
	for _, kv := range lanes {
		ln := kv.v
		enc.varint(int64(kv.k))
		enc.time(ln.maxEvent)
		enc.bool(ln.idle)
		enc.bool(ln.hasOffset)
		if ln.hasOffset {
			enc.varint(ln.offset)
		}
		enc.bool(ln.seen != nil)
		if ln.seen != nil {
			enc.bytes(ln.seen.appendBinary(nil))
		}
	}
	enc.uvarint(uint64(len(e.early)))
	for i := range e.early {
		encodeAlert(enc, &e.early[i])
	}
}

func (e *Engine) decodeEngine(d *decoder, now time.Time) engineState {
	st := engineState{parts: map[int]*lane{}}
	for _, c := range []*uint64{&st.stats.Counted, &st.stats.Ignored, &st.stats.Late, &st.stats.Future, &st.stats.Duplicate} {
		*c = d.uvarint()
	}
	prev := int64(math.MinInt64)
	for n := d.count(4); n > 0 && d.err == nil; n-- {
		id := d.varint()
		if d.err == nil && (id <= prev && len(st.parts) > 0 || id != int64(int(id))) {
			d.fail("partition %d out of order", id)
		}
		prev = id
		ln := e.newLane(now)
		ln.maxEvent = d.time()
		ln.idle = d.bool()
		if ln.hasOffset = d.bool(); ln.hasOffset {
			ln.offset = d.varint()
		}
		if d.bool() {
			ids := d.bytes()
			if ln.seen != nil && d.err == nil {
				if err := ln.seen.UnmarshalBinary(ids); err != nil {
					d.fail("partition %d: %v", id, err)
				}
			}
		}
		st.parts[int(id)] = ln
	}
	if n := d.count(16); n > 0 {
		st.early = make([]alert.Alert, n)
		for i := range st.early {
			decodeAlert(d, &st.early[i])
		}
	}
	return st
}

// encode writes the profile's state. Window starts and entities' last
// windows are written as window indexes relative to closedTo's; sorted
// hashes as their differences.
func (p *profile) encode(enc *encoder) {
	enc.time(p.closedTo)
	enc.time(p.maxEvent)
	enc.uvarint(uint64(p.lastSize))
	enc.varint(p.nextSweep)
	s := p.stats
	for _, c := range []uint64{s.Counted, s.Late, s.Overflow, s.Suppressed, s.Flaps, s.Evicted} {
		enc.uvarint(c)
	}
	for _, f := range p.feats {
		enc.uvarint(uint64(len(f.pop.ring)))
		enc.uvarint(uint64(f.pop.next))
		for _, x := range f.pop.ring {
			enc.float(x)
		}
	}
	ref := p.windowIndex(p.closedTo.UnixNano())

	ents := sortedEntries(p.entities)
	enc.uvarint(uint64(len(ents)))
	prev := uint64(0)
	for _, kv := range ents {
		prev = enc.nextHash(prev, kv.k)
		ent := kv.v
		p.putWindow(enc, ref, ent.last)
		if p.low {
			enc.str(ent.low.tenant)
			enc.str(ent.low.name)
			p.putWindow(enc, ref, ent.low.seen)
		}
		for i, f := range p.feats {
			switch f.kind {
			case kindHourOfWeek:
				enc.b = append(enc.b, ent.act.Counts[:]...)
				enc.uvarint(ent.act.Samples)
			case kindFirstSeen:
				enc.uvarint(uint64(ent.nov.Windows))
				enc.uvarint(uint64(ent.nov.Distinct))
				enc.uvarint(uint64(ent.nov.Once))
			default:
				encodeBaseline(enc, ent.bases[i])
			}
		}
	}

	pairs := sortedEntries(p.pairs)
	enc.uvarint(uint64(len(pairs)))
	prev = 0
	for _, kv := range pairs {
		prev = enc.nextHash(prev, kv.k)
		enc.u8(kv.v)
	}

	windows := sortedEntries(p.windows)
	enc.uvarint(uint64(len(windows)))
	for _, kv := range windows {
		w := kv.v
		p.putWindow(enc, ref, kv.k)
		parts := sortedEntries(w.minOffset)
		enc.uvarint(uint64(len(parts)))
		for _, po := range parts {
			enc.varint(int64(po.k))
			enc.varint(po.v)
		}
		cells := make([]entry[uint64, *cell], w.len())
		for i := range cells {
			c := w.at(i)
			cells[i] = entry[uint64, *cell]{c.hash, c}
		}
		sortEntries(cells)
		enc.uvarint(uint64(len(cells)))
		for _, kc := range cells {
			c := kc.v
			enc.str(c.tenant)
			enc.str(c.entity)
			enc.num(c.nextCheck)
			for i, f := range p.feats {
				f.encodeAcc(enc, c.acc(i))
			}
		}
	}

	incs := sortedEntries(p.open)
	enc.uvarint(uint64(len(incs)))
	prev = 0
	for _, kv := range incs {
		prev = enc.nextHash(prev, kv.k)
		inc := kv.v
		enc.str(inc.tenant)
		enc.str(inc.entity)
		enc.time(inc.firstSeen)
		enc.time(inc.lastAnomalous)
		enc.time(inc.lastHot)
		enc.time(inc.resolvedAt)
		enc.uvarint(uint64(inc.count))
		enc.uvarint(uint64(inc.flaps))
		encodeScore(enc, &inc.last)
	}
}

// putWindow writes the window starting at start (unix ns) as its index
// relative to ref.
func (p *profile) putWindow(enc *encoder, ref, start int64) {
	if mod(start, p.step) != 0 {
		enc.fail(fmt.Errorf("window start %d is not a multiple of the window", start))
	}
	enc.varint(p.windowIndex(start) - ref)
}

type entry[K cmp.Ordered, V any] struct {
	k K
	v V
}

// sortedEntries returns m's entries in the order of their keys.
func sortedEntries[K cmp.Ordered, V any](m map[K]V) []entry[K, V] {
	es := make([]entry[K, V], 0, len(m))
	for k, v := range m {
		es = append(es, entry[K, V]{k, v})
	}
	sortEntries(es)
	return es
}

func sortEntries[K cmp.Ordered, V any](es []entry[K, V]) {
	slices.SortFunc(es, func(a, b entry[K, V]) int { return cmp.Compare(a.k, b.k) })
}

// windowIndex is the index of the window starting at start (unix ns).
func (p *profile) windowIndex(start int64) int64 { return (start - mod(start, p.step)) / p.step }

// maxCount bounds the incidents' counters on restore.
const maxCount = math.MaxInt32

func (p *profile) decode(d *decoder) {
	p.closedTo = d.time()
	if !p.closedTo.IsZero() && mod(p.closedTo.UnixNano(), p.step) != 0 {
		d.fail("windows closed up to %s, not the end of a window", p.closedTo)
	}
	p.maxEvent = d.time()
	p.lastSize = int(d.upTo(maxCount, "last window size"))
	p.nextSweep = d.varint()
	s := &p.stats
	for _, c := range []*uint64{&s.Counted, &s.Late, &s.Overflow, &s.Suppressed, &s.Flaps, &s.Evicted} {
		*c = d.uvarint()
	}
	for _, f := range p.feats {
		n := d.count(8)
		next := d.uvarint()
		switch {
		case n > popRing:
			d.fail("population of %d", n)
		case n < popRing && next != 0 || n == popRing && next >= popRing:
			d.fail("population slot %d of %d", next, n)
		}
		if d.err != nil {
			return
		}
		f.pop.next = int(next)
		for range n {
			f.pop.ring = append(f.pop.ring, d.float())
		}
		f.pop.dirty = true
	}
	ref := p.windowIndex(p.closedTo.UnixNano())
	windowAt := func() int64 {
		i := d.varint()
		if d.err == nil && (i > 0 && ref > math.MaxInt64/p.step-i || i < 0 && ref < math.MinInt64/p.step-i) {
			d.fail("window index %d out of range", i)
			return 0
		}
		return (ref + i) * p.step
	}

	n := d.count(p.minEntityBytes())
	p.entities = make(map[uint64]*entity, n)
	h := uint64(0)
	for i := range n {
		h = d.nextHash(h, i)
		ent := p.newEntityState(windowAt())
		if p.low {
			ent.low = &lowEntity{tenant: d.str(), name: d.str()}
			ent.low.seen = windowAt()
		}
		for k, f := range p.feats {
			switch f.kind {
			case kindHourOfWeek:
				copy(ent.act.Counts[:], d.take(len(ent.act.Counts)))
				ent.act.Samples = d.uvarint()
			case kindFirstSeen:
				ent.nov.Windows = uint32(d.upTo(math.MaxUint32, "windows"))
				ent.nov.Distinct = uint32(d.upTo(math.MaxUint32, "distinct values"))
				ent.nov.Once = uint32(d.upTo(math.MaxUint32, "values seen once"))
			default:
				decodeBaseline(d, ent.bases[k])
			}
		}
		if d.err != nil {
			return
		}
		p.entities[h] = ent
	}

	n = d.count(2)
	if p.pairs == nil && n > 0 {
		d.fail("pairs in a profile without first_seen")
	}
	h = 0
	for i := 0; i < n && d.err == nil; i++ {
		h = d.nextHash(h, i)
		v := d.u8()
		if v != 1 && v != 2 {
			d.fail("pair state %d", v)
		}
		p.pairs[h] = v
	}

	n = d.count(3)
	prev := int64(0)
	for i := 0; i < n && d.err == nil; i++ {
		start := windowAt()
		if i > 0 && start <= prev {
			d.fail("window %d out of order", start)
		}
		prev = start
		w := &window{start: time.Unix(0, start).UTC(), minOffset: map[int]int64{}}
		prevPart := int64(0)
		for j, m := 0, d.count(2); j < m && d.err == nil; j++ {
			part := d.varint()
			if j > 0 && part <= prevPart || part != int64(int(part)) {
				d.fail("partition %d out of order", part)
			}
			prevPart = part
			w.minOffset[int(part)] = d.varint()
		}
		m := d.count(3)
		w.cells = newCellIndex(m)
		for j := 0; j < m && d.err == nil; j++ {
			tenant, name := d.str(), d.str()
			h := entityHash(tenant, name)
			if j > 0 && h <= w.at(j-1).hash {
				d.fail("cell %q out of order", name)
			}
			c := w.add(p.newCell(h, tenant, name), &p.spare)
			c.nextCheck = d.num()
			for k, f := range p.feats {
				f.decodeAcc(d, c.acc(k))
			}
		}
		p.windows[start] = w
	}

	n = d.count(8)
	h = 0
	for i := 0; i < n && d.err == nil; i++ {
		h = d.nextHash(h, i)
		inc := &incident{tenant: d.str(), entity: d.str(), firstSeen: d.time(), lastAnomalous: d.time(), lastHot: d.time(), resolvedAt: d.time()}
		inc.count = int(d.upTo(maxCount, "incident windows"))
		inc.flaps = int(d.upTo(maxCount, "incident flaps"))
		decodeScore(d, &inc.last)
		p.open[h] = inc
	}
}

// minEntityBytes is the least an entity takes in a snapshot.
func (p *profile) minEntityBytes() int {
	n := 2 // hash, last window
	if p.low {
		n += 3
	}
	for _, f := range p.feats {
		switch {
		case f.kind == kindHourOfWeek:
			n += len(activity{}.Counts) + 1
		case f.kind == kindFirstSeen:
			n += 3
		case f.cfg.Baseline == "seasonal":
			n += 17 + 4 + len(seasonal{}.Means)
		default:
			n += 17
		}
	}
	return n
}

func encodeBaseline(enc *encoder, b baseline) {
	switch b := b.(type) {
	case *ewma:
		encodeEWMA(enc, b)
	case *medianMAD:
		enc.float(b.Med)
		enc.float(b.MAD)
		enc.uvarint(b.Samples)
	case *seasonal:
		encodeEWMA(enc, &b.Level)
		enc.b = binary.LittleEndian.AppendUint32(enc.b, math.Float32bits(b.Disp))
		enc.b = append(enc.b, b.Means[:]...)
	}
}

func encodeEWMA(enc *encoder, e *ewma) {
	enc.float(e.Mean)
	enc.float(e.Var)
	enc.uvarint(e.Samples)
}

func decodeBaseline(d *decoder, b baseline) {
	switch b := b.(type) {
	case *ewma:
		decodeEWMA(d, b)
	case *medianMAD:
		b.Med, b.MAD, b.Samples = d.float(), d.float(), d.uvarint()
	case *seasonal:
		decodeEWMA(d, &b.Level)
		if disp := d.take(4); disp != nil {
			b.Disp = math.Float32frombits(binary.LittleEndian.Uint32(disp))
		}
		copy(b.Means[:], d.take(len(b.Means)))
	}
}

func decodeEWMA(d *decoder, e *ewma) { e.Mean, e.Var, e.Samples = d.float(), d.float(), d.uvarint() }

// Distinct sets in a snapshot: none, the exact hashes, a sketch, or a
// sketch and the hashes waiting for its next batch.
const (
	setNone = iota
	setExact
	setSketch
	setSketchPending
)

// hllPrecision is the precision of the sketches distinctSet makes.
const hllPrecision = 14

// encodeAcc writes what of a the feature's value depends on.
func (f *feature) encodeAcc(enc *encoder, a *acc) {
	enc.num(a.n)
	switch f.kind {
	case kindSum, kindMean:
		enc.num(a.sum)
	case kindMax:
		enc.num(a.max)
	case kindFailureRatio:
		enc.num(a.fail)
	case kindDistinct:
		switch {
		case a.set == nil:
			enc.u8(setNone)
		case a.set.hll != nil:
			// The sketch merged what it took at its last batch, so its
			// encoding depends on its values only; the hashes waiting
			// for the next batch follow, sorted (repeats included: they
			// count towards the batch).
			b, err := a.set.hll.MarshalBinary()
			if err != nil {
				enc.fail(fmt.Errorf("distinct sketch: %w", err))
			}
			if len(a.set.pending) == 0 {
				enc.u8(setSketch)
				enc.bytes(b)
				break
			}
			enc.u8(setSketchPending)
			enc.bytes(b)
			enc.hashes(slices.Sorted(slices.Values(a.set.pending)))
		default:
			enc.u8(setExact)
			enc.hashes(slices.Sorted(slices.Values(a.set.exact)))
		}
	case kindFirstSeen:
		vs := slices.Sorted(maps.Keys(a.values))
		enc.uvarint(uint64(len(vs)))
		for _, v := range vs {
			enc.str(v)
		}
	}
}

func (f *feature) decodeAcc(d *decoder, a *acc) {
	a.n = d.num()
	switch f.kind {
	case kindSum, kindMean:
		a.sum = d.num()
	case kindMax:
		a.max = d.num()
	case kindFailureRatio:
		a.fail = d.num()
	case kindDistinct:
		switch tag := d.u8(); tag {
		case setNone:
		case setSketch, setSketchPending:
			b := d.bytes()
			if d.err != nil {
				return
			}
			if len(b) < 2 || b[1] != hllPrecision {
				d.fail("distinct sketch not of precision %d", hllPrecision)
				return
			}
			sk := &hyperloglog.Sketch{}
			if err := sk.UnmarshalBinary(b); err != nil {
				d.fail("distinct sketch: %v", err)
				return
			}
			a.set = &distinctSet{hll: sk}
			if tag == setSketchPending {
				a.set.pending = d.hashes(sketchBatch-1, true, "pending distinct values")
				if d.err == nil && len(a.set.pending) == 0 {
					d.fail("distinct sketch with no pending values written as pending")
				}
			}
		case setExact:
			a.set = &distinctSet{exact: d.hashes(exactDistinct, false, "exact distinct values")}
		default:
			d.fail("distinct set tag %d", tag)
		}
	case kindFirstSeen:
		n := int(d.upTo(maxNovelPerWindow, "new values"))
		a.values = make(map[string]struct{}, n)
		v := ""
		for i := 0; i < n && d.err == nil; i++ {
			v = d.nextString(v, i)
			a.values[v] = struct{}{}
		}
	}
}

func encodeExplanation(enc *encoder, x *score.Explanation) {
	enc.str(x.Feature)
	enc.float(x.Observed)
	enc.float(x.Expected)
	enc.float(x.Spread)
	enc.uvarint(x.Samples)
	enc.str(x.Season)
	enc.str(x.Method)
}

func decodeExplanation(d *decoder, x *score.Explanation) {
	x.Feature = d.str()
	x.Observed, x.Expected, x.Spread = d.float(), d.float(), d.float()
	x.Samples = d.uvarint()
	x.Season, x.Method = d.str(), d.str()
}

func encodeScore(enc *encoder, s *score.Score) {
	enc.varint(int64(s.Version))
	for _, v := range []string{s.ID, s.Tenant, s.Profile, s.Entity, s.EntityField} {
		enc.str(v)
	}
	enc.time(s.WindowStart)
	enc.time(s.WindowEnd)
	enc.float(s.AnomalyScore)
	encodeExplanation(enc, &s.Explanation)
}

func decodeScore(d *decoder, s *score.Score) {
	s.Version = int(d.varint())
	for _, v := range []*string{&s.ID, &s.Tenant, &s.Profile, &s.Entity, &s.EntityField} {
		*v = d.str()
	}
	s.WindowStart, s.WindowEnd = d.time(), d.time()
	s.AnomalyScore = d.float()
	decodeExplanation(d, &s.Explanation)
}

func encodeAlert(enc *encoder, a *alert.Alert) {
	enc.varint(int64(a.Version))
	for _, v := range []string{a.ID, a.DedupKey, a.Status, a.Severity, a.Summary, a.Tenant, a.Profile, a.Entity, a.EntityField} {
		enc.str(v)
	}
	enc.time(a.FirstSeen)
	enc.time(a.LastSeen)
	enc.time(a.ResolvedAt)
	enc.varint(int64(a.Count))
	enc.varint(a.EventCount)
	enc.float(a.AnomalyScore)
	encodeExplanation(enc, &a.Explanation)
	if a.Labels == nil {
		enc.uvarint(0)
	} else {
		enc.uvarint(uint64(len(a.Labels)) + 1)
		for _, k := range slices.Sorted(maps.Keys(a.Labels)) {
			enc.str(k)
			enc.str(a.Labels[k])
		}
	}
	enc.str(a.Links.Dashboard)
	enc.str(a.Links.Query)
}

func decodeAlert(d *decoder, a *alert.Alert) {
	a.Version = int(d.varint())
	for _, v := range []*string{&a.ID, &a.DedupKey, &a.Status, &a.Severity, &a.Summary, &a.Tenant, &a.Profile, &a.Entity, &a.EntityField} {
		*v = d.str()
	}
	a.FirstSeen, a.LastSeen, a.ResolvedAt = d.time(), d.time(), d.time()
	a.Count = int(d.varint())
	a.EventCount = d.varint()
	a.AnomalyScore = d.float()
	decodeExplanation(d, &a.Explanation)
	if n := d.count(2); n > 0 {
		n--
		a.Labels = make(map[string]string, n)
		k := ""
		for i := 0; i < n && d.err == nil; i++ {
			k = d.nextString(k, i)
			a.Labels[k] = d.str()
		}
	}
	a.Links.Dashboard, a.Links.Query = d.str(), d.str()
}
