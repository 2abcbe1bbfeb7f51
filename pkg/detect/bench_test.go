package detect

import (
	"bytes"
	"fmt"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/config"
	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// cpuTime is the CPU time this process has used (user and system, every
// thread, the collector's included): the benchmark's figure is per core
// whatever else the machine runs.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	require.NoError(b, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkEngine runs failed logins from 1,000,000 source IPs through the
// brute_force profile with one-minute windows (a count per IP and minute, judged against the IP's
// EWMA with a negative binomial tail): every event is matched, keyed and
// counted, every window closed learns and scores each IP in it. It reports
// events per second of CPU time (the engine runs on one goroutine; the
// garbage collector's work is counted too) and the state kept per
// entity and feature once all IPs have a baseline.
func BenchmarkEngine(b *testing.B) {
	const (
		entities  = 1_000_000
		perWindow = 2_000_000 // events per one-minute window
		windows   = 4
	)
	evs := make([]event.Event, 4096)
	var ip []byte
	e, err := New([]config.ProfileConfig{testkit.MinuteBruteForce()}, OptionsFrom(config.Default().Processor))
	require.NoError(b, err)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	now := start.Add(24 * time.Hour)
	// The output is reused from one call to the next, as the processor
	// reuses what it publishes.
	var out Output
	var scores int
	b.ResetTimer()
	began := cpuTime(b)
	n := 0
	for range b.N {
		for w := range windows {
			base := start.Add(time.Duration(w) * time.Minute)
			for i := range perWindow {
				ev := &evs[i%len(evs)]
				// Each event's address is a new string, as decoding a
				// message makes it (its formatting is counted too).
				ip = appendBenchIP(ip[:0], (i*7919)%entities)
				*ev = event.Event{
					Version: 1, Timestamp: base.Add(time.Duration(i) * (time.Minute / perWindow)), Tenant: "default",
					Category: event.CategoryAuthentication, Outcome: event.OutcomeFailure,
					SrcIP: string(ip),
				}
				e.Observe(ev, Position{Offset: int64(n)}, now)
				n++
				if i%100_000 == 0 {
					clear(out.Scores)
					out.Scores = out.Scores[:0]
					e.AdvanceInto(now, &out)
					scores += len(out.Scores)
				}
			}
		}
		clear(out.Scores)
		out.Scores = out.Scores[:0]
		e.FlushInto(&out)
		scores += len(out.Scores)
	}
	elapsed := cpuTime(b) - began
	b.StopTimer()
	require.Equal(b, b.N*windows*entities, scores, "one score per IP and window")
	fmt.Printf("BENCH name=detect_events_per_core value=%.0f unit=events/s\n", float64(n)/elapsed.Seconds())

	// State: the heap with every IP's baseline, less the heap without it.
	runtime.GC()
	var with, without runtime.MemStats
	runtime.ReadMemStats(&with)
	require.Equal(b, entities, e.Entities()["brute_force"])
	e.profiles[0].entities = map[uint64]*entity{}
	runtime.GC()
	runtime.ReadMemStats(&without)
	runtime.KeepAlive(e)
	per := float64(with.HeapAlloc-without.HeapAlloc) / entities
	fmt.Printf("BENCH name=detect_state_per_entity_feature value=%.0f unit=bytes\n", per)
}

// benchIPs returns n distinct IPv4 addresses, 10.0.0.0 and up.
func benchIPs(n int) []string {
	ips := make([]string, n)
	for i := range ips {
		ips[i] = string(appendBenchIP(nil, i))
	}
	return ips
}

// appendBenchIP appends the i-th address of benchIPs to b.
func appendBenchIP(b []byte, i int) []byte {
	b = append(b, "10."...)
	b = strconv.AppendInt(b, int64(i>>16&255), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(i>>8&255), 10)
	b = append(b, '.')
	return strconv.AppendInt(b, int64(i&255), 10)
}

// BenchmarkSnapshot takes and restores the state of brute_force (one-minute
// windows) with 1,000,000 source IPs, each with a baseline learned from one
// closed window and a count in the open one. It reports the snapshot's size
// per entity, and the snapshot's and the restore's speed per second of CPU
// time (the collector's work included).
func BenchmarkSnapshot(b *testing.B) {
	const entities = 1_000_000
	ips := benchIPs(entities)
	opts := OptionsFrom(config.Default().Processor)
	opts.Dedup = DedupOffsets
	e, err := New([]config.ProfileConfig{testkit.MinuteBruteForce()}, opts)
	require.NoError(b, err)
	start := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	now := start.Add(24 * time.Hour)
	ev := &event.Event{Version: 1, Tenant: "default", Category: event.CategoryAuthentication, Outcome: event.OutcomeFailure}
	n := int64(0)
	for w := range 2 {
		for i, ip := range ips {
			ev.Timestamp, ev.SrcIP = start.Add(time.Duration(w)*time.Minute+time.Duration(i)*(time.Minute/entities)), ip
			e.Observe(ev, Position{Offset: n}, now)
			n++
		}
		e.Advance(now)
	}
	require.Equal(b, entities, e.Entities()["brute_force"])
	require.Equal(b, 1, e.OpenWindows())

	var buf bytes.Buffer
	require.NoError(b, e.Snapshot(&buf))
	size := buf.Len()
	b.ResetTimer()
	began := cpuTime(b)
	for range b.N {
		buf.Reset()
		require.NoError(b, e.Snapshot(&buf))
	}
	took := cpuTime(b) - began
	snap := buf.Bytes()
	var restored *Engine
	began = cpuTime(b)
	for range b.N {
		restored, err = New([]config.ProfileConfig{testkit.MinuteBruteForce()}, opts)
		require.NoError(b, err)
		require.NoError(b, restored.Restore(bytes.NewReader(snap), now))
	}
	restoreTook := cpuTime(b) - began
	b.StopTimer()
	require.Equal(b, entities, restored.Entities()["brute_force"])
	require.Equal(b, 1, restored.OpenWindows())
	fmt.Printf("BENCH name=detect_snapshot_bytes_per_entity value=%.1f unit=bytes\n", float64(size)/entities)
	fmt.Printf("BENCH name=detect_snapshot_speed value=%.0f unit=MB/s\n", float64(size*b.N)/1e6/took.Seconds())
	fmt.Printf("BENCH name=detect_restore_entities_per_core value=%.0f unit=entities/s\n", float64(entities*b.N)/restoreTook.Seconds())
}

// BenchmarkPortScan runs one source scanning all 65,536 ports of a host
// within one five-minute window through the built-in port_scan profile
// (distinct destination ports: exact up to 128, then a sketch) and closes
// the window. It reports the CPU time of one such window.
func BenchmarkPortScan(b *testing.B) {
	var pc config.ProfileConfig
	for _, p := range config.BuiltinProfiles() {
		if p.Name == "port_scan" {
			pc = p
		}
	}
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	flow := func(ts time.Time, port int) *event.Event {
		e := &event.Event{Version: 1, Timestamp: ts, Tenant: "default", Source: "bench", Category: "network",
			Action: "flow", Outcome: "success", SrcIP: "10.0.0.1", DstIP: "10.0.0.2", DstPort: uint16(port)}
		e.ID = event.NewID("default", "bench", ts.UnixNano(), nil)
		return e
	}
	now := t0.Add(2 * time.Hour)
	var took time.Duration
	for range b.N {
		e, err := New([]config.ProfileConfig{pc}, OptionsFrom(config.Default().Processor))
		require.NoError(b, err)
		began := cpuTime(b)
		for port := range 65536 {
			e.Observe(flow(t0.Add(time.Duration(port)*time.Millisecond), port), Position{Offset: int64(port)}, now)
		}
		e.Observe(flow(t0.Add(time.Hour), 22), Position{Offset: 65536}, now)
		out := e.Advance(now)
		took += cpuTime(b) - began
		require.Len(b, out.Scores, 1)
		require.InEpsilon(b, 65536, out.Scores[0].Explanation.Observed, 0.03)
	}
	fmt.Printf("BENCH name=detect_port_scan_65536_ports value=%.3f unit=s/window\n", took.Seconds()/float64(b.N))
}
