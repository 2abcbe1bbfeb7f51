package detect

import (
	"bytes"
	"fmt"
	"maps"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/alert"
	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/evalset"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/score"
)

// stateProfiles are the built-in profiles and three more that use what
// they do not: median/MAD baselines, means, maxima, failure ratios, a key
// of two fields, labels and a suppression window.
func stateProfiles() []config.ProfileConfig {
	extra := []config.ProfileConfig{
		{
			Name: "login_mix", Match: config.MatchConfig{Category: []string{"authentication"}},
			Key: []string{"user.name", "source.ip/24"}, Window: 10 * time.Minute,
			Features: []config.FeatureConfig{
				{Kind: "failure_ratio"},
				{Kind: "count", Baseline: "median_mad"},
			},
			Threshold: 0.999, Labels: map[string]string{"team": "identity"},
		},
		{
			Name: "flow_bytes", Match: config.MatchConfig{Category: []string{"network"}},
			Key: []string{"host.name"}, Window: 5 * time.Minute,
			Features: []config.FeatureConfig{
				{Kind: "mean", Field: "source.bytes", Baseline: "median_mad"},
				{Kind: "max", Field: "destination.port"},
			},
			Threshold: 0.999,
			Suppress:  []config.SuppressConfig{{Days: []string{"tue"}, From: "01:00", To: "03:00"}},
			Labels:    map[string]string{},
		},
		{
			Name: "quiet_users", Match: config.MatchConfig{Category: []string{"authentication"}, Outcome: []string{"success"}},
			Key: []string{"user.name"}, Window: time.Hour,
			Features: []config.FeatureConfig{{Kind: "count", Direction: "low"}},
			Warmup:   4, Threshold: 0.99,
		},
	}
	c := config.Default().Processor
	c.Profiles = extra
	return c.ActiveProfiles()
}

// evalEvents are the events of the small labelled benchmark: two days of
// every kind of traffic, with attacks on the second.
var evalEvents = sync.OnceValues(func() ([]*event.Event, error) {
	var evs []*event.Event
	_, err := evalset.Generate(evalset.Small(), func(e *event.Event) error {
		evs = append(evs, e)
		return nil
	})
	return evs, err
})

func mustEvalEvents(t testing.TB) []*event.Event {
	evs, err := evalEvents()
	require.NoError(t, err)
	return evs
}

// stream feeds a recorded stream to an engine the way a task would: three
// partitions, the clock taken from the events, Advance every few events,
// and, depending on the mode, copies delivered again or progress reported.
type stream struct {
	evs  []*event.Event
	mode DedupMode
	idle bool // ExplicitIdle: partition 2 is marked idle for stretches
	// cuts are the steps before which a task may have stopped.
	cuts map[int]bool
}

const (
	streamParts  = 3
	advanceEvery = 50
)

func (s stream) options() Options {
	opts := OptionsFrom(config.Default().Processor)
	opts.Dedup = s.mode
	opts.ExplicitIdle = s.idle
	opts.EntityTTL = 6 * time.Hour
	opts.IdleFlush = 10 * time.Minute
	return opts
}

func (s stream) engine(t testing.TB) *Engine {
	e, err := New(stateProfiles(), s.options())
	require.NoError(t, err)
	return e
}

// clock is the stream's wall clock at step i: its newest event time.
func (s stream) clock(i int) time.Time { return s.evs[min(i, len(s.evs)-1)].Timestamp }

// quiet reports whether partition 2 is marked idle at step i.
func (s stream) quiet(i int) bool { return s.idle && i/3000%2 == 1 }

// position is where step i's event was read.
func (s stream) position(i int) Position {
	p := i % streamParts
	if p == 2 && s.quiet(i) {
		p = 0
	}
	return Position{Partition: p, Offset: int64(i)}
}

// step feeds event i (and maybe a copy of an earlier one) and returns what
// Advance gave, if it was called.
func (s stream) step(e *Engine, i int) Output {
	if s.cuts[i] {
		s.cut(e, i)
	}
	now := s.clock(i)
	e.Observe(s.evs[i], s.position(i), now)
	if i%97 == 0 && i >= 5 {
		switch s.mode {
		case DedupIDs: // the same event again, at a new offset
			e.Observe(s.evs[i-5], Position{Partition: s.position(i).Partition, Offset: int64(len(s.evs) + i)}, now)
		case DedupOffsets: // a position read again
			e.Observe(s.evs[i-5], s.position(i-5), now)
		}
	}
	if i%advanceEvery != advanceEvery-1 {
		return Output{}
	}
	if s.idle {
		for p := range streamParts {
			e.Progress(p, now.Add(-time.Second), p == 2 && s.quiet(i), now)
		}
	}
	return e.Advance(now)
}

// run returns an engine that ran through the stream, leaving its last
// windows open.
func (s stream) run(t testing.TB) *Engine {
	e := s.engine(t)
	for i := range s.evs {
		s.step(e, i)
	}
	return e
}

// finish closes what is left, as at the end of a stream.
func (s stream) finish(e *Engine) Output {
	now := s.clock(len(s.evs)).Add(time.Hour)
	for p := range streamParts {
		e.Progress(p, time.Time{}, true, now)
	}
	out := e.Advance(now.Add(time.Hour))
	flushed := e.Flush()
	out.Scores = append(out.Scores, flushed.Scores...)
	out.Alerts = append(out.Alerts, flushed.Alerts...)
	return out
}

// cut marks every partition active at step i's clock, as a task does
// when it starts: restored partitions count as active from the restore,
// and this makes the uninterrupted engine agree.
func (s stream) cut(e *Engine, i int) {
	for p := range streamParts {
		e.Progress(p, time.Time{}, s.quiet(i) && p == 2, s.clock(i))
	}
}

// stateCover says what a state holds, to check a test exercises it.
type stateCover struct {
	windows, firing, resolved, exact, sketches, early, pairs, low, evicted int
}

func cover(e *Engine) stateCover {
	var c stateCover
	c.early = len(e.early)
	for _, p := range e.profiles {
		c.windows += len(p.windows)
		c.pairs += len(p.pairs)
		c.evicted += int(p.stats.Evicted)
		if p.low {
			c.low += len(p.entities)
		}
		for _, inc := range p.open {
			if inc.firing() {
				c.firing++
			} else {
				c.resolved++
			}
		}
		for _, w := range p.windows {
			for k := range w.len() {
				for i := range p.feats {
					switch set := w.at(k).acc(i).set; {
					case set == nil:
					case set.hll != nil:
						c.sketches++
					default:
						c.exact++
					}
				}
			}
		}
	}
	return c
}

func snapshot(t testing.TB, e *Engine) []byte {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, e.Snapshot(&buf))
	return buf.Bytes()
}

// A snapshot restored into a new engine continues exactly where the
// engine it was taken of was: from the cut on, the same scores and alerts
// as an engine that ran through, and in the end the same state. Restoring
// and taking a snapshot again gives the same bytes.
func TestSnapshotContinuesTheStream(t *testing.T) {
	evs := mustEvalEvents(t)
	// Two cuts: one whose state holds open windows with exact and sketched
	// distinct sets, firing and resolved incidents, first_seen pairs,
	// entities judged low and evictions; one with alerts raised early that
	// Advance has not returned.
	wants := []func(c stateCover) bool{
		func(c stateCover) bool {
			return c.windows > 0 && c.firing > 0 && c.resolved > 0 && c.exact > 0 && c.sketches > 0 &&
				c.pairs > 0 && c.low > 0 && c.evicted > 0
		},
		func(c stateCover) bool { return c.early > 0 },
	}
	for _, s := range []stream{
		{evs: evs, mode: DedupIDs},
		{evs: evs, mode: DedupNone},
		{evs: evs, mode: DedupOffsets},
		{evs: evs, mode: DedupOffsets, idle: true},
	} {
		t.Run(fmt.Sprintf("%s/explicit_idle=%v", s.mode, s.idle), func(t *testing.T) {
			// B runs until it has stopped at every cut.
			s.cuts = map[int]bool{}
			snaps := map[int][]byte{}
			b := s.engine(t)
			for k := 0; k < len(evs) && len(snaps) < len(wants); k++ {
				if c := cover(b); k > len(evs)/2 && wants[len(snaps)](c) {
					t.Logf("cut before event %d of %d: %+v", k, len(evs), c)
					s.cuts[k] = true
					s.cut(b, k)
					snaps[k] = snapshot(t, b)
					c := s.engine(t)
					require.NoError(t, c.Restore(bytes.NewReader(snaps[k]), s.clock(k)))
					requireSameState(t, b, c)
				}
				s.step(b, k)
			}
			require.Len(t, snaps, len(wants), "no cut with such state: %+v", cover(b))

			a := s.engine(t)
			fromA := make([]Output, len(evs)+1)
			for i := range evs {
				fromA[i] = s.step(a, i)
			}
			fromA[len(evs)] = s.finish(a)
			end := snapshot(t, a)

			for k, snap := range snaps {
				c := s.engine(t)
				require.NoError(t, c.Restore(bytes.NewReader(snap), s.clock(k)))
				restored, reset, dropped := c.RestoreReport()
				require.Equal(t, c.Profiles(), restored)
				require.Empty(t, reset)
				require.Empty(t, dropped)
				require.Equal(t, snap, snapshot(t, c), "snapshot, restore, snapshot: the same bytes")
				// The cut is in the snapshot: C does not make it again.
				sc := s
				sc.cuts = maps.Clone(s.cuts)
				delete(sc.cuts, k)
				scores, alerts := 0, 0
				for i := k; i <= len(evs); i++ {
					var out Output
					if i < len(evs) {
						out = sc.step(c, i)
					} else {
						out = sc.finish(c)
					}
					require.Equal(t, fromA[i].Scores, out.Scores, "scores of step %d", i)
					require.Equal(t, fromA[i].Alerts, out.Alerts, "alerts of step %d", i)
					scores += len(out.Scores)
					alerts += len(out.Alerts)
				}
				require.Positive(t, scores)
				require.Positive(t, alerts)
				require.Equal(t, a.Stats(), c.Stats())
				require.Equal(t, a.ProfileStats(), c.ProfileStats())
				require.Equal(t, end, snapshot(t, c), "the same state in the end")
			}
		})
	}
}

// requireSameState checks that restored holds what orig does, but for the
// order of cells in a window and the pending values of sketches.
func requireSameState(t *testing.T, orig, restored *Engine) {
	t.Helper()
	require.Equal(t, orig.stats, restored.stats)
	require.Equal(t, orig.early, restored.early)
	require.Equal(t, len(orig.parts), len(restored.parts))
	for id, ln := range orig.parts {
		r := restored.parts[id]
		require.NotNil(t, r, "partition %d", id)
		require.True(t, ln.maxEvent.Equal(r.maxEvent), "partition %d", id)
		require.Equal(t, ln.idle, r.idle, "partition %d", id)
		require.Equal(t, ln.hasOffset, r.hasOffset, "partition %d", id)
		require.Equal(t, ln.offset, r.offset, "partition %d", id)
		require.Equal(t, ln.seen, r.seen, "partition %d", id)
	}
	for i, p := range orig.profiles {
		r := restored.profiles[i]
		require.True(t, p.closedTo.Equal(r.closedTo), p.cfg.Name)
		require.True(t, p.maxEvent.Equal(r.maxEvent), p.cfg.Name)
		require.Equal(t, []any{p.lastSize, p.nextSweep, p.stats}, []any{r.lastSize, r.nextSweep, r.stats}, p.cfg.Name)
		require.Equal(t, p.entities, r.entities, p.cfg.Name)
		require.Equal(t, p.open, r.open, p.cfg.Name)
		require.Equal(t, p.pairs, r.pairs, p.cfg.Name)
		for j, f := range p.feats {
			require.Equal(t, f.pop.ring, r.feats[j].pop.ring, p.cfg.Name)
			require.Equal(t, f.pop.next, r.feats[j].pop.next, p.cfg.Name)
		}
		require.Equal(t, len(p.windows), len(r.windows), p.cfg.Name)
		for start, w := range p.windows {
			rw := r.windows[start]
			require.NotNil(t, rw, "%s window %d", p.cfg.Name, start)
			require.Equal(t, w.start, rw.start)
			require.Equal(t, w.minOffset, rw.minOffset)
			require.Equal(t, w.len(), rw.len())
			for i := range w.len() {
				c := w.at(i)
				rc := rw.cell(c.hash)
				require.NotNil(t, rc)
				require.Equal(t, []any{c.hash, c.tenant, c.entity, c.nextCheck}, []any{rc.hash, rc.tenant, rc.entity, rc.nextCheck})
				for k, f := range p.feats {
					x, ok := f.value(c.acc(k))
					rx, rok := f.value(rc.acc(k))
					require.Equal(t, []any{x, ok, c.acc(k).n, c.acc(k).values}, []any{rx, rok, rc.acc(k).n, rc.acc(k).values})
				}
			}
		}
	}
}

// A profile changed in what its state means starts empty; one changed only
// in how it alerts keeps its state; one no longer run is skipped.
func TestRestoreMatchesProfilesByFingerprint(t *testing.T) {
	evs := mustEvalEvents(t)
	s := stream{evs: evs[:20_000], mode: DedupIDs}
	b := s.run(t)
	snap := snapshot(t, b)

	var ps []config.ProfileConfig
	for _, p := range stateProfiles() {
		switch p.Name {
		case "brute_force":
			p.Threshold, p.Severity, p.Description, p.Labels = 0.9, "critical", "changed", map[string]string{"x": "y"}
			p.Features[0].Alpha, p.Features[0].Name = 0.2, "failures"
		case "port_scan":
			p.Window = 10 * time.Minute
		case "exfiltration_user":
			p.Features[0].Baseline = "ewma"
		case "db_query_volume":
			p.Match.Action = append(p.Match.Action, "db_connect")
		case "password_spraying":
			continue
		}
		ps = append(ps, p)
	}
	ps = append(ps, config.ProfileConfig{Name: "new_one", Key: []string{"host.name"}, Window: time.Minute,
		Features: []config.FeatureConfig{{Kind: "count", Baseline: "ewma", Direction: "high", Alpha: 0.05}}})
	c, err := New(ps, s.options())
	require.NoError(t, err)
	require.NoError(t, c.Restore(bytes.NewReader(snap), s.clock(len(s.evs))))
	restored, reset, dropped := c.RestoreReport()
	require.ElementsMatch(t, []string{"port_scan", "exfiltration_user", "db_query_volume", "new_one"}, reset)
	require.Equal(t, []string{"password_spraying"}, dropped)
	require.Len(t, restored, len(ps)-len(reset))
	require.Contains(t, restored, "brute_force")
	before, after := b.Entities(), c.Entities()
	require.Positive(t, before["brute_force"])
	require.Equal(t, before["brute_force"], after["brute_force"])
	require.Zero(t, after["port_scan"])
	require.Positive(t, before["port_scan"])
	require.Equal(t, b.Stats(), c.Stats())
	require.Equal(t, b.LowWater(), c.LowWater())
}

// A snapshot holds every field of the engine's state: a field added to
// the state must be added to the snapshot (and this count changed).
func TestSnapshotKeepsEveryField(t *testing.T) {
	for typ, fields := range map[reflect.Type]int{
		reflect.TypeFor[Engine]():            7, // due is derived from closedTo, not written
		reflect.TypeFor[lane]():              6,
		reflect.TypeFor[Stats]():             5,
		reflect.TypeFor[profile]():           23, // spare, spareIndex and keyBufs are memory to reuse, not state
		reflect.TypeFor[ProfileStats]():      6,
		reflect.TypeFor[population]():        4,
		reflect.TypeFor[entity]():            5,
		reflect.TypeFor[lowEntity]():         3,
		reflect.TypeFor[ewma]():              3,
		reflect.TypeFor[medianMAD]():         3,
		reflect.TypeFor[seasonal]():          3,
		reflect.TypeFor[activity]():          2,
		reflect.TypeFor[novelty]():           3,
		reflect.TypeFor[window]():            5, // cells, chunks and n are one thing
		reflect.TypeFor[cell]():              6,
		reflect.TypeFor[acc]():               6,
		reflect.TypeFor[distinctSet]():       5, // estimate and estimated are derived from hll
		reflect.TypeFor[incident]():          9,
		reflect.TypeFor[alert.Alert]():       19,
		reflect.TypeFor[alert.Links]():       2,
		reflect.TypeFor[score.Score]():       10,
		reflect.TypeFor[score.Explanation](): 7,
	} {
		require.Equal(t, fields, typ.NumField(), "%s has a field the snapshot may not write", typ)
	}
	a := alert.Alert{
		Version: 1, ID: "id", DedupKey: "key", Status: "firing", Severity: "high", Summary: "sum", Tenant: "t",
		Profile: "p", Entity: "e", EntityField: "ef", FirstSeen: t0, LastSeen: t0.Add(time.Minute),
		ResolvedAt: t0.Add(time.Hour), Count: 3, EventCount: 77, AnomalyScore: 0.999,
		Explanation: score.Explanation{Feature: "f", Observed: 1, Expected: 2, Spread: 3, Samples: 4, Season: "Mon 09h UTC", Method: "m"},
		Labels:      map[string]string{"b": "2", "a": "1"},
		Links:       alert.Links{Dashboard: "d", Query: "q"},
	}
	for _, labels := range []map[string]string{a.Labels, {}, nil} {
		a.Labels = labels
		requireRoundTrip(t, a, encodeAlert, decodeAlert)
	}
	s := score.Score{Version: 1, ID: "i", Tenant: "t", Profile: "p", Entity: "e", EntityField: "f",
		WindowStart: t0, WindowEnd: t0.Add(time.Minute), AnomalyScore: 0.5, Explanation: a.Explanation}
	requireRoundTrip(t, s, encodeScore, decodeScore)
}

// requireRoundTrip checks that v decodes to itself.
func requireRoundTrip[T any](t *testing.T, v T, encode func(*encoder, *T), decode func(*decoder, *T)) {
	t.Helper()
	var enc encoder
	encode(&enc, &v)
	var got T
	d := &decoder{b: enc.b}
	decode(d, &got)
	d.end()
	require.NoError(t, d.err)
	require.Equal(t, v, got)
}

func TestRestoreRejectsBadInput(t *testing.T) {
	evs := mustEvalEvents(t)
	s := stream{evs: evs[:5000], mode: DedupIDs}
	b := s.run(t)
	snap := snapshot(t, b)
	resum := func(data []byte) []byte {
		data = bytes.Clone(data)
		return appendChecksum(data[:len(data)-8])
	}
	flipped := bytes.Clone(snap)
	flipped[len(flipped)/2] ^= 0x40
	for _, tt := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "not a detect state snapshot", nil},
		{"other magic", "not a detect state snapshot", append([]byte("XXXX"), snap[4:]...)},
		{"newer version", "format version 2", resum(append([]byte("VGDS\x02"), snap[5:]...))},
		{"truncated", "checksum mismatch", snap[:len(snap)-100]},
		{"a bit flipped", "checksum mismatch", flipped},
		{"truncated with its checksum", "bytes", resum(snap[:len(snap)-100])},
		{"trailing bytes", "left over", resum(append(bytes.Clone(snap[:len(snap)-8]), 0, 0, 0, 0, 0, 0, 0, 0, 0))},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := s.engine(t)
			c.Observe(evs[0], Position{}, s.clock(0))
			err := c.Restore(bytes.NewReader(tt.data), s.clock(0))
			require.ErrorIs(t, err, ErrCorruptSnapshot)
			require.ErrorContains(t, err, tt.want)
			require.Equal(t, uint64(1), c.Stats().Counted+c.Stats().Ignored, "unchanged")
		})
	}
}

// appendChecksum ends data with its checksum, as Snapshot does.
func appendChecksum(data []byte) []byte {
	var enc encoder
	enc.b = data
	enc.fixed64(xxhash.Sum64(data))
	return enc.b
}

// A distinct set restored from a checkpoint taken anywhere goes on exactly
// as the one that was not checkpointed: through the switch to a sketch,
// the sketch's batches and its change from sparse to dense, the same
// encoding, count and early count.
func TestDistinctSetRestoredAnywhereGoesOnTheSame(t *testing.T) {
	f := &feature{kind: kindDistinct}
	encode := func(s *distinctSet) []byte {
		var enc encoder
		f.encodeAcc(&enc, &acc{set: s})
		require.NoError(t, enc.err)
		return enc.b
	}
	decode := func(b []byte) *distinctSet {
		var a acc
		d := &decoder{b: b}
		f.decodeAcc(d, &a)
		d.end()
		require.NoError(t, d.err)
		return a.set
	}
	// 20,000 values, one in eight a repeat of the one before: 17,500
	// distinct, more than a sparse sketch holds.
	const n = 20_000
	value := func(i int) string { return strconv.Itoa(i * 7 / 8) }
	whole := &distinctSet{}
	for i := range n {
		whole.add(value(i))
	}
	want := encode(whole)
	require.Greater(t, len(want), 8192, "the sketch is dense in the end")
	require.InEpsilon(t, 17_500, float64(whole.count()), 0.02)

	for _, cut := range []int{1, 127, 128, 146, 147, 200, 274, 275, 5000, 16_000, 18_000, 19_999} {
		part := &distinctSet{}
		for i := range cut {
			part.add(value(i))
		}
		restored := decode(encode(part))
		for i := cut; i < n; i++ {
			if (i-cut)%97 == 0 {
				require.Equal(t, encode(part), encode(restored), "cut %d, value %d", cut, i)
				require.Equal(t, part.count(), restored.count(), "cut %d, value %d", cut, i)
				require.Equal(t, part.counted(), restored.counted(), "cut %d, value %d", cut, i)
			}
			part.add(value(i))
			restored.add(value(i))
		}
		require.Equal(t, want, encode(restored), "cut %d", cut)
		require.Equal(t, whole.count(), restored.count(), "cut %d", cut)
		require.Equal(t, whole.counted(), restored.counted(), "cut %d", cut)
	}

	// A sketch is written as pending only with values pending.
	sk, err := whole.hll.MarshalBinary()
	require.NoError(t, err)
	var enc encoder
	enc.num(0)
	enc.u8(setSketchPending)
	enc.bytes(sk)
	enc.hashes(nil)
	d := &decoder{b: enc.b}
	f.decodeAcc(d, &acc{})
	require.ErrorContains(t, d.err, "no pending values")
}
