package event_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// The binary form gives back the event it was made from, field for field,
// with times in UTC.
func TestBinaryRoundTrip(t *testing.T) {
	unicode := full(t)
	unicode.User, unicode.Attrs = "пользователь", map[string]string{"ключ": "значение", "": "empty key"}
	extremes := full(t)
	extremes.SrcPort, extremes.DstPort = math.MaxUint16, 0
	extremes.BytesOut, extremes.BytesIn = math.MaxUint64, 1
	extremes.Value = -math.MaxFloat64
	extremes.Timestamp = time.Date(1969, 12, 31, 23, 59, 59, 999999999, time.UTC)
	extremes.Ingested = time.Date(9999, 12, 31, 23, 59, 59, 1, time.FixedZone("", -7*3600))
	for name, e := range map[string]*event.Event{"minimal": valid(t), "full": full(t), "unicode": unicode, "extremes": extremes} {
		t.Run(name, func(t *testing.T) {
			b := event.AppendBinary(nil, e)
			require.True(t, event.IsBinary(b))
			got, err := event.DecodeBinary(b)
			require.NoError(t, err)
			requireSameEvent(t, e, got)
			require.Equal(t, time.UTC, got.Timestamp.Location())

			// Appending to a buffer that holds something already.
			prefixed := event.AppendBinary([]byte("xyz"), e)
			require.Equal(t, b, prefixed[3:])
		})
	}
}

// A value of -0 comes back as 0, as it does through JSON.
func TestBinaryNegativeZero(t *testing.T) {
	e := full(t)
	e.Value = math.Copysign(0, -1)
	got, err := event.DecodeBinary(event.AppendBinary(nil, e))
	require.NoError(t, err)
	require.False(t, math.Signbit(got.Value))
	j, err := event.Encode(e)
	require.NoError(t, err)
	viaJSON, err := event.Decode(j)
	require.NoError(t, err)
	require.Equal(t, math.Float64bits(viaJSON.Value), math.Float64bits(got.Value))
}

// A label count the bytes left cannot hold is refused before anything is
// allocated for it.
func TestDecodeBinaryRefusesHugeLabelCounts(t *testing.T) {
	b := event.AppendBinary(nil, valid(t))
	b = b[:len(b)-1] // the label count, 0
	b = binary.AppendUvarint(b, 100_000)
	b = append(b, make([]byte, 100_000)...) // room for 50,000 labels at most
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := event.DecodeBinary(b)
	runtime.ReadMemStats(&after)
	require.ErrorIs(t, err, event.ErrInvalid)
	require.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(64<<10), "bytes allocated")
}

// The binary form is told apart from JSON by its first byte.
func TestIsBinary(t *testing.T) {
	j, err := event.Encode(valid(t))
	require.NoError(t, err)
	require.False(t, event.IsBinary(j))
	require.False(t, event.IsBinary(nil))
	require.True(t, event.IsBinary(event.AppendBinary(nil, valid(t))))
}

// Cut short, lengthened or changed, a binary event is refused with
// ErrInvalid, never read wrong or with a panic.
func TestDecodeBinaryRejects(t *testing.T) {
	b := event.AppendBinary(nil, full(t))
	for n := range len(b) {
		_, err := event.DecodeBinary(b[:n])
		require.ErrorIs(t, err, event.ErrInvalid, "cut to %d bytes", n)
	}
	_, err := event.DecodeBinary(append(b[:len(b):len(b)], 0))
	require.ErrorIs(t, err, event.ErrInvalid, "a byte too many")

	j, err := event.Encode(full(t))
	require.NoError(t, err)
	_, err = event.DecodeBinary(j)
	require.ErrorIs(t, err, event.ErrInvalid, "JSON")

	noTenant := full(t)
	noTenant.Tenant = ""
	_, err = event.DecodeBinary(event.AppendBinary(nil, noTenant))
	require.ErrorIs(t, err, event.ErrInvalid, "validated as Decode validates")
}

// DecodeBinaryShared decodes into one event again and again, leaving
// nothing of the last event behind, its strings pointing into the input.
func TestDecodeBinarySharedReusesTheEvent(t *testing.T) {
	other := valid(t)
	other.Attrs = map[string]string{"pid": "9"}
	var e event.Event
	for _, want := range []*event.Event{full(t), other, valid(t)} {
		b := event.AppendBinary(nil, want)
		require.NoError(t, event.DecodeBinaryShared(&e, b))
		if len(want.Attrs) == 0 {
			require.Empty(t, e.Attrs)
			e.Attrs = nil
		}
		requireSameEvent(t, want, &e)
		// The strings point into b.
		i := bytes.Index(b, []byte(want.Tenant))
		b[i] = 'X'
		require.Equal(t, byte('X'), e.Tenant[0])
	}
	require.ErrorIs(t, event.DecodeBinaryShared(&e, []byte{1, 2}), event.ErrInvalid)
}

func FuzzDecodeBinary(f *testing.F) {
	for _, e := range []*event.Event{valid(f), full(f)} {
		f.Add(event.AppendBinary(nil, e))
	}
	f.Add([]byte{1})
	f.Add([]byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := event.DecodeBinary(b)
		if err != nil {
			require.Nil(t, e)
			require.ErrorIs(t, err, event.ErrInvalid)
			return
		}
		require.NoError(t, e.Validate())
		var shared event.Event
		require.NoError(t, event.DecodeBinaryShared(&shared, b))
		if shared.Attrs != nil && len(shared.Attrs) == 0 {
			shared.Attrs = nil
		}
		requireSameEvent(t, e, &shared)
		again, err := event.DecodeBinary(event.AppendBinary(nil, e))
		require.NoError(t, err, "a decoded event encodes and decodes")
		requireSameEvent(t, e, again)
	})
}

// BenchmarkBinary writes and reads the binary form of a realistic event
// (trimmed as the processor forwards it), against JSON.
func BenchmarkBinary(b *testing.B) {
	e := full(b)
	e.Message, e.ParseError = "", ""
	e.Attrs = nil
	j, err := event.Encode(e)
	require.NoError(b, err)
	bin := event.AppendBinary(nil, e)
	var buf []byte
	for range b.N {
		enc := nsPerOp(b, func() error { buf = event.AppendBinary(buf[:0], e); return nil })
		encJSON := nsPerOp(b, func() error { var err error; buf, err = event.AppendJSON(buf[:0], e); return err })
		dec := nsPerOp(b, func() error { _, err := event.DecodeBinary(bin); return err })
		var into event.Event
		decShared := nsPerOp(b, func() error { return event.DecodeBinaryShared(&into, bin) })
		decJSON := nsPerOp(b, func() error { _, err := event.Decode(j); return err })
		fmt.Printf("BENCH name=event_binary_encode value=%.0f unit=ns/op vs=AppendJSON ratio=%.2f\n", enc, enc/encJSON)
		fmt.Printf("BENCH name=event_binary_decode value=%.0f unit=ns/op vs=Decode ratio=%.2f\n", dec, dec/decJSON)
		fmt.Printf("BENCH name=event_binary_decode_shared value=%.0f unit=ns/op vs=Decode ratio=%.2f\n", decShared, decShared/decJSON)
	}
}
