package detect

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

func recentID(i int64) string { return event.NewID("t", "o", i, nil) }

func TestRecentIDsForgetTheOldest(t *testing.T) {
	r := NewRecentIDs(2)
	require.False(t, r.SeenBefore(recentID(1)))
	require.False(t, r.SeenBefore(recentID(2)))
	require.True(t, r.SeenBefore(recentID(1)))
	require.False(t, r.SeenBefore(recentID(3))) // evicts 1
	require.False(t, r.SeenBefore(recentID(1)))
	require.False(t, r.SeenBefore("not-hex"))
	require.False(t, r.SeenBefore("not-hex"), "malformed ids are never duplicates")
}

func TestRecentIDsOfSizeZeroRememberNothing(t *testing.T) {
	r := NewRecentIDs(0)
	require.False(t, r.SeenBefore(recentID(1)))
	require.False(t, r.SeenBefore(recentID(1)))
}

// A memory restored from its encoding answers as the original would, in
// the original's ring order, and encodes to the same bytes.
func TestRecentIDsMarshalRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		name    string
		n, seen int
	}{
		{"empty", 4, 0},
		{"part full", 4, 3},
		{"full", 4, 4},
		{"wrapped", 4, 7},
		{"size zero", 0, 3},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := NewRecentIDs(tt.n)
			for i := range tt.seen {
				a.SeenBefore(recentID(int64(i)))
			}
			data, err := a.MarshalBinary()
			require.NoError(t, err)
			b := NewRecentIDs(DefaultRecentIDs)
			require.NoError(t, b.UnmarshalBinary(data))
			again, err := b.MarshalBinary()
			require.NoError(t, err)
			require.Equal(t, data, again)
			// Both forget the same ids in the same order from here on.
			for i := range 2 * tt.n {
				id := recentID(int64(i))
				require.Equal(t, a.SeenBefore(id), b.SeenBefore(id), "id %d", i)
			}
			for i := range 2 * tt.n {
				id := recentID(int64(100 + i))
				require.Equal(t, a.SeenBefore(id), b.SeenBefore(id), "id %d", 100+i)
			}
		})
	}
}

func TestRecentIDsUnmarshalRejectsBadInput(t *testing.T) {
	good := NewRecentIDs(2)
	good.SeenBefore(recentID(1))
	good.SeenBefore(recentID(2))
	data, err := good.MarshalBinary()
	require.NoError(t, err)
	dup := append([]byte{1, 2, 2, 0}, data[4:20]...)
	dup = append(dup, data[4:20]...)
	for _, tt := range []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated", data[:len(data)-1]},
		{"trailing", append(append([]byte{}, data...), 0)},
		{"version", append([]byte{9}, data[1:]...)},
		{"more ids than slots", []byte{1, 1, 2, 0}},
		{"next beyond the ring", append([]byte{1, 2, 2, 5}, data[4:]...)},
		{"next while not full", append([]byte{1, 3, 2, 1}, data[4:]...)},
		{"huge size", []byte{1, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0}},
		{"huge count", []byte{1, 0xff, 0xff, 0xff, 0x07, 0xff, 0xff, 0xff, 0x07, 0}},
		{"an id twice", dup},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRecentIDs(2)
			require.False(t, r.SeenBefore(recentID(7)))
			require.ErrorIs(t, r.UnmarshalBinary(tt.data), ErrCorruptSnapshot)
			require.True(t, r.SeenBefore(recentID(7)), "unchanged on error")
		})
	}
}
