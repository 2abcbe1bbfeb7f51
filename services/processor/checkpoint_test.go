package processor

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-soc/vigil/pkg/stream"
	"github.com/vigil-soc/vigil/pkg/testkit"
)

func TestCheckpointReferenceRoundTrip(t *testing.T) {
	r := ckptRef{id: "00112233aabbccdd", partition: 7, offset: 1234, chunks: 3, bytes: 1 << 20, crc: 0xdeadbeef}
	got, ok, err := parseRef(r.String())
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, r, got)

	_, ok, err = parseRef("")
	require.NoError(t, err)
	require.False(t, ok, "a commit without metadata names no checkpoint")
	for _, bad := range []string{
		"some other tool's metadata",
		refPrefix + " id=x partition=1",
		refPrefix + " id=x partition=1 offset=-1 chunks=1 bytes=1 crc=0",
		refPrefix + " id=x partition=1 offset=1 chunks=0 bytes=1 crc=0",
	} {
		_, _, err := parseRef(bad)
		require.Error(t, err, bad)
	}
}

func TestTaskStateRoundTrip(t *testing.T) {
	st := taskState{
		next:      42,
		alertEnds: map[int]int64{0: 10, 3: 7, 1: 0},
		recent:    []byte{1, 2, 3},
		engines:   []namedBlob{{name: "local", blob: []byte("engine state")}, {name: "user.name", blob: nil}},
	}
	var a bytes.Buffer
	require.NoError(t, st.writeTo(&a))
	var got taskState
	require.NoError(t, got.readFrom(a.Bytes()))
	var b bytes.Buffer
	require.NoError(t, got.writeTo(&b))
	require.Equal(t, a.Bytes(), b.Bytes())
	require.Equal(t, st.next, got.next)
	require.Equal(t, st.alertEnds, got.alertEnds)
	require.Equal(t, "engine state", string(got.engines[0].blob))

	for n := range a.Len() {
		require.Error(t, new(taskState).readFrom(a.Bytes()[:n]), "truncated at %d", n)
	}
	require.ErrorContains(t, new(taskState).readFrom(append(bytes.Clone(a.Bytes()), 0)), "after the end")
	bad := bytes.Clone(a.Bytes())
	bad[len(stateMagic)] = 9
	require.ErrorContains(t, new(taskState).readFrom(bad), "format version 9")
}

func FuzzTaskState(f *testing.F) {
	var b bytes.Buffer
	st := taskState{next: 1, alertEnds: map[int]int64{0: 1}, engines: []namedBlob{{name: "local", blob: []byte{1}}}}
	if err := st.writeTo(&b); err != nil {
		f.Fatal(err)
	}
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		var s taskState
		if s.readFrom(in) != nil {
			return
		}
		var out bytes.Buffer
		if err := s.writeTo(&out); err != nil {
			t.Fatal(err)
		}
		var again taskState
		if err := again.readFrom(out.Bytes()); err != nil {
			t.Fatalf("re-encoded state unreadable: %v", err)
		}
	})
}

// A state is cut into chunks on the changelog and read back whole; a
// missing chunk or a changed byte is an error, not a wrong state.
func TestChangelogChunks(t *testing.T) {
	cfg := testkit.Broker(t)
	ctx := context.Background()
	c, err := stream.NewClient(cfg)
	require.NoError(t, err)
	defer c.Close()
	const topic = "changelog"
	require.NoError(t, c.EnsureTopics(ctx, stream.Topic{Name: topic, Partitions: 2, Compacted: true}))
	kc := c.KafkaClient()

	state := bytes.Repeat([]byte("0123456789abcdef"), 1000) // 16,000 bytes: 4 chunks of 4 KiB
	write := func(b []byte) ckptRef {
		w := newChangelogWriter(ctx, kc, topic, 1, 4<<10, 0)
		_, err := w.Write(b)
		require.NoError(t, err)
		ref, err := w.close()
		require.NoError(t, err)
		return ref
	}
	first := write([]byte("an older checkpoint"))
	ref := write(state)
	require.Equal(t, 4, ref.chunks)
	require.NotEqual(t, first.id, ref.id)
	require.NoError(t, tombstones(ctx, kc, topic, first))
	end := func() int64 {
		ends, err := c.EndOffsets(ctx, topic)
		require.NoError(t, err)
		return ends[1]
	}

	got, err := readCheckpoint(ctx, c.NewPartitionReader, end(), topic, ref)
	require.NoError(t, err)
	require.Equal(t, state, got)

	empty := write(nil)
	require.Equal(t, 1, empty.chunks, "an empty state is one empty chunk")
	got, err = readCheckpoint(ctx, c.NewPartitionReader, end(), topic, empty)
	require.NoError(t, err)
	require.Empty(t, got)

	wrong := ref
	wrong.crc++
	_, err = readCheckpoint(ctx, c.NewPartitionReader, end(), topic, wrong)
	require.ErrorContains(t, err, "checksum")

	missing := ref
	missing.id = "0000000000000000"
	_, err = readCheckpoint(ctx, c.NewPartitionReader, end(), topic, missing)
	require.ErrorContains(t, err, "missing")

	gone := ref
	gone.offset = end() + 5
	_, err = readCheckpoint(ctx, c.NewPartitionReader, end(), topic, gone)
	require.ErrorContains(t, err, "before the checkpoint")
}
