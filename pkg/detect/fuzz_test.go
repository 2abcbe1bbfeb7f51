package detect

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

var update = flag.Bool("update", false, "rewrite testdata/state.golden and the seeds of FuzzRestore")

// goldenEngine is a small engine with state of every kind: the first
// events of the labelled benchmark through every state profile.
func goldenEngine(t testing.TB, events int) *Engine {
	return stream{evs: mustEvalEvents(t)[:events], mode: DedupOffsets, idle: true}.run(t)
}

// The snapshot format is stable: a state gives the bytes it gave when
// testdata/state.golden was written, and that file restores. When the
// engine's state or its encoding changes, bump stateVersion if an older
// snapshot no longer reads as it did, and rewrite the file with -update.
func TestSnapshotGolden(t *testing.T) {
	got := snapshot(t, goldenEngine(t, 1500))
	path := filepath.Join("testdata", "state.golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644))
		writeFuzzSeeds(t)
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err)
	require.Equal(t, want, got, "the snapshot changed: bump stateVersion if old ones no longer read, and run with -update")
	e := stream{mode: DedupOffsets, idle: true}.engine(t)
	require.NoError(t, e.Restore(bytes.NewReader(want), t0))
	require.Equal(t, want, snapshot(t, e))
}

// writeFuzzSeeds keeps, as FuzzRestore's seed corpus, snapshots of the
// fuzzed engine: empty, after the benchmark's first events, after a
// burst of failed logins, and during a port scan (a distinct count's
// sketch with values pending).
func writeFuzzSeeds(t *testing.T) {
	burst := fuzzEngine(t)
	evs := testkit.FailedLogins{Background: 5, Minutes: 30, BurstIP: "203.0.113.7", BurstAt: 20, BurstSize: 300}.Events(t0, 1)
	testkit.SortByTime(evs)
	for i, ev := range evs {
		burst.Observe(ev, Position{Partition: i % 2, Offset: int64(i)}, ev.Timestamp)
		burst.Advance(ev.Timestamp)
	}
	require.Positive(t, cover(burst).firing)
	scan := fuzzEngine(t)
	for port := range 300 {
		ts := t0.Add(time.Duration(port) * time.Second)
		scan.Observe(&event.Event{Version: 1, Timestamp: ts, Tenant: "default", Source: "fuzz", Category: "network",
			Action: "flow", Outcome: "success", SrcIP: "198.51.100.9", DstIP: "10.0.0.2", DstPort: uint16(port),
			ID: event.NewID("default", "fuzz", ts.UnixNano(), nil)}, Position{Offset: int64(port)}, ts)
	}
	require.Positive(t, cover(scan).sketches)
	dir := filepath.Join("testdata", "fuzz", "FuzzRestore")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for name, e := range map[string]*Engine{"empty": fuzzEngine(t), "benchmark": goldenEngine(t, 150), "burst": burst, "scan": scan} {
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", snapshot(t, e))
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(seed), 0o644))
	}
}

// Restore never panics: whatever the input, it restores or returns an
// error wrapping ErrCorruptSnapshot. Each input is also tried with its
// checksum made right, so that the fuzzer reaches the decoder. What
// restores snapshots to bytes that restore to the same bytes again, and
// the engine runs on. The seeds are large: fuzz with a short minimisation,
// go test -run '^$' -fuzz FuzzRestore -fuzzminimizetime 2s ./pkg/detect/
func FuzzRestore(f *testing.F) {
	f.Add([]byte(stateMagic + "\x01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		inputs := [][]byte{data}
		if len(data) >= 8 {
			inputs = append(inputs, appendChecksum(bytes.Clone(data[:len(data)-8])))
		}
		for _, in := range inputs {
			e := fuzzEngine(t)
			if err := e.Restore(bytes.NewReader(in), t0); err != nil {
				require.ErrorIs(t, err, ErrCorruptSnapshot)
				continue
			}
			once := snapshot(t, e)
			again := fuzzEngine(t)
			require.NoError(t, again.Restore(bytes.NewReader(once), t0))
			require.Equal(t, once, snapshot(t, again))
			for i, ev := range (testkit.FailedLogins{Background: 3, Minutes: 2}).Events(t0, 1) {
				e.Observe(ev, Position{Partition: i % 2, Offset: int64(i)}, t0)
				e.Advance(t0)
			}
			e.Advance(t0.Add(time.Hour))
			e.Flush()
			e.LowWater()
		}
	})
}

func fuzzEngine(t *testing.T) *Engine {
	opts := OptionsFrom(config.Default().Processor)
	opts.Dedup, opts.ExplicitIdle = DedupOffsets, true
	e, err := New(stateProfiles(), opts)
	require.NoError(t, err)
	return e
}
