package receiver

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/parse"
)

func testEvent(msg string) *event.Event {
	now := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	return &event.Event{
		Version: event.Version, ID: event.NewID("t", "o", 0, []byte(msg)),
		Timestamp: now, Ingested: now, Tenant: "t", Source: "raw", Host: "web-1",
		Category: event.CategoryUnknown, Outcome: event.OutcomeUnknown, Message: msg,
	}
}

func TestEncodeKey(t *testing.T) {
	ev := testEvent("hello")
	m, err := Encode(ev)
	require.NoError(t, err)
	require.Equal(t, "web-1", string(m.Key), "no source IP: keyed by host")
	back, err := event.Decode(m.Value)
	require.NoError(t, err)
	require.Equal(t, ev, back)

	ev.SrcIP = "203.0.113.7"
	m, err = Encode(ev)
	require.NoError(t, err)
	require.Equal(t, "203.0.113.7", string(m.Key))
}

func TestEncodeBoundsSize(t *testing.T) {
	tests := []struct {
		name string
		msg  string
	}{
		{"plain", strings.Repeat("a", MaxEventBytes+100)},
		{"escaped six times", strings.Repeat("\x01", MaxEventBytes/2)},
		{"multi-byte characters", strings.Repeat("é€😀", MaxEventBytes/4)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Encode(testEvent(tt.msg))
			require.NoError(t, err)
			require.LessOrEqual(t, len(m.Value), MaxEventBytes)
			back, err := event.Decode(m.Value)
			require.NoError(t, err)
			require.Equal(t, "true", back.Attrs[parse.AttrTruncated])
			require.True(t, utf8.ValidString(back.Message))
			require.True(t, strings.HasPrefix(tt.msg, back.Message))
			require.Greater(t, len(back.Message), MaxEventBytes/12, "cut to fit, not far below")
		})
	}
	m, err := Encode(testEvent("short"))
	require.NoError(t, err)
	back, err := event.Decode(m.Value)
	require.NoError(t, err)
	require.Empty(t, back.Attrs, "a small event is not flagged")
}
