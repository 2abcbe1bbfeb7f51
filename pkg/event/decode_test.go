package event_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/event"
)

// Decode accepts exactly what encoding/json decodes into a valid Event,
// with the same result; the one difference is that encoding/json also
// matches keys case-insensitively, where Decode takes them as the schema
// spells them.
func FuzzDecodeMatchesEncodingJSON(f *testing.F) {
	addEnvelopes(f)
	good, err := event.Encode(valid(f))
	require.NoError(f, err)
	for _, s := range []string{
		`{}`, `null`, ` null `, `[]`, `{"labels":{}}`, "\xff\xfe", `{} {}`, `{"vigil.version":1}x`,
		strings.Replace(string(good), `{`, `{"source.port":70000,`, 1),
		strings.Replace(string(good), `{`, `{"source.port":22.0,`, 1),
		strings.Replace(string(good), `{`, `{"source.bytes":1e3,`, 1),
		strings.Replace(string(good), `{`, `{"vigil.value":1e999,`, 1),
		strings.Replace(string(good), `{`, `{"vigil.version":null,"labels":{"a":null,"b":"\ud800"},"labels":{"c":"x"},`, 1),
		strings.Replace(string(good), `{`, `{"labels":{"a":"b"},"labels":null,`, 1),
		strings.Replace(string(good), `{`, `{"unknown":[1,{"x":null}],"EVENT.ID":"x",`, 1),
		strings.Replace(string(good), `"event.original":"line"`, `"event.original":"a\u0000\"\\\/\b\f\n\r\t\u00e9 \xff"`, 1),
		strings.Replace(string(good), `"organization.id"`, `"organization\u002eid"`, 1),
		strings.Replace(string(good), `"@timestamp":"2024-03-05T10:11:12Z"`, `"@timestamp":"2024-03-05T10:11:12.5+01:00"`, 1),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if hasFoldedKey(b) {
			t.Skip("encoding/json also takes keys in another case")
		}
		got, err := event.Decode(b)
		var shared event.Event
		sharedErr := event.DecodeShared(&shared, slices.Clone(b))
		require.Equal(t, err == nil, sharedErr == nil, "Decode: %v, DecodeShared: %v", err, sharedErr)
		if err == nil {
			requireSameEvent(t, got, &shared)
		}
		var ref event.Event
		refErr := json.Unmarshal(b, &ref)
		if refErr == nil {
			refErr = ref.Validate()
		}
		if err == nil {
			require.NoError(t, refErr, "Decode accepted what encoding/json refuses")
			requireSameEvent(t, &ref, got)
			return
		}
		require.ErrorIs(t, err, event.ErrInvalid)
		require.Error(t, refErr, "Decode refused (%v) what encoding/json accepts", err)
	})
}

// hasFoldedKey reports whether the object b has a key that is not one of
// the envelope's names but matches one ignoring case, as encoding/json does.
func hasFoldedKey(b []byte) bool {
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return false
	}
	unfold := strings.NewReplacer("\u212a", "k", "\u017f", "s")
	typ := reflect.TypeFor[event.Event]()
	for k := range m {
		for i := range typ.NumField() {
			name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
			if k != name && strings.EqualFold(unfold.Replace(k), name) {
				return true
			}
		}
	}
	return false
}

// Decoding one envelope after another into the same event keeps nothing
// of the previous one: its labels map is emptied and reused.
func TestDecodeSharedReusesTheEvent(t *testing.T) {
	withLabels, err := event.Encode(full(t))
	require.NoError(t, err)
	other := valid(t)
	other.Attrs = map[string]string{"pid": "9"}
	otherLabels, err := event.Encode(other)
	require.NoError(t, err)
	noLabels, err := event.Encode(valid(t))
	require.NoError(t, err)

	var e event.Event
	require.NoError(t, event.DecodeShared(&e, withLabels))
	requireSameEvent(t, full(t), &e)
	require.NoError(t, event.DecodeShared(&e, otherLabels))
	requireSameEvent(t, other, &e)
	require.NoError(t, event.DecodeShared(&e, noLabels))
	require.Empty(t, e.Attrs)
	requireSameEvent(t, valid(t), &e)
}

// BenchmarkDecode decodes a realistic envelope with Decode and with
// encoding/json (plus Validate), and prints both figures.
func BenchmarkDecode(b *testing.B) {
	e := full(b)
	e.Attrs = map[string]string{"pid": "812"}
	msg, err := event.Encode(e)
	require.NoError(b, err)
	for range b.N {
		fast := nsPerOp(b, func() error { _, err := event.Decode(msg); return err })
		std := nsPerOp(b, func() error {
			var e event.Event
			if err := json.Unmarshal(msg, &e); err != nil {
				return err
			}
			return e.Validate()
		})
		fmt.Printf("BENCH name=event_decode value=%.0f unit=ns/op vs=encoding/json ratio=%.2f\n", fast, fast/std)
	}
}
