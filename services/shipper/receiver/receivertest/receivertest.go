// Package receivertest helps test the shipper's network receivers against
// a real spool: open one, read back the events a receiver appended, fill
// it so that a receiver finds no room, and compare golden files.
package receivertest

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/spool"
)

// WaitFor bounds every wait of a receiver test; a failing test stops at it.
const WaitFor = time.Minute

// occupant is the value of the batch Fill appends.
const occupant = "occupant"

// OpenSpool opens a spool in a test directory, closed at the end of the
// test. maxBytes 0 takes the spool's default; 1 makes room for one batch.
func OpenSpool(t testing.TB, maxBytes int64) *spool.Spool {
	t.Helper()
	sp, err := spool.Open(spool.Options{Dir: t.TempDir(), MaxBytes: maxBytes})
	require.NoError(t, err)
	t.Cleanup(func() { sp.Close() })
	return sp
}

// ReadEvents takes n events from sp, in order, acknowledging every batch.
// Each must decode as a valid envelope and be keyed by its source.ip, or
// its host.name when it has none.
func ReadEvents(t testing.TB, sp *spool.Spool, n int) []*event.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
	defer cancel()
	var evs []*event.Event
	for len(evs) < n {
		b, err := sp.Next(ctx)
		require.NoError(t, err, "got %d of %d events", len(evs), n)
		for _, m := range b.Msgs {
			ev, err := event.Decode(m.Value)
			require.NoError(t, err)
			key := ev.SrcIP
			if key == "" {
				key = ev.Host
			}
			require.Equal(t, key, string(m.Key))
			evs = append(evs, ev)
		}
		require.NoError(t, sp.Ack(b.Seq))
	}
	require.Len(t, evs, n)
	return evs
}

// Fill appends a batch nobody takes yet to a spool opened with a maxBytes
// of 1, so that it has no room for anything more until Unfill.
func Fill(t testing.TB, sp *spool.Spool) {
	t.Helper()
	require.NoError(t, sp.Append(context.Background(), []spool.Msg{{Value: []byte(occupant)}}, nil, false))
	require.ErrorIs(t, sp.TryAppend([]spool.Msg{{Value: []byte("x")}}, nil, false), spool.ErrFull)
}

// Unfill takes and acknowledges the batch Fill appended.
func Unfill(t testing.TB, sp *spool.Spool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), WaitFor)
	defer cancel()
	b, err := sp.Next(ctx)
	require.NoError(t, err)
	require.Equal(t, occupant, string(b.Msgs[0].Value))
	require.NoError(t, sp.Ack(b.Seq))
}

// Golden compares evs, encoded one a line, with the golden file at path,
// or rewrites the file with update.
func Golden(t testing.TB, path string, evs []*event.Event, update bool) {
	t.Helper()
	var got []byte
	for _, ev := range evs {
		var err error
		got, err = event.AppendJSON(got, ev)
		require.NoError(t, err)
		got = append(got, '\n')
	}
	if update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -run TestGolden -update to create it")
	wantLines, gotLines := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := range min(len(wantLines), len(gotLines)) {
		require.Equal(t, wantLines[i], gotLines[i], "line %d of %s", i+1, path)
	}
	require.Equal(t, len(wantLines), len(gotLines), "lines in %s", path)
}
