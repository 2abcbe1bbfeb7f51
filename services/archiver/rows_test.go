package archiver

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/pkg/store"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

// inserter returns an archiver that can insert into a fresh database, and
// a connection to that database.
func inserter(t *testing.T) (*Archiver, driver.Conn) {
	t.Helper()
	conn, err := store.Open(testkit.ClickHouse(t))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	return &Archiver{conn: conn, metrics: newMetrics(nil)}, conn
}

// insertAll inserts values into t the way an inserter does, one insert
// after another, and returns the rows each insert added and every value
// reported as not storable.
func insertAll(t *testing.T, a *Archiver, conn driver.Conn, tbl table, values [][]byte) (sizes []int, bad map[int]string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := tbl.newWriter()
	bad = map[int]string{}
	for from := 0; from < len(values); {
		before := count(t, conn, "SELECT count() FROM "+tbl.name())
		next, b, err := a.insert(ctx, tbl, w, values, from)
		require.NoError(t, err)
		require.Greater(t, next, from)
		maps.Copy(bad, b)
		sizes = append(sizes, int(count(t, conn, "SELECT count() FROM "+tbl.name())-before))
		from = next
	}
	return sizes, bad
}

func TestInsertsBoundPartitionsPerInsert(t *testing.T) {
	a, conn := inserter(t)
	var values [][]byte
	for d := range 250 {
		for i := range 2 { // two events a day
			e := newEvent(2*d + i)
			e.Timestamp = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, d)
			values = append(values, encode(t, e)...)
		}
	}
	values = append(values[:10], append([][]byte{[]byte("not an event")}, values[10:]...)...)
	sizes, bad := insertAll(t, a, conn, eventsTable, values)
	require.Equal(t, []int{200, 200, 100}, sizes, "at most 100 days per insert")
	require.Len(t, bad, 1)
	require.Contains(t, bad[10], "invalid")
}

// An insert sent in several chunks is one part per partition, as one
// block would be: chunks cost the server no extra parts to merge.
func TestChunksOfAnInsertMakeOnePartPerDay(t *testing.T) {
	a, conn := inserter(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, conn.Exec(ctx, "SYSTEM STOP MERGES events"))
	n := 3*chunkRows + 5
	evs := make([]*event.Event, n)
	for i := range evs {
		evs[i] = newEvent(i)
		evs[i].Timestamp = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, i%2)
	}
	sizes, bad := insertAll(t, a, conn, eventsTable, encode(t, evs...))
	require.Equal(t, []int{n}, sizes)
	require.Empty(t, bad)
	require.Equal(t, uint64(2), count(t, conn,
		"SELECT count() FROM system.parts WHERE database = currentDatabase() AND table = 'events' AND active"))
	require.Equal(t, uint64(n), count(t, conn, "SELECT count(DISTINCT id) FROM events"))
}

func TestEventsOutsideDateTimeAreRefused(t *testing.T) {
	for _, ts := range []time.Time{
		time.Date(1969, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC),
	} {
		e := &event.Event{
			Version: 1, ID: event.NewID("t", "o", 0, []byte("x")), Timestamp: ts, Ingested: time.Now(),
			Tenant: "t", Source: "raw", Category: "unknown", Outcome: "unknown", Message: "x",
		}
		b, err := event.Encode(e)
		require.NoError(t, err)
		err = eventsTable.decode(b, new(event.Event))
		require.ErrorContains(t, err, "outside what ClickHouse DateTime stores", ts.String())
	}
}
