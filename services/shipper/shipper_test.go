package shipper

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
	"github.com/vigil-soc/vigil/services/shipper/parse"
	"github.com/vigil-soc/vigil/services/shipper/receiver"
)

// A line of characters JSON escapes six-fold still makes an event that
// fits in one Kafka message, cut and flagged.
func TestEncodeBoundedCutsHugeEvents(t *testing.T) {
	p, err := parse.New("raw")
	require.NoError(t, err)
	line := []byte(strings.Repeat("<\x01", 128<<10)) // 256 KiB, the largest line allowed
	ev, _ := p.Parse(parse.Input{Tenant: "t", Host: "h", Origin: "o", Line: line, Now: time.Now()})
	_, msg, err := receiver.AppendEvent([]byte("prefix"), ev)
	require.NoError(t, err)
	require.Equal(t, "h", string(msg.Key))
	require.LessOrEqual(t, len(msg.Value), receiver.MaxEventBytes)
	got, err := event.Decode(msg.Value)
	require.NoError(t, err)
	require.Equal(t, "true", got.Attrs[parse.AttrTruncated])
	require.NotEmpty(t, got.Message)

	small, _ := p.Parse(parse.Input{Tenant: "t", Host: "h", Origin: "o", Line: []byte("ok"), Now: time.Now()})
	_, msg, err = receiver.AppendEvent(nil, small)
	require.NoError(t, err)
	got, err = event.Decode(msg.Value)
	require.NoError(t, err)
	require.Equal(t, "ok", got.Message)
	require.Empty(t, got.Attrs)
}
