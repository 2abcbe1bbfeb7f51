package pager

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestRetryDelay(t *testing.T) {
	lowest := func(int64) int64 { return 0 }
	highest := func(n int64) int64 { return n - 1 }
	tests := []struct {
		n        int
		min, max time.Duration
	}{
		{1, 500 * time.Millisecond, time.Second},
		{2, time.Second, 2 * time.Second},
		{3, 2 * time.Second, 4 * time.Second},
		{6, 16 * time.Second, 32 * time.Second},
		{7, 30 * time.Second, time.Minute}, // capped at max
		{50, 30 * time.Second, time.Minute},
	}
	for _, tt := range tests {
		require.Equal(t, tt.min, retryDelay(tt.n, time.Second, time.Minute, lowest), "attempt %d, lowest", tt.n)
		require.Equal(t, tt.max, retryDelay(tt.n, time.Second, time.Minute, highest), "attempt %d, highest", tt.n)
	}
}

func TestNotificationID(t *testing.T) {
	id := notificationID("vigil-pager", "oncall", "d0cb1201afa496bca1410662d3349987")
	require.Regexp(t, `^[0-9a-f]{32}$`, id)
	require.Equal(t, id, notificationID("vigil-pager", "oncall", "d0cb1201afa496bca1410662d3349987"))
	require.NotEqual(t, id, notificationID("vigil-pager", "chat", "d0cb1201afa496bca1410662d3349987"), "per receiver")
	require.NotEqual(t, id, notificationID("team-pager", "oncall", "d0cb1201afa496bca1410662d3349987"), "per group")
	require.NotEqual(t, id, notificationID("vigil-pager", "oncall", "other"), "per alert")
	require.NotEqual(t, notificationID("a|b", "c", "x"), notificationID("a", "b|c", "x"), "no ambiguity at the separators")
}
