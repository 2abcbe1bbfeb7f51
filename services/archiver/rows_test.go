package archiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

func TestChunkBoundsPartitionsPerInsert(t *testing.T) {
	day := func(d int) []any { return []any{"id", time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, d)} }
	var rows [][]any
	for d := range 250 {
		rows = append(rows, day(d), day(d)) // two rows a day
	}
	var sizes []int
	for len(rows) > 0 {
		n := chunk(rows, 1)
		sizes = append(sizes, n)
		rows = rows[n:]
	}
	require.Equal(t, []int{200, 200, 100}, sizes, "at most 100 days per insert")
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
		_, err = eventsTable.row(b)
		require.ErrorContains(t, err, "outside what ClickHouse DateTime stores", ts.String())
	}
}
