package archiver

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

func TestBlocksBoundPartitionsPerInsert(t *testing.T) {
	var values [][]byte
	for d := range 250 {
		for i := range 2 { // two events a day
			e := newEvent(2*d + i)
			e.Timestamp = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC).AddDate(0, 0, d)
			values = append(values, encode(t, e)...)
		}
	}
	values = append(values[:10], append([][]byte{[]byte("not an event")}, values[10:]...)...)
	blocks, bad := eventsTable.build(values)
	var sizes []int
	for _, b := range blocks {
		sizes = append(sizes, b.len())
	}
	require.Equal(t, []int{200, 200, 100}, sizes, "at most 100 days per insert")
	require.Len(t, bad, 1)
	require.Contains(t, bad[10], "invalid")
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
